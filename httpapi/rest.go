package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// The Cube-compatible REST API under /cubejs-api/v1/: load (POST and GET,
// one query or an array), meta, sql and dry-run, authenticated by API
// keys with the load, meta or sql scope. Answers follow Cube's shape and
// value formats (testdata/oracle/README.md). Nothing is capped silently:
// a query without a limit gets Cube's default of 10,000 rows and the
// answer says so (rowLimit, and the X-Cubegate-Row-Limit header); a limit
// above the maximum is a 400. Rows are written as they arrive, as JSON or,
// with Accept: application/x-ndjson, one row per line.

// Engine is a tenant's data source: its model, its dialect and its
// warehouse (a query.Warehouse).
type Engine interface {
	Model() *cubes.Model
	Dialect() cubes.Dialect
	// DBType names the warehouse as Cube's dbType does ("postgres", "duckdb").
	DBType() string
	// Source names the data source ("default" for the gateway's own), for
	// the result cache.
	Source() string
	Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error)
}

// Service is the query service REST runs its queries through: policy,
// compile, admission, execution and audit, the same steps as the SQL
// API's (query.Service in the gateway).
type Service interface {
	Policy(p query.Principal, m *cubes.Model) (*cubes.Policy, error)
	Compile(p query.Principal, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*cubes.Compiled, error)
	Plan(p query.Principal, source string, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*query.Plan, error)
	Admit(p query.Principal) (*query.Admission, error)
	Run(a *query.Admission, wh query.Warehouse, st query.Statement) query.Result
	Record(p query.Principal, st query.Statement, started time.Time, rows int64, err error)
}

// REST serves the Cube API.
type REST struct {
	Keys   *auth.KeyService
	Engine Engine
	// Engines, when set, picks the engine of a key's tenant (a gateway
	// with several data sources): the one the X-Cubegate-Data-Source
	// header names, or the tenant's first; an *EngineError says why there
	// is none.
	Engines func(tenant, dataSource string) (Engine, error)
	// DefaultLimit applies to a query without a limit (10,000 as in
	// Cube); MaxLimit bounds an explicit one.
	DefaultLimit, MaxLimit int
	// Ready reports whether queries are served; an error answers 503.
	Ready func() error
	// Queries admits, runs and records every request's queries.
	Queries Service
	// MaxFilterValues bounds the filter values of one query (400 past it;
	// 0: DefaultMaxFilterValues). LargeBodies is how many bodies over
	// 1 MiB are held at once (0: 2); others wait, then get 503.
	MaxFilterValues, LargeBodies int
	// WS bounds the WebSocket transport (ws.go).
	WS WSLimits

	slotsOnce  sync.Once
	largeSlots bodySlots
}

func restError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]any{"error": fmt.Sprintf(format, args...)})
}

// request is what withKey resolved for a request: its engine, its
// principal and its admission (one per request, whatever it runs).
type request struct {
	engine    Engine
	principal query.Principal
	admission *query.Admission
	// policy is the principal's policy on the engine's model, resolved
	// once per request (request.policyOf).
	policy    *cubes.Policy
	policyErr error
	resolved  bool
}

// policyOf is the request principal's policy, resolved on its first use.
func (a *REST) policyOf(ctx context.Context) (*cubes.Policy, error) {
	rq := a.req(ctx)
	if !rq.resolved {
		rq.policy, rq.policyErr = a.Queries.Policy(rq.principal, rq.engine.Model())
		rq.resolved = true
	}
	return rq.policy, rq.policyErr
}

type requestKey struct{}

// writeEngineError answers a request whose engine could not be had: an
// EngineError's status and code, else 500.
func writeEngineError(w http.ResponseWriter, err error) {
	var ee *EngineError
	if errors.As(err, &ee) {
		writeJSON(w, ee.Status, map[string]any{"error": ee.Msg, "code": ee.Code})
		return
	}
	restError(w, http.StatusInternalServerError, "%v", err)
}

