// Package pushdown renders a SELECT that one cube query cannot express —
// subqueries, CTEs and wrappers over cubes, expressions over members,
// window functions, set operations — as one statement for the warehouse,
// over each cube's row source (cubes.RowSource). Render is its entry
// point; Session is all it reads of the session planning the statement.
// Functions, operators and types come from allow-lists (funcs.go) and are
// written through the warehouse's cubes.Dialect, so a new warehouse adds
// no code here. The planner's route decides when a statement is pushed
// down; this package only renders it, or says why it cannot.
package pushdown

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// pushdown renders a statement that one cube query cannot express —
// subqueries, CTEs and wrappers over cubes, expressions over members,
// window functions, set operations — as one statement for the warehouse.
// Each cube it reads becomes its row source (cubes.RowSource): one row
// per row of the cube, measures before aggregation, so SUM("count") and
// MEASURE("count") aggregate in the warehouse as Cube would. The renderer
// writes only what it knows: relations are cubes, CTEs and subqueries of
// the statement; functions, operators and types come from allow-lists and
// are written in the warehouse's dialect; every literal of the statement
// is a bound argument. Nothing of the client's text reaches the warehouse
// as written.
type pushdown struct {
	s    Session
	m    *cubes.Model
	d    cubes.Dialect
	args []any
	// argIndex numbers the bound values (see arg).
	argIndex map[any]int
	ctes     []map[string]*relation // WITH frames, innermost last
	cubes    []string               // cubes read, for row filters and the audit log
	n        int                    // generated aliases
	sources  []Source               // row sources (EXPLAIN)
	// used collects, per row source, the columns the statement reads;
	// prune is the first rendering's, so the second leaves the others out.
	used, prune map[string]map[string]bool
	// virtual marks, per rendered SELECT, its result columns that are a
	// cube's __cubeJoinField passed along (see relation.virtual); hidden
	// names the join-key columns it adds after its own.
	virtual map[*pg_query.SelectStmt][]*virtualCol
	hidden  map[*pg_query.SelectStmt][]string
	// noHidden > 0 while rendering set operations' sides, whose columns
	// must line up: they pass no join keys along.
	noHidden int
	top      *pg_query.SelectStmt // the statement itself: its result has no join keys
	missing  missingColumn        // the last column not found
}

// relation is a relation in a FROM clause.
type relation struct {
	alias  string // the name the statement uses for it
	sql    string // its rendered alias
	cols   []string
	prefix string      // column names in the rendered relation carry this prefix
	cube   *cubes.Cube // a cube's row source
	src    *cubes.RowSource
	// virtual columns are __cubeJoinField, as the cube or a subquery
	// passes it along: its value is NULL, as Cube shows it; behind it the
	// relation carries the cube's join keys, so that comparing two of
	// them joins their cubes along the model (see pushdown.joinKeys).
	virtual map[string]virtualCol
	hidden  []string // the join-key columns after cols
}

// virtualCol is __cubeJoinField passed along: the cube it is of, and the
// name its join keys carry in the relation ("<hidden>:<edge>").
type virtualCol struct{ cube, hidden string }

func virtualSet(cols []string, flags []*virtualCol) map[string]virtualCol {
	m := map[string]virtualCol{}
	for i, f := range flags {
		if f != nil && i < len(cols) {
			m[cols[i]] = *f
		}
	}
	return m
}

// virtualOf reports whether a column of the relation is __cubeJoinField
// passed along.
func (r *relation) virtualOf(col string) (virtualCol, bool) {
	if r.cube != nil && col == "__cubeJoinField" {
		return virtualCol{cube: r.cube.Name, hidden: "__cubeJoinField"}, true
	}
	vc, ok := r.virtual[col]
	return vc, ok
}

func (r *relation) isVirtual(col string) bool {
	_, ok := r.virtualOf(col)
	return ok
}

// joinKeys renders the join-key columns behind a virtual column of r,
// per edge of its cube's joins.
func (p *pushdown) joinKeys(r *relation, vc virtualCol) (edges, refs []string) {
	cube, ok := p.m.Cube(vc.cube)
	if !ok {
		return nil, nil
	}
	for _, k := range p.m.JoinKeys(cube) {
		name := vc.hidden + ":" + k.Edge
		p.use(r, name)
		edges = append(edges, k.Edge)
		refs = append(refs, p.quote(r.sql)+"."+p.quote(r.prefix+name))
	}
	return edges, refs
}

// virtualJoin renders a.__cubeJoinField = b.__cubeJoinField between
// relations that pass two cubes' join fields along: the model's join
// between the cubes, on the keys the relations carry.
func (p *pushdown) virtualJoin(lr *relation, lv virtualCol, rr *relation, rv virtualCol, loc int32) (string, error) {
	a, _ := p.m.Cube(lv.cube)
	b, _ := p.m.Cube(rv.cube)
	edge, ok := p.m.JoinEdge(a, b)
	if !ok || a == b {
		return "", pgerr.New(pgerrcode.FeatureNotSupported, "%s and %s are not joined directly in the model", lv.cube, rv.cube).
			At(loc + 1).WithHint("join cubes that the model joins; the path comes from the model")
	}
	l, r := lv.hidden+":"+edge, rv.hidden+":"+edge
	p.use(lr, l)
	p.use(rr, r)
	return "(" + p.quote(lr.sql) + "." + p.quote(lr.prefix+l) + " = " + p.quote(rr.sql) + "." + p.quote(rr.prefix+r) + ")", nil
}

// virtualRef resolves n to a virtual column, if it is one.
func (p *pushdown) virtualRef(n *pg_query.Node, sc *scope) (*relation, virtualCol, bool) {
	cr := n.GetColumnRef()
	if cr == nil || isStarRef(cr) {
		return nil, virtualCol{}, false
	}
	_, rel, col, err := p.column(cr, sc)
	if err != nil {
		return nil, virtualCol{}, false
	}
	vc, ok := rel.virtualOf(col)
	return rel, vc, ok
}

// unreadable reports a cube's measure that has no row value.
func (r *relation) unreadable(col string) bool {
	return r.src != nil && r.src.Unreadable[r.prefix+col]
}

func errUnreadable(r *relation, col string, loc int32) error {
	return pgerr.New(pgerrcode.FeatureNotSupported, "measure %s.%s cannot be read inside a larger statement: its SQL is more than one aggregate", r.cube.Name, col).
		At(loc + 1).WithHint("select it from the cube directly, grouped by dimensions")
}

// scope is one SELECT's FROM clause, inside its enclosing ones.
type scope struct {
	parent *scope
	rels   []*relation
	// outputs are the SELECT list's names, which ORDER BY may use;
	// outputExprs their expressions.
	outputs, outputExprs []string
	// keys are the join keys passed along behind virtual outputs, by
	// output position (see targets).
	keys map[int][]string
}

func (p *pushdown) quote(s string) string { return p.d.QuoteIdent(s) }

// use records that the statement reads a column of a row source.
func (p *pushdown) use(r *relation, col string) {
	if r.cube == nil {
		return
	}
	if p.used == nil {
		p.used = map[string]map[string]bool{}
	}
	if p.used[r.sql] == nil {
		p.used[r.sql] = map[string]bool{}
	}
	p.used[r.sql][r.prefix+col] = true
}

