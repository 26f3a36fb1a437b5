package planner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/planner/pushdown"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
	"github.com/cubegate/cubegate/query"
	"github.com/jackc/pgx/v5/pgtype"
)

// A plan is how one SELECT runs, chosen once by routeSelect, which also
// says why. Everything else reads the plan: EXPLAIN prints it (its route,
// the reason, then its node), describe mode asks it for its columns, and
// execution opens it as a portal. The golden files (testdata/golden)
// print the plan of every case, so a routing change shows in review.
type plan struct {
	route  route
	reason string
	node   node
}

// route names the path a statement takes.
type route string

const (
	// routeCube: one cube query, compiled by cubes for the warehouse.
	routeCube route = "cube query"
	// routePushdown: one warehouse statement over the cubes' row sources.
	routePushdown route = "push-down"
	// routeCatalog: cubegate's catalog evaluator, no warehouse query.
	routeCatalog route = "catalog"
	// routeConstant: no relation read; cubegate's evaluator answers it.
	routeConstant route = "constant"
	// routeCursor: DECLARE … CURSOR, a wrapper of its query's plan.
	routeCursor route = "cursor"
	// routeCopy: COPY (query) TO STDOUT, a wrapper of its query's plan.
	routeCopy route = "copy"
	// routeTempTable: a temporary table written or dropped by the
	// catalog evaluator.
	routeTempTable route = "temporary table"
	// routeSession: a session command (SET, SHOW, BEGIN, PREPARE, FETCH…)
	// answered by cubegate itself.
	routeSession route = "session command"
)

// route chooses how any statement runs, once: a SELECT by routeSelect;
// DECLARE and COPY wrap their query's plan; temporary tables and session
// commands are cubegate's own.
func (s *Session) route(ctx context.Context, n *pg_query.Node) (*plan, error) {
	switch {
	case n.GetSelectStmt() != nil && n.GetSelectStmt().GetIntoClause() == nil:
		return s.routeSelect(ctx, n.GetSelectStmt())
	case n.GetDeclareCursorStmt() != nil:
		d := n.GetDeclareCursorStmt()
		if d.GetQuery().GetSelectStmt() == nil {
			return nil, unsupported(d.GetQuery(), "a cursor needs a SELECT")
		}
		inner, err := s.route(ctx, d.GetQuery())
		if err != nil {
			return nil, err
		}
		return &plan{routeCursor, "DECLARE " + d.GetPortalname(), &cursorNode{stmt: d, inner: inner}}, nil
	case n.GetCopyStmt() != nil:
		node, err := copyFormat(n.GetCopyStmt())
		if err != nil {
			return nil, err
		}
		if node.inner, err = s.route(ctx, n.GetCopyStmt().GetQuery()); err != nil {
			return nil, err
		}
		return &plan{routeCopy, "COPY (query) TO STDOUT", node}, nil
	case n.GetSelectStmt() != nil, n.GetCreateTableAsStmt() != nil, n.GetCreateStmt() != nil, n.GetInsertStmt() != nil, n.GetDropStmt() != nil:
		return &plan{routeTempTable, commandName(n), &commandNode{n}}, nil
	case n.GetVariableSetStmt() != nil, n.GetVariableShowStmt() != nil, n.GetTransactionStmt() != nil,
		n.GetFetchStmt() != nil, n.GetClosePortalStmt() != nil, n.GetPrepareStmt() != nil, n.GetExecuteStmt() != nil,
		n.GetDeallocateStmt() != nil, n.GetDiscardStmt() != nil, n.GetExplainStmt() != nil:
		return &plan{routeSession, commandName(n), &commandNode{n}}, nil
	case n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil, n.GetTruncateStmt() != nil, n.GetAlterTableStmt() != nil:
		return nil, readOnlyModel(n)
	}
	return nil, pgerr.New(pgerrcode.FeatureNotSupported, "%s is not supported", statementName(n)).
		WithHint("cubegate answers SELECT over cubes and views, and session commands")
}