// withKey authenticates a REST request, picks its engine and admits it
// under its tenant's limits; Cube's clients expect {"error"}.
func (a *REST) withKey(scope string, h func(w http.ResponseWriter, r *http.Request, k auth.APIKey)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := a.authenticate(r, scope)
		if err != nil {
			var ke *auth.KeyError
			if errors.As(err, &ke) {
				writeJSON(w, ke.Status, map[string]any{"error": ke.Message, "code": ke.Code})
				return
			}
			restError(w, http.StatusInternalServerError, "authentication failed")
			return
		}
		eng := a.Engine
		if a.Engines != nil {
			e, err := a.Engines(k.TenantID, r.Header.Get("X-Cubegate-Data-Source"))
			if err != nil {
				writeEngineError(w, err)
				return
			}
			eng = e
		}
		if a.Ready != nil && eng == a.Engine {
			if err := a.Ready(); err != nil {
				w.Header().Set("Retry-After", "1")
				restError(w, http.StatusServiceUnavailable, "%v", err)
				return
			}
		}
		p := query.Principal{TenantID: k.TenantID, APIKeyID: k.ID, Address: RemoteAddr(r).String(), Security: k.Security, Scopes: k.Scopes}
		if as, ok := r.Context().Value(asPrincipal{}).(query.Principal); ok {
			p = as // ServeAs: the console's signed-in principal
		}
		if pe, ok := eng.(PrincipalEngine); ok {
			e, err := pe.ForPrincipal(p)
			if err != nil {
				writeEngineError(w, err)
				return
			}
			eng = e
		}
		adm, err := a.Queries.Admit(p)
		if err != nil {
			var le *auth.LimitError
			if errors.Is(err, auth.ErrAuditUnavailable) {
				// audit.fail_closed: no query runs unaudited.
				w.Header().Set("Retry-After", "5")
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "the audit log cannot be written: queries are refused until it can", "code": "AUDIT_UNAVAILABLE"})
				return
			}
			if !errors.As(err, &le) {
				restError(w, http.StatusInternalServerError, "admission failed")
				return
			}
			msg := "the tenant's request rate limit is exceeded"
			if le.Busy {
				msg = "the tenant runs as many queries as it may at once"
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(le.Wait.Seconds()))))
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": msg, "code": "RATE_LIMITED"})
			return
		}
		defer adm.Release()
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, &request{engine: eng, principal: p, admission: adm}))
		h(w, r, k)
	}
}

// PrincipalEngine is an Engine whose model depends on who asks (a model
// compiled per COMPILE_CONTEXT): a request runs on ForPrincipal's engine.
type PrincipalEngine interface {
	Engine
	ForPrincipal(p query.Principal) (Engine, error)
}

// EngineError is why a tenant has no engine to query.
type EngineError struct {
	Status    int
	Code, Msg string
}

func (e *EngineError) Error() string { return e.Msg }

// req is the request's engine, principal and admission (see withKey).
func (a *REST) req(ctx context.Context) *request {
	if rq, ok := ctx.Value(requestKey{}).(*request); ok {
		return rq
	}
	return &request{engine: a.Engine}
}

func (a *REST) engine(ctx context.Context) Engine { return a.req(ctx).engine }

func (a *REST) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /cubejs-api/v1/load", a.withKey("load", a.load))
	mux.HandleFunc("GET /cubejs-api/v1/load", a.withKey("load", a.load))
	// The client's subscribe() over HTTP polls this: one load a call.
	mux.HandleFunc("POST /cubejs-api/v1/subscribe", a.withKey("load", a.load))
	mux.HandleFunc("GET /cubejs-api/v1/subscribe", a.withKey("load", a.load))
	mux.HandleFunc("GET /cubejs-api/v1/meta", a.withKey("meta", a.meta))
	mux.HandleFunc("POST /cubejs-api/v1/sql", a.withKey("sql", a.sql))
	mux.HandleFunc("GET /cubejs-api/v1/sql", a.withKey("sql", a.sql))
	mux.HandleFunc("POST /cubejs-api/v1/dry-run", a.withKey("load", a.dryRun))
	mux.HandleFunc("GET /cubejs-api/v1/dry-run", a.withKey("load", a.dryRun))
}

// refused records a load query refused before it ran (audit, metrics),
// as the service records the queries it runs. The audit log's SQLSTATE
// is the refusal's own (the compiler's, an unknown member's 42703); a
// refusal that has none is 42501 when it is the key's security context
// (403), else 22023 (a value of the query refused).
func (a *REST) refused(ctx context.Context, q *cubes.Query, started time.Time, err error) {
	var pe *pgerr.Error
	var coded interface{ SQLState() string }
	if !errors.As(err, &pe) && !errors.As(err, &coded) {
		code := pgerrcode.InvalidParameterValue
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusForbidden {
			code = pgerrcode.InsufficientPrivilege
		}
		err = &sqlStateError{err, code}
	}
	a.Queries.Record(a.req(ctx).principal, statement(q, nil, "cube"), started, 0, err)
}