// renderStatement renders a statement twice: the first pass learns which
// columns of each row source it reads, the second leaves the rest out.
func (p *pushdown) renderStatement(sel *pg_query.SelectStmt) (string, []string, error) {
	p.top = sel
	sql, cols, err := p.render(sel, nil)
	if err != nil || len(p.cubes) == 0 {
		return sql, cols, err // no row source to prune
	}
	used := p.used
	*p = pushdown{s: p.s, m: p.m, d: p.d, prune: used, top: sel}
	if p.prune == nil {
		p.prune = map[string]map[string]bool{}
	}
	return p.render(sel, nil)
}

// arg binds a value. Equal values share one argument, so that an
// expression written twice (in SELECT and GROUP BY) renders the same.
func (p *pushdown) arg(v any) string {
	if v != nil {
		if i, ok := p.argIndex[v]; ok {
			return p.d.Param(i)
		}
	}
	p.args = append(p.args, v)
	if v != nil {
		if p.argIndex == nil {
			p.argIndex = map[any]int{}
		}
		p.argIndex[v] = len(p.args)
	}
	return p.d.Param(len(p.args))
}

// literalArray binds a long IN list of integer or string literals as
// one array argument: it plans in constant time on the warehouse and
// passes PostgreSQL's limit of 65,535 parameters. Integers are a
// BIGINT[]; strings, on PostgreSQL, an array whose type the server
// infers from the compared expression, as it infers each literal's
// (DuckDB, which has no such limit, keeps them one by one).
func (p *pushdown) literalArray(items []*pg_query.Node) (string, bool) {
	if len(items) < 100 || !p.d.ListParams() {
		return "", false
	}
	ints := make([]int64, 0, len(items))
	var strs []string
	for _, it := range items {
		c := it.GetAConst()
		switch {
		case c == nil || c.GetIsnull():
			return "", false
		case c.GetIval() != nil && strs == nil:
			ints = append(ints, int64(c.GetIval().GetIval()))
		case c.GetFval() != nil && strs == nil:
			n, err := strconv.ParseInt(c.GetFval().GetFval(), 10, 64)
			if err != nil {
				return "", false
			}
			ints = append(ints, n)
		case c.GetSval() != nil && len(ints) == 0 && p.d.TextArrays():
			strs = append(strs, c.GetSval().GetSval())
		default:
			return "", false
		}
	}
	p.args = append(p.args, any(ints))
	if strs != nil {
		p.args[len(p.args)-1] = strs
		return p.d.Param(len(p.args)), true
	}
	return "CAST(" + p.d.Param(len(p.args)) + " AS BIGINT[])", true
}

func (p *pushdown) alias() string {
	p.n++
	return "__q" + strconv.Itoa(p.n)
}

// render renders a SELECT statement; it returns the SQL and the names of
// its result columns.
func (p *pushdown) render(sel *pg_query.SelectStmt, outer *scope) (string, []string, error) {
	var b strings.Builder
	if w := sel.GetWithClause(); w != nil {
		if w.GetRecursive() {
			return "", nil, unsupported(nil, "WITH RECURSIVE over cubes is not supported")
		}
		frame := map[string]*relation{}
		p.ctes = append(p.ctes, frame)
		defer func() { p.ctes = p.ctes[:len(p.ctes)-1] }()
		b.WriteString("WITH ")
		for i, n := range w.GetCtes() {
			cte := n.GetCommonTableExpr()
			inner := cte.GetCtequery().GetSelectStmt()
			if inner == nil {
				return "", nil, unsupported(n, "only SELECT is allowed in WITH")
			}
			var sql string
			var cols []string
			if cq, ok := p.s.CubeQuery(inner, len(p.args)); ok {
				// One cube query a pre-aggregation covers (as a subquery
				// in FROM is, fromItem).
				p.args = append(p.args, cq.Args...)
				p.cubes = append(p.cubes, cq.Cubes...)
				p.sources = append(p.sources, Source{Alias: cte.GetCtename(), Cubes: cq.Cubes, Rollup: cq.Rollup, InStore: cq.InStore})
				sql, cols = cq.SQL, cq.Columns
			} else {
				var err error
				if sql, cols, err = p.render(inner, outer); err != nil {
					return "", nil, err
				}
			}
			virt, hidden := p.virtual[inner], p.hidden[inner]
			if names := cte.GetAliascolnames(); len(names) > 0 {
				if len(names) > len(cols) {
					return "", nil, pgerr.New(pgerrcode.InvalidColumnReference, "WITH query %q has %d columns available but %d columns specified", cte.GetCtename(), len(cols), len(names))
				}
				cols = append([]string(nil), cols...)
				for j, c := range names {
					cols[j] = c.GetString_().GetSval()
				}
			}
			name := p.alias()
			frame[cte.GetCtename()] = &relation{alias: cte.GetCtename(), sql: name, cols: cols, virtual: virtualSet(cols, virt), hidden: hidden}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.quote(name))
			b.WriteString(p.columnList(append(append([]string(nil), cols...), hidden...)))
			b.WriteString(" AS (")
			b.WriteString(sql)
			b.WriteString(")")
		}
		b.WriteString(" ")
	}
	var cols []string
	var sc *scope
	switch {
	case sel.GetOp() != pg_query.SetOperation_SETOP_NONE:
		p.noHidden++
		l, lc, err := p.render(sel.GetLarg(), outer)
		if err != nil {
			return "", nil, err
		}
		r, rc, err := p.render(sel.GetRarg(), outer)
		p.noHidden--
		if err != nil {
			return "", nil, err
		}
		if len(lc) != len(rc) {
			return "", nil, pgerr.New(pgerrcode.SyntaxError, "each %s query must have the same number of columns", pgnames.SetOp(sel.GetOp()))
		}
		b.WriteString("(" + l + ") " + pgnames.SetOp(sel.GetOp()))
		if sel.GetAll() {
			b.WriteString(" ALL")
		}
		b.WriteString(" (" + r + ")")
		cols = lc
		sc = &scope{parent: outer, outputs: lc}
	case len(sel.GetValuesLists()) > 0:
		b.WriteString("VALUES ")
		sc = &scope{parent: outer}
		for i, row := range sel.GetValuesLists() {
			items := row.GetList().GetItems()
			if i == 0 {
				for j := range items {
					cols = append(cols, "column"+strconv.Itoa(j+1))
				}
			}
			if i > 0 {
				b.WriteString(", ")
			}
			s, err := p.exprList(items, sc)
			if err != nil {
				return "", nil, err
			}
			b.WriteString("(" + s + ")")
		}
	default:
		var err error
		sc = &scope{parent: outer}
		var from strings.Builder
		if err = p.fromClause(sel.GetFromClause(), sc, &from); err != nil {
			return "", nil, err
		}
		b.WriteString("SELECT ")
		if d := sel.GetDistinctClause(); len(d) > 0 {
			if len(d) == 1 && d[0].GetNode() == nil {
				b.WriteString("DISTINCT ")
			} else {
				s, err := p.exprList(d, sc)
				if err != nil {
					return "", nil, err
				}
				if !p.d.DistinctOn() {
					return "", nil, p.lacks("DISTINCT ON", int32(-1))
				}
				b.WriteString("DISTINCT ON (" + s + ") ")
			}
		}
		targets, names, err := p.targets(sel, sc)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(targets)
		cols = names
		sc.outputs = names
		if from.Len() > 0 {
			b.WriteString(" FROM ")
			b.WriteString(from.String())
		}
		if w := sel.GetWhereClause(); w != nil {
			s, err := p.expr(w, sc)
			if err != nil {
				return "", nil, err
			}
			b.WriteString(" WHERE " + s)
		}
		if g := sel.GetGroupClause(); len(g) > 0 {
			var parts []string
			for _, n := range g {
				s, err := p.groupKey(n, sc, len(names))
				if err != nil {
					return "", nil, err
				}
				parts = append(parts, s)
			}
			b.WriteString(" GROUP BY " + strings.Join(parts, ", "))
		}
		if h := sel.GetHavingClause(); h != nil {
			s, err := p.expr(h, sc)
			if err != nil {
				return "", nil, err
			}
			b.WriteString(" HAVING " + s)
		}
		if len(sel.GetWindowClause()) > 0 {
			var parts []string
			for _, n := range sel.GetWindowClause() {
				wd := n.GetWindowDef()
				s, err := p.window(wd, sc)
				if err != nil {
					return "", nil, err
				}
				parts = append(parts, p.quote(wd.GetName())+" AS ("+s+")")
			}
			b.WriteString(" WINDOW " + strings.Join(parts, ", "))
		}
	}
	if len(sel.GetLockingClause()) > 0 {
		return "", nil, pgerr.New(pgerrcode.FeatureNotSupported, "SELECT FOR UPDATE/SHARE is not allowed on cubes: they are read-only")
	}
	if o := sel.GetSortClause(); len(o) > 0 {
		var parts []string
		for _, n := range o {
			sb := n.GetSortBy()
			s, err := p.orderKey(sb.GetNode(), sc, len(cols))
			if err != nil {
				return "", nil, err
			}
			key, err := p.sortKey(s, sb)
			if err != nil {
				return "", nil, err
			}
			parts = append(parts, key)
		}
		b.WriteString(" ORDER BY " + strings.Join(parts, ", "))
	}
	var limit, offset string
	var err error
	if l := sel.GetLimitCount(); l != nil {
		if c := l.GetAConst(); c == nil || !c.GetIsnull() { // LIMIT NULL / ALL: no limit
			if limit, err = p.expr(l, sc); err != nil {
				return "", nil, err
			}
		}
	}
	if o := sel.GetLimitOffset(); o != nil {
		if offset, err = p.expr(o, sc); err != nil {
			return "", nil, err
		}
	}
	b.WriteString(p.d.LimitOffset(limit, offset))
	return b.String(), cols, nil
}