// commandName names a statement cubegate answers itself as its command
// tag does ("SET", "ROLLBACK TO SAVEPOINT", "CREATE TABLE AS").
func commandName(n *pg_query.Node) string {
	switch {
	case n.GetVariableSetStmt() != nil:
		if k := n.GetVariableSetStmt().GetKind(); k == pg_query.VariableSetKind_VAR_RESET || k == pg_query.VariableSetKind_VAR_RESET_ALL {
			return "RESET"
		}
		return "SET"
	case n.GetVariableShowStmt() != nil:
		return "SHOW"
	case n.GetTransactionStmt() != nil:
		k := strings.TrimPrefix(n.GetTransactionStmt().GetKind().String(), "TRANS_STMT_")
		switch k {
		case "START":
			return "START TRANSACTION"
		case "ROLLBACK_TO":
			return "ROLLBACK TO SAVEPOINT"
		case "PREPARE":
			return "PREPARE TRANSACTION"
		}
		return strings.ReplaceAll(k, "_", " ")
	case n.GetFetchStmt() != nil:
		if n.GetFetchStmt().GetIsmove() {
			return "MOVE"
		}
		return "FETCH"
	case n.GetClosePortalStmt() != nil:
		return "CLOSE"
	case n.GetCreateStmt() != nil:
		return "CREATE TABLE"
	case n.GetCreateTableAsStmt() != nil:
		return "CREATE TABLE AS"
	case n.GetSelectStmt() != nil:
		return "SELECT INTO"
	case n.GetDropStmt() != nil:
		return "DROP TABLE"
	}
	return statementName(n)
}

// commandNode runs a statement cubegate answers itself.
type commandNode struct{ n *pg_query.Node }

func (c *commandNode) explain(explainOptions) []string {
	return []string{commandName(c.n) + ": answered by cubegate itself, no warehouse query"}
}

func (c *commandNode) open(ctx context.Context, s *Session) (pgwire.Portal, error) {
	return s.command(ctx, c.n)
}

// node is one step of a plan.
type node interface {
	// explain prints the node, one line per fact.
	explain(o explainOptions) []string
	// open runs the node (or, while the statement is only described,
	// returns a portal with its columns and no rows).
	open(ctx context.Context, s *Session) (pgwire.Portal, error)
}

// explainOptions say what EXPLAIN prints: the output columns (verbose),
// and the warehouse SQL, its parameters and the row filters' values
// (showSQL: principals with scope sql, as REST's /sql requires it).
// session, when set, prints the result cache's line.
type explainOptions struct {
	verbose, showSQL bool
	session          *Session
}

// lines prints the plan as EXPLAIN shows it.
func (p *plan) lines(o explainOptions) []string {
	return append([]string{"Route: " + string(p.route) + " (" + p.reason + ")"}, p.node.explain(o)...)
}

// indented prints a wrapped plan under its wrapper.
func (p *plan) indented(o explainOptions) []string {
	lines := p.lines(o)
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return lines
}

// notYet is unsupported for a construct the binder lacks (pgerr.ErrNotYet):
// the push-down may answer the statement, and if it cannot, its own error
// is the more precise one.
func notYet(n *pg_query.Node, format string, args ...any) *pgerr.Error {
	return unsupported(n, format, args...).Mark(pgerr.ErrNotYet)
}

// errRowWise marks a binder refusal of a statement that reads rows rather
// than one cube query (a dimension aggregated row by row): the push-down
// may answer it, and if it cannot, the binder's error says best why.
var errRowWise = errors.New("reads rows, not one cube query")

// pushdownMay tells, from the binder's (or the compiler's) typed markers
// and SQLSTATE, whether a statement refused as a cube query may run
// pushed down, and whose error to show when the push-down refuses it too.
func pushdownMay(err error) (may, showPushdownError bool) {
	var pe *pgerr.Error
	if !errors.As(err, &pe) {
		return false, false
	}
	switch {
	case errors.Is(err, pgerr.ErrNotYet):
		return true, true
	case errors.Is(err, errRowWise), errors.Is(err, cubes.ErrUngroupedWithoutKey):
		// Row by row, pushed down, cubes joined need no primary keys.
		return true, false
	case pe.Code == pgerrcode.FeatureNotSupported:
		// More than one cube query.
		return true, false
	}
	return false, false
}