// sqlStateError gives a REST refusal the SQLSTATE the audit log records
// (what the SQL API answers for the same refusal); the answer is err's.
type sqlStateError struct {
	err  error
	code string
}

func (e *sqlStateError) Error() string    { return e.err.Error() }
func (e *sqlStateError) Unwrap() error    { return e.err }
func (e *sqlStateError) SQLState() string { return e.code }

// prepare applies the key's security context and the row limit, and
// compiles q through the query service.
func (a *REST) prepare(ctx context.Context, q *cubes.Query) (*query.Plan, rowLimit, error) {
	rq := a.req(ctx)
	m := rq.engine.Model()
	// What Cube refuses before compiling, with its messages.
	if err := checkQuery(m, q); err != nil {
		return nil, rowLimit{}, err
	}
	// The key's security context, resolved to cube members: a member
	// hidden on its cube is hidden through every view, and the compiler
	// applies each cube's row filters whenever its rows are read.
	pol, err := a.policyOf(ctx)
	if err != nil {
		return nil, rowLimit{}, &statusError{http.StatusForbidden, errorMessage(err)}
	}
	for _, member := range q.Members() {
		if mem, ok := lookupMember(m, member); ok && !pol.Allows(mem) {
			return nil, rowLimit{}, &statusError{http.StatusForbidden, fmt.Sprintf("this key may not read %s", member)}
		}
	}
	lim := rowLimit{Limit: a.DefaultLimit, Default: true}
	switch {
	case q.Limit != nil && *q.Limit > int64(a.MaxLimit):
		return nil, lim, &statusError{http.StatusBadRequest, fmt.Sprintf("limit %d exceeds the maximum of %d rows; page with offset", *q.Limit, a.MaxLimit)}
	case q.Limit != nil:
		lim = rowLimit{Limit: int(*q.Limit)}
	default:
		// One row more than the default tells whether it cut anything.
		n := int64(a.DefaultLimit + 1)
		q.Limit = &n
	}
	pl, err := a.Queries.Plan(rq.principal, rq.engine.Source(), m, rq.engine.Dialect(), q, cubes.Options{})
	if err != nil {
		var pe *pgerr.Error
		if errors.As(err, &pe) && pe.Code == pgerrcode.InsufficientPrivilege {
			return nil, lim, &sqlStateError{&statusError{http.StatusForbidden, pe.Message}, pe.Code}
		}
		// The compiler's SQLSTATE goes to the audit log (refused).
		if q.Ungrouped && errors.Is(err, cubes.ErrUngroupedWithoutKey) {
			return nil, lim, &sqlStateError{ungroupedError(m, q, err.Error()), pgerr.Code(err)}
		}
		return nil, lim, &sqlStateError{&statusError{http.StatusBadRequest, err.Error()}, pgerr.Code(err)}
	}
	// The row filters applied are part of the query as dry-run, the
	// audit log and the answer's query show it.
	q.Filters = append(q.Filters, pl.Compiled.RowFilters...)
	if lim.Default {
		n := int64(lim.Limit)
		q.Limit = &n
	}
	return pl, lim, nil
}

// statement is a REST query as the query service records it: the query
// as sent (JSON, row filters applied) and the warehouse SQL of kind
// ("cube", or "total" for a query's total count).
func statement(q *cubes.Query, c *cubes.Compiled, kind string) query.Statement {
	qb, _ := json.Marshal(q)
	// The audit log keeps it normalized, as SQL's: values replaced by $n.
	text := string(qb)
	st := query.Statement{API: "rest", Kind: kind, Action: "rest", Text: text,
		Normalize: func() (string, string) { return query.NormalizeREST(text) }}
	if c != nil {
		st.SQL, st.Args = c.SQL, c.Args
		if kind == "total" {
			st.SQL, st.Args = c.TotalSQL, c.TotalArgs
		}
	}
	return st
}

