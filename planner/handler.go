// Package planner turns SQL text into executable statements: it parses
// with pg_query_go (the real Postgres grammar, under nesting and memory
// guards), answers session commands, and routes each SELECT once
// (routeSelect, plan.go) to a plan: one cube query bound to a cubes.Query
// and compiled for the warehouse, a push-down (one warehouse statement
// over the cubes' row sources, written in the warehouse's dialect by
// package planner/pushdown), the catalog evaluator (package catalog), or
// constants. EXPLAIN prints the plan; execution opens it as a portal
// whose rows stream to the client, run by the query service (package
// query). It implements pgwire.Handler.
package planner

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pganalyze/pg_query_go/v5/parser"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// ServerVersion is the PostgreSQL version cubegate reports: clients pick
// their dialect from it, and PostgreSQL 15 is what it behaves like.
const (
	ServerVersion    = "15.0 (cubegate)"
	ServerVersionNum = "150000"
)

// Options are server-wide settings of the planner.
type Options struct {
	// StatementTimeout is the default statement_timeout; 0 is none.
	StatementTimeout time.Duration
	// MaxStatementTimeout is a ceiling on statement_timeout a session
	// cannot lift (0: none): a session's statements are canceled after
	// the smaller of the two, and 0 (off) means the ceiling. SET and SHOW
	// keep the session's own value, as in PostgreSQL.
	MaxStatementTimeout time.Duration
	// Queries runs, admits and records every query (nil: a service with
	// no limits, audit or metrics).
	Queries *query.Service
	// Source names the data source the handler serves ("default" when
	// unset), for the result cache's keys and invalidations.
	Source string
	// MemberSecurity is the security context a credential allowed to act
	// for others reads with when a statement says WHERE __user = 'member'
	// (auth.Service.MemberSecurity; nil: nobody acts for others).
	MemberSecurity func(ctx context.Context, tenant, member string) (auth.SecurityContext, error)
	// Evaluator bounds each statement cubegate answers itself (catalog,
	// constants, temporary tables); zero fields take the defaults.
	Evaluator catalog.Limits
}

// Handler plans statements for sessions against one data source.
type Handler struct {
	opts    Options
	model   atomic.Pointer[cubes.Model]
	wh      warehouse.Warehouse
	dialect cubes.Dialect
	log     zerolog.Logger
	cat     atomic.Pointer[catalogEntry]
	types   resultTypes
	norms   normalized
}

// NewHandler returns a handler serving model over wh.
func NewHandler(model *cubes.Model, wh warehouse.Warehouse, log zerolog.Logger, opts Options) (*Handler, error) {
	d, ok := cubes.DialectByName(wh.Dialect())
	if !ok {
		return nil, fmt.Errorf("no SQL dialect for warehouse %q", wh.Dialect())
	}
	if opts.Queries == nil {
		opts.Queries = &query.Service{}
	}
	if opts.Source == "" {
		opts.Source = "default"
	}
	h := &Handler{wh: wh, dialect: d, log: log, opts: opts}
	h.model.Store(model)
	return h, nil
}

// SetModel swaps the model; statements already planned keep theirs.
func (h *Handler) SetModel(m *cubes.Model) {
	h.model.Store(m)
	h.types.reset()
}

// Model returns the model new statements are planned against.
func (h *Handler) Model() *cubes.Model { return h.model.Load() }

// WithModel is a handler over the same warehouse and options planning
// against m: a model compiled per principal (COMPILE_CONTEXT) plans that
// principal's sessions.
func (h *Handler) WithModel(m *cubes.Model) *Handler {
	c := &Handler{wh: h.wh, dialect: h.dialect, log: h.log, opts: h.opts}
	c.model.Store(m)
	return c
}

