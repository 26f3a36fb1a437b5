package planner

import (
	"context"
	"fmt"
	"github.com/cubegate/cubegate/catalog"
	"google.golang.org/protobuf/proto"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/planner/pushdown"
	"github.com/cubegate/cubegate/query"
	"github.com/pganalyze/pg_query_go/v5"
)

// open runs the pushed-down statement. Its result's types are the
// warehouse's: it is asked, without running the statement (LIMIT 0 is
// planned, not executed), once per statement text.
func (n *pushdownNode) open(ctx context.Context, s *Session) (pgwire.Portal, error) {
	types, err := s.resultTypesOn(ctx, n.engine, n.sql, n.args)
	if err != nil {
		return nil, err
	}
	if len(types) != len(n.names) {
		return nil, fmt.Errorf("planner: the warehouse answers %d columns for %d", len(types), len(n.names))
	}
	cols := make([]pgwire.Column, len(n.names))
	for i, name := range n.names {
		cols[i] = pgwire.Column{Name: name, TypeOID: types[i]}
	}
	if s.params.describing() {
		return &staticPortal{tag: "SELECT", cols: cols}, nil
	}
	pt := &rowsPortal{sql: n.sql, args: n.args, cols: cols}
	if err := s.admitted(pt, n.sel, "pushdown", n.cubeNames(), n.engine, n.fallback, n.rollups()); err != nil {
		return nil, err
	}
	return pt, nil
}

// rollups names the pre-aggregations the statement's subqueries read,
// comma-separated ("": none).
func (n *pushdownNode) rollups() string {
	var names []string
	for _, src := range n.sources {
		if src.Rollup != "" && !slices.Contains(names, src.Rollup) {
			names = append(names, src.Rollup)
		}
	}
	return strings.Join(names, ",")
}