// run starts a compiled query under the request's admission: the
// warehouse is asked before anything is written, so that a refusal can
// still be a status.
//
// The result cache may answer it unless cp says otherwise (renewQuery,
// Cache-Control).
//
// rollup is the pre-aggregation the plan chose (nil: none); engine, when
// set, runs it instead of the warehouse (the rollup store).
func (a *REST) run(ctx context.Context, q *cubes.Query, c *cubes.Compiled, kind string, cp cachePolicy, rollup *cubes.PreAggregation, engine query.Engine, tables *cubes.Compiled) (query.Result, error) {
	rq := a.req(ctx)
	st := statement(q, c, kind)
	if !cp.bypass {
		st.Cache = query.NewCacheable(rq.engine.Source(), rq.engine, rq.engine.Model(), queryCubes(q), cp.renew)
	}
	if rollup != nil {
		st.Rollup = rollup.FullName()
	}
	var wh query.Warehouse = rq.engine
	if engine != nil {
		wh = engine
	}
	if tables != nil {
		// Read from a rollup: the cubes' tables if its table is gone.
		st.Fallback = &query.Fallback{SQL: tables.SQL, Args: tables.Args, Warehouse: rq.engine}
		if kind == "total" {
			st.Fallback.SQL, st.Fallback.Args = tables.TotalSQL, tables.TotalArgs
		}
	}
	res := a.Queries.Run(rq.admission, wh, st)
	if err := res.Start(ctx); err != nil {
		res.Close(nil)
		if warehouse.Unavailable(err) {
			// Told by type, as over SQL (57P03): no address, no reason.
			return nil, &EngineError{Status: http.StatusServiceUnavailable, Code: "WAREHOUSE_UNAVAILABLE", Msg: "the warehouse is not available"}
		}
		if pe := pgerr.From(err); strings.HasPrefix(pe.Code, "53") {
			// Insufficient resources (53200 out of memory, 53300, 53400):
			// the warehouse is busy, not the query wrong — retry later.
			return nil, &EngineError{Status: http.StatusServiceUnavailable, Code: "WAREHOUSE_BUSY",
				Msg: "the warehouse could not run the query now (SQLSTATE " + pe.Code + "): " + pe.Message}
		}
		return nil, fmt.Errorf("the warehouse refused the query: %v", err)
	}
	return res, nil
}

// queryCubes are the cubes (and views) q's members belong to.
func queryCubes(q *cubes.Query) []string {
	var names []string
	for _, m := range q.Members() {
		name, _, _ := strings.Cut(m, ".")
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// cachePolicy is what a query asks of the result cache: renew (the
// warehouse's answer, kept for the next: renewQuery, Cache-Control:
// no-cache) or bypass (the warehouse's answer, not kept: no-store).
type cachePolicy struct{ renew, bypass bool }

func cachePolicyOf(r *http.Request, cq *cubeQuery) cachePolicy {
	var cp cachePolicy
	if cq.side.RenewQuery != nil && *cq.side.RenewQuery {
		cp.renew = true
	}
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache":
				cp.renew = true
			case "no-store":
				cp.bypass = true
			}
		}
	}
	return cp
}

// lookupMember resolves a query's member name ("cube.member", or
// "cube.member.granularity" for a time dimension).
func lookupMember(m *cubes.Model, name string) (cubes.Member, bool) {
	if mem, err := m.Member(name); err == nil {
		return mem, true
	}
	if i := strings.LastIndex(name, "."); i > 0 {
		if mem, err := m.Member(name[:i]); err == nil {
			return mem, true
		}
	}
	return nil, false
}