func (p *pushdown) columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = p.quote(c)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// fromClause renders FROM items into b. Cubes side by side (a comma,
// CROSS JOIN or JOIN ON __cubeJoinField) are read as one row source
// joined along the model's paths, as Cube's SQL API joins them.
func (p *pushdown) fromClause(items []*pg_query.Node, sc *scope, b *strings.Builder) error {
	var group []*pg_query.RangeVar
	var rest []*pg_query.Node
	for _, n := range items {
		if rvs, ok := p.cubeGroup(n); ok {
			group = append(group, rvs...)
		} else {
			rest = append(rest, n)
		}
	}
	if len(group) > 0 {
		s, err := p.cubeSource(group, sc)
		if err != nil {
			return err
		}
		b.WriteString(s)
	}
	for _, n := range rest {
		s, err := p.fromItem(n, sc)
		if err != nil {
			return err
		}
		if b.Len() > 0 {
			b.WriteString(" CROSS JOIN ")
		}
		b.WriteString(s)
	}
	return nil
}

// cubeGroup reports the cubes of a FROM item made only of cubes joined by
// the model (CROSS JOIN, JOIN ON true or ON a.__cubeJoinField =
// b.__cubeJoinField).
func (p *pushdown) cubeGroup(n *pg_query.Node) ([]*pg_query.RangeVar, bool) {
	if rv := n.GetRangeVar(); rv != nil {
		if p.cte(rv) != nil {
			return nil, false
		}
		if _, ok := p.lookupCube(rv); ok {
			return []*pg_query.RangeVar{rv}, true
		}
		return nil, false
	}
	j := n.GetJoinExpr()
	if j == nil || j.GetAlias() != nil || len(j.GetUsingClause()) > 0 || j.GetIsNatural() {
		return nil, false
	}
	if t := j.GetJointype(); t != pg_query.JoinType_JOIN_INNER && t != pg_query.JoinType_JOIN_LEFT {
		return nil, false
	}
	l, ok := p.cubeGroup(j.GetLarg())
	if !ok {
		return nil, false
	}
	r, ok := p.cubeGroup(j.GetRarg())
	if !ok {
		return nil, false
	}
	group := append(l, r...)
	if q := j.GetQuals(); q != nil && !p.cubeJoinCondition(q, group) {
		return nil, false
	}
	return group, true
}

// cubeJoinCondition accepts what joins cubes along the model: ON true,
// a.__cubeJoinField = b.__cubeJoinField, or the model's join condition
// written on the cubes' dimensions.
func (p *pushdown) cubeJoinCondition(q *pg_query.Node, group []*pg_query.RangeVar) bool {
	tables := make([]Table, len(group))
	for i, rv := range group {
		c, _ := p.lookupCube(rv)
		tables[i] = Table{Cube: c, Alias: rv.GetAlias().GetAliasname()}
	}
	return JoinCondition(p.s, p.m, q, tables)
}

func (p *pushdown) cte(rv *pg_query.RangeVar) *relation {
	if rv.GetSchemaname() != "" {
		return nil
	}
	for i := len(p.ctes) - 1; i >= 0; i-- {
		if r, ok := p.ctes[i][rv.GetRelname()]; ok {
			return r
		}
	}
	return nil
}

func (p *pushdown) lookupCube(rv *pg_query.RangeVar) (*cubes.Cube, bool) {
	if schema := strings.ToLower(rv.GetSchemaname()); schema != "" && schema != "public" {
		return nil, false
	}
	if db := rv.GetCatalogname(); db != "" && db != p.s.Database() {
		return nil, false
	}
	c, ok := p.m.LookupCube(rv.GetRelname())
	return c, ok && c.Public
}

