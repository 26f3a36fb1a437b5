package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// Every route of the REST API over httptest with a fake query service:
// the HTTP layer's own decisions — statuses, error codes, Retry-After,
// streaming, what is recorded — for each thing the service can answer,
// with no warehouse behind it. (rest_test.go runs the real service over
// an embedded DuckDB.)

// fakeService answers as told and remembers what it was asked.
type fakeService struct {
	mu         sync.Mutex
	admitErr   error
	policyErr  error
	compileErr error
	startErr   error   // the warehouse refuses the query
	rows       [][]any // every query's rows
	rowErr     error   // after the rows, the query fails
	admitted   int
	records    []string // kind:outcome:rows, in order
}

func (f *fakeService) Policy(p query.Principal, m *cubes.Model) (*cubes.Policy, error) {
	if f.policyErr != nil {
		return nil, f.policyErr
	}
	return p.Security.Policy(m)
}

func (f *fakeService) Compile(p query.Principal, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*cubes.Compiled, error) {
	if f.compileErr != nil {
		return nil, f.compileErr
	}
	return m.CompileWith(q, d, o)
}

func (f *fakeService) Plan(p query.Principal, source string, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*query.Plan, error) {
	c, err := f.Compile(p, m, d, q, o)
	if err != nil {
		return nil, err
	}
	return &query.Plan{Compiled: c}, nil
}

func (f *fakeService) Admit(p query.Principal) (*query.Admission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.admitErr != nil {
		return nil, f.admitErr
	}
	f.admitted++
	return &query.Admission{Principal: p}, nil
}

func (f *fakeService) Run(a *query.Admission, wh query.Warehouse, st query.Statement) query.Result {
	return &fakeResult{f: f, st: st}
}

func (f *fakeService) Record(p query.Principal, st query.Statement, started time.Time, rows int64, err error) {
	f.record(st, rows, err)
}

func (f *fakeService) record(st query.Statement, rows int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	f.records = append(f.records, fmt.Sprintf("%s:%s:%d", st.Kind, outcome, rows))
}

func (f *fakeService) recorded() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.records, " ")
}

type fakeResult struct {
	f      *fakeService
	st     query.Statement
	i      int
	err    error
	closed bool
}

func (r *fakeResult) Start(context.Context) error {
	if r.err == nil {
		r.err = r.f.startErr
	}
	return r.err
}

func (r *fakeResult) Next(ctx context.Context) ([]any, error) {
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	if r.st.Kind == "total" {
		if r.i > 0 {
			return nil, io.EOF
		}
		r.i++
		return []any{int64(len(r.f.rows))}, nil
	}
	if r.i == len(r.f.rows) {
		if r.f.rowErr != nil {
			r.err = r.f.rowErr
			return nil, r.err
		}
		return nil, io.EOF
	}
	r.i++
	return r.f.rows[r.i-1], nil
}

func (r *fakeResult) Close(err error) {
	if r.closed {
		panic("closed twice")
	}
	r.closed = true
	if r.err != nil {
		err = r.err
	}
	rows := r.i
	if r.err != nil && r.f.startErr != nil {
		rows = 0
	}
	r.f.record(r.st, int64(rows), err)
}

// modelEngine has a model and a dialect but no warehouse: the fake
// service never asks it.
type modelEngine struct{ m *cubes.Model }

func (e modelEngine) Model() *cubes.Model    { return e.m }
func (e modelEngine) Dialect() cubes.Dialect { return cubes.DuckDB{} }
func (e modelEngine) DBType() string         { return "duckdb" }
func (e modelEngine) Source() string         { return "default" }
func (e modelEngine) Query(context.Context, string, ...any) (warehouse.Rows, error) {
	return nil, errors.New("the fake service runs no query")
}

type serviceFixture struct {
	*restFixture
	svc    *fakeService
	ready  error
	engine error
}