// NewSession implements pgwire.Handler.
func (h *Handler) NewSession(ctx context.Context, info pgwire.SessionInfo) (pgwire.Session, error) {
	// Any credential may open a maintenance database (tools connect to
	// postgres first to list the others); it shows the credential's model.
	if p, ok := info.Principal.(auth.Principal); ok && p.Database != info.Database && !postgres.Maintenance(info.Database) {
		return nil, pgerr.Fatal(pgerrcode.InvalidCatalogName, "database %q does not exist", info.Database).
			WithHint("this credential connects to database %q", p.Database)
	}
	defaults := map[string]string{}
	if h.opts.StatementTimeout > 0 {
		defaults["statement_timeout"] = formatMillis(h.opts.StatementTimeout.Milliseconds())
	}
	s := &Session{h: h, info: info, vars: newVars(info, defaults), cursors: map[string]*cursor{}, prepared: map[string]*prepared{}, temps: map[string]*catalog.TempTable{}}
	return s, nil
}

// Session is one connection's SQL state.
type Session struct {
	h    *Handler
	info pgwire.SessionInfo
	vars *vars
	tx   byte // 0 (idle), 'T' (in a transaction block) or 'E' (failed)
	// params are the parameters of the statement being planned.
	params   *params
	cursors  map[string]*cursor
	prepared map[string]*prepared // SQL-level PREPARE
	temps    map[string]*catalog.TempTable
	// discarded is set by DISCARD ALL until the wire has taken it.
	discarded bool
	loc       *time.Location // cache of the TimeZone setting
	// text is the statement being planned as the client wrote it, when
	// known (the audit log normalizes it).
	text string
	// prep is the prepared statement being bound, if any.
	prep *prepared
	// tempGen counts changes to the temporary tables.
	tempGen int
	// who is the session's principal (see principal).
	who *query.Principal
}

// TxStatus implements pgwire.Session.
func (s *Session) TxStatus() byte {
	if s.tx == 0 {
		return 'I'
	}
	return s.tx
}

// Close implements pgwire.Session.
func (s *Session) Close() error {
	s.closeCursors(true)
	return nil
}

// Location implements pgwire.Locator: the session's TimeZone.
func (s *Session) Location() *time.Location {
	tz := s.vars.m["timezone"]
	if postgres.IsUTC(tz) {
		return time.UTC
	}
	if s.loc == nil || s.loc.String() != tz {
		loc, err := postgres.Location(tz)
		if err != nil {
			return time.UTC
		}
		s.loc = loc
	}
	return s.loc
}

// StatementTimeout implements pgwire.Timeouts: the session's
// statement_timeout under the server's ceiling.
func (s *Session) StatementTimeout() time.Duration {
	d := s.vars.millis("statement_timeout")
	if ceiling := s.h.opts.MaxStatementTimeout; ceiling > 0 && (d <= 0 || d > ceiling) {
		return ceiling
	}
	return d
}

// PreparedCount implements pgwire.ObjectCounter: SQL PREPARE's
// statements count against the session's cap with the protocol's.
func (s *Session) PreparedCount() int { return len(s.prepared) }

// CursorCount implements pgwire.ObjectCounter.
func (s *Session) CursorCount() int { return len(s.cursors) }

// IdleInTransactionTimeout implements pgwire.Timeouts.
func (s *Session) IdleInTransactionTimeout() time.Duration {
	return s.vars.millis("idle_in_transaction_session_timeout")
}

// Parameters implements pgwire.ParameterReporter.
func (s *Session) Parameters() [][2]string { return s.vars.reported() }

// Parse implements pgwire.Session: the whole string is parsed at once, so
// a syntax error anywhere runs nothing, as in Postgres.
func (s *Session) Parse(ctx context.Context, sql string) ([]pgwire.Statement, error) {
	tree, err := parse(sql, s.h.opts.Evaluator.Pool)
	if err != nil {
		return nil, err
	}
	out := make([]pgwire.Statement, 0, len(tree.Stmts))
	for _, raw := range tree.Stmts {
		out = append(out, &statement{s: s, sql: sql, raw: raw})
	}
	return out, nil
}

func syntaxError(err error) error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return pgerr.New(pgerrcode.SyntaxError, "%s", pe.Message).At(int32(pe.Cursorpos))
	}
	return pgerr.Wrap(err, pgerrcode.SyntaxError, "%s", err.Error())
}