// cubeSource renders the row source of cubes read together.
func (p *pushdown) cubeSource(rvs []*pg_query.RangeVar, sc *scope) (string, error) {
	if !p.s.RowSources() {
		return "", unsupported(nil, "cube %s is read row by row, which the rollup store does not hold", rvs[0].GetRelname())
	}
	var names []string
	pol, err := p.s.Policy(p.m)
	if err != nil {
		return "", err
	}
	for _, rv := range rvs {
		c, _ := p.lookupCube(rv)
		if !pol.AllowsCube(c) {
			return "", pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for table %s", c.Name).At(rv.GetLocation() + 1)
		}
		for _, n := range names {
			if n == c.Name {
				return "", unsupported(nil, "cube %s is read twice: a cube joins others once, along the model's path", c.Name).At(rv.GetLocation() + 1)
			}
		}
		names = append(names, c.Name)
	}
	alias := p.alias()
	opts := cubes.RowSourceOptions{FirstArg: len(p.args), Policy: pol, Tables: p.s.Tables(p.m)}
	if cs, ok := p.s.(ClaimsSession); ok {
		opts.Security = cs.Claims()
	}
	if p.prune != nil {
		opts.Only = p.prune[alias]
		if opts.Only == nil {
			opts.Only = map[string]bool{}
		}
	}
	if tz := p.s.TimeZone(); !postgres.IsUTC(tz) {
		opts.Timezone = tz
	}
	src, err := p.m.RowSource(names, p.d, opts)
	if err != nil {
		return "", err
	}
	p.args = append(p.args, src.Args...)
	p.cubes = append(p.cubes, names...)
	source := Source{Alias: alias, Cubes: names, Timezone: opts.Timezone}
	if len(src.RowFilters) > 0 {
		fj, _ := json.Marshal(src.RowFilters)
		source.RowFilters = string(fj)
	}
	p.sources = append(p.sources, source)
	for i, rv := range rvs {
		c, _ := p.m.Cube(names[i])
		a := rv.GetAlias().GetAliasname()
		if a == "" {
			a = rv.GetRelname()
		}
		sc.rels = append(sc.rels, &relation{alias: a, sql: alias, cols: src.Columns[c.Name], prefix: c.Name + ".", cube: c, src: src})
	}
	return "(" + src.SQL + ") AS " + p.quote(alias), nil
}

func (p *pushdown) fromItem(n *pg_query.Node, sc *scope) (string, error) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		if r := p.cte(rv); r != nil {
			alias := rv.GetAlias().GetAliasname()
			if alias == "" {
				alias = rv.GetRelname()
			}
			sql := p.alias()
			cols := r.cols
			virt := make([]*virtualCol, len(cols))
			for i, c := range cols {
				if vc, ok := r.virtual[c]; ok {
					virt[i] = &vc
				}
			}
			if cn := rv.GetAlias().GetColnames(); len(cn) > 0 {
				cols = renameCols(cols, cn)
			}
			sc.rels = append(sc.rels, &relation{alias: alias, sql: sql, cols: cols, virtual: virtualSet(cols, virt), hidden: r.hidden})
			return p.d.Derived(p.quote(r.sql), true, sql, append(append([]string(nil), cols...), r.hidden...)), nil
		}
		if _, ok := p.lookupCube(rv); ok {
			return p.cubeSource([]*pg_query.RangeVar{rv}, sc)
		}
		schema := strings.ToLower(rv.GetSchemaname())
		if schema == "pg_catalog" || schema == "information_schema" || schema == "cubegate" {
			return "", unsupported(n, "%s.%s cannot be read together with cubes", schema, rv.GetRelname()).
				WithHint("query the catalog and the cubes in separate statements")
		}
		name := rv.GetRelname()
		if schema != "" {
			name = schema + "." + name
		}
		return "", pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", name).
			At(rv.GetLocation()+1).WithHint("%s", RelationHint(rv.GetRelname(), p.s.VisibleCubes(p.m)))
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if rs.GetLateral() {
			return "", unsupported(n, "LATERAL subqueries over cubes are not supported")
		}
		sub := rs.GetSubquery().GetSelectStmt()
		alias := rs.GetAlias().GetAliasname()
		if cq, ok := p.s.CubeQuery(sub, len(p.args)); ok {
			// One cube query a pre-aggregation covers: its rows, not the
			// cubes' rows aggregated here.
			p.args = append(p.args, cq.Args...)
			p.cubes = append(p.cubes, cq.Cubes...)
			cols := cq.Columns
			if cn := rs.GetAlias().GetColnames(); len(cn) > 0 {
				cols = renameCols(cols, cn)
			}
			name := p.alias()
			p.sources = append(p.sources, Source{Alias: name, Cubes: cq.Cubes, Rollup: cq.Rollup, InStore: cq.InStore})
			sc.rels = append(sc.rels, &relation{alias: alias, sql: name, cols: cols})
			return p.d.Derived(cq.SQL, false, name, cols), nil
		}
		sql, cols, err := p.render(sub, nil)
		if err != nil {
			return "", err
		}
		if cn := rs.GetAlias().GetColnames(); len(cn) > 0 {
			cols = renameCols(cols, cn)
		}
		name := p.alias()
		hidden := p.hidden[sub]
		sc.rels = append(sc.rels, &relation{alias: alias, sql: name, cols: cols, virtual: virtualSet(cols, p.virtual[sub]), hidden: hidden})
		return p.d.Derived(sql, false, name, append(append([]string(nil), cols...), hidden...)), nil
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		if rvs, ok := p.cubeGroup(n); ok {
			return p.cubeSource(rvs, sc)
		}
		if j.GetAlias() != nil || j.GetIsNatural() || len(j.GetUsingClause()) > 0 {
			return "", unsupported(n, "NATURAL, USING and aliased joins over cubes are not supported").WithHint("write the join condition with ON")
		}
		_, lc := p.cubeGroup(j.GetLarg())
		_, rc := p.cubeGroup(j.GetRarg())
		if lc && rc {
			// Cubes join along the model's paths only.
			return "", unsupported(n, "a join between cubes must be INNER, LEFT or CROSS, ON a.__cubeJoinField = b.__cubeJoinField").
				WithHint("the join path comes from the model")
		}
		l, err := p.fromItem(j.GetLarg(), sc)
		if err != nil {
			return "", err
		}
		r, err := p.fromItem(j.GetRarg(), sc)
		if err != nil {
			return "", err
		}
		kind := map[pg_query.JoinType]string{pg_query.JoinType_JOIN_INNER: "JOIN", pg_query.JoinType_JOIN_LEFT: "LEFT JOIN",
			pg_query.JoinType_JOIN_RIGHT: "RIGHT JOIN", pg_query.JoinType_JOIN_FULL: "FULL JOIN"}[j.GetJointype()]
		if kind == "" {
			return "", unsupported(n, "this join is not supported")
		}
		q := j.GetQuals()
		if q == nil {
			return l + " CROSS JOIN " + r, nil
		}
		on, err := p.expr(q, sc)
		if err != nil {
			return "", err
		}
		return l + " " + kind + " " + r + " ON " + on, nil
	}
	return "", unsupported(n, "functions in FROM are not supported together with cubes")
}

func renameCols(cols []string, names []*pg_query.Node) []string {
	out := append([]string(nil), cols...)
	for i, n := range names {
		if i < len(out) {
			out[i] = n.GetString_().GetSval()
		}
	}
	return out
}

