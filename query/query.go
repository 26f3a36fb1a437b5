// Package query is the one way a query reaches a warehouse, whichever API
// it came from. The SQL planner and the REST API both hand their queries
// to a Service, which takes each through the same steps:
//
//	principal → policy (auth: allow-list, row filters)
//	          → compile (cubes)
//	          → admission (auth.Limiter: request rate, running queries)
//	          → execute (the warehouse, rows streamed)
//	          → audit and metrics (once the rows are closed)
//
// What an API adds is presentation: the planner turns errors into
// SQLSTATEs at a statement position and rows into DataRows, REST into HTTP
// statuses and Cube's JSON. A cache or a pre-aggregation router plugs in
// here, between compile and execute, for both APIs at once.
package query

import (
	"context"
	"slices"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/warehouse"
)

// Principal is who runs a query: a SQL credential's session or a REST
// API key, with the security context that bounds what it reads.
type Principal struct {
	// TenantID is the principal's tenant ("" is auth.DefaultTenant).
	TenantID     string
	Username     string // a SQL session's user
	CredentialID string // a SQL session's credential
	APIKeyID     string // a REST request's key
	// Session is the SQL session (its process id) the principal acts in:
	// the warehouse never makes a statement wait for connections its own
	// session holds. "" for REST, whose request holds one at a time.
	Session  string
	Address  string // the client's address
	Security auth.SecurityContext
	// Scopes are what the principal may do beyond reading rows: a key's
	// scopes, or a credential's (auth.CredentialScopeNames).
	Scopes []string
}

// Holds reports whether p holds scope (admin holds every scope).
func (p Principal) Holds(scope string) bool {
	return slices.Contains(p.Scopes, scope) || slices.Contains(p.Scopes, "admin")
}

// Tenant is the principal's tenant, auth.DefaultTenant when none is set.
func (p Principal) Tenant() string {
	if p.TenantID == "" {
		return auth.DefaultTenant
	}
	return p.TenantID
}

// Warehouse is where a query runs (warehouse.Warehouse is one).
type Warehouse interface {
	Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error)
}

// Statement is one query as the service runs and records it.
type Statement struct {
	// API is the API the query came by ("sql", "rest"); Kind what
	// answers it ("cube", "pushdown", "catalog", "total"), for metrics.
	API, Kind string
	// Action is the audit log's action ("sql", "catalog", "rest").
	Action string
	// Text is the query as the client sent it (SQL text, REST JSON);
	// Normalize, when set, gives the audit log its normalized form and
	// fingerprint instead (computed by the audit writer, off the
	// request's path).
	Text      string
	Normalize func() (statement, fingerprint string)
	// SQL and Args are what the warehouse runs ("" for none: a catalog
	// query cubegate answers itself).
	SQL  string
	Args []any
	// Cache, when set, lets the service's result cache answer the
	// statement (nil: always the warehouse).
	Cache *Cacheable
	// Rollup names the pre-aggregation ("cube.name") whose table the
	// statement reads ("": the cubes' own tables), for the audit log.
	Rollup string
	// Fallback, when set, runs instead when the statement's table is
	// gone (42P01): a plan that reads a pre-aggregation falls back to the
	// cubes' own tables if the rollup was dropped or evicted between its
	// plan and its run.
	Fallback *Fallback
}

// Fallback is a statement's other way to the same answer.
type Fallback struct {
	SQL       string
	Args      []any
	Warehouse Warehouse
}

// Event is a query once it has ended, as metrics see it.
type Event struct {
	API, Kind, Outcome string
	Rows               int64
	// Took is the query's whole time; Wait the part spent waiting on the
	// warehouse.
	Took, Wait time.Duration
	// Cached: the result cache answered it, not the warehouse.
	Cached bool
	// Served is what answered, as the audit log says it (served): ""
	// when no statement ran (a refusal while planning).
	Served string
}

