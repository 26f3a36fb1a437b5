package planner

import (
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/planner/pushdown"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// binder binds one SELECT over cubes to a cubes.Query.
type binder struct {
	s      *Session
	model  *cubes.Model
	tables []tableRef
	cube   *cubes.Cube // the first table's: COUNT(*) counts it
	q      cubes.Query
	outs   []output
	// grouped is true once a target or HAVING aggregates a measure.
	grouped bool
}

// output is one result column: the compiled column it reads.
type output struct {
	col  pgwire.Column
	key  string // compiled column name: cube.member or cube.member.granularity
	dim  bool   // a grouping key (dimension or time dimension)
	node *pg_query.Node
	// rowMeasure is a measure named without an aggregate: its row values,
	// in an ungrouped query.
	rowMeasure bool
}

// classify classifies a SELECT; a prepared statement remembers its class
// while the model and the temporary tables stay the same.
func (s *Session) classify(sel *pg_query.SelectStmt) statementKind {
	m := s.h.Model()
	if ps := s.prep; ps != nil && ps.node.GetSelectStmt() == sel {
		if ps.kindModel == m && ps.kindTemps == s.tempGen {
			return ps.kind
		}
		ps.kind, ps.kindModel, ps.kindTemps = classify(sel, m, s.temps), m, s.tempGen
		return ps.kind
	}
	return classify(sel, m, s.temps)
}

func publicCubes(m *cubes.Model) []string {
	var out []string
	for _, c := range m.Cubes {
		if c.Public {
			out = append(out, c.Name)
		}
	}
	return out
}

// readableMembers names the members of c a policy lets a client read.
func readableMembers(pol *cubes.Policy, c *cubes.Cube) []string {
	var out []string
	add := func(m cubes.Member) {
		if cubes.IsPublic(m) && pol.Allows(m) {
			out = append(out, m.MemberName())
		}
	}
	for _, m := range c.Measures {
		add(m)
	}
	for _, d := range c.Dimensions {
		add(d)
	}
	for _, sg := range c.Segments {
		add(sg)
	}
	return out
}

func unsupported(n *pg_query.Node, format string, args ...any) *pgerr.Error {
	return pgerr.Unsupported(pgnames.Location(n), format, args...)
}

func (b *binder) bind(sel *pg_query.SelectStmt) error {
	for _, t := range sel.GetTargetList() {
		if err := b.target(t.GetResTarget()); err != nil {
			return err
		}
	}
	if err := b.groupBy(sel); err != nil {
		return err
	}
	if w := sel.GetWhereClause(); w != nil {
		if err := b.where(w); err != nil {
			return err
		}
	}
	if h := sel.GetHavingClause(); h != nil {
		if err := b.where(h); err != nil {
			return err
		}
	}
	if err := b.orderBy(sel.GetSortClause()); err != nil {
		return err
	}
	if err := b.limits(sel); err != nil {
		return err
	}
	if len(sel.GetDistinctClause()) > 0 {
		// Every grouping key is selected (groupBy checked it), so the rows
		// are distinct already.
		if len(sel.GetDistinctClause()) > 1 || sel.GetDistinctClause()[0] != nil && sel.GetDistinctClause()[0].GetNode() != nil {
			return unsupported(nil, "DISTINCT ON is not supported")
		}
	}
	return nil
}

// target binds one SELECT-list item.
func (b *binder) target(rt *pg_query.ResTarget) error {
	n := rt.GetVal()
	if cr := n.GetColumnRef(); cr != nil && isStar(cr) {
		// SELECT * reads every column of the table (segments, __user and
		// __cubeJoinField too), row by row: the push-down's to answer.
		return notYet(n, "SELECT * in a cube query is not supported yet")
	}
	out, err := b.expr(n)
	if err != nil {
		return err
	}
	if rt.GetName() != "" {
		out.col.Name = rt.GetName()
	}
	b.outs = append(b.outs, out)
	return nil
}

func isStar(cr *pg_query.ColumnRef) bool {
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// expr binds a member expression: a dimension, MEASURE(m), an aggregate
// of a measure, COUNT(*), or date_trunc over a time dimension.
func (b *binder) expr(n *pg_query.Node) (output, error) {
	switch {
	case n.GetColumnRef() != nil:
		mem, name, err := b.column(n)
		if err != nil {
			return output{}, err
		}
		switch m := mem.(type) {
		case *cubes.Dimension:
			return b.addDimension(m, name, n), nil
		case *cubes.Measure:
			// Row by row in an ungrouped query; in a grouped one it must
			// be aggregated (groupBy checks).
			o := b.addMeasure(m, name, n)
			o.rowMeasure = true
			return o, nil
		case *cubes.Segment:
			return output{}, unsupported(n, "selecting segment %q is not supported", name).WithHint("use a segment in WHERE")
		}
	case n.GetFuncCall() != nil:
		return b.funcCall(n)
	case n.GetTypeCast() != nil:
		// Casts of a member to its own kind of type (Tableau's CAST(x AS
		// TIMESTAMP)) change nothing.
		inner, err := b.expr(n.GetTypeCast().GetArg())
		if err != nil {
			return output{}, err
		}
		if oid, ok := postgres.TypeOID(pgnames.Type(n.GetTypeCast().GetTypeName())); !ok || !castKeeps(inner.col.TypeOID, oid) {
			return output{}, notYet(n, "casting %s to %s is not supported yet", inner.key, pgnames.Type(n.GetTypeCast().GetTypeName()))
		}
		return inner, nil
	}
	return output{}, notYet(n, "this expression is not supported yet").
		WithHint("select dimensions, MEASURE(measure), aggregates of measures and date_trunc of time dimensions")
}

// castKeeps reports whether casting a value of type from to type to keeps
// every value as it is.
func castKeeps(from, to uint32) bool {
	if from == to {
		return true
	}
	num := func(o uint32) bool { return o == pgtype.NumericOID || o == pgtype.Int8OID }
	return num(from) && to == pgtype.NumericOID
}

// tableRef is a cube in FROM, under its alias.
type tableRef struct {
	cube  *cubes.Cube
	alias string // "" when not aliased
}

// matches reports whether a qualifier names this table: its alias, or
// its name when it has none.
// name is how the statement names the table: its alias, else the cube.
func (t tableRef) name() string {
	if t.alias != "" {
		return t.alias
	}
	return t.cube.Name
}

func (t tableRef) matches(rel string) bool {
	if t.alias != "" {
		return rel == t.alias
	}
	return strings.EqualFold(rel, t.cube.Name)
}

// from binds a FROM item: a cube, or cubes joined with CROSS JOIN, a
// comma, or JOIN … ON a.__cubeJoinField = b.__cubeJoinField (or ON
// true). The join path itself always comes from the model.
func (b *binder) from(n *pg_query.Node) error {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		if schema := strings.ToLower(rv.GetSchemaname()); schema != "" && schema != "public" {
			if schema == "pg_catalog" || schema == "information_schema" {
				return notYet(n, "catalog queries (%s.%s) are not supported yet", schema, rv.GetRelname())
			}
			return pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", schema+"."+rv.GetRelname()).At(rv.GetLocation() + 1)
		}
		cube, ok := b.model.LookupCube(rv.GetRelname())
		if !ok || !cube.Public {
			return pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", rv.GetRelname()).
				At(rv.GetLocation()+1).WithHint("%s", pushdown.RelationHint(rv.GetRelname(), b.s.visibleCubes(b.model)))
		}
		pol, err := b.s.policy(b.model)
		if err != nil {
			return err
		}
		if !pol.AllowsCube(cube) {
			return pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for table %s", cube.Name).At(rv.GetLocation() + 1)
		}
		b.tables = append(b.tables, tableRef{cube: cube, alias: rv.GetAlias().GetAliasname()})
		return nil
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		switch j.GetJointype() {
		case pg_query.JoinType_JOIN_INNER, pg_query.JoinType_JOIN_LEFT:
		default:
			return unsupported(n, "only INNER, LEFT and CROSS joins between cubes are supported").
				WithHint("the join path comes from the model; use CROSS JOIN or JOIN … ON a.__cubeJoinField = b.__cubeJoinField")
		}
		if j.GetAlias() != nil || len(j.GetUsingClause()) > 0 || j.GetIsNatural() {
			return unsupported(n, "NATURAL, USING and aliased joins are not supported").
				WithHint("join cubes ON a.__cubeJoinField = b.__cubeJoinField")
		}
		if err := b.from(j.GetLarg()); err != nil {
			return err
		}
		if err := b.from(j.GetRarg()); err != nil {
			return err
		}
		if q := j.GetQuals(); q != nil && !b.cubeJoinCondition(q) {
			return unsupported(q, "a join condition between cubes must be the model's join condition or a.__cubeJoinField = b.__cubeJoinField").
				WithHint("the join path comes from the model: ON true, or its condition on the cubes' columns")
		}
		return nil
	}
	return notYet(n, "subqueries and functions in FROM are not supported yet").
		WithHint("query cubes and views directly")
}

// cubeJoinCondition accepts what joins the FROM cubes along the model
// (pushdown.JoinCondition: the push-down accepts the same).
func (b *binder) cubeJoinCondition(n *pg_query.Node) bool {
	tables := make([]pushdown.Table, len(b.tables))
	for i, t := range b.tables {
		tables[i] = pushdown.Table{Cube: t.cube, Alias: t.alias}
	}
	return pushdown.JoinCondition(pushdownSession{s: b.s}, b.model, n, tables)
}

// column resolves a column reference to a member of a FROM cube:
// qualified by a table's alias or name, or unqualified when one cube
// alone has it.
func (b *binder) column(n *pg_query.Node) (cubes.Member, string, error) {
	cr := n.GetColumnRef()
	fields := cr.GetFields()
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.GetString_().GetSval()
	}
	col := parts[len(parts)-1]
	if strings.EqualFold(col, "__user") || strings.EqualFold(col, "__cubeJoinField") {
		// Cube's virtual columns are no member: the push-down reads them
		// (NULL, as SELECT * shows them) and joins on __cubeJoinField.
		return nil, "", notYet(n, "Cube's virtual column %s is not a member", col)
	}
	candidates := b.tables
	if len(parts) > 1 {
		rel := parts[len(parts)-2]
		candidates = nil
		for _, t := range b.tables {
			if t.matches(rel) {
				candidates = append(candidates, t)
			}
		}
		if len(candidates) == 0 || len(parts) == 3 && !strings.EqualFold(parts[0], "public") || len(parts) > 3 {
			return nil, "", pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", rel).At(cr.GetLocation() + 1)
		}
	}
	var found cubes.Member
	for _, t := range candidates {
		mem, ok := t.cube.LookupMember(col)
		if !ok || !cubes.IsPublic(mem) {
			continue
		}
		if found != nil {
			return nil, "", pgerr.New(pgerrcode.AmbiguousColumn, "column reference %q is ambiguous", col).At(cr.GetLocation() + 1)
		}
		found = mem
	}
	if found == nil {
		e := pgerr.New(pgerrcode.UndefinedColumn, "column %q does not exist", strings.Join(parts, ".")).At(cr.GetLocation() + 1)
		var names, quals []string
		if pol, err := b.s.policy(b.model); err == nil {
			for _, t := range candidates {
				for _, m := range readableMembers(pol, t.cube) {
					names, quals = append(names, m), append(quals, t.name())
				}
			}
		}
		if i := postgres.ClosestIndex(col, names); i >= 0 {
			e.WithHint("Perhaps you meant to reference the column %q.", quals[i]+"."+names[i])
		}
		return nil, "", e
	}
	if err := b.allowed(found, cr.GetLocation()); err != nil {
		return nil, "", err
	}
	return found, col, nil
}