type statement struct {
	s   *Session
	sql string
	raw *pg_query.RawStmt
}

// Bind implements pgwire.Statement: the statement is planned against the
// session's state as it is now.
func (st *statement) Bind(ctx context.Context) (pgwire.Portal, error) {
	loc, n := int(st.raw.GetStmtLocation()), int(st.raw.GetStmtLen())
	if loc >= 0 && loc <= len(st.sql) {
		if n <= 0 || loc+n > len(st.sql) {
			n = len(st.sql) - loc
		}
		st.s.text = st.sql[loc : loc+n]
		defer func() { st.s.text = "" }()
	}
	return st.s.planWith(ctx, st.raw.Stmt, nil)
}

// StatementFailed implements pgwire.Session.
func (s *Session) StatementFailed() {
	if s.tx == 'T' {
		s.tx = 'E'
	}
}

// Prepare implements pgwire.Session.
func (s *Session) Prepare(ctx context.Context, sql string, paramOIDs []uint32) (pgwire.PreparedStatement, error) {
	tree, err := parse(sql, s.h.opts.Evaluator.Pool)
	if err != nil {
		return nil, err
	}
	switch len(tree.Stmts) {
	case 0:
		return &prepared{s: s}, nil
	case 1:
		ps, err := s.describe(ctx, tree.Stmts[0].Stmt, paramOIDs)
		if ps != nil {
			ps.text = sql
		}
		return ps, err
	}
	return nil, pgerr.New(pgerrcode.SyntaxError, "cannot insert multiple commands into a prepared statement")
}

// prepared is a statement of the extended protocol.
type prepared struct {
	s    *Session
	text string         // the statement as the client wrote it
	node *pg_query.Node // nil: the empty statement
	// kind caches the statement's classification for the model and the
	// temporary tables it was made with (see Session.classify).
	kind      statementKind
	kindModel *cubes.Model
	kindTemps int
	oids      []uint32 // the parameters' types as described to the client
	types     []uint32 // as the planner knows them: 0 where nothing says
	cols      []pgwire.Column
}

func (ps *prepared) ParamOIDs() []uint32      { return ps.oids }
func (ps *prepared) Columns() []pgwire.Column { return ps.cols }

func (ps *prepared) BindParams(ctx context.Context, values []*string) (pgwire.Portal, error) {
	if ps.node == nil {
		return &staticPortal{}, nil
	}
	if len(values) != len(ps.oids) {
		return nil, pgerr.New(pgerrcode.ProtocolViolation, "bind message supplies %d parameters, but prepared statement requires %d", len(values), len(ps.oids))
	}
	if values == nil {
		values = []*string{}
	}
	ps.s.text, ps.s.prep = ps.text, ps
	defer func() { ps.s.text, ps.s.prep = "", nil }()
	return ps.s.planWith(ctx, ps.node, &params{oids: append([]uint32(nil), ps.types...), values: values})
}