// routeSelect chooses how a SELECT runs, once.
func (s *Session) routeSelect(ctx context.Context, sel *pg_query.SelectStmt) (*plan, error) {
	kind := s.classify(sel)
	if kind == readsCubes {
		var err error
		if sel, err = s.actAs(ctx, sel); err != nil {
			return nil, err
		}
	}
	switch kind {
	case readsCatalog:
		return &plan{routeCatalog, "it reads the catalog", &catalogNode{sel: sel}}, nil
	case readsNothing:
		if sel.GetOp() == pg_query.SetOperation_SETOP_NONE && sel.GetWithClause() == nil && len(sel.GetFromClause()) == 0 && !usesRegTypes(sel) && constantTargets(sel) {
			// Literals and parameters, typed and spelled by PostgreSQL's
			// input functions.
			p, err := s.planConstant(sel)
			if err == nil {
				return &plan{routeConstant, "constant expressions", &evaluatedNode{p}}, nil
			}
			if pe, ok := err.(*pgerr.Error); !ok || pe.Code != pgerrcode.FeatureNotSupported {
				return s.inWarehouse(ctx, sel, err)
			}
		}
		// The catalog evaluator answers the rest (functions, operators,
		// the session's functions): evaluated now, for a refusal (by its
		// SQLSTATE) may send it to the warehouse.
		p, err := s.planCatalog(ctx, sel)
		if err != nil {
			return s.inWarehouse(ctx, sel, err)
		}
		return &plan{routeConstant, "no relation read: cubegate's evaluator", &evaluatedNode{p}}, nil
	}
	switch {
	case sel.GetOp() != pg_query.SetOperation_SETOP_NONE:
		return s.routePushdown(ctx, sel, "a set operation over cubes")
	case sel.GetWithClause() != nil:
		return s.routePushdown(ctx, sel, "WITH over cubes")
	case len(sel.GetValuesLists()) > 0:
		return s.routePushdown(ctx, sel, "VALUES")
	case len(sel.GetFromClause()) == 0:
		return s.routePushdown(ctx, sel, "no FROM, but subqueries over cubes")
	}
	cube, err := s.bindCube(sel)
	if err == nil {
		return &plan{routeCube, "one cube query over " + strings.Join(cube.cubes, ", "), cube}, nil
	}
	may, showPushdownError := pushdownMay(err)
	if !may {
		return nil, err
	}
	p, perr := s.routePushdown(ctx, sel, "not one cube query: "+s.refusal(err))
	if perr == nil {
		return p, nil
	}
	if showPushdownError {
		return nil, perr
	}
	return nil, err
}

// constantTargets reports whether every target of sel is what the
// constant path answers: a literal, a parameter, a cast of one, a negated
// number.
func constantTargets(sel *pg_query.SelectStmt) bool {
	var constant func(n *pg_query.Node) bool
	constant = func(n *pg_query.Node) bool {
		switch {
		case n.GetParamRef() != nil, n.GetAConst() != nil && n.GetAConst().GetBsval() == nil:
			return true
		case n.GetTypeCast() != nil:
			return constant(n.GetTypeCast().GetArg())
		case n.GetAExpr() != nil:
			e := n.GetAExpr()
			return e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && e.GetLexpr() == nil && pgnames.Op(e.GetName()) == "-" && constant(e.GetRexpr())
		}
		return false
	}
	for _, t := range sel.GetTargetList() {
		if !constant(t.GetResTarget().GetVal()) {
			return false
		}
	}
	return true
}

// refusal is the binder's refusal as a route's reason: its message and
// the text it points at.
func (s *Session) refusal(err error) string {
	pe := pgerr.From(err)
	at := int(pe.Position) - 1
	if at < 0 || at >= len(s.text) {
		return pe.Message
	}
	frag := s.text[at:]
	if len(frag) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(frag[cut]) {
			cut--
		}
		frag = frag[:cut] + "…"
	}
	return pe.Message + ", at: " + frag
}