func errorMessage(err error) string {
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// rowLimit is the limit a query ran with, reported in the answer.
type rowLimit struct {
	Limit     int  `json:"limit"`
	Default   bool `json:"default"`
	Truncated bool `json:"truncated"`
}

func (a *REST) load(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
	req, release, err := a.readCubeRequest(r, time.Now())
	defer release()
	if err != nil {
		writeStatusError(w, err)
		return
	}
	// A client that sends no queryType reads one result: Cube refuses it
	// the queries that answer several (compareDateRange); an array of
	// queries without queryType answers as it always did here, one result
	// per query under "multi".
	legacyArray := req.array && req.clientType == ""
	if req.queryType == compareDateRangeQuery && req.clientType == "" {
		writeStatusError(w, badRequest("'%s' query type is not supported by the client. Please update the client.", req.queryType))
		return
	}
	if req.clientType != "" {
		if err := req.checkBlending(); err != nil {
			writeStatusError(w, err)
			return
		}
	}
	qs := req.queries
	if !req.multi() && !legacyArray {
		// Cube answers the first result to a client that did not ask for
		// several.
		qs = qs[:1]
	}
	ndjson := strings.Contains(r.Header.Get("Accept"), "application/x-ndjson")
	if ndjson && (req.multi() || legacyArray) {
		restError(w, http.StatusBadRequest, "application/x-ndjson takes one query, not an array or queryType=multi")
		return
	}
	// Every query is checked and compiled before any row is written.
	for _, cq := range qs {
		started := time.Now()
		pl, lim, err := a.prepare(r.Context(), &cq.q)
		if err != nil {
			a.refused(r.Context(), &cq.q, started, err)
			writeStatusError(w, err)
			return
		}
		cq.c, cq.lim, cq.rollup, cq.engine = pl.Compiled, lim, pl.Rollup, pl.Engine
		if pl.Rollup != nil {
			cq.tables = pl.Tables
		}
	}
	if req.multi() || legacyArray {
		bw := bufio.NewWriterSize(w, 64<<10)
		w.Header().Set("Content-Type", "application/json")
		kind := req.queryType
		if legacyArray {
			kind = "multi"
		}
		bw.WriteString(`{"queryType":`)
		bw.WriteString(strconv.Quote(kind))
		bw.WriteString(`,"results":[`)
		for i, cq := range qs {
			cq.cache = cachePolicyOf(r, cq)
			res, err := a.run(r.Context(), &cq.q, cq.c, "cube", cq.cache, cq.rollup, cq.engine, cq.tables)
			if err == nil {
				if i > 0 {
					bw.WriteByte(',')
				}
				err = a.streamResult(r.Context(), bw, cq, res)
			}
			if err != nil {
				// The results so far, and the error.
				bw.WriteString(`]` + errorTail(err))
				bw.Flush()
				return
			}
		}
		bw.WriteString(`]`)
		if !legacyArray {
			pb, _ := json.Marshal(req.pivotQuery())
			bw.WriteString(`,"pivotQuery":`)
			bw.Write(pb)
			bw.WriteString(`,"slowQuery":false`)
		}
		bw.WriteString(`}`)
		bw.Flush()
		return
	}
	cq := qs[0]
	cq.cache = cachePolicyOf(r, cq)
	res, err := a.run(r.Context(), &cq.q, cq.c, "cube", cq.cache, cq.rollup, cq.engine, cq.tables)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	if ndjson {
		a.writeNDJSON(r.Context(), w, res, cq)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if cq.lim.Default {
		w.Header().Set("X-Cubegate-Row-Limit", strconv.Itoa(cq.lim.Limit)+"; default")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	a.streamResult(r.Context(), bw, cq, res)
	bw.Flush()
}

func writeStatusError(w http.ResponseWriter, err error) {
	var ue *userError
	if errors.As(err, &ue) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "UserError", "error": ue.msg})
		return
	}
	var se *statusError
	if errors.As(err, &se) {
		if se.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		restError(w, se.status, "%s", se.msg)
		return
	}
	var ee *EngineError
	if errors.As(err, &ee) {
		if ee.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, ee.Status, map[string]any{"error": ee.Msg, "code": ee.Code})
		return
	}
	restError(w, http.StatusInternalServerError, "%v", err)
}

func errorTail(err error) string {
	b, _ := json.Marshal(err.Error())
	return `,"error":` + string(b) + `}`
}