// allowed checks a member against the session's security context (42501).
func (b *binder) allowed(m cubes.Member, loc int32) error {
	pol, err := b.s.policy(b.model)
	if err != nil {
		return err
	}
	if pol.Allows(m) {
		return nil
	}
	return pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for column %s of table %s", m.MemberName(), m.OwnerCube().Name).At(loc + 1)
}

func (b *binder) addDimension(d *cubes.Dimension, name string, n *pg_query.Node) output {
	full := cubes.FullName(d)
	if !contains(b.q.Dimensions, full) {
		b.q.Dimensions = append(b.q.Dimensions, full)
	}
	return output{col: pgwire.Column{Name: name, TypeOID: dimensionOID(d)}, key: full, dim: true, node: n}
}

func (b *binder) addMeasure(m *cubes.Measure, name string, n *pg_query.Node) output {
	full := cubes.FullName(m)
	if !contains(b.q.Measures, full) {
		b.q.Measures = append(b.q.Measures, full)
	}
	return output{col: pgwire.Column{Name: name, TypeOID: measureOID(m)}, key: full, node: n}
}

func (b *binder) funcCall(n *pg_query.Node) (output, error) {
	fc := n.GetFuncCall()
	name := pgnames.Func(fc)
	args := fc.GetArgs()
	switch name {
	case "measure", "sum", "count", "min", "max", "avg", "approx_distinct":
		if fc.GetAggStar() {
			if name != "count" {
				return output{}, pgerr.New(pgerrcode.SyntaxError, "%s(*) is not an aggregate", name).At(fc.GetLocation() + 1)
			}
			m := b.cube.CountMeasure()
			if m != nil {
				if err := b.allowed(m, fc.GetLocation()); err != nil {
					return output{}, err
				}
			}
			if m == nil {
				return output{}, pgerr.New(pgerrcode.UndefinedColumn, "cube %q has no count measure for COUNT(*)", b.cube.Name).
					At(fc.GetLocation() + 1).WithHint("add a measure of type count to the cube")
			}
			b.grouped = true
			return b.addMeasure(m, "count", n), nil
		}
		if len(args) != 1 || args[0].GetColumnRef() == nil {
			return output{}, unsupported(n, "%s() takes one measure column here", name)
		}
		if fc.GetAggFilter() != nil || len(fc.GetAggOrder()) > 0 || fc.GetOver() != nil {
			return output{}, notYet(n, "FILTER, ORDER BY and OVER on %s() are not supported yet", name)
		}
		mem, col, err := b.column(args[0])
		if err != nil {
			return output{}, err
		}
		m, ok := mem.(*cubes.Measure)
		if !ok {
			return output{}, pgerr.New(pgerrcode.GroupingError, "%s is a dimension: aggregate a measure instead", col).
				At(fc.GetLocation()+1).WithHint("measures of %s: see \\d %s", b.cube.Name, b.cube.Name).Mark(errRowWise)
		}
		agg := name
		if fc.GetAggDistinct() {
			if name != "count" {
				return output{}, unsupported(n, "%s(DISTINCT …) is not supported", name)
			}
			agg = "count_distinct"
		}
		if agg != "measure" && !cubes.AggregateAgrees(agg, m.Type) {
			return output{}, pgerr.New(pgerrcode.GroupingError, "measure %q is of type %s and cannot be aggregated with %s()", col, m.Type, strings.ToUpper(name)).
				At(fc.GetLocation()+1).WithHint("use MEASURE(%s)", col)
		}
		b.grouped = true
		return b.addMeasure(m, name, n), nil
	case "date_trunc":
		if len(args) != 2 {
			return output{}, unsupported(n, "date_trunc takes a granularity and a time dimension")
		}
		g, ok := b.s.params.constOf(args[0])
		if !ok || g.oid != pgtype.TextOID {
			return output{}, unsupported(args[0], "date_trunc needs a constant granularity")
		}
		gran := strings.ToLower(g.text)
		gran = postgres.Unit(gran)
		if !cubes.Granularities[gran] {
			return output{}, pgerr.New(pgerrcode.InvalidParameterValue, "unit %q not recognized for date_trunc", g.text).
				At(g.loc + 1).WithHint("granularities are second, minute, hour, day, week, month, quarter and year")
		}
		arg := args[1]
		if tc := arg.GetTypeCast(); tc != nil {
			if oid, _ := postgres.TypeOID(pgnames.Type(tc.GetTypeName())); oid == pgtype.TimestampOID || oid == pgtype.TimestamptzOID || oid == pgtype.DateOID {
				arg = tc.GetArg()
			}
		}
		if arg.GetColumnRef() == nil {
			return output{}, unsupported(arg, "date_trunc takes a time dimension column here")
		}
		mem, col, err := b.column(arg)
		if err != nil {
			return output{}, err
		}
		d, ok := mem.(*cubes.Dimension)
		if !ok || d.Type != cubes.TypeTime {
			return output{}, pgerr.New(pgerrcode.UndefinedFunction, "date_trunc needs a time dimension; %q is not one", col).At(pgnames.Location(arg) + 1)
		}
		full := cubes.FullName(d)
		key := full + "." + gran
		found := false
		for _, td := range b.q.TimeDimensions {
			if td.Dimension == full && td.Granularity == gran {
				found = true
			}
		}
		if !found {
			b.q.TimeDimensions = append(b.q.TimeDimensions, cubes.TimeDimension{Dimension: full, Granularity: gran})
		}
		return output{col: pgwire.Column{Name: "date_trunc", TypeOID: pgtype.TimestampOID}, key: key, dim: true, node: n}, nil
	}
	return output{}, notYet(n, "function %s() is not supported yet", name)
}

