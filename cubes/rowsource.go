package cubes

import (
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
)

// RowSource is the SQL of cubes' rows as a table: what a statement the
// planner pushes down to the warehouse reads in place of a cube. One row
// per row of the cubes' tables (joined along the model's paths), one
// column per public member: a dimension's value, a measure's value before
// aggregation (count is 1, count_distinct the counted key, sum/avg/min/max
// their argument, with the measure's filters applied), a segment's
// condition; then __user and __cubeJoinField, always NULL (joins come from
// the model). Columns are named "cube.member".
type RowSource struct {
	SQL  string
	Args []any
	// Columns lists the cubes' columns, per cube, in the catalog's order.
	Columns map[string][]string
	// Aggregates names, for measures of type number, string, time and
	// boolean whose SQL is one aggregate (SUM(x), MAX(x), …), that
	// aggregate: their row value is its argument.
	Aggregates map[string]string
	// Unreadable are measures without a row value (SQL that is more than
	// one aggregate, such as {a} / {b}): they are not in the source.
	Unreadable map[string]bool
	// JoinEdges lists, per cube, the joins (see JoinKeys) whose key the
	// source carries in a hidden column "cube.__cubeJoinField:edge", so
	// that __cubeJoinField can join cubes read in separate subqueries.
	JoinEdges map[string][]string
	// RowFilters are the policy's row filters the source applies.
	RowFilters []Filter
}

// RowSourceOptions tune a row source.
type RowSourceOptions struct {
	// Timezone shows time dimensions in this zone ("" is UTC).
	Timezone string
	// Policy hides the members it does not allow (they are not columns)
	// and applies its row filters to every cube the source reads.
	Policy *Policy
	// FirstArg numbers the source's bound arguments from FirstArg+1, so
	// that the source can sit inside a statement with arguments of its own.
	FirstArg int
	// Only, when set, lists the columns ("cube.member") the statement
	// reads: the others are left out of the SQL (but not of Columns).
	Only map[string]bool
	// Tables are read in place of cubes' tables (see Options.Tables).
	Tables map[string]string
	// Security are the principal's claims (see Options.Security).
	Security map[string]any
}