// streamResult writes {"query":…,"data":[rows…],…} as rows arrive, and
// closes res (which records the query). The status is sent by then: an
// error on the way ends the object with {…,"error"} (the JSON stays
// whole) and is returned.
func (a *REST) streamResult(ctx context.Context, bw *bufio.Writer, cq *cubeQuery, res query.Result) (err error) {
	defer func() { res.Close(err) }()
	q, c, lim := &cq.q, cq.c, cq.lim
	pol, _ := a.policyOf(ctx) // resolved (and checked) when the query was prepared
	plan := newRowPlan(cq)
	qb, _ := json.Marshal(cq.echo())
	bw.WriteString(`{"query":`)
	bw.Write(qb)
	compact := cq.side.ResponseFormat == "compact"
	if compact {
		// Cube's compact format: the members once, each row an array.
		mb, _ := json.Marshal(plan.members())
		bw.WriteString(`,"data":{"members":`)
		bw.Write(mb)
		bw.WriteString(`,"dataset":[`)
	} else {
		bw.WriteString(`,"data":[`)
	}
	end := func(err error) error {
		bw.WriteString(`]`)
		if compact {
			bw.WriteString(`}`)
		}
		bw.WriteString(errorTail(err))
		return err
	}
	n := 0
	var row []byte
	for {
		vals, err := res.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return end(err)
		}
		if lim.Default && n == lim.Limit {
			lim.Truncated = true // the extra row: more rows exist
			break
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		if compact {
			row = plan.appendCompact(row[:0], vals)
		} else {
			row = plan.appendRow(row[:0], vals)
		}
		if _, err := bw.Write(row); err != nil {
			return err // the client stopped reading (write timeout)
		}
		n++
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return end(err)
			}
		}
	}
	var total any
	if q.Total && c.TotalSQL != "" {
		t, err := a.total(ctx, q, c, cq.cache, cq.rollup, cq.engine, cq.tables)
		if err != nil {
			return end(err)
		}
		total = t
	}
	bw.WriteString(`]`)
	if compact {
		bw.WriteString(`}`)
	}
	tail := map[string]any{
		"lastRefreshTime": query.Refreshed(res).UTC().Format("2006-01-02T15:04:05.000Z"),
		"annotation":      annotationFor(a.engine(ctx).Model(), q, pol),
		"dataSource":      "default",
		"dbType":          a.engine(ctx).DBType(),
		"external":        false,
		"slowQuery":       false,
		"total":           total,
		"rowLimit":        lim,
	}
	if cq.rollup != nil {
		// Cube's annotation of a query a pre-aggregation answered.
		tail["external"] = true
		tail["usedPreAggregations"] = map[string]any{cq.rollup.FullName(): map[string]any{"type": string(cq.rollup.Type)}}
	}
	tb, _ := json.Marshal(tail)
	bw.WriteByte(',')
	bw.Write(tb[1:])
	return nil
}

// total counts the query's rows without its limit (Cube's total: true).
func (a *REST) total(ctx context.Context, q *cubes.Query, c *cubes.Compiled, cp cachePolicy, rollup *cubes.PreAggregation, engine query.Engine, tables *cubes.Compiled) (n int64, err error) {
	res, err := a.run(ctx, q, c, "total", cp, rollup, engine, tables)
	if err != nil {
		return 0, err
	}
	defer func() { res.Close(err) }()
	vals, err := res.Next(ctx)
	if err == io.EOF {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	switch v := vals[0].(type) {
	case int64:
		return v, nil
	case pgtype.Numeric:
		i, err := v.Int64Value()
		return i.Int64, err
	}
	return 0, fmt.Errorf("total: unexpected %T", vals[0])
}

// writeNDJSON writes one row a line, then {"rowLimit"} if the default
// limit cut the rows, or {"error"} if the query failed on the way.
func (a *REST) writeNDJSON(ctx context.Context, w http.ResponseWriter, res query.Result, cq *cubeQuery) {
	var err error
	lim, plan := cq.lim, newRowPlan(cq)
	defer func() { res.Close(err) }()
	w.Header().Set("Content-Type", "application/x-ndjson")
	if lim.Default {
		w.Header().Set("X-Cubegate-Row-Limit", strconv.Itoa(lim.Limit)+"; default")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	n := 0
	var row []byte
	var vals []any
	for {
		vals, err = res.Next(ctx)
		if err == io.EOF {
			err = nil
			break
		}
		if err != nil {
			b, _ := json.Marshal(map[string]string{"error": err.Error()})
			bw.Write(b)
			bw.WriteByte('\n')
			return
		}
		if lim.Default && n == lim.Limit {
			lim.Truncated = true
			break
		}
		row = append(plan.appendRow(row[:0], vals), '\n')
		// A write fails once the client stopped reading past the write
		// timeout: the query ends there, not after its last row.
		if _, err = bw.Write(row); err != nil {
			return
		}
		n++
	}
	if lim.Truncated {
		b, _ := json.Marshal(map[string]any{"rowLimit": lim})
		bw.Write(b)
		bw.WriteByte('\n')
	}
}

// cubeValue spells a value as Cube's REST API does: bigint and numeric
// as strings (scale kept), integers of dimensions as numbers, timestamps
// as YYYY-MM-DDTHH:mm:ss.SSS.
func cubeValue(v any, measure bool) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case bool:
		return strconv.AppendBool(nil, x)
	case int64:
		if measure {
			return strconv.AppendQuote(nil, strconv.FormatInt(x, 10))
		}
		return strconv.AppendInt(nil, x, 10)
	case int32:
		return strconv.AppendInt(nil, int64(x), 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if measure {
			return strconv.AppendQuote(nil, s)
		}
		return []byte(s)
	case pgtype.Numeric:
		return strconv.AppendQuote(nil, numericString(x))
	case time.Time:
		return strconv.AppendQuote(nil, x.Format("2006-01-02T15:04:05.000"))
	case string:
		return strconv.AppendQuote(nil, x)
	}
	b, _ := json.Marshal(v)
	return b
}

// numericString spells a numeric with its scale ("1.50").
func numericString(n pgtype.Numeric) string {
	switch {
	case !n.Valid:
		return ""
	case n.NaN:
		return "NaN"
	case n.InfinityModifier == pgtype.Infinity:
		return "Infinity"
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return "-Infinity"
	}
	i := n.Int
	if i == nil {
		i = big.NewInt(0)
	}
	if n.Exp >= 0 {
		return new(big.Int).Mul(i, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.Exp)), nil)).String()
	}
	s := new(big.Int).Abs(i).String()
	scale := int(-n.Exp)
	for len(s) <= scale {
		s = "0" + s
	}
	out := s[:len(s)-scale] + "." + s[len(s)-scale:]
	if i.Sign() < 0 {
		out = "-" + out
	}
	return out
}

