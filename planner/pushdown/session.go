package pushdown

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"fmt"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// Session is what the push-down reads of the session planning a
// statement.
type Session interface {
	// Const is the constant a node stands for — a literal, a bound
	// parameter, a typed literal — if it is one.
	Const(n *pg_query.Node) (Value, bool)
	// Param is parameter $n: its value once bound, its type if known.
	Param(pr *pg_query.ParamRef) (Value, error)
	// Policy is the session's security context resolved against m.
	Policy(m *cubes.Model) (*cubes.Policy, error)
	// VisibleCubes names the cubes and views the session may read.
	VisibleCubes(m *cubes.Model) []string
	// TimeZone is the session's TimeZone setting.
	TimeZone() string
	// Tables are tables read in place of cubes' own (built original_sql
	// pre-aggregations), by cube name; nil for none.
	Tables(m *cubes.Model) map[string]string
	// CubeQuery answers a subquery that is one cube query a
	// pre-aggregation in the warehouse covers: its SQL, arguments
	// numbered after firstArg; ok false otherwise (the subquery is then
	// rendered over row sources).
	CubeQuery(sel *pg_query.SelectStmt, firstArg int) (CubeSQL, bool)
	// RowSources reports whether the statement may read cubes' row
	// sources: not when it is rendered for the rollup store, which holds
	// rollups only.
	RowSources() bool
	User() string
	Database() string
}

// ClaimsSession is a Session whose principal has security-context claims
// (what the model's {SECURITY_CONTEXT.…} reads in cubes' SQL).
type ClaimsSession interface {
	Claims() map[string]any
}

// Value is a constant or a parameter's value in text form.
type Value struct {
	Text string
	OID  uint32 // its type, 0 when unknown
	Null bool
	// Unbound is a parameter's placeholder while the statement is only
	// described: it has a type but no value.
	Unbound bool
	Loc     int32 // 0-based location in the statement
}

// Statement is a SELECT rendered for the warehouse.
type Statement struct {
	SQL  string
	Args []any
	// Names are the result's column names, as PostgreSQL names them.
	Names []string
	// Sources are the cubes' row sources it reads (EXPLAIN).
	Sources []Source
}

// Render renders sel as one warehouse statement in dialect d over the
// row sources of model m's cubes, or says why it cannot.
func Render(s Session, m *cubes.Model, d cubes.Dialect, sel *pg_query.SelectStmt) (*Statement, error) {
	p := &pushdown{s: s, m: m, d: d}
	sql, names, err := p.renderStatement(sel)
	if err != nil {
		if pe, ok := err.(*pgerr.Error); ok && pe == p.missing.err {
			p.missing.hint()
		}
		return nil, err
	}
	return &Statement{SQL: sql, Args: p.args, Names: names, Sources: p.sources}, nil
}

// Table is a cube read in FROM, under its alias if it has one.
type Table struct {
	Cube  *cubes.Cube
	Alias string
}

func (t Table) matches(rel string) bool {
	if t.Alias != "" {
		return rel == t.Alias
	}
	return strings.EqualFold(rel, t.Cube.Name)
}

// JoinCondition accepts what joins cubes along the model: ON true, ON
// x.__cubeJoinField = y.__cubeJoinField, the model's own join condition
// written on the cubes' members, and ANDs of those.
func JoinCondition(s Session, m *cubes.Model, n *pg_query.Node, tables []Table) bool {
	if c, ok := s.Const(n); ok && c.Text == "true" {
		return true
	}
	if be := n.GetBoolExpr(); be != nil && be.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		for _, a := range be.GetArgs() {
			if !JoinCondition(s, m, a, tables) {
				return false
			}
		}
		return true
	}
	e := n.GetAExpr()
	if e == nil || pgnames.Op(e.GetName()) != "=" {
		return false
	}
	if l, r := e.GetLexpr().GetColumnRef(), e.GetRexpr().GetColumnRef(); l != nil && r != nil && len(tables) > 0 {
		// The model's own join condition, written on the cubes' members
		// or on the columns of its SQL.
		lt, lok := joinTerm(tables, l)
		rt, rok := joinTerm(tables, r)
		if lok && rok && m.JoinsOnTerms(lt, rt) {
			return true
		}
	}
	isJoinField := func(x *pg_query.Node) bool {
		cr := x.GetColumnRef()
		if cr == nil {
			return false
		}
		f := cr.GetFields()
		return strings.EqualFold(f[len(f)-1].GetString_().GetSval(), "__cubeJoinField")
	}
	return isJoinField(e.GetLexpr()) && isJoinField(e.GetRexpr())
}