// groupBy checks GROUP BY against the targets, as Postgres would, and adds
// grouping keys that are not selected.
func (b *binder) groupBy(sel *pg_query.SelectStmt) error {
	groups := sel.GetGroupClause()
	if len(groups) == 0 && !b.grouped {
		// No aggregate, no GROUP BY: a row-level (ungrouped) query, unless
		// SELECT DISTINCT over dimensions only, which groups by them.
		if len(sel.GetDistinctClause()) > 0 && len(b.q.Measures) == 0 {
			return nil
		}
		b.q.Ungrouped = true
		return nil
	}
	for _, o := range b.outs {
		if o.rowMeasure {
			return pgerr.New(pgerrcode.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", o.col.Name).
				At(pgnames.Location(o.node)+1).WithHint("%s is a measure: select it as MEASURE(%s)", o.col.Name, o.col.Name)
		}
	}
	if len(groups) == 0 {
		for _, o := range b.outs {
			if o.dim {
				return pgerr.New(pgerrcode.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", o.col.Name).
					At(pgnames.Location(o.node) + 1)
			}
		}
		return nil
	}
	covered := map[string]bool{}
	for _, g := range groups {
		if c, ok := b.s.params.constOf(g); ok && c.oid == pgtype.Int4OID {
			i, _ := strconv.Atoi(c.text)
			if i < 1 || i > len(b.outs) {
				return pgerr.New(pgerrcode.InvalidColumnReference, "GROUP BY position %d is not in select list", i).At(c.loc + 1)
			}
			o := b.outs[i-1]
			if !o.dim {
				return pgerr.New(pgerrcode.GroupingError, "aggregate functions are not allowed in GROUP BY").At(c.loc + 1)
			}
			covered[o.key] = true
			continue
		}
		if cr := g.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
			// An output column name, as Postgres allows.
			name := cr.GetFields()[0].GetString_().GetSval()
			if o, ok := b.outputNamed(name); ok && o.dim {
				covered[o.key] = true
				continue
			}
		}
		o, err := b.expr(g)
		if err != nil {
			return err
		}
		if !o.dim {
			return pgerr.New(pgerrcode.GroupingError, "aggregate functions are not allowed in GROUP BY").At(pgnames.Location(g) + 1)
		}
		covered[o.key] = true
	}
	for _, o := range b.outs {
		if o.dim && !covered[o.key] {
			return pgerr.New(pgerrcode.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", o.col.Name).
				At(pgnames.Location(o.node) + 1)
		}
	}
	return nil
}

func (b *binder) outputNamed(name string) (output, bool) {
	for _, o := range b.outs {
		if o.col.Name == name {
			return o, true
		}
	}
	return output{}, false
}

func (b *binder) orderBy(items []*pg_query.Node) error {
	for _, it := range items {
		sb := it.GetSortBy()
		if sb.GetSortbyNulls() != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			return notYet(it, "NULLS FIRST / NULLS LAST is not supported yet")
		}
		desc := sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC
		if sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_USING {
			return unsupported(it, "ORDER BY … USING is not supported")
		}
		key, err := b.orderKey(sb.GetNode())
		if err != nil {
			return err
		}
		b.q.Order = append(b.q.Order, cubes.OrderItem{ID: key, Desc: desc})
	}
	return nil
}

func (b *binder) orderKey(n *pg_query.Node) (string, error) {
	if c, ok := b.s.params.constOf(n); ok && c.oid == pgtype.Int4OID {
		i, _ := strconv.Atoi(c.text)
		if i < 1 || i > len(b.outs) {
			return "", pgerr.New(pgerrcode.InvalidColumnReference, "ORDER BY position %d is not in select list", i).At(c.loc + 1)
		}
		return b.outs[i-1].key, nil
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
		if o, ok := b.outputNamed(cr.GetFields()[0].GetString_().GetSval()); ok {
			return o.key, nil
		}
	}
	o, err := b.expr(n)
	if err != nil {
		return "", err
	}
	if o.dim && !b.selectedKey(o.key) {
		return "", pgerr.New(pgerrcode.GroupingError, "column %q must appear in the GROUP BY clause or be used in an aggregate function", o.col.Name).
			At(pgnames.Location(n) + 1)
	}
	return o.key, nil
}

func (b *binder) selectedKey(key string) bool {
	for _, o := range b.outs {
		if o.key == key {
			return true
		}
	}
	for _, td := range b.q.TimeDimensions {
		if td.Dimension+"."+td.Granularity == key {
			return true
		}
	}
	return contains(b.q.Dimensions, key)
}

func (b *binder) limits(sel *pg_query.SelectStmt) error {
	if sel.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES {
		return unsupported(nil, "FETCH … WITH TIES is not supported")
	}
	if n := sel.GetLimitCount(); n != nil {
		c, ok := b.s.params.constOf(n)
		if !ok {
			return unsupported(n, "LIMIT must be a constant")
		}
		if c.param > 0 {
			b.s.params.infer(c.param, pgtype.Int8OID)
			if b.s.params.describing() {
				c.text = "0"
			}
		}
		if !c.isNull { // LIMIT ALL / LIMIT NULL: no limit
			v, err := strconv.ParseInt(c.text, 10, 64)
			if err != nil {
				return pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type bigint: %q", c.text).At(c.loc + 1)
			}
			if v < 0 {
				return pgerr.New(pgerrcode.InvalidRowCountInLimitClause, "LIMIT must not be negative").At(c.loc + 1)
			}
			b.q.Limit = &v
		}
	}
	if n := sel.GetLimitOffset(); n != nil {
		c, ok := b.s.params.constOf(n)
		if !ok {
			return unsupported(n, "OFFSET must be a constant")
		}
		if c.param > 0 {
			b.s.params.infer(c.param, pgtype.Int8OID)
			if b.s.params.describing() {
				c.text = "0"
			}
		}
		if !c.isNull {
			v, err := strconv.ParseInt(c.text, 10, 64)
			if err != nil {
				return pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type bigint: %q", c.text).At(c.loc + 1)
			}
			if v < 0 {
				return pgerr.New(pgerrcode.InvalidRowCountInResultOffsetClause, "OFFSET must not be negative").At(c.loc + 1)
			}
			b.q.Offset = v
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func outputColumns(outs []output) []pgwire.Column {
	cols := make([]pgwire.Column, len(outs))
	for i, o := range outs {
		cols[i] = o.col
	}
	return cols
}