// targets renders the SELECT list, every column named.
func (p *pushdown) targets(sel *pg_query.SelectStmt, sc *scope) (string, []string, error) {
	var parts, names, exprs, hiddenParts, hiddenNames []string
	var virt []*virtualCol
	sc.keys = map[int][]string{}
	// pass adds a virtual column's join keys after the statement's columns.
	pass := func(r *relation, col, name string) *virtualCol {
		vc, ok := r.virtualOf(col)
		if !ok || p.noHidden > 0 || sel == p.top {
			return nil
		}
		edges, refs := p.joinKeys(r, vc)
		for i, e := range edges {
			hiddenParts = append(hiddenParts, refs[i]+" AS "+p.quote(name+":"+e))
			hiddenNames = append(hiddenNames, name+":"+e)
		}
		sc.keys[len(names)] = refs
		return &virtualCol{cube: vc.cube, hidden: name}
	}
	for _, n := range sel.GetTargetList() {
		rt := n.GetResTarget()
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStarRef(cr) {
			fields := cr.GetFields()
			var qual string
			if len(fields) > 1 {
				qual = fields[len(fields)-2].GetString_().GetSval()
			}
			found := false
			for _, r := range sc.rels {
				if qual != "" && !strings.EqualFold(r.alias, qual) {
					continue
				}
				found = true
				for _, c := range r.cols {
					if r.unreadable(c) {
						continue
					}
					p.use(r, c)
					virt = append(virt, pass(r, c, c))
					parts = append(parts, p.quote(r.sql)+"."+p.quote(r.prefix+c)+" AS "+p.quote(c))
					names = append(names, c)
					exprs = append(exprs, p.quote(r.sql)+"."+p.quote(r.prefix+c))
				}
			}
			if !found {
				if qual != "" {
					return "", nil, pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", qual).At(cr.GetLocation() + 1)
				}
				return "", nil, pgerr.New(pgerrcode.SyntaxError, "SELECT * with no tables specified is not valid").At(cr.GetLocation() + 1)
			}
			continue
		}
		name := rt.GetName()
		if name == "" {
			name = pgnames.FigureColname(rt.GetVal())
		}
		var s string
		var err error
		var vc *virtualCol
		if cr := rt.GetVal().GetColumnRef(); cr != nil && !isStarRef(cr) {
			// A column passed along as it is may be virtual.
			var rel *relation
			var col string
			s, rel, col, err = p.column(cr, sc)
			if err == nil {
				vc = pass(rel, col, name)
			}
		} else {
			s, err = p.expr(rt.GetVal(), sc)
		}
		if err != nil {
			return "", nil, err
		}
		virt = append(virt, vc)
		parts = append(parts, s+" AS "+p.quote(name))
		names = append(names, name)
		exprs = append(exprs, s)
	}
	sc.outputExprs = exprs
	if p.virtual == nil {
		p.virtual, p.hidden = map[*pg_query.SelectStmt][]*virtualCol{}, map[*pg_query.SelectStmt][]string{}
	}
	p.virtual[sel], p.hidden[sel] = virt, hiddenNames
	return strings.Join(append(parts, hiddenParts...), ", "), names, nil
}