func (a *REST) sql(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
	req, release, err := a.readCubeRequest(r, time.Now())
	defer release()
	if err == nil {
		err = req.checkBlending()
	}
	if err != nil {
		writeStatusError(w, err)
		return
	}
	type sqlAnswer struct {
		SQL        map[string]any `json:"sql"`
		DataSource string         `json:"dataSource"`
	}
	var out []sqlAnswer
	for _, cq := range req.queries {
		pl, _, err := a.prepare(r.Context(), &cq.q)
		if err != nil {
			writeStatusError(w, err)
			return
		}
		c := pl.Compiled
		aliases := map[string]string{}
		for _, col := range c.Columns {
			aliases[col.Alias] = col.Name
		}
		args := c.Args
		if args == nil {
			args = []any{}
		}
		// The shape of Cube's getSql: the client's SqlQuery reads
		// sql.sql[0] (rawQuery: sql.sql).
		s := map[string]any{"sql": []any{c.SQL, args}, "order": orderObject(cq.q.Order), "aliasNameToMember": aliases,
			"dataSource": "default", "external": false, "cacheKeyQueries": []any{}, "preAggregations": []any{},
			"rollupMatchResults": []any{}, "canUseTransformedQuery": transformedQuery(a.engine(r.Context()).Model(), &cq.q)}
		for _, col := range c.Columns {
			if col.Granularity != "" {
				s["timeDimensionAlias"], s["timeDimensionField"] = col.Alias, cubes.FullName(col.Member)
				break
			}
		}
		out = append(out, sqlAnswer{SQL: s, DataSource: "default"})
	}
	if req.queryType == regularQuery {
		writeJSON(w, http.StatusOK, out[0])
		return
	}
	// compareDateRange and blending: one answer per query, as an array.
	writeJSON(w, http.StatusOK, out)
}

// dryRunAnswer is Cube's /dry-run answer, in its order.
type dryRunAnswer struct {
	QueryType          string           `json:"queryType"`
	NormalizedQueries  []echoQuery      `json:"normalizedQueries"`
	QueryOrder         []orderObject    `json:"queryOrder"`
	TransformedQueries []map[string]any `json:"transformedQueries"`
	PivotQuery         echoQuery        `json:"pivotQuery"`
}