func newServiceFixture(t *testing.T) *serviceFixture {
	t.Helper()
	m, _, keys := modelAndStore(t)
	f := &serviceFixture{svc: &fakeService{}}
	eng := modelEngine{m}
	rest := &REST{Keys: keys, Engine: eng, DefaultLimit: 3, MaxLimit: 4, Queries: f.svc,
		Ready: func() error { return f.ready },
		Engines: func(tenant, source string) (Engine, error) {
			if f.engine != nil {
				return nil, f.engine
			}
			return eng, nil
		}}
	srv := httptest.NewServer(NewHandler(Config{REST: rest, Version: "t", Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	f.restFixture = &restFixture{t: t, srv: srv, keys: keys}
	return f
}

func TestRESTRoutesWithFakeService(t *testing.T) {
	all := []string{"load", "meta", "sql"}
	type route struct{ method, path, body, accept string }
	load := route{"POST", "/cubejs-api/v1/load", `{"query":{"dimensions":["orders.status"]}}`, ""}
	routes := []route{
		load,
		{"GET", "/cubejs-api/v1/load?query=" + strings.ReplaceAll(`{"dimensions":["orders.status"]}`, `"`, "%22"), "", ""},
		{"POST", "/cubejs-api/v1/load", `{"query":{"dimensions":["orders.status"]}}`, "application/x-ndjson"},
		{"GET", "/cubejs-api/v1/meta", "", ""},
		{"POST", "/cubejs-api/v1/sql", `{"query":{"dimensions":["orders.status"]}}`, ""},
		{"GET", "/cubejs-api/v1/sql?query=" + strings.ReplaceAll(`{"dimensions":["orders.status"]}`, `"`, "%22"), "", ""},
		{"POST", "/cubejs-api/v1/dry-run", `{"query":{"dimensions":["orders.status"]}}`, ""},
		{"GET", "/cubejs-api/v1/dry-run?query=" + strings.ReplaceAll(`{"dimensions":["orders.status"]}`, `"`, "%22"), "", ""},
	}
	rows := [][]any{{"open"}, {"paid"}}
	type outcome struct {
		status int
		has    string
	}
	for _, c := range []struct {
		name   string
		set    func(*serviceFixture)
		expect func(r route) outcome
	}{
		{"served", func(*serviceFixture) {}, func(r route) outcome {
			switch {
			case r.accept != "":
				return outcome{200, `{"orders.status":"paid"}`}
			case strings.Contains(r.path, "/load"):
				return outcome{200, `"data":[{"orders.status":"open"},{"orders.status":"paid"}]`}
			case strings.Contains(r.path, "/meta"):
				return outcome{200, `"name":"orders.status"`}
			case strings.Contains(r.path, "/sql"):
				return outcome{200, `"aliasNameToMember"`}
			}
			return outcome{200, `"normalizedQueries"`}
		}},
		{"over the rate", func(f *serviceFixture) {
			f.svc.admitErr = &auth.LimitError{Tenant: "default", Wait: 1500 * time.Millisecond}
		},
			func(route) outcome { return outcome{429, `"code":"RATE_LIMITED"`} }},
		{"too many running", func(f *serviceFixture) { f.svc.admitErr = &auth.LimitError{Tenant: "default", Busy: true} },
			func(route) outcome { return outcome{429, "as many queries as it may"} }},
		{"admission broken", func(f *serviceFixture) { f.svc.admitErr = errors.New("boom") },
			func(route) outcome { return outcome{500, "admission failed"} }},
		{"not ready", func(f *serviceFixture) { f.ready = errors.New("the gateway is PENDING") },
			func(route) outcome { return outcome{503, "PENDING"} }},
		{"no data source", func(f *serviceFixture) {
			f.engine = &EngineError{Status: 404, Code: "DATA_SOURCE_NOT_FOUND", Msg: "tenant default has no data source"}
		}, func(route) outcome { return outcome{404, "DATA_SOURCE_NOT_FOUND"} }},
		{"security context unresolvable", func(f *serviceFixture) {
			f.svc.policyErr = pgerr.New(pgerrcode.InsufficientPrivilege, "security context: no cube \"gone\"")
		}, func(route) outcome { return outcome{403, `no cube \"gone\"`} }},
		{"compiler refuses a member", func(f *serviceFixture) {
			f.svc.compileErr = pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for orders.status")
		}, func(r route) outcome {
			if strings.Contains(r.path, "/meta") {
				return outcome{200, `"name":"orders"`}
			}
			return outcome{403, "permission denied for orders.status"}
		}},
		{"compiler fails", func(f *serviceFixture) { f.svc.compileErr = errors.New("no such granularity") }, func(r route) outcome {
			if strings.Contains(r.path, "/meta") {
				return outcome{200, `"name":"orders"`}
			}
			return outcome{400, "no such granularity"}
		}},
		{"warehouse refuses", func(f *serviceFixture) { f.svc.startErr = errors.New("relation orders does not exist") }, func(r route) outcome {
			if strings.Contains(r.path, "/load") {
				return outcome{500, "the warehouse refused the query: relation orders does not exist"}
			}
			return outcome{200, ""} // nothing runs
		}},
		{"warehouse unreachable", func(f *serviceFixture) {
			f.svc.startErr = &warehouse.UnavailableError{Engine: "postgres", Address: "10.0.0.7:5432", Reason: "connection refused"}
		}, func(r route) outcome {
			if strings.Contains(r.path, "/load") {
				return outcome{503, `{"code":"WAREHOUSE_UNAVAILABLE","error":"the warehouse is not available"}`}
			}
			return outcome{200, ""}
		}},
		{"warehouse out of memory", func(f *serviceFixture) {
			f.svc.startErr = pgerr.New(pgerrcode.OutOfMemory, "failed to allocate data of size 4.0 KiB")
		}, func(r route) outcome {
			if strings.Contains(r.path, "/load") {
				return outcome{503, `"code":"WAREHOUSE_BUSY"`}
			}
			return outcome{200, ""}
		}},
		{"fails while streaming", func(f *serviceFixture) { f.svc.rowErr = errors.New("connection reset") }, func(r route) outcome {
			switch {
			case r.accept != "":
				return outcome{200, `{"orders.status":"paid"}` + "\n" + `{"error":"connection reset"}`}
			case strings.Contains(r.path, "/load"):
				return outcome{200, `{"orders.status":"paid"}],"error":"connection reset"}`}
			}
			return outcome{200, ""}
		}},
	} {
		for _, r := range routes {
			f := newServiceFixture(t)
			f.svc.rows = rows
			key := f.key(all...)
			c.set(f)
			want := c.expect(r)
			status, _, body := f.do(r.method, r.path, key, r.body, r.accept)
			if status != want.status || !strings.Contains(body, want.has) {
				t.Errorf("%s: %s %s (%s): %d %s, want %d with %s", c.name, r.method, r.path, r.accept, status, body, want.status, want.has)
			}
			if f.svc.admitted > 0 && c.name == "served" && !strings.Contains(r.path, "/load") && f.svc.recorded() != "" {
				t.Errorf("%s %s recorded %s: only load runs queries", r.method, r.path, f.svc.recorded())
			}
		}
	}
}

// What the service is told to record for each load: every query run,
// with its rows and outcome, a refused one too; a rate refusal says when
// to retry.
func TestRESTRecordsThroughService(t *testing.T) {
	rows := [][]any{{"open"}, {"paid"}, {"void"}, {"x"}}
	for _, c := range []struct {
		name, body, accept string
		set                func(*fakeService)
		want               string
	}{
		{"one query, default limit cuts", `{"query":{"dimensions":["orders.status"]}}`, "", nil, "cube:ok:4"},
		// The fake ignores LIMIT: each query reads its four rows.
		{"array with a total", `{"query":[{"dimensions":["orders.status"]},{"dimensions":["orders.status"],"total":true,"limit":4}]}`, "", nil,
			"cube:ok:4 total:ok:1 cube:ok:4"},
		{"ndjson", `{"query":{"dimensions":["orders.status"],"limit":4}}`, "application/x-ndjson", nil, "cube:ok:4"},
		{"refused by the compiler", `{"query":{"dimensions":["orders.status"]}}`, "", func(s *fakeService) { s.compileErr = errors.New("no") }, "cube:error:0"},
		{"refused by the warehouse", `{"query":{"dimensions":["orders.status"]}}`, "", func(s *fakeService) { s.startErr = errors.New("no") }, "cube:error:0"},
		{"failed while streaming", `{"query":{"dimensions":["orders.status"],"limit":4}}`, "application/x-ndjson", func(s *fakeService) { s.rowErr = errors.New("no") }, "cube:error:4"},
	} {
		f := newServiceFixture(t)
		f.svc.rows = rows
		if c.set != nil {
			c.set(f.svc)
		}
		f.do("POST", "/cubejs-api/v1/load", f.key("load"), c.body, c.accept)
		if got := f.svc.recorded(); got != c.want {
			t.Errorf("%s: recorded %q, want %q", c.name, got, c.want)
		}
		if f.svc.admitted != 1 {
			t.Errorf("%s: admitted %d times for one request", c.name, f.svc.admitted)
		}
	}
	f := newServiceFixture(t)
	f.svc.admitErr = &auth.LimitError{Tenant: "default", Wait: 1500 * time.Millisecond}
	req, _ := http.NewRequest("POST", f.srv.URL+"/cubejs-api/v1/load", strings.NewReader(`{"query":{"measures":["orders.count"]}}`))
	req.Header.Set("Authorization", f.key("load"))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || f.svc.recorded() != "" {
		t.Fatalf("rate refusal: %d Retry-After %q, recorded %q", resp.StatusCode, resp.Header.Get("Retry-After"), f.svc.recorded())
	}
}