// cubeNames are the cubes the statement's row sources read.
func (n *pushdownNode) cubeNames() []string {
	var names []string
	for _, src := range n.sources {
		for _, c := range src.Cubes {
			if !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
	}
	return names
}

// resultTypes are the types of a warehouse statement's result columns, as
// the warehouse says (LIMIT 0 is planned, not run), remembered by SQL.
func (s *Session) resultTypes(ctx context.Context, sql string, args []any) ([]uint32, error) {
	return s.resultTypesOn(ctx, nil, sql, args)
}

// resultTypesOn is resultTypes on engine (nil: the warehouse).
func (s *Session) resultTypesOn(ctx context.Context, engine query.Engine, sql string, args []any) ([]uint32, error) {
	if types, ok := s.h.types.get(sql); ok {
		return types, nil
	}
	var wh query.Warehouse = s.h.wh
	if engine != nil {
		wh = engine
	}
	rows, err := wh.Query(ctx, "SELECT * FROM ("+sql+") AS "+s.h.dialect.QuoteIdent("q")+" LIMIT 0", args...)
	if err != nil {
		return nil, err
	}
	types := rows.Types()
	rows.Next()
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	s.h.types.put(sql, types)
	return types, nil
}

// resultTypes remembers the result types of pushed-down statements, by
// their SQL (which holds the model's SQL: a new model makes new keys; the
// cache is also emptied when the model changes).
// Lookups take no lock: planning shares nothing between sessions but this.
type resultTypes struct {
	m sync.Map // SQL → []uint32
	n atomic.Int64
}

const resultTypesMax = 4096

func (c *resultTypes) get(sql string) ([]uint32, bool) {
	t, ok := c.m.Load(sql)
	if !ok {
		return nil, false
	}
	return t.([]uint32), true
}

func (c *resultTypes) put(sql string, types []uint32) {
	if c.n.Add(1) > resultTypesMax {
		c.reset() // a simple bound: start over
		c.n.Store(1)
	}
	c.m.Store(sql, types)
}

func (c *resultTypes) reset() { c.m.Clear() }

// rowsPortal streams a warehouse statement's rows as they are, run by
// the query service under the statement's admission.
type rowsPortal struct {
	sql       string
	args      []any
	cols      []pgwire.Column
	admission *query.Admission
	res       query.Result
	err       error
}

func (p *rowsPortal) Columns() []pgwire.Column { return p.cols }

func (p *rowsPortal) Next(ctx context.Context) ([]any, error) {
	vals, err := p.res.Next(ctx)
	if err != nil && err != io.EOF {
		p.err = err
	}
	return vals, err
}

func (p *rowsPortal) Tag(n int64) string { return fmt.Sprintf("SELECT %d", n) }

func (p *rowsPortal) Close() error {
	if p.res != nil {
		p.res.Close(p.err)
		p.res = nil
	}
	p.admission.Release()
	return nil
}

// pushdownSession is the session as the push-down reads it.
// pushdownSession is the session as the push-down reads it. In store
// mode the statement is rendered for the rollup store: its cube queries
// are answered from rollups there (engine records the store), and no row
// source may be read.
type pushdownSession struct {
	s      *Session
	store  bool
	engine *query.Engine
}

// RowSources: not in store mode.
func (ps pushdownSession) RowSources() bool { return !ps.store }

func (ps pushdownSession) Const(n *pg_query.Node) (pushdown.Value, bool) {
	c, ok := ps.s.params.constOf(n)
	return pushdown.Value{Text: c.text, OID: c.oid, Null: c.isNull, Loc: c.loc}, ok
}

func (ps pushdownSession) Param(pr *pg_query.ParamRef) (pushdown.Value, error) {
	v, err := ps.s.params.param(pr)
	return pushdown.Value{Text: v.text, OID: v.oid, Null: v.isNull, Loc: v.loc, Unbound: ps.s.params.describing()}, err
}

func (ps pushdownSession) Policy(m *cubes.Model) (*cubes.Policy, error) { return ps.s.policy(m) }
func (ps pushdownSession) VisibleCubes(m *cubes.Model) []string         { return ps.s.visibleCubes(m) }
func (ps pushdownSession) Claims() map[string]any                       { return ps.s.principal().Security.Claims }
func (ps pushdownSession) TimeZone() string                             { return ps.s.vars.m["timezone"] }

// CubeQuery answers a subquery of a pushed-down statement that is one
// cube query a pre-aggregation in the warehouse covers (a BI tool's
// wrapper around a cube query): the cube query's SQL over the rollup's
// table, its columns named as the subquery names them. A rollup in the
// rollup store cannot join the statement's other tables; a subquery with
// parameters, or one a statement only describes, is left to the row
// sources.
func (ps pushdownSession) CubeQuery(sel *pg_query.SelectStmt, firstArg int) (pushdown.CubeSQL, bool) {
	s := ps.s
	if s.h.opts.Queries.Rollups == nil || !hasRollups(s.h.Model(), !ps.store) || s.params.describing() || hasParams(sel) {
		return pushdown.CubeSQL{}, false
	}
	if kind := s.classify(sel); kind != readsCubes || sel.GetOp() != pg_query.SetOperation_SETOP_NONE ||
		sel.GetWithClause() != nil || len(sel.GetFromClause()) == 0 {
		return pushdown.CubeSQL{}, false
	}
	n, err := s.bindCubeAt(sel, firstArg)
	if err != nil || n.compiled == nil || n.rollup == nil || (n.engine != nil) != ps.store {
		return pushdown.CubeSQL{}, false
	}
	if ps.store {
		*ps.engine = n.engine
	}
	var cols, names []string
	for _, o := range n.outs {
		alias := ""
		for _, c := range n.compiled.Columns {
			if c.Name == o.key {
				alias = c.Alias
				break
			}
		}
		if alias == "" {
			return pushdown.CubeSQL{}, false
		}
		cols = append(cols, s.h.dialect.QuoteIdent("q")+"."+s.h.dialect.QuoteIdent(alias)+" AS "+s.h.dialect.QuoteIdent(o.col.Name))
		names = append(names, o.col.Name)
	}
	sql := "SELECT " + strings.Join(cols, ", ") + " FROM (" + n.compiled.SQL + ") AS " + s.h.dialect.QuoteIdent("q")
	return pushdown.CubeSQL{SQL: sql, Args: n.compiled.Args, Columns: names, Cubes: n.cubes, Rollup: n.rollup.FullName(), InStore: ps.store}, true
}

// hasRollups reports a model with a rollup built in the warehouse
// (inWarehouse: external: false, which a pushed-down statement can join)
// or in the rollup store.
func hasRollups(m *cubes.Model, inWarehouse bool) bool {
	for _, c := range m.Cubes {
		for _, pa := range c.PreAggregations {
			if pa.Type == cubes.PreAggRollup && pa.External != inWarehouse {
				return true
			}
		}
	}
	return false
}

// hasParams reports a statement holding a parameter $n.
func hasParams(sel *pg_query.SelectStmt) bool {
	found := false
	catalog.Walk(sel.ProtoReflect(), func(m proto.Message) bool {
		if _, ok := m.(*pg_query.ParamRef); ok {
			found = true
		}
		return !found
	})
	return found
}

// Tables are the cubes' built original_sql pre-aggregations, read in
// place of their tables.
func (ps pushdownSession) Tables(m *cubes.Model) map[string]string {
	if r := ps.s.h.opts.Queries.Rollups; r != nil && !ps.store {
		return r.Tables(ps.s.h.opts.Source, m)
	}
	return nil
}
func (ps pushdownSession) User() string     { return ps.s.info.User }
func (ps pushdownSession) Database() string { return ps.s.info.Database }