func (a *REST) dryRun(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
	req, release, err := a.readCubeRequest(r, time.Now())
	defer release()
	if err == nil {
		err = req.checkBlending()
	}
	if err != nil {
		writeStatusError(w, err)
		return
	}
	ans := dryRunAnswer{QueryType: req.queryType}
	for _, cq := range req.queries {
		if _, _, err := a.prepare(r.Context(), &cq.q); err != nil {
			writeStatusError(w, err)
			return
		}
		ans.NormalizedQueries = append(ans.NormalizedQueries, cq.echo())
		ans.QueryOrder = append(ans.QueryOrder, orderObject(cq.q.Order))
		ans.TransformedQueries = append(ans.TransformedQueries, transformedQuery(a.engine(r.Context()).Model(), &cq.q))
	}
	ans.PivotQuery = req.pivotQuery()
	writeJSON(w, http.StatusOK, ans)
}

// asPrincipal marks a request ServeAs serves as a principal.
type asPrincipal struct{}

// authenticate is the request's key — for a request ServeAs serves, its
// principal as a key (nothing is presented; the principal holds scope).
func (a *REST) authenticate(r *http.Request, scope string) (auth.APIKey, error) {
	if p, ok := r.Context().Value(asPrincipal{}).(query.Principal); ok {
		if scope != "" && !p.Holds(scope) {
			return auth.APIKey{}, &auth.KeyError{Status: http.StatusForbidden, Code: "INSUFFICIENT_SCOPE", Message: "this needs the " + scope + " scope"}
		}
		return auth.APIKey{ID: p.APIKeyID, TenantID: p.Tenant(), Security: p.Security, Scopes: p.Scopes}, nil
	}
	return a.Keys.Authenticate(r.Context(), PresentedKey(r), RemoteAddr(r), scope)
}

// ServeAs serves a request of the Cube API — load, sql, dry-run or meta,
// by r's path — as p rather than a key's holder (the web console's
// playground, as its signed-in principal): the same scope check, engine
// (the X-Cubegate-Data-Source header's), policy, limits, admission and
// audit as a key's request.
func (a *REST) ServeAs(w http.ResponseWriter, r *http.Request, p query.Principal) {
	routes := map[string]struct {
		scope string
		h     func(http.ResponseWriter, *http.Request, auth.APIKey)
	}{"/cubejs-api/v1/load": {"load", a.load}, "/cubejs-api/v1/sql": {"sql", a.sql}, "/cubejs-api/v1/dry-run": {"load", a.dryRun}, "/cubejs-api/v1/meta": {"meta", a.meta}}
	rt, ok := routes[r.URL.Path]
	if !ok {
		restError(w, http.StatusNotFound, "no Cube API endpoint %s", r.URL.Path)
		return
	}
	a.withKey(rt.scope, rt.h)(w, r.WithContext(context.WithValue(r.Context(), asPrincipal{}, p)))
}

// ModelAs is the model p's requests on dataSource ("" the tenant's
// first) read, and p's policy on it — what /v1/meta shows p; an error
// says why there is none (ErrorStatus gives its status).
func (a *REST) ModelAs(ctx context.Context, p query.Principal, dataSource string) (m *cubes.Model, pol *cubes.Policy, err error) {
	r, err := http.NewRequestWithContext(context.WithValue(ctx, asPrincipal{}, p), http.MethodGet, "/cubejs-api/v1/meta", nil)
	if err != nil {
		return nil, nil, err
	}
	r.Header.Set("X-Cubegate-Data-Source", dataSource)
	rec := &heldAnswer{header: http.Header{}}
	a.withKey("meta", func(w http.ResponseWriter, r *http.Request, _ auth.APIKey) {
		m = a.engine(r.Context()).Model()
		if pol, err = a.policyOf(r.Context()); err != nil {
			// As /v1/meta answers it.
			err = &auth.KeyError{Status: http.StatusForbidden, Code: "ACCESS_DENIED", Message: errorMessage(err)}
		}
	})(rec, r)
	if m == nil && err == nil {
		// Refused before: the answer's status, code and message, as a
		// *auth.KeyError (which ErrorStatus reads).
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		err = &auth.KeyError{Status: rec.status, Code: e.Code, Message: e.Error}
	}
	return m, pol, err
}

// heldAnswer keeps what ModelAs's handler writes (its refusal).
type heldAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *heldAnswer) Header() http.Header         { return w.header }
func (w *heldAnswer) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *heldAnswer) WriteHeader(status int)      { w.status = status }