// inWarehouse routes a statement that reads no relation in the warehouse
// when cubegate's own evaluator refused it with a SQLSTATE the warehouse
// may not (a function or an input format it does not know): err stands
// if the warehouse cannot either.
func (s *Session) inWarehouse(ctx context.Context, sel *pg_query.SelectStmt, err error) (*plan, error) {
	pe, ok := err.(*pgerr.Error)
	if !ok {
		return nil, err
	}
	// Input cubegate's evaluator rejects is retried on PostgreSQL only,
	// whose verdict is then PostgreSQL's own.
	data := strings.HasPrefix(pe.Code, "22") && s.h.dialect.JudgesPostgresInput() || pe.Code == pgerrcode.InvalidDatetimeFormat
	if !(pe.Code == pgerrcode.UndefinedFunction || data || pe.Code == pgerrcode.FeatureNotSupported) {
		return nil, err
	}
	p, werr := s.routePushdown(ctx, sel, fmt.Sprintf("cubegate's evaluator refused it (%s: %s)", pe.Code, pe.Message))
	if werr != nil {
		return nil, err
	}
	return p, nil
}

// routePushdown renders sel as one warehouse statement.
func (s *Session) routePushdown(ctx context.Context, sel *pg_query.SelectStmt, reason string) (*plan, error) {
	st, err := pushdown.Render(pushdownSession{s: s}, s.h.Model(), s.h.dialect, sel)
	if err != nil {
		return nil, err
	}
	if p := s.routeStore(ctx, sel, st, reason); p != nil {
		return p, nil
	}
	return &plan{routePushdown, reason, &pushdownNode{sel: sel, sql: st.SQL, args: st.Args, names: st.Names, sources: st.Sources, dialect: s.h.dialect.Name()}}, nil
}

// routeStore runs a pushed-down statement whose every cube read is a cube
// query a rollup in the rollup store covers on the store itself,
// rendered in its dialect, with the warehouse's statement (wst) as the
// way back if a rollup's table is gone; nil when it is not so.
//
// Its result must have the warehouse's types (a division is a double in
// the store, a numeric on PostgreSQL): a statement is described by the
// warehouse before it runs (the extended protocol), and the client
// decodes what it was told.
func (s *Session) routeStore(ctx context.Context, sel *pg_query.SelectStmt, wst *pushdown.Statement, reason string) *plan {
	m := s.h.Model()
	if s.h.opts.Queries.Rollups == nil || !hasRollups(m, false) {
		return nil
	}
	var engine query.Engine
	st, err := pushdown.Render(pushdownSession{s: s, store: true, engine: &engine}, m, cubes.DuckDB{}, sel)
	if err != nil || engine == nil {
		return nil
	}
	want, err := s.resultTypes(ctx, wst.SQL, wst.Args)
	if err != nil {
		return nil
	}
	if got, err := s.resultTypesOn(ctx, engine, st.SQL, st.Args); err != nil || !slices.Equal(got, want) {
		return nil
	}
	return &plan{routePushdown, reason + "; its cube queries read rollups of the rollup store", &pushdownNode{sel: sel, sql: st.SQL, args: st.Args, names: st.Names,
		sources: st.Sources, dialect: engine.Dialect() + ", the rollup store", engine: engine,
		fallback: &query.Fallback{SQL: wst.SQL, Args: wst.Args, Warehouse: s.h.wh}}}
}

// bindCube binds a SELECT over cubes to one cube query and, unless the
// statement is only described, compiles it.
func (s *Session) bindCube(sel *pg_query.SelectStmt) (*cubeNode, error) {
	return s.bindCubeAt(sel, 0)
}

// bindCubeAt is bindCube with the query's arguments numbered after
// firstArg (a subquery of a pushed-down statement).
func (s *Session) bindCubeAt(sel *pg_query.SelectStmt, firstArg int) (*cubeNode, error) {
	model := s.h.Model()
	b := &binder{s: s, model: model, q: cubes.Query{Order: cubes.Order{}}}
	for _, item := range sel.GetFromClause() {
		if err := b.from(item); err != nil {
			return nil, err
		}
	}
	b.cube = b.tables[0].cube
	// Time dimensions are shown, truncated and compared in the session's
	// TimeZone.
	if tz := s.vars.m["timezone"]; !postgres.IsUTC(tz) {
		b.q.Timezone = tz
	}
	if err := b.bind(sel); err != nil {
		return nil, err
	}
	s.tableColumns(b.outs)
	n := &cubeNode{sel: sel, query: &b.q, outs: b.outs}
	for _, t := range b.tables {
		n.cubes = append(n.cubes, t.cube.Name)
	}
	// Compiled under the session's security context, resolved to cube
	// members: the compiler applies its row filters to every cube whose
	// rows the query reads (through views too) and refuses the members it
	// hides.
	if s.params.describing() {
		// Described, not run: the columns are known without the values
		// the statement does not have yet — but a measure read row by row
		// is whatever its SQL is, which the warehouse tells from the SQL
		// compiled with placeholder values, when that compiles.
		if n.rowMeasures() {
			if c, err := s.h.opts.Queries.Compile(s.principal(), model, s.h.dialect, &b.q, cubes.Options{UngroupedWithoutPrimaryKey: true}); err == nil {
				n.compiled, n.described = c, true
			}
		}
		return n, nil
	}
	pl, err := s.h.opts.Queries.Plan(s.principal(), s.h.opts.Source, model, s.h.dialect, &b.q, cubes.Options{UngroupedWithoutPrimaryKey: true, FirstArg: firstArg})
	if err != nil {
		return nil, err
	}
	n.compiled, n.rollup, n.engine, n.rollups, n.tables, n.materialized = pl.Compiled, pl.Rollup, pl.Engine, pl.Rollups, pl.Tables, pl.Materialized
	n.dialect = s.h.dialect.Name()
	if n.engine != nil {
		n.dialect = n.engine.Dialect() + ", the rollup store"
	}
	return n, nil
}