// Service runs queries for every API.
type Service struct {
	// Limits holds each tenant to its request rate and running queries
	// (nil: no limits).
	Limits *auth.Limiter
	// Audit records every query (nil: none).
	Audit *auth.Audit
	// Observe is told of every query once it has ended (metrics).
	Observe func(Event)
	// Cache answers the statements marked Cacheable (nil: none is).
	Cache *Cache
	// Rollups, when set, answer the cube queries a built pre-aggregation
	// covers (Plan).
	Rollups Rollups
}

// Policy is p's security context resolved against m: the members it may
// read and the row filters applied whenever a cube's rows are read.
func (s *Service) Policy(p Principal, m *cubes.Model) (*cubes.Policy, error) {
	return p.Security.Policy(m)
}

// Compile compiles q for dialect d under p's policy: a member the policy
// hides is refused (42501), its row filters are applied.
func (s *Service) Compile(p Principal, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*cubes.Compiled, error) {
	pol, err := s.Policy(p, m)
	if err != nil {
		return nil, err
	}
	o.Policy = pol
	if o.Security == nil {
		o.Security = p.Security.Claims
	}
	return m.CompileWith(q, d, o)
}

// Admission is a query's (or a request's) place under its tenant's
// limits; Release gives it back. Queries run under an admission.
type Admission struct {
	Principal Principal
	release   func()
}

// Admit holds p to its tenant's request rate and running queries: an
// *auth.LimitError says which limit refused it and when to retry. While
// the audit log cannot be written and audit.fail_closed is set, every
// query is refused (Refusal).
func (s *Service) Admit(p Principal) (*Admission, error) {
	if err := s.Refusal(); err != nil {
		return nil, err
	}
	a := &Admission{Principal: p}
	if s.Limits == nil {
		return a, nil
	}
	release, err := s.Limits.Admit(p.Tenant())
	if err != nil {
		return nil, err
	}
	a.release = release
	return a, nil
}

// Refusal is why no query may start now: the audit log cannot be
// written and audit.fail_closed is set (53100, marked
// auth.ErrAuditUnavailable); nil otherwise.
func (s *Service) Refusal() error {
	if s == nil {
		return nil
	}
	return s.Audit.Refusal()
}

// Release frees the admission's running-query slot; releasing twice is
// harmless.
func (a *Admission) Release() {
	if a != nil && a.release != nil {
		a.release()
		a.release = nil
	}
}

// Record audits and observes a query cubegate answered without a
// warehouse (the catalog), as Run's results do when they close.
func (s *Service) Record(p Principal, st Statement, started time.Time, rows int64, err error) {
	s.record(p, st, started, 0, rows, err, false)
}

// served is what answered st, as the audit log says it: the result
// cache, a rollup, the warehouse, or "" when no warehouse statement was
// run (the catalog, a statement refused before it ran).
func served(st Statement, cached bool) string {
	switch {
	case cached:
		return "cache"
	case st.SQL == "":
		return ""
	case st.Rollup != "":
		return "rollup:" + st.Rollup
	}
	return "warehouse"
}

func (s *Service) record(p Principal, st Statement, started time.Time, wait time.Duration, rows int64, err error, cached bool) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	took := time.Since(started)
	if s.Observe != nil {
		s.Observe(Event{API: st.API, Kind: st.Kind, Outcome: outcome, Rows: rows, Took: took, Wait: wait, Cached: cached, Served: served(st, cached)})
	}
	if s.Audit == nil {
		return
	}
	e := auth.AuditEvent{Kind: "query", Action: st.Action, Outcome: outcome, TenantID: p.Tenant(),
		CredentialID: p.CredentialID, APIKeyID: p.APIKeyID, Username: p.Username, Address: p.Address,
		WarehouseSQL: st.SQL, Rows: rows, DurationMS: float64(took.Microseconds()) / 1000, Normalize: st.Normalize}
	if st.Normalize == nil {
		e.Statement = st.Text
	}
	if err != nil {
		// The SQLSTATE the SQL API sends for it (pgerr.From: by the
		// error's type, XX000 when it has none).
		e.Error, e.Code = err.Error(), pgerr.Code(err)
	}
	e.Served = served(st, cached)
	s.Audit.Log(e)
}
