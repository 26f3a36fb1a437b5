package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// The REST API in its own room: every route over httptest, a real SQLite
// key store and an engine over an embedded DuckDB holding five orders —
// authentication, errors, formats, limits, NDJSON — without the gateway.

const restModel = `cubes:
  - name: orders
    sql_table: main.orders
    measures:
      - name: count
        type: count
      - name: total
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
`

// duckEngine is an Engine over an embedded DuckDB.
type duckEngine struct {
	m *cubes.Model
	w *warehouse.DuckDB
}

func (e duckEngine) Model() *cubes.Model    { return e.m }
func (e duckEngine) Dialect() cubes.Dialect { return cubes.DuckDB{} }
func (e duckEngine) DBType() string         { return "duckdb" }
func (e duckEngine) Source() string         { return "default" }
func (e duckEngine) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
	return e.w.Query(ctx, sql, args...)
}

type restFixture struct {
	t     *testing.T
	srv   *httptest.Server
	keys  *auth.KeyService
	audit *auth.Audit
}

// modelAndStore loads restModel and opens a SQLite state store with its
// key service, in a temporary folder.
func modelAndStore(t *testing.T) (*cubes.Model, *auth.Store, *auth.KeyService) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.yml"), []byte(restModel), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := auth.OpenStore(context.Background(), "sqlite://"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := auth.NewKeyService(store, 100000)
	t.Cleanup(keys.Close)
	return m, store, keys
}