// cubeNode runs one cube query compiled for the warehouse.
type cubeNode struct {
	sel      *pg_query.SelectStmt
	query    *cubes.Query
	compiled *cubes.Compiled // nil while the statement is only described
	// described: compiled with placeholder values, for its types only.
	described bool
	dialect   string
	outs      []output
	cubes     []string // the cubes (and views) in FROM
	// rollup is the pre-aggregation answering the query from engine, the
	// rollup store (nil: the warehouse); rollups say why, per candidate.
	rollup  *cubes.PreAggregation
	engine  query.Engine
	rollups []string
	// tables is the query compiled for the cubes' tables when a rollup
	// answers: the way back if its table is gone by the time it runs.
	tables *cubes.Compiled
	// materialized are tables read in place of cubes' own (original_sql
	// pre-aggregations), by cube name.
	materialized map[string]string
}

// numeric reports an integer, float or numeric type.
func numeric(oid uint32) bool {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		return true
	}
	return false
}

// rowMeasures reports whether the query reads a measure row by row.
func (n *cubeNode) rowMeasures() bool {
	for _, o := range n.outs {
		if o.rowMeasure {
			return true
		}
	}
	return false
}

func (n *cubeNode) explain(o explainOptions) []string {
	if n.compiled == nil {
		return []string{"Cube query (described, not compiled)"}
	}
	out := explainLines(n.query, n.compiled, n.dialect, o, n.outs)
	switch {
	case n.rollup != nil && n.engine != nil:
		out = append(out, "Pre-aggregation: "+n.rollup.FullName()+" (read from the rollup store)")
	case n.rollup != nil:
		out = append(out, "Pre-aggregation: "+n.rollup.FullName()+" (a table in the warehouse)")
	}
	for _, c := range slices.Sorted(maps.Keys(n.materialized)) {
		out = append(out, "Cube "+c+" read from its original_sql pre-aggregation (a table in the warehouse)")
	}
	if len(n.rollups) > 0 {
		out = append(out, "Pre-aggregation candidates:")
		for _, l := range n.rollups {
			if !o.showSQL && strings.Contains(l, "row filter") {
				// Even the row filters' members are the security
				// context's, shown with scope sql only.
				name, _, _ := strings.Cut(l, ":")
				l = name + ": no — " + hiddenRollupReason
			}
			out = append(out, "  "+l)
		}
	}
	if o.session != nil {
		if l := o.session.cacheLine(n.sel, n.compiled.SQL, n.compiled.Args, n.cubes); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (n *cubeNode) open(ctx context.Context, s *Session) (pgwire.Portal, error) {
	cols := outputColumns(n.outs)
	if n.compiled != nil && n.rowMeasures() {
		// A measure read row by row (an ungrouped query) is its SQL's
		// value, not an aggregate's: its type is the warehouse's.
		types, err := s.resultTypes(ctx, n.compiled.SQL, n.compiled.Args)
		if err != nil {
			return nil, err
		}
		for i, o := range n.outs {
			if !o.rowMeasure {
				continue
			}
			for j, c := range n.compiled.Columns {
				// A number stays the measure's type (as the catalog shows
				// it: an integer is sent as bigint, a float as numeric);
				// anything else is what it is (count_distinct of a city
				// reads cities, not bigint).
				if c.Name == o.key && j < len(types) && !(numeric(cols[i].TypeOID) && numeric(types[j])) {
					cols[i].TypeOID, cols[i].TypeSize, cols[i].TypeMod = types[j], postgres.TypeLen(types[j]), -1
				}
			}
		}
	}
	if n.compiled == nil || n.described {
		return &staticPortal{tag: "SELECT", cols: cols}, nil
	}
	p, err := newCubePortal(s.h, n.query, n.compiled, n.outs, cols)
	if err != nil {
		return nil, err
	}
	var fb *query.Fallback
	rollup := ""
	if n.rollup != nil {
		rollup = n.rollup.FullName()
		if n.tables != nil {
			fb = &query.Fallback{SQL: n.tables.SQL, Args: n.tables.Args, Warehouse: s.h.wh}
		}
	}
	if err := s.admitted(&p.rowsPortal, n.sel, "cube", n.cubes, n.engine, fb, rollup); err != nil {
		return nil, err
	}
	return p, nil
}

// admitted holds a warehouse statement's portal to its tenant's
// admission (rate and running queries, as REST is) and runs it through
// the query service, which audits it when the portal closes: every
// warehouse query of the SQL API goes through here.
//
// engine, when set, runs it instead of the warehouse (the rollup store);
// fb is its way back to the cubes' tables; rollup names the
// pre-aggregations it reads, for the audit log ("": none).
func (s *Session) admitted(pt *rowsPortal, sel *pg_query.SelectStmt, kind string, cubeNames []string, engine query.Engine, fb *query.Fallback, rollup string) error {
	a, err := s.admit()
	if err != nil {
		return err
	}
	pt.admission = a
	st := s.statement(sel, kind, "sql", pt.sql, pt.args)
	st.Cache, st.Fallback, st.Rollup = s.cacheable(sel, cubeNames), fb, rollup
	var wh query.Warehouse = s.h.wh
	if engine != nil {
		wh = engine
	}
	pt.res = s.h.opts.Queries.Run(a, wh, st)
	return nil
}

// catalogNode answers a SELECT over pg_catalog and information_schema.
type catalogNode struct{ sel *pg_query.SelectStmt }

func (n *catalogNode) explain(explainOptions) []string {
	return []string{"Catalog: answered by cubegate's evaluator, no warehouse query"}
}

func (n *catalogNode) open(ctx context.Context, s *Session) (pgwire.Portal, error) {
	return s.planCatalog(ctx, n.sel)
}

// evaluatedNode is a result cubegate computed while routing (constants).
type evaluatedNode struct{ p pgwire.Portal }

func (n *evaluatedNode) explain(explainOptions) []string {
	return []string{"Answered by cubegate itself: no warehouse query."}
}

func (n *evaluatedNode) open(context.Context, *Session) (pgwire.Portal, error) { return n.p, nil }

// pushdownNode runs one rendered warehouse statement over cube row
// sources (see pushdown).
type pushdownNode struct {
	sel     *pg_query.SelectStmt
	sql     string
	args    []any
	names   []string
	sources []pushdown.Source
	dialect string
	// engine, when set, runs the statement instead of the warehouse
	// (the rollup store); fallback is the warehouse's statement.
	engine   query.Engine
	fallback *query.Fallback
}

// explain prints a pushed-down statement: its row sources, then the
// warehouse SQL and its arguments.
func (n *pushdownNode) explain(o explainOptions) []string {
	out := []string{"Push-down: one warehouse statement over cube row sources"}
	for _, s := range n.sources {
		out = append(out, "  "+s.Describe(o.showSQL))
	}
	out = append(out, "Warehouse SQL ("+n.dialect+"):")
	if !o.showSQL {
		out = append(out, "  "+hiddenSQL)
	} else {
		out = append(out, "  "+n.sql)
		for i, a := range n.args {
			out = append(out, "  parameter $"+strconv.Itoa(i+1)+" = "+cubes.FormatArg(a))
		}
	}
	if o.session != nil {
		if l := o.session.cacheLine(n.sel, n.sql, n.args, n.cubeNames()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