// RowSource renders the rows of the named cubes (or views).
func (m *Model) RowSource(names []string, d Dialect, o RowSourceOptions) (*RowSource, error) {
	c := &compiler{r: renderer{model: m, d: d, ungrouped: true, tables: o.Tables}, d: d, q: &Query{Ungrouped: true}, model: m, now: time.Now(), opts: Options{Policy: o.Policy, Tables: o.Tables}}
	if o.Policy != nil {
		c.r.rowFilters = c.policyConditions
	}
	c.r.qc = &queryContext{security: o.Security, c: c}
	c.args = make([]any, o.FirstArg)
	if tz := o.Timezone; tz != "" && !postgres.IsUTC(tz) {
		loc, err := postgres.Location(tz)
		if err != nil {
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "unknown time zone %q", tz)
		}
		c.loc = loc
	}
	read := func(full string) bool { return o.Only == nil || o.Only[full] }
	src := &RowSource{Columns: map[string][]string{}, Aggregates: map[string]string{}, Unreadable: map[string]bool{}, JoinEdges: map[string][]string{}}
	var segs []string // rendered segment conditions, after the members
	var segNames []string
	for _, name := range names {
		cube, ok := m.Cube(name)
		if !ok {
			return nil, pgerr.New(pgerrcode.UndefinedTable, "cube %q does not exist", name)
		}
		var cols []string
		for _, ms := range cube.Measures {
			if !ms.Public || !o.Policy.Allows(ms) {
				continue
			}
			cols = append(cols, ms.Name)
			full := cube.Name + "." + ms.Name
			rm := resolveMember(ms).(*Measure)
			agg, inner, single := "", "", false
			switch rm.Type {
			case TypeNumber, TypeString, TypeTime, TypeBoolean:
				// Unreadable whether this statement reads it or not: a
				// second rendering, with the columns the first one read,
				// must still know to leave it out of SELECT *.
				if agg, inner, single = singleAggregate(rm.SQL); !single {
					src.Unreadable[full] = true
					continue
				}
			}
			if !read(full) {
				continue
			}
			switch rm.Type {
			case TypeNumber, TypeString, TypeTime, TypeBoolean:
				expr, err := c.r.expand(rm.Cube, inner)
				if err != nil {
					return nil, err
				}
				c.use(rm.Cube)
				c.cols = append(c.cols, Column{Name: full, Member: ms, Alias: full})
				c.exprs = append(c.exprs, expr)
				src.Aggregates[full] = agg
			default:
				if err := c.addColumn(Column{Name: full, Member: ms}); err != nil {
					return nil, err
				}
			}
		}
		for _, dm := range cube.Dimensions {
			if dm.Public && o.Policy.Allows(dm) {
				cols = append(cols, dm.Name)
				if !read(cube.Name + "." + dm.Name) {
					continue
				}
				if err := c.addColumn(Column{Name: cube.Name + "." + dm.Name, Member: dm}); err != nil {
					return nil, err
				}
			}
		}
		for _, sg := range cube.Segments {
			if sg.Public && o.Policy.Allows(sg) {
				cols = append(cols, sg.Name)
				if !read(cube.Name + "." + sg.Name) {
					continue
				}
				s, err := c.r.segmentExpr(resolveMember(sg).(*Segment))
				if err != nil {
					return nil, err
				}
				c.use(resolveMember(sg).OwnerCube())
				segs = append(segs, "COALESCE(("+s+"), false)")
				segNames = append(segNames, cube.Name+"."+sg.Name)
			}
		}
		for _, mem := range cube.Measures {
			c.use(resolveMember(mem).OwnerCube())
		}
		for _, mem := range cube.Dimensions {
			c.use(resolveMember(mem).OwnerCube())
		}
		cols = append(cols, "__user", "__cubeJoinField")
		for _, v := range []string{"__user", "__cubeJoinField"} {
			if read(cube.Name + "." + v) {
				segs = append(segs, CastAs(c.d, "NULL", "TEXT"))
				segNames = append(segNames, cube.Name+"."+v)
			}
		}
		for _, k := range m.JoinKeys(cube) {
			src.JoinEdges[cube.Name] = append(src.JoinEdges[cube.Name], k.Edge)
			name := cube.Name + ".__cubeJoinField:" + k.Edge
			if !read(name) {
				continue
			}
			s, err := c.r.expand(k.From, k.SQL)
			if err != nil {
				return nil, err
			}
			segs = append(segs, s)
			segNames = append(segNames, name)
		}
		src.Columns[cube.Name] = cols
	}
	plan, err := c.planJoins()
	if err != nil {
		return nil, err
	}
	// The policy's row filters, on every cube whose rows the source reads
	// (a view's cubes, whether or not it shows the filtered dimensions).
	where, err := c.policyWhere(plan)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, e := range c.exprs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e)
		b.WriteString(" AS ")
		b.WriteString(d.QuoteIdent(c.cols[i].Name))
	}
	for i, s := range segs {
		if len(c.exprs) > 0 || i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
		b.WriteString(" AS ")
		b.WriteString(d.QuoteIdent(segNames[i]))
	}
	if len(c.exprs) == 0 && len(segs) == 0 {
		b.WriteString("1 AS " + d.QuoteIdent("__row")) // COUNT(*) reads no column
	}
	b.WriteString(" FROM ")
	b.WriteString(plan.from)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	if len(c.applied) > 0 {
		// A fence: the warehouse must not evaluate the statement's own
		// expressions on rows the filters leave out (its errors would
		// show their values), so it may not merge the source into the
		// statement or push the statement's conditions into it.
		b.WriteString(c.d.LimitOffset("", "0"))
	}
	if c.r.qc.err != nil {
		return nil, c.r.qc.err
	}
	src.SQL, src.Args, src.RowFilters = b.String(), c.args[o.FirstArg:], c.applied
	return src, nil
}

var aggregateCall = regexp.MustCompile(`(?is)^\s*(sum|max|min|avg|count)\s*\((.*)\)\s*$`)

// singleAggregate splits SQL that is one aggregate call, SUM(x), into
// "sum" and x.
func singleAggregate(sql string) (agg, inner string, ok bool) {
	m := aggregateCall.FindStringSubmatch(sql)
	if m == nil {
		return "", "", false
	}
	// The call's parenthesis must close at the end: not SUM(a) / SUM(b).
	depth := 0
	for _, r := range m[2] {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return "", "", false
			}
		case '\'':
			// Strings in an aggregate's argument are rare: refuse them
			// rather than parse them.
			return "", "", false
		}
	}
	if depth != 0 {
		return "", "", false
	}
	inner = m[2]
	agg = strings.ToLower(m[1])
	if agg == "count" {
		if d, rest, ok := strings.Cut(strings.TrimSpace(inner), " "); ok && strings.EqualFold(d, "distinct") {
			return "count_distinct", rest, true
		}
	}
	return agg, inner, true
}