// joinTerm reads a side of a join equality: a public dimension of one of
// tables, or a column qualified by a table's name or alias (a column of
// the cube's SQL, which the model's join may name).
func joinTerm(tables []Table, cr *pg_query.ColumnRef) (cubes.JoinTerm, bool) {
	if mem, ok := member(tables, cr); ok {
		d, ok := mem.(*cubes.Dimension)
		return cubes.JoinTerm{Cube: d.OwnerCube(), Dimension: d}, ok
	}
	fields := cr.GetFields()
	if len(fields) != 2 {
		return cubes.JoinTerm{}, false
	}
	qual, col := fields[0].GetString_().GetSval(), fields[1].GetString_().GetSval()
	for _, t := range tables {
		if t.matches(qual) {
			return cubes.JoinTerm{Cube: t.Cube, Column: col}, true
		}
	}
	return cubes.JoinTerm{}, false
}

// member resolves a column reference to the one public member of tables
// it names: qualified by a table's alias or name, or unqualified when one
// table alone has it.
func member(tables []Table, cr *pg_query.ColumnRef) (cubes.Member, bool) {
	fields := cr.GetFields()
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.GetString_().GetSval()
	}
	col := parts[len(parts)-1]
	candidates := tables
	if len(parts) > 1 {
		if len(parts) == 3 && !strings.EqualFold(parts[0], "public") || len(parts) > 3 {
			return nil, false
		}
		candidates = nil
		for _, t := range tables {
			if t.matches(parts[len(parts)-2]) {
				candidates = append(candidates, t)
			}
		}
	}
	var found cubes.Member
	for _, t := range candidates {
		mem, ok := t.Cube.LookupMember(col)
		if !ok || !cubes.IsPublic(mem) {
			continue
		}
		if found != nil {
			return nil, false // ambiguous
		}
		found = mem
	}
	return found, found != nil
}

// RelationHint is the hint of an unknown relation: the closest cube or
// view, then all of them.
func RelationHint(name string, visible []string) string {
	if near, ok := postgres.Closest(name, visible); ok {
		return fmt.Sprintf("Perhaps you meant %q. The cubes and views are: %s", near, strings.Join(visible, ", "))
	}
	return "the cubes and views are: " + strings.Join(visible, ", ")
}

// unsupported is what the push-down does not write (0A000).
func unsupported(n *pg_query.Node, format string, args ...any) *pgerr.Error {
	return pgerr.Unsupported(pgnames.Location(n), format, args...)
}

// lacks refuses what the warehouse's engine does not have (a function,
// a clause), naming it and the engine; loc is where the statement has
// it (-1: unknown).
func (p *pushdown) lacks(what string, loc int32) error {
	e := unsupported(nil, "%s is not available on %s", what, p.d.Name())
	if loc >= 0 {
		e = e.At(loc + 1)
	}
	return e
}

// CubeSQL is a subquery answered as one cube query from a
// pre-aggregation (Session.CubeQuery).
type CubeSQL struct {
	SQL     string
	Args    []any
	Columns []string // the subquery's column names, as its target list names them
	Cubes   []string
	Rollup  string // the pre-aggregation's name
	InStore bool   // read from the rollup store, not the warehouse
}

// Source is one row source a pushed-down statement reads, for EXPLAIN.
type Source struct {
	Alias string
	Cubes []string
	// Rollup, when set, is the pre-aggregation a subquery that is one
	// cube query reads instead of the cubes' rows; InStore when it is in
	// the rollup store (the whole statement then runs there).
	Rollup  string
	InStore bool
	// RowFilters are the security context's row filters applied to the
	// source, as JSON ("" for none).
	RowFilters string
	// Timezone is the session's time zone the source's times are in (""
	// for UTC).
	Timezone string
}

// Describe prints the source in one line; its row filters' values only
// with showFilters (they are the principal's security context).
func (s Source) Describe(showFilters bool) string {
	if s.Rollup != "" {
		where := "a table in the warehouse"
		if s.InStore {
			where = "the rollup store"
		}
		return "Subquery " + s.Alias + ": one cube query over " + strings.Join(s.Cubes, ", ") + ", read from pre-aggregation " + s.Rollup + " (" + where + ")"
	}
	desc := "Row source " + s.Alias + ": " + strings.Join(s.Cubes, " ⋈ ")
	switch {
	case s.RowFilters != "" && showFilters:
		desc += " (row filters: " + s.RowFilters + ")"
	case s.RowFilters != "":
		desc += " (row filters hidden: shown to principals with scope sql)"
	}
	if s.Timezone != "" {
		desc += " in " + s.Timezone
	}
	return desc
}