// planWith plans n with parameters p (nil for none; without values, the
// statement is only described).
func (s *Session) planWith(ctx context.Context, n *pg_query.Node, p *params) (pgwire.Portal, error) {
	s.params = p
	s.principal()
	who := s.who // a statement acting for a member (__user) acts for it alone
	defer func() { s.params, s.who = nil, who }()
	if s.tx == 'E' && !endsTransaction(n) {
		return nil, pgerr.New(pgerrcode.InFailedSQLTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	return s.plan(ctx, n)
}

// endsTransaction reports whether n may run in a failed transaction.
func endsTransaction(n *pg_query.Node) bool {
	t := n.GetTransactionStmt()
	if t == nil {
		return false
	}
	switch t.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK, pg_query.TransactionStmtKind_TRANS_STMT_COMMIT,
		pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return true
	}
	return false
}

// plan routes a statement (route) and opens its plan.
func (s *Session) plan(ctx context.Context, n *pg_query.Node) (pgwire.Portal, error) {
	// A new prepared statement or cursor must fit the session's caps
	// (pgwire.SessionLimits), counted with the protocol's.
	if p := n.GetPrepareStmt(); p != nil {
		if _, exists := s.prepared[p.GetName()]; !exists {
			if err := s.info.Limits.CanPrepare(); err != nil {
				return nil, err
			}
		}
	}
	if d := n.GetDeclareCursorStmt(); d != nil {
		if _, exists := s.cursors[d.GetPortalname()]; !exists {
			if err := s.info.Limits.CanOpenCursor(); err != nil {
				return nil, err
			}
		}
	}
	started := time.Now()
	p, err := s.route(ctx, n)
	if err != nil {
		s.refused(n, started, err)
		return nil, err
	}
	return p.node.open(ctx, s)
}

// refused records a query refused while it was planned — a SELECT, a
// cursor's or COPY's, the binder's or the compiler's refusal: an unknown
// column (42703), a member the security context hides (42501) — as the
// query service records those it runs: outcome error, the SQLSTATE, the
// statement normalized. A statement that runs is recorded when its
// result closes; a session command's refusal is not a query.
func (s *Session) refused(n *pg_query.Node, started time.Time, err error) {
	sel := n.GetSelectStmt()
	switch {
	case n.GetDeclareCursorStmt() != nil:
		sel = n.GetDeclareCursorStmt().GetQuery().GetSelectStmt()
	case n.GetCopyStmt() != nil:
		sel = n.GetCopyStmt().GetQuery().GetSelectStmt()
	}
	if sel == nil {
		return
	}
	kind, action := "cube", "sql"
	if s.classify(sel) == readsCatalog {
		kind, action = "catalog", "catalog"
	}
	s.h.opts.Queries.Record(s.principal(), s.statement(sel, kind, action, "", nil), started, 0, err)
}

// command runs a statement cubegate answers itself: a session command or
// a temporary table's.
func (s *Session) command(ctx context.Context, n *pg_query.Node) (pgwire.Portal, error) {
	switch {
	case n.GetSelectStmt() != nil: // SELECT … INTO
		sel := n.GetSelectStmt()
		return s.planSelectInto(ctx, n, sel, sel.GetIntoClause(), false)
	case n.GetVariableSetStmt() != nil:
		return s.planSet(n.GetVariableSetStmt())
	case n.GetVariableShowStmt() != nil:
		return s.planShow(n.GetVariableShowStmt())
	case n.GetTransactionStmt() != nil:
		return s.planTransaction(n.GetTransactionStmt())
	case n.GetFetchStmt() != nil:
		return s.planFetch(n.GetFetchStmt())
	case n.GetClosePortalStmt() != nil:
		return s.planClosePortal(n.GetClosePortalStmt())
	case n.GetPrepareStmt() != nil:
		return s.planPrepare(ctx, n.GetPrepareStmt())
	case n.GetExecuteStmt() != nil:
		return s.planExecute(ctx, n.GetExecuteStmt())
	case n.GetDeallocateStmt() != nil:
		return s.planDeallocate(n.GetDeallocateStmt())
	case n.GetDiscardStmt() != nil:
		return s.planDiscard(n.GetDiscardStmt())
	case n.GetExplainStmt() != nil:
		return s.planExplain(ctx, n.GetExplainStmt())
	case n.GetCreateStmt() != nil:
		return s.planCreate(n)
	case n.GetCreateTableAsStmt() != nil:
		c := n.GetCreateTableAsStmt()
		if sel := c.GetQuery().GetSelectStmt(); sel != nil && c.GetObjtype() == pg_query.ObjectType_OBJECT_TABLE {
			return s.planSelectInto(ctx, n, sel, c.GetInto(), c.GetIfNotExists())
		}
		return nil, readOnlyModel(n)
	case n.GetInsertStmt() != nil:
		return s.planInsert(ctx, n)
	case n.GetDropStmt() != nil:
		return s.planDrop(n)
	}
	return nil, fmt.Errorf("planner: %s has no command", statementName(n))
}