func newRESTFixture(t *testing.T) *restFixture {
	t.Helper()
	ctx := context.Background()
	m, store, keys := modelAndStore(t)
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.DB().Exec(`CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'paid', 10.5), (2, 'paid', 20), (3, 'open', 1), (4, 'open', 2), (5, 'void', 0)) t(id, status, amount)`); err != nil {
		t.Fatal(err)
	}
	audit := auth.NewAudit(store)
	t.Cleanup(audit.Close)
	svc := &query.Service{Limits: auth.NewLimiter(0, 0, 0), Audit: audit}
	rest := &REST{Keys: keys, Engine: duckEngine{m, w}, DefaultLimit: 3, MaxLimit: 4, Queries: svc}
	srv := httptest.NewServer(NewHandler(Config{REST: rest, Version: "t", Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	return &restFixture{t: t, srv: srv, keys: keys, audit: audit}
}

func (f *restFixture) key(scopes ...string) string {
	f.t.Helper()
	k, err := f.keys.Create(context.Background(), auth.DefaultTenant, "operator", auth.KeyInput{Scopes: &scopes})
	if err != nil {
		f.t.Fatal(err)
	}
	return k.KeyValue
}

// do sends a request and returns the status, the Content-Type and the body.
func (f *restFixture) do(method, path, key, body, accept string) (int, string, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestRESTAuthentication(t *testing.T) {
	f := newRESTFixture(t)
	q := `{"query":{"measures":["orders.count"]}}`
	for _, c := range []struct {
		name, key string
		status    int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"unknown key", "cg_nope", http.StatusUnauthorized},
		{"key without the load scope", f.key("meta"), http.StatusForbidden},
		{"load key", f.key("load"), http.StatusOK},
	} {
		status, _, body := f.do("POST", "/cubejs-api/v1/load", c.key, q, "")
		if status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
		if status != http.StatusOK && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: no error in %s", c.name, body)
		}
	}
}

func TestRESTLoad(t *testing.T) {
	f := newRESTFixture(t)
	key := f.key("load")
	status, ctype, body := f.do("POST", "/cubejs-api/v1/load", key,
		`{"query":{"measures":["orders.count","orders.total"],"dimensions":["orders.status"],"order":{"orders.status":"asc"}}}`, "")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("%d %s %s", status, ctype, body)
	}
	var ans struct {
		Data       []map[string]any `json:"data"`
		Annotation struct {
			Measures map[string]any `json:"measures"`
		} `json:"annotation"`
		RowLimit struct {
			Limit     int  `json:"limit"`
			Default   bool `json:"default"`
			Truncated bool `json:"truncated"`
		} `json:"rowLimit"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var got []string
	for _, r := range ans.Data {
		got = append(got, r["orders.status"].(string)+"|"+asText(r["orders.count"])+"|"+asText(r["orders.total"]))
	}
	// Sums of a DECIMAL(3,1) column keep its scale, as PostgreSQL's
	// numeric does; three rows of a default limit of 3, and the answer
	// says so.
	if want := "open|2|3.0 paid|2|30.5 void|1|0.0"; strings.Join(got, " ") != want {
		t.Fatalf("rows %v, want %s\n%s", got, want, body)
	}
	if ans.RowLimit.Limit != 3 || !ans.RowLimit.Default || ans.Annotation.Measures["orders.count"] == nil {
		t.Fatalf("rowLimit/annotation: %s", body)
	}
	// GET with ?query= answers the same.
	_, _, getBody := f.do("GET", "/cubejs-api/v1/load?query="+url.QueryEscape(`{"measures":["orders.count"]}`), key, "", "")
	if !strings.Contains(getBody, `"orders.count":"5"`) {
		t.Fatalf("GET load: %s", getBody)
	}
}

func TestRESTErrorsAndLimits(t *testing.T) {
	f := newRESTFixture(t)
	key := f.key("load")
	for _, c := range []struct {
		name, body string
		status     int
		message    string
	}{
		{"not JSON", `{`, http.StatusBadRequest, "JSON"},
		{"no query", `{}`, http.StatusBadRequest, "a query is required"},
		{"unknown member", `{"query":{"measures":["orders.nope"]}}`, http.StatusBadRequest, "nope"},
		{"limit above the maximum", `{"query":{"measures":["orders.count"],"dimensions":["orders.id"],"limit":5}}`, http.StatusBadRequest, "exceeds the maximum of 4 rows"},
		{"limit at the maximum", `{"query":{"measures":["orders.count"],"dimensions":["orders.id"],"limit":4}}`, http.StatusOK, ""},
	} {
		status, _, body := f.do("POST", "/cubejs-api/v1/load", key, c.body, "")
		if status != c.status || !strings.Contains(body, c.message) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, status, body, c.status, c.message)
		}
	}
}

// A query without a limit gets the default one, and the answer says what
// it cut: nothing is capped silently.
func TestRESTDefaultLimitTruncates(t *testing.T) {
	f := newRESTFixture(t)
	status, _, body := f.do("POST", "/cubejs-api/v1/load", f.key("load"), `{"query":{"dimensions":["orders.id"]}}`, "")
	var ans struct {
		Data     []map[string]any `json:"data"`
		RowLimit struct {
			Limit     int  `json:"limit"`
			Default   bool `json:"default"`
			Truncated bool `json:"truncated"`
		} `json:"rowLimit"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil || status != http.StatusOK {
		t.Fatalf("%d %v: %s", status, err, body)
	}
	if len(ans.Data) != 3 || !ans.RowLimit.Default || !ans.RowLimit.Truncated || ans.RowLimit.Limit != 3 {
		t.Fatalf("5 orders under a default limit of 3: %s", body)
	}
}

func TestRESTNDJSON(t *testing.T) {
	f := newRESTFixture(t)
	status, ctype, body := f.do("POST", "/cubejs-api/v1/load", f.key("load"),
		`{"query":{"dimensions":["orders.id"],"order":{"orders.id":"asc"},"limit":4}}`, "application/x-ndjson")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if status != http.StatusOK || ctype != "application/x-ndjson" || len(lines) != 4 || lines[0] != `{"orders.id":1}` {
		t.Fatalf("%d %s: %q", status, ctype, lines)
	}
	// One query per NDJSON answer.
	if status, _, body := f.do("POST", "/cubejs-api/v1/load", f.key("load"), `{"query":[{"measures":["orders.count"]},{"measures":["orders.count"]}]}`, "application/x-ndjson"); status != http.StatusBadRequest {
		t.Fatalf("two queries as NDJSON: %d %s", status, body)
	}
}

func TestRESTMetaSQLDryRun(t *testing.T) {
	f := newRESTFixture(t)
	if status, _, body := f.do("GET", "/cubejs-api/v1/meta", f.key("meta"), "", ""); status != http.StatusOK || !strings.Contains(body, `"name":"orders"`) {
		t.Fatalf("meta: %d %s", status, body)
	}
	status, _, body := f.do("POST", "/cubejs-api/v1/sql", f.key("sql"), `{"query":{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["paid"]}]}}`, "")
	if status != http.StatusOK || !strings.Contains(body, "count(") || !strings.Contains(body, "paid") {
		t.Fatalf("sql: %d %s", status, body)
	}
	if status, _, body := f.do("POST", "/cubejs-api/v1/dry-run", f.key("load"), `{"query":{"measures":["orders.count"]}}`, ""); status != http.StatusOK || !strings.Contains(body, "orders.count") {
		t.Fatalf("dry-run: %d %s", status, body)
	}
	if status, _, _ := f.do("GET", "/cubejs-api/v1/meta", f.key("load"), "", ""); status != http.StatusForbidden {
		t.Fatalf("meta with a load key: %d", status)
	}
}

// asText is a JSON value as text: Cube sends numbers of measures as
// strings.
func asText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Every load query is recorded by the query service once its rows are
// closed — one query, an array of them, NDJSON, and one refused before it
// ran — with its rows, its warehouse SQL and its key.
func TestRESTAudit(t *testing.T) {
	f := newRESTFixture(t)
	k, err := f.keys.Create(context.Background(), auth.DefaultTenant, "operator", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ body, accept string }{
		{`{"query":{"dimensions":["orders.id"],"limit":2}}`, ""},
		{`{"query":[{"measures":["orders.count"]},{"dimensions":["orders.status"],"limit":4}]}`, ""},
		{`{"query":{"dimensions":["orders.id"],"limit":4}}`, "application/x-ndjson"},
		{`{"query":{"measures":["orders.nope"]}}`, ""},
	} {
		f.do("POST", "/cubejs-api/v1/load", k.KeyValue, c.body, c.accept)
	}
	f.audit.Sync()
	events, err := f.audit.Recent(context.Background(), auth.DefaultTenant, "query", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- { // oldest first
		e := events[i]
		if e.APIKeyID != k.ID || e.Action != "rest" || (e.Outcome == "ok") != (e.WarehouseSQL != "") {
			t.Errorf("event %+v", e)
		}
		got = append(got, fmt.Sprintf("%s:%d", e.Outcome, e.Rows))
	}
	if want := "ok:2 ok:1 ok:3 ok:4 error:0"; strings.Join(got, " ") != want {
		t.Fatalf("audited %s, want %s", strings.Join(got, " "), want)
	}
}