func isStarRef(cr *pg_query.ColumnRef) bool {
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// column resolves a column reference in sc and its enclosing scopes.
func (p *pushdown) column(cr *pg_query.ColumnRef, sc *scope) (string, *relation, string, error) {
	fields := cr.GetFields()
	parts := make([]string, len(fields))
	for i, f := range fields {
		if f.GetString_() == nil {
			return "", nil, "", unsupported(nil, "this column reference is not supported").At(cr.GetLocation() + 1)
		}
		parts[i] = f.GetString_().GetSval()
	}
	col := parts[len(parts)-1]
	var qual string
	if len(parts) > 1 {
		qual = parts[len(parts)-2]
	}
	if len(parts) > 3 {
		return "", nil, "", pgerr.New(pgerrcode.SyntaxError, "improper qualified name (too many dotted names): %s", strings.Join(parts, ".")).At(cr.GetLocation() + 1)
	}
	for s := sc; s != nil; s = s.parent {
		var hits []*relation
		var hitCols []string
		var denied *relation
		for pass := 0; pass < 2 && len(hits) == 0; pass++ {
			for _, r := range s.rels {
				if qual != "" && !(r.alias == qual || pass == 1 && strings.EqualFold(r.alias, qual)) {
					continue
				}
				for _, c := range r.cols {
					if c == col || pass == 1 && strings.EqualFold(c, col) {
						hits = append(hits, r)
						hitCols = append(hitCols, c)
						break
					}
				}
				if r.cube != nil && len(hits) == 0 {
					if m, ok := r.cube.LookupMember(col); ok && cubes.IsPublic(m) {
						denied = r
					}
				}
			}
		}
		switch {
		case len(hits) > 1:
			return "", nil, "", pgerr.New(pgerrcode.AmbiguousColumn, "column reference %q is ambiguous", col).At(cr.GetLocation() + 1)
		case len(hits) == 1:
			r := hits[0]
			p.use(r, hitCols[0])
			if r.unreadable(hitCols[0]) {
				return "", nil, "", errUnreadable(r, hitCols[0], cr.GetLocation())
			}
			return p.quote(r.sql) + "." + p.quote(r.prefix+hitCols[0]), r, hitCols[0], nil
		case denied != nil:
			return "", nil, "", pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for column %s of table %s", col, denied.cube.Name).At(cr.GetLocation() + 1)
		}
	}
	if qual != "" {
		known := false
		for s := sc; s != nil; s = s.parent {
			for _, r := range s.rels {
				known = known || strings.EqualFold(r.alias, qual)
			}
		}
		if !known {
			return "", nil, "", pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", qual).At(cr.GetLocation() + 1)
		}
	}
	e := pgerr.New(pgerrcode.UndefinedColumn, "column %q does not exist", strings.Join(parts, ".")).At(cr.GetLocation() + 1)
	// The hint is found only if this is the error the statement fails
	// with: a column is looked up tentatively too (GROUP BY an output's
	// name).
	p.missing = missingColumn{err: e, col: col, qual: qual, sc: sc}
	return "", nil, "", e
}

// missingColumn is the last column not found, to hint at the closest.
type missingColumn struct {
	err       *pgerr.Error
	col, qual string
	sc        *scope
}

// hint names the closest column in scope, as PostgreSQL's hint does.
func (m missingColumn) hint() {
	var names, quals []string
	for s := m.sc; s != nil; s = s.parent {
		for _, r := range s.rels {
			if m.qual == "" || strings.EqualFold(r.alias, m.qual) {
				for _, c := range r.cols {
					if !r.isVirtual(c) && !strings.HasPrefix(c, "__") {
						names, quals = append(names, c), append(quals, r.alias)
					}
				}
			}
		}
	}
	if i := postgres.ClosestIndex(m.col, names); i >= 0 {
		m.err.WithHint("Perhaps you meant to reference the column %q.", quals[i]+"."+names[i])
	}
}

// orderKey renders an ORDER BY item: an output column's name or number,
// or an expression.
func (p *pushdown) orderKey(n *pg_query.Node, sc *scope, nOut int) (string, error) {
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && cr.GetFields()[0].GetString_() != nil {
		name := cr.GetFields()[0].GetString_().GetSval()
		for i, o := range sc.outputs {
			if o == name {
				return p.output(sc, i, p.quote(o)), nil
			}
		}
		if len(sc.rels) == 0 {
			for i, o := range sc.outputs {
				if strings.EqualFold(o, name) {
					return p.output(sc, i, p.quote(o)), nil
				}
			}
		}
	}
	if s, ok := p.ordinal(n, nOut); ok {
		i, _ := strconv.Atoi(s)
		return p.output(sc, i-1, s), nil
	}
	return p.expr(n, sc)
}

// output is an ORDER BY or GROUP BY key naming the SELECT list's i-th
// column: its name or ordinal, or its expression where the dialect keys
// by values (SortByValue).
func (p *pushdown) output(sc *scope, i int, key string) string {
	if p.d.SortByValue() && i >= 0 && i < len(sc.outputExprs) && len(sc.outputExprs) == len(sc.outputs) {
		return sc.outputExprs[i]
	}
	return key
}

// groupKey renders a GROUP BY item: an input column, an output column's
// name or number, or an expression.
func (p *pushdown) groupKey(n *pg_query.Node, sc *scope, nOut int) (string, error) {
	if gs := n.GetGroupingSet(); gs != nil {
		var parts []string
		for _, c := range gs.GetContent() {
			s, err := p.groupKey(c, sc, nOut)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		list := strings.Join(parts, ", ")
		switch gs.GetKind() {
		case pg_query.GroupingSetKind_GROUPING_SET_EMPTY:
			return "()", nil
		case pg_query.GroupingSetKind_GROUPING_SET_SIMPLE:
			return "(" + list + ")", nil
		case pg_query.GroupingSetKind_GROUPING_SET_ROLLUP:
			return "ROLLUP (" + list + ")", nil
		case pg_query.GroupingSetKind_GROUPING_SET_CUBE:
			return "CUBE (" + list + ")", nil
		case pg_query.GroupingSetKind_GROUPING_SET_SETS:
			return "GROUPING SETS (" + list + ")", nil
		}
	}
	if rw := n.GetRowExpr(); rw != nil { // GROUPING SETS ((a, b), c)
		var parts []string
		for _, c := range rw.GetArgs() {
			s, err := p.groupKey(c, sc, nOut)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "(" + strings.Join(parts, ", ") + ")", nil
	}
	// Grouping by __cubeJoinField groups by the join keys behind it.
	withKeys := func(s string, keys []string) string { return strings.Join(append([]string{s}, keys...), ", ") }
	if rel, vc, ok := p.virtualRef(n, sc); ok {
		s, _, _, _ := p.column(n.GetColumnRef(), sc)
		_, refs := p.joinKeys(rel, vc)
		return withKeys(s, refs), nil
	}
	if s, ok := p.ordinal(n, nOut); ok {
		i, _ := strconv.Atoi(s)
		return withKeys(p.output(sc, i-1, s), sc.keys[i-1]), nil
	}
	s, err := p.expr(n, sc)
	if err == nil {
		return s, nil
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && cr.GetFields()[0].GetString_() != nil {
		name := cr.GetFields()[0].GetString_().GetSval()
		for i, o := range sc.outputs {
			if o == name {
				return withKeys(strconv.Itoa(i+1), sc.keys[i]), nil
			}
		}
	}
	return "", err
}

func (p *pushdown) ordinal(n *pg_query.Node, nOut int) (string, bool) {
	c := n.GetAConst()
	if c == nil || c.GetIval() == nil || c.GetIsnull() {
		return "", false
	}
	i := c.GetIval().GetIval()
	if i < 1 || int(i) > nOut {
		return "", false
	}
	return strconv.Itoa(int(i)), true
}

func (p *pushdown) exprList(list []*pg_query.Node, sc *scope) (string, error) {
	parts := make([]string, len(list))
	for i, n := range list {
		s, err := p.expr(n, sc)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return strings.Join(parts, ", "), nil
}

// constant renders a literal as a bound argument.
func (p *pushdown) constant(c *pg_query.A_Const) (string, error) {
	switch {
	case c.GetIsnull():
		return "NULL", nil
	case c.GetBoolval() != nil:
		if c.GetBoolval().GetBoolval() {
			return "TRUE", nil
		}
		return "FALSE", nil
	case c.GetIval() != nil:
		return cubes.CastAs(p.d, p.arg(int64(c.GetIval().GetIval())), "INTEGER"), nil
	case c.GetFval() != nil:
		s := c.GetFval().GetFval()
		if _, err := strconv.ParseInt(s, 10, 64); err == nil && !strings.ContainsAny(s, ".eE") {
			v, _ := strconv.ParseInt(s, 10, 64)
			return cubes.CastAs(p.d, p.arg(v), "BIGINT"), nil
		}
		return p.d.Decimal(s, p.arg)
	case c.GetSval() != nil:
		return p.arg(c.GetSval().GetSval()), nil
	case c.GetBsval() != nil:
		return "", unsupported(nil, "bit-string literals are not supported")
	}
	return "", unsupported(nil, "this literal is not supported")
}

// typeName renders a type of a cast for the warehouse.
func (p *pushdown) typeName(t *pg_query.TypeName) (string, error) {
	name := pgnames.Type(t)
	var mods []string
	for _, m := range t.GetTypmods() {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil {
			return "", unsupported(nil, "type modifiers must be integers")
		}
		mods = append(mods, strconv.Itoa(int(c.GetIval().GetIval())))
	}
	var out string
	switch name {
	case "int2", "smallint":
		out = "SMALLINT"
	case "int4", "int", "integer", "serial":
		out = "INTEGER"
	case "int8", "bigint", "bigserial":
		out = "BIGINT"
	case "float4", "real":
		out = "REAL"
	case "float8", "double precision", "float":
		out = "DOUBLE PRECISION"
	case "numeric", "decimal":
		out = "NUMERIC"
	case "text", "name":
		out = "TEXT"
	case "varchar", "character varying":
		out = "VARCHAR"
	case "bpchar", "char", "character":
		out = "CHAR"
	case "bool", "boolean":
		out = "BOOLEAN"
	case "date":
		out = "DATE"
	case "timestamp":
		out = "TIMESTAMP"
	case "timestamptz":
		out = "TIMESTAMPTZ"
	case "time":
		out = "TIME"
	case "interval":
		if len(mods) > 0 {
			mods = nil // interval fields: PostgreSQL's own typmod encoding
		}
		out = "INTERVAL"
	case "uuid":
		out = "UUID"
	default:
		return "", unsupported(nil, "casting to %s is not supported over cubes", name)
	}
	pgName := out
	if out, mods = p.d.CastType(out, mods); out == "" {
		return "", p.lacks("CAST to "+strings.ToLower(pgName), -1)
	}
	if len(mods) > 0 {
		out += "(" + strings.Join(mods, ", ") + ")"
	}
	if len(t.GetArrayBounds()) > 0 {
		out += "[]"
	}
	return out, nil
}

// expr renders a scalar expression.
func (p *pushdown) expr(n *pg_query.Node, sc *scope) (string, error) {
	switch {
	case n.GetColumnRef() != nil:
		cr := n.GetColumnRef()
		if isStarRef(cr) {
			return "", unsupported(n, "* is only allowed in the SELECT list and COUNT(*)")
		}
		s, rel, col, err := p.column(cr, sc)
		if err == nil && rel.isVirtual(col) {
			// It joins cubes in FROM; it has no value of its own.
			return "", pgerr.New(pgerrcode.FeatureNotSupported, "__cubeJoinField has no value: it only joins cubes").
				At(cr.GetLocation() + 1).WithHint("join the cubes themselves: FROM a JOIN b ON a.__cubeJoinField = b.__cubeJoinField")
		}
		return s, err
	case n.GetAConst() != nil:
		s, err := p.constant(n.GetAConst())
		if pe, ok := err.(*pgerr.Error); ok {
			return "", pe.At(n.GetAConst().GetLocation() + 1)
		}
		return s, err
	case n.GetParamRef() != nil:
		pr := n.GetParamRef()
		v, err := p.s.Param(pr)
		if err != nil {
			return "", err
		}
		var val any
		if !v.Null && !v.Unbound {
			val = v.Text
		}
		ref := p.arg(val)
		if v.OID != 0 {
			if t, ok := castTypeName(v.OID); ok {
				return "CAST(" + ref + " AS " + t + ")", nil
			}
		}
		return ref, nil
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		t, err := p.typeName(tc.GetTypeName())
		if err != nil {
			return "", located(err, tc.GetLocation())
		}
		// interval '1 day' and friends: the literal is the warehouse's
		// to read, as text.
		inner, err := p.expr(tc.GetArg(), sc)
		if err != nil {
			return "", err
		}
		if isText(tc.GetArg()) {
			return p.d.CastText(inner, t), nil
		}
		return "CAST(" + inner + " AS " + t + ")", nil
	case n.GetAExpr() != nil:
		return p.aexpr(n.GetAExpr(), sc)
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		parts := make([]string, len(be.GetArgs()))
		for i, a := range be.GetArgs() {
			s, err := p.expr(a, sc)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		switch be.GetBoolop() {
		case pg_query.BoolExprType_AND_EXPR:
			return "(" + strings.Join(parts, " AND ") + ")", nil
		case pg_query.BoolExprType_OR_EXPR:
			return "(" + strings.Join(parts, " OR ") + ")", nil
		}
		return "(NOT " + parts[0] + ")", nil
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		if rel, vc, ok := p.virtualRef(nt.GetArg(), sc); ok {
			// __cubeJoinField is NULL where its join keys are.
			_, refs := p.joinKeys(rel, vc)
			if len(refs) == 0 {
				return strconv.FormatBool(nt.GetNulltesttype() == pg_query.NullTestType_IS_NULL), nil
			}
			if nt.GetNulltesttype() == pg_query.NullTestType_IS_NOT_NULL {
				return "(" + strings.Join(refs, " IS NOT NULL OR ") + " IS NOT NULL)", nil
			}
			return "(" + strings.Join(refs, " IS NULL AND ") + " IS NULL)", nil
		}
		s, err := p.expr(nt.GetArg(), sc)
		if err != nil {
			return "", err
		}
		if nt.GetNulltesttype() == pg_query.NullTestType_IS_NOT_NULL {
			return "(" + s + " IS NOT NULL)", nil
		}
		return "(" + s + " IS NULL)", nil
	case n.GetBooleanTest() != nil:
		bt := n.GetBooleanTest()
		s, err := p.expr(bt.GetArg(), sc)
		if err != nil {
			return "", err
		}
		op := map[pg_query.BoolTestType]string{
			pg_query.BoolTestType_IS_TRUE: "IS TRUE", pg_query.BoolTestType_IS_NOT_TRUE: "IS NOT TRUE",
			pg_query.BoolTestType_IS_FALSE: "IS FALSE", pg_query.BoolTestType_IS_NOT_FALSE: "IS NOT FALSE",
			pg_query.BoolTestType_IS_UNKNOWN: "IS NULL", pg_query.BoolTestType_IS_NOT_UNKNOWN: "IS NOT NULL",
		}[bt.GetBooltesttype()]
		return "(" + s + " " + op + ")", nil
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		var b strings.Builder
		b.WriteString("CASE")
		if a := ce.GetArg(); a != nil {
			s, err := p.expr(a, sc)
			if err != nil {
				return "", err
			}
			b.WriteString(" " + s)
		}
		for _, w := range ce.GetArgs() {
			cw := w.GetCaseWhen()
			c, err := p.expr(cw.GetExpr(), sc)
			if err != nil {
				return "", err
			}
			r, err := p.expr(cw.GetResult(), sc)
			if err != nil {
				return "", err
			}
			b.WriteString(" WHEN " + c + " THEN " + r)
		}
		if d := ce.GetDefresult(); d != nil {
			s, err := p.expr(d, sc)
			if err != nil {
				return "", err
			}
			b.WriteString(" ELSE " + s)
		}
		b.WriteString(" END")
		return b.String(), nil
	case n.GetCoalesceExpr() != nil:
		s, err := p.exprList(n.GetCoalesceExpr().GetArgs(), sc)
		return "COALESCE(" + s + ")", err
	case n.GetMinMaxExpr() != nil:
		mm := n.GetMinMaxExpr()
		name := "least"
		if mm.GetOp() == pg_query.MinMaxOp_IS_GREATEST {
			name = "greatest"
		}
		// GREATEST and LEAST skip NULLs in PostgreSQL; engines whose
		// functions do not write them otherwise (Function).
		c := p.call(name, mm.GetArgs(), sc)
		if s, ok, err := p.d.Function(c); ok {
			return s, argError(err, mm.GetArgs())
		}
		parts, err := c.Args()
		return strings.ToUpper(name) + "(" + strings.Join(parts, ", ") + ")", err
	case n.GetFuncCall() != nil:
		return p.funcCall(n.GetFuncCall(), sc)
	case n.GetSubLink() != nil:
		return p.subLink(n.GetSubLink(), sc)
	case n.GetSqlvalueFunction() != nil:
		return p.sqlValueFunction(n.GetSqlvalueFunction())
	case n.GetAArrayExpr() != nil:
		s, err := p.exprList(n.GetAArrayExpr().GetElements(), sc)
		return "ARRAY[" + s + "]", err
	case n.GetCollateClause() != nil:
		return p.expr(n.GetCollateClause().GetArg(), sc) // the warehouse's collation
	case n.GetRowExpr() != nil:
		s, err := p.exprList(n.GetRowExpr().GetArgs(), sc)
		return "(" + s + ")", err
	}
	return "", unsupported(n, "this expression is not supported over cubes")
}

// isText reports a string literal or a cast to text.
func isText(n *pg_query.Node) bool {
	if c := n.GetAConst(); c != nil {
		return c.GetSval() != nil
	}
	if tc := n.GetTypeCast(); tc != nil {
		switch pgnames.Type(tc.GetTypeName()) {
		case "text", "varchar", "character varying", "bpchar", "char":
			return true
		}
	}
	return false
}

func located(err error, loc int32) error {
	if pe, ok := err.(*pgerr.Error); ok && loc >= 0 {
		return pe.At(loc + 1)
	}
	return err
}

// castTypeName names a parameter's declared type for a cast.
func castTypeName(oid uint32) (string, bool) {
	switch oid {
	case pgtype.Int2OID:
		return "SMALLINT", true
	case pgtype.Int4OID:
		return "INTEGER", true
	case pgtype.Int8OID:
		return "BIGINT", true
	case pgtype.Float4OID:
		return "REAL", true
	case pgtype.Float8OID:
		return "DOUBLE PRECISION", true
	case pgtype.BoolOID:
		return "BOOLEAN", true
	case pgtype.DateOID:
		return "DATE", true
	case pgtype.TimestampOID:
		return "TIMESTAMP", true
	case pgtype.TimestamptzOID:
		return "TIMESTAMPTZ", true
	case pgtype.TextOID, pgtype.VarcharOID:
		return "VARCHAR", true
	}
	return "", false
}

var operators = map[string]bool{
	"+": true, "-": true, "*": true, "/": true, "%": true, "^": true,
	"=": true, "<>": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true, "||": true,
	"~": true, "~*": true, "!~": true, "!~*": true,
}

func (p *pushdown) aexpr(e *pg_query.A_Expr, sc *scope) (string, error) {
	op := pgnames.Op(e.GetName())
	side := func(n *pg_query.Node) (string, error) {
		if n == nil {
			return "", nil
		}
		return p.expr(n, sc)
	}
	if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && op == "=" {
		if lr, lv, ok := p.virtualRef(e.GetLexpr(), sc); ok {
			if rr, rv, ok := p.virtualRef(e.GetRexpr(), sc); ok {
				return p.virtualJoin(lr, lv, rr, rv, e.GetLocation())
			}
		}
	}
	l, err := side(e.GetLexpr())
	if err != nil {
		return "", err
	}
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if !operators[op] {
			return "", unsupported(nil, "operator %s is not supported over cubes", op).At(e.GetLocation() + 1)
		}
		r, err := side(e.GetRexpr())
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(op, "~") || strings.HasPrefix(op, "!~") {
			if m, ok := p.d.RegexMatch(op, l, r); ok {
				return m, nil
			}
		}
		if op == "!=" {
			op = "<>"
		}
		if l != "" {
			if s, ok := p.d.Binary(op, l, r); ok {
				return s, nil
			}
		}
		op = p.d.Operator(op)
		if l == "" {
			return "(" + op + " " + r + ")", nil
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		word := map[string]string{"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE"}[op]
		if word == "" {
			return "", unsupported(nil, "operator %s is not supported over cubes", op)
		}
		if fc := e.GetRexpr().GetFuncCall(); fc != nil && pgnames.Func(fc) == "like_escape" && len(fc.GetArgs()) == 2 {
			// x LIKE pattern ESCAPE c
			pat, err := p.expr(fc.GetArgs()[0], sc)
			if err != nil {
				return "", err
			}
			esc, err := p.expr(fc.GetArgs()[1], sc)
			if err != nil {
				return "", err
			}
			return "(" + l + " " + word + " " + pat + " ESCAPE " + esc + ")", nil
		}
		r, err := side(e.GetRexpr())
		if err != nil {
			return "", err
		}
		if s, ok := p.d.Binary(word, l, r); ok {
			return s, nil
		}
		return "(" + l + " " + word + " " + r + ")", nil
	case pg_query.A_Expr_Kind_AEXPR_IN:
		items := e.GetRexpr().GetList().GetItems()
		if arr, ok := p.literalArray(items); ok {
			if op == "<>" {
				return "(NOT (" + l + " = ANY(" + arr + ")))", nil
			}
			return "(" + l + " = ANY(" + arr + "))", nil
		}
		s, err := p.exprList(items, sc)
		if err != nil {
			return "", err
		}
		if op == "<>" {
			return "(" + l + " NOT IN (" + s + "))", nil
		}
		return "(" + l + " IN (" + s + "))", nil
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		items := e.GetRexpr().GetList().GetItems()
		lo, err := p.expr(items[0], sc)
		if err != nil {
			return "", err
		}
		hi, err := p.expr(items[1], sc)
		if err != nil {
			return "", err
		}
		not := ""
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN {
			not = "NOT "
		}
		return "(" + l + " " + not + "BETWEEN " + lo + " AND " + hi + ")", nil
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		r, err := side(e.GetRexpr())
		if err != nil {
			return "", err
		}
		op := "IS NOT DISTINCT FROM"
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_DISTINCT {
			op = "IS DISTINCT FROM"
		}
		if s, ok := p.d.Binary(op, l, r); ok {
			return s, nil
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case pg_query.A_Expr_Kind_AEXPR_NULLIF:
		r, err := side(e.GetRexpr())
		if err != nil {
			return "", err
		}
		return "NULLIF(" + l + ", " + r + ")", nil
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		if !operators[op] {
			return "", unsupported(nil, "operator %s is not supported over cubes", op).At(e.GetLocation() + 1)
		}
		r, err := side(e.GetRexpr())
		if err != nil {
			return "", err
		}
		q := "ANY"
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP_ALL {
			q = "ALL"
		}
		return "(" + l + " " + op + " " + q + "(" + r + "))", nil
	}
	return "", unsupported(nil, "this operator is not supported over cubes").At(e.GetLocation() + 1)
}

func (p *pushdown) subLink(sl *pg_query.SubLink, sc *scope) (string, error) {
	sub, _, err := p.render(sl.GetSubselect().GetSelectStmt(), sc)
	if err != nil {
		return "", err
	}
	switch sl.GetSubLinkType() {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return "EXISTS (" + sub + ")", nil
	case pg_query.SubLinkType_EXPR_SUBLINK:
		return "(" + sub + ")", nil
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return p.d.ArraySubquery(sub), nil
	case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
		l, err := p.expr(sl.GetTestexpr(), sc)
		if err != nil {
			return "", err
		}
		op := pgnames.Op(sl.GetOperName())
		if op == "" {
			op = "="
		}
		if !operators[op] {
			return "", unsupported(nil, "operator %s is not supported over cubes", op)
		}
		q := "ANY"
		if sl.GetSubLinkType() == pg_query.SubLinkType_ALL_SUBLINK {
			q = "ALL"
		}
		return "(" + l + " " + op + " " + q + " (" + sub + "))", nil
	}
	return "", unsupported(nil, "this subquery is not supported over cubes")
}

// sqlValueFunction renders CURRENT_DATE and friends: times are the
// warehouse's clock; names are the session's, as arguments.
func (p *pushdown) sqlValueFunction(f *pg_query.SQLValueFunction) (string, error) {
	switch name := pgnames.SQLValueFunction(f.GetOp()); name {
	case "current_date", "current_timestamp", "localtimestamp":
		return strings.ToUpper(name), nil
	case "current_user", "session_user", "user":
		return cubes.CastAs(p.d, p.arg(p.s.User()), "VARCHAR"), nil
	case "current_catalog":
		return cubes.CastAs(p.d, p.arg(p.s.Database()), "VARCHAR"), nil
	case "current_schema":
		return cubes.CastAs(p.d, p.arg("public"), "VARCHAR"), nil
	}
	return "", unsupported(nil, "%s is not supported over cubes", pgnames.SQLValueFunction(f.GetOp()))
}
