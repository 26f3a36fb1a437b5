package pushdown

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// function is a function the push-down renderer may write.
type function struct {
	min, max int  // argument counts (max -1: any)
	kind     byte // 's' scalar, 'a' aggregate, 'w' window only
}

var functions = map[string]function{
	// aggregates
	"count": {0, 1, 'a'}, "sum": {1, 1, 'a'}, "avg": {1, 1, 'a'}, "min": {1, 1, 'a'}, "max": {1, 1, 'a'},
	"string_agg": {2, 2, 'a'}, "array_agg": {1, 1, 'a'}, "bool_and": {1, 1, 'a'}, "bool_or": {1, 1, 'a'},
	"every": {1, 1, 'a'}, "stddev": {1, 1, 'a'}, "stddev_samp": {1, 1, 'a'}, "stddev_pop": {1, 1, 'a'},
	"variance": {1, 1, 'a'}, "var_samp": {1, 1, 'a'}, "var_pop": {1, 1, 'a'},
	"percentile_cont": {1, 1, 'a'}, "percentile_disc": {1, 1, 'a'}, "mode": {0, 0, 'a'},
	// window functions
	"row_number": {0, 0, 'w'}, "rank": {0, 0, 'w'}, "dense_rank": {0, 0, 'w'}, "percent_rank": {0, 0, 'w'},
	"cume_dist": {0, 0, 'w'}, "ntile": {1, 1, 'w'}, "lag": {1, 3, 'w'}, "lead": {1, 3, 'w'},
	"first_value": {1, 1, 'w'}, "last_value": {1, 1, 'w'}, "nth_value": {2, 2, 'w'},
	// strings
	"lower": {1, 1, 's'}, "upper": {1, 1, 's'}, "length": {1, 1, 's'}, "char_length": {1, 1, 's'},
	"character_length": {1, 1, 's'}, "octet_length": {1, 1, 's'}, "substring": {2, 3, 's'}, "substr": {2, 3, 's'},
	"strpos": {2, 2, 's'}, "btrim": {1, 2, 's'}, "ltrim": {1, 2, 's'}, "rtrim": {1, 2, 's'},
	"concat": {1, -1, 's'}, "concat_ws": {2, -1, 's'}, "left": {2, 2, 's'}, "right": {2, 2, 's'},
	"replace": {3, 3, 's'}, "split_part": {3, 3, 's'}, "reverse": {1, 1, 's'}, "repeat": {2, 2, 's'},
	"lpad": {2, 3, 's'}, "rpad": {2, 3, 's'}, "initcap": {1, 1, 's'}, "md5": {1, 1, 's'},
	"starts_with": {2, 2, 's'}, "regexp_replace": {3, 4, 's'}, "to_char": {2, 2, 's'},
	// numbers
	"abs": {1, 1, 's'}, "round": {1, 2, 's'}, "floor": {1, 1, 's'}, "ceil": {1, 1, 's'}, "ceiling": {1, 1, 's'},
	"trunc": {1, 2, 's'}, "sqrt": {1, 1, 's'}, "cbrt": {1, 1, 's'}, "power": {2, 2, 's'}, "pow": {2, 2, 's'},
	"exp": {1, 1, 's'}, "ln": {1, 1, 's'}, "log": {1, 2, 's'}, "log10": {1, 1, 's'}, "sign": {1, 1, 's'},
	"mod": {2, 2, 's'}, "pi": {0, 0, 's'}, "degrees": {1, 1, 's'}, "radians": {1, 1, 's'},
	"sin": {1, 1, 's'}, "cos": {1, 1, 's'}, "tan": {1, 1, 's'}, "asin": {1, 1, 's'}, "acos": {1, 1, 's'},
	"atan": {1, 1, 's'}, "atan2": {2, 2, 's'}, "greatest": {1, -1, 's'}, "least": {1, -1, 's'},
	"coalesce": {1, -1, 's'}, "nullif": {2, 2, 's'},
	// dates (date_trunc, date_part, extract, now and date are rendered below)
	"make_date": {3, 3, 's'}, "age": {1, 2, 's'},
	"regexp_instr": {2, 6, 's'}, "regexp_substr": {2, 5, 's'}, "regexp_count": {2, 4, 's'}, "regexp_like": {2, 3, 's'},
}

// datePartFields are the fields EXTRACT and date_part may name.
var datePartFields = map[string]bool{
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "second": true, "quarter": true,
	"week": true, "dow": true, "doy": true, "isodow": true, "isoyear": true, "epoch": true, "decade": true,
	"century": true, "millennium": true, "milliseconds": true, "microseconds": true,
}

// aggregateFor maps a measure type to the aggregate MEASURE() applies to
// its row values.
func (p *pushdown) measureAggregate(rel *relation, m *cubes.Measure, col string) (string, error) {
	typ := m.Type
	if agg, ok := rel.src.Aggregates[rel.prefix+m.Name]; ok {
		typ = map[string]cubes.MemberType{"sum": cubes.TypeSum, "max": cubes.TypeMax, "min": cubes.TypeMin,
			"avg": cubes.TypeAvg, "count": cubes.TypeCount, "count_distinct": cubes.TypeCountDistinct}[agg]
	}
	switch typ {
	case cubes.TypeCount:
		return "COUNT(" + col + ")", nil
	case cubes.TypeSum:
		return "SUM(" + col + ")", nil
	case cubes.TypeAvg:
		return "AVG(" + col + ")", nil
	case cubes.TypeMin:
		return "MIN(" + col + ")", nil
	case cubes.TypeMax:
		return "MAX(" + col + ")", nil
	case cubes.TypeCountDistinct:
		return "COUNT(DISTINCT " + col + ")", nil
	case cubes.TypeCountApprox:
		return p.d.ApproxCountDistinct(col), nil
	}
	return "", pgerr.New(pgerrcode.FeatureNotSupported, "measure %s.%s is of type %s: it cannot be aggregated inside a larger statement", m.Cube.Name, m.Name, m.Type).
		WithHint("select it from the cube directly, grouped by dimensions")
}

// integerArgument is the position of the integer argument of window
// functions: PostgreSQL's lag/lead(value, offset integer), nth_value(value,
// n integer), ntile(n integer).
var integerArgument = map[string]int{"lag": 1, "lead": 1, "nth_value": 1, "ntile": 0}

func (p *pushdown) funcCall(fc *pg_query.FuncCall, sc *scope) (string, error) {
	name := pgnames.Func(fc)
	loc := fc.GetLocation()
	if names := fc.GetFuncname(); len(names) == 2 && names[0].GetString_().GetSval() != "pg_catalog" {
		return "", pgerr.New(pgerrcode.UndefinedFunction, "function %s.%s does not exist", names[0].GetString_().GetSval(), name).At(loc + 1)
	}
	args := fc.GetArgs()
	over := ""
	if w := fc.GetOver(); w != nil {
		s, err := p.window(w, sc)
		if err != nil {
			return "", err
		}
		over = " OVER (" + s + ")"
		if w.GetName() != "" && len(w.GetPartitionClause()) == 0 && len(w.GetOrderClause()) == 0 {
			over = " OVER " + p.quote(w.GetName())
		}
	}
	// Aggregates over a measure column must agree with its type, as in a
	// cube query: SUM of a sum or count, MIN of a min, ….
	if name == "measure" {
		if len(args) != 1 || args[0].GetColumnRef() == nil {
			return "", unsupported(nil, "MEASURE() takes one measure column").At(loc + 1)
		}
		col, rel, member, err := p.column(args[0].GetColumnRef(), sc)
		if err != nil {
			return "", err
		}
		m, _ := memberOf(rel, member).(*cubes.Measure)
		if m == nil {
			return "", pgerr.New(pgerrcode.GroupingError, "MEASURE() takes a measure; %s is not one", member).At(loc + 1)
		}
		s, err := p.measureAggregate(rel, m, col)
		return s + over, located(err, loc)
	}
	switch name {
	case "sum", "count", "min", "max", "avg":
		if len(args) == 1 && args[0].GetColumnRef() != nil && !isStarRef(args[0].GetColumnRef()) {
			_, rel, member, err := p.column(args[0].GetColumnRef(), sc)
			if err != nil {
				return "", err
			}
			mem := memberOf(rel, member)
			if d, _ := mem.(*cubes.Dimension); d != nil && (name == "sum" || name == "avg") && d.Type != cubes.TypeNumber {
				typ := map[cubes.MemberType]string{cubes.TypeString: "text", cubes.TypeTime: "timestamp without time zone", cubes.TypeBoolean: "boolean"}[d.Type]
				return "", pgerr.New(pgerrcode.UndefinedFunction, "function %s(%s) does not exist", name, typ).
					At(loc+1).WithHint("%s is a %s dimension", member, d.Type)
			}
			if m, _ := mem.(*cubes.Measure); m != nil {
				agg := name
				if fc.GetAggDistinct() && name == "count" {
					agg = "count_distinct"
				}
				if !cubes.AggregateAgrees(agg, m.Type) {
					return "", pgerr.New(pgerrcode.GroupingError, "measure %q is of type %s and cannot be aggregated with %s()", member, m.Type, strings.ToUpper(name)).
						At(loc+1).WithHint("use MEASURE(%s)", member)
				}
			}
		}
	}
	if fc.GetAggStar() {
		if name != "count" {
			return "", pgerr.New(pgerrcode.SyntaxError, "%s(*) is not an aggregate", name).At(loc + 1)
		}
		s := "COUNT(*)"
		if f := fc.GetAggFilter(); f != nil {
			c, err := p.expr(f, sc)
			if err != nil {
				return "", err
			}
			if !p.d.AggregateFilter() {
				return "", p.lacks("FILTER (WHERE …)", loc)
			}
			s += " FILTER (WHERE " + c + ")"
		}
		return s + over, nil
	}
	switch name {
	case "date_trunc":
		if len(args) != 2 {
			break
		}
		unit, err := p.unit(args[0], cubes.Granularities)
		if err != nil {
			return "", err
		}
		x, err := p.expr(args[1], sc)
		if err != nil {
			return "", err
		}
		return p.fieldCall("date_trunc", unit, x, loc)
	case "date_part", "extract":
		if len(args) != 2 {
			break
		}
		field, err := p.unit(args[0], datePartFields)
		if err != nil {
			return "", err
		}
		x, err := p.expr(args[1], sc)
		if err != nil {
			return "", err
		}
		if name == "extract" {
			// The field and the expression, rendered already.
			c := cubes.Call{Name: name, NArgs: 2, In: &fieldArgs{p: p, field: field, x: x}}
			if s, ok, err := p.d.Function(c); ok {
				return s, err
			}
		}
		return p.fieldCall("date_part", field, x, loc)
	case "now":
		if len(args) == 0 {
			return "CURRENT_TIMESTAMP", nil
		}
	case "to_timestamp", "to_date":
		if len(args) != 2 {
			break
		}
		return p.dialectCall(p.call(name, args, sc), args)
	case "datediff", "date_diff":
		// Redshift's DATEDIFF(unit, from, to): unit boundaries crossed.
		if len(args) != 3 {
			break
		}
		unit, err := p.unitName(args[0], cubes.Granularities)
		if err != nil {
			return "", err
		}
		ab, err := p.exprs(sc, args[1], args[2])
		if err != nil {
			return "", err
		}
		return p.d.DateDiff(unit, ab[0], ab[1]), nil
	case "timezone":
		// x AT TIME ZONE zone
		if len(args) != 2 {
			break
		}
		return p.dialectCall(p.call(name, args, sc), args)
	case "generate_series":
		if len(args) < 2 || len(args) > 3 {
			break
		}
		return p.dialectCall(p.call(name, args, sc), args)
	case "str_to_date":
		// MySQL's STR_TO_DATE(text, '%Y-%m-%d %H:%i:%s'), which Cube accepts.
		if len(args) != 2 {
			break
		}
		c := p.call(name, args, sc)
		if _, err := c.Arg(0); err != nil {
			return "", err
		}
		if _, ok := c.Const(1); !ok {
			return "", unsupported(args[1], "str_to_date() needs a constant format")
		}
		return p.dialectCall(c, args)
	case "array_upper", "array_lower":
		// Cube accepts them without the dimension: the first one.
		if len(args) < 1 || len(args) > 2 {
			break
		}
		c := p.call(name, args, sc)
		if len(args) == 1 {
			c.NArgs = 2
			c.In.(*callArgs).dim1 = true
		}
		return p.dialectCall(c, args)
	case "charindex":
		// CHARINDEX(needle, haystack)
		if len(args) == 2 {
			nh, err := p.exprs(sc, args...)
			if err != nil {
				return "", err
			}
			return p.dialectCall(cubes.Call{Name: "strpos", NArgs: 2, In: &renderedArgs{p: p, vals: []string{nh[1], nh[0]}}}, []*pg_query.Node{args[1], args[0]})
		}
	case "isnull", "ifnull", "nvl":
		if len(args) == 2 {
			s, err := p.exprList(args, sc)
			return "COALESCE(" + s + ")", err
		}
	case "ends_with":
		if len(args) == 2 {
			return p.dialectCall(p.call(name, args, sc), args)
		}
	case "date":
		if len(args) == 1 {
			x, err := p.expr(args[0], sc)
			return "CAST(" + x + " AS DATE)", err
		}
	case "position":
		if len(args) == 2 {
			hn, err := p.exprs(sc, args...)
			if err != nil {
				return "", err
			}
			return p.dialectCall(cubes.Call{Name: "strpos", NArgs: 2, In: &renderedArgs{p: p, vals: hn}}, args)
		}
	case "dateadd", "date_add":
		// Redshift's and Snowflake's DATEADD(unit, n, date), which BI tools
		// send to Cube: date + n units.
		if len(args) != 3 || args[0].GetColumnRef() == nil && args[0].GetAConst() == nil {
			break
		}
		unit, err := p.unitName(args[0], cubes.Granularities)
		if err != nil {
			return "", err
		}
		nx, err := p.exprs(sc, args[1], args[2])
		if err != nil {
			return "", err
		}
		n, x := nx[0], nx[1]
		if unit == "quarter" {
			return p.d.DateAdd("month", "(3 * "+n+")", x), nil
		}
		return p.d.DateAdd(unit, n, x), nil
	}
	f, ok := functions[name]
	if !ok {
		return "", pgerr.New(pgerrcode.UndefinedFunction, "function %s() is not supported over cubes", name).At(loc + 1).
			WithHint("cubegate pushes down a list of standard functions; see the README")
	}
	if len(args) < f.min || f.max >= 0 && len(args) > f.max {
		return "", pgerr.New(pgerrcode.UndefinedFunction, "function %s() does not take %d arguments", name, len(args)).At(loc + 1)
	}
	if f.kind == 'w' && over == "" {
		return "", pgerr.New(pgerrcode.WrongObjectType, "window function %s requires an OVER clause", name).At(loc + 1)
	}
	if f.kind == 's' && (over != "" || fc.GetAggDistinct() || fc.GetAggFilter() != nil) {
		return "", pgerr.New(pgerrcode.WrongObjectType, "%s is not an aggregate function", name).At(loc + 1)
	}
	out := p.d.FunctionName(name)
	if out == "" {
		return "", p.lacks("function "+name+"()", loc)
	}
	c := p.call(name, args, sc)
	c.Quotient = quotient(name, args) != nil
	if s, ok, err := p.d.Function(c); ok {
		if err != nil {
			return "", argError(err, args)
		}
		if fc.GetAggDistinct() || len(fc.GetAggOrder()) > 0 || fc.GetAggFilter() != nil {
			// The dialect writes the call its own way: what the call's
			// DISTINCT, ORDER BY or FILTER says would be lost.
			return "", p.lacks(name+"() with DISTINCT, ORDER BY or FILTER", loc)
		}
		return s + over, nil
	}
	var b strings.Builder
	b.WriteString(out + "(")
	if fc.GetAggDistinct() {
		b.WriteString("DISTINCT ")
	}
	parts, err := c.Args()
	s := strings.Join(parts, ", ")
	if err != nil {
		return "", err
	}
	b.WriteString(s)
	if order := fc.GetAggOrder(); len(order) > 0 && !fc.GetAggWithinGroup() {
		o, err := p.sortList(order, sc)
		if err != nil {
			return "", err
		}
		b.WriteString(" ORDER BY " + o)
	}
	b.WriteString(")")
	if order := fc.GetAggOrder(); len(order) > 0 && fc.GetAggWithinGroup() {
		o, err := p.sortList(order, sc)
		if err != nil {
			return "", err
		}
		b.WriteString(" WITHIN GROUP (ORDER BY " + o + ")")
	}
	if f := fc.GetAggFilter(); f != nil {
		c, err := p.expr(f, sc)
		if err != nil {
			return "", err
		}
		if !p.d.AggregateFilter() {
			return "", p.lacks("FILTER (WHERE …)", loc)
		}
		b.WriteString(" FILTER (WHERE " + c + ")")
	}
	return b.String() + over, nil
}

// quotient returns the division floor, ceil or trunc is applied to.
func quotient(name string, args []*pg_query.Node) *pg_query.Node {
	switch name {
	case "floor", "ceil", "ceiling", "trunc":
	default:
		return nil
	}
	if len(args) != 1 {
		return nil
	}
	a := args[0]
	if e := a.GetAExpr(); e != nil && e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && pgnames.Op(e.GetName()) == "/" {
		return a
	}
	return nil
}

// memberOf is the member a cube column stands for, if any.
func memberOf(rel *relation, member string) cubes.Member {
	if rel == nil || rel.cube == nil {
		return nil
	}
	m, _ := rel.cube.LookupMember(member)
	return m
}

// unit reads a constant unit ('month', 'year', …) from an allow-list; it
// is written into the SQL, never taken from the client as written.
func (p *pushdown) unit(n *pg_query.Node, allowed map[string]bool) (string, error) {
	c, ok := p.s.Const(n)
	if !ok {
		return "", unsupported(n, "the unit must be a constant")
	}
	u := strings.ToLower(strings.TrimSpace(c.Text))
	u = postgres.Unit(u)
	if !allowed[u] {
		if u == "milliseconds" || u == "microseconds" {
			return u, nil
		}
		return "", pgerr.New(pgerrcode.InvalidParameterValue, "unit %q not recognized", c.Text).At(c.Loc + 1)
	}
	return u, nil
}

// unitName reads a unit written as a bare word (DATEADD(day, …)) or a
// string.
func (p *pushdown) unitName(n *pg_query.Node, allowed map[string]bool) (string, error) {
	if cr := n.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 {
		u := strings.ToLower(cr.GetFields()[0].GetString_().GetSval())
		u = postgres.Unit(u)
		if allowed[u] {
			return u, nil
		}
		return "", pgerr.New(pgerrcode.InvalidParameterValue, "unit %q not recognized", u).At(cr.GetLocation() + 1)
	}
	return p.unit(n, allowed)
}

func (p *pushdown) sortList(items []*pg_query.Node, sc *scope) (string, error) {
	var parts []string
	for _, n := range items {
		sb := n.GetSortBy()
		s, err := p.expr(sb.GetNode(), sc)
		if err != nil {
			return "", err
		}
		key, err := p.sortKey(s, sb)
		if err != nil {
			return "", err
		}
		parts = append(parts, key)
	}
	return strings.Join(parts, ", "), nil
}

// sortKey renders a sort key: expr with its direction and NULLs
// placement.
func (p *pushdown) sortKey(expr string, sb *pg_query.SortBy) (string, error) {
	var s, nulls string
	switch sb.GetSortbyDir() {
	case pg_query.SortByDir_SORTBY_DESC:
		s = " DESC"
	case pg_query.SortByDir_SORTBY_ASC:
		s = " ASC"
	case pg_query.SortByDir_SORTBY_USING:
		return "", unsupported(nil, "ORDER BY … USING is not supported").At(sb.GetLocation() + 1)
	}
	switch sb.GetSortbyNulls() {
	case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
		nulls = "FIRST"
	case pg_query.SortByNulls_SORTBY_NULLS_LAST:
		nulls = "LAST"
	}
	return p.d.Sort(expr, s, nulls), nil
}

// exprs renders expressions one by one.
func (p *pushdown) exprs(sc *scope, nodes ...*pg_query.Node) ([]string, error) {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		s, err := p.expr(n, sc)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// Frame option bits of PostgreSQL's WindowDef (nodes/parsenodes.h).
const (
	frameNonDefault      = 0x1
	frameRange           = 0x2
	frameRows            = 0x4
	frameGroups          = 0x8
	frameBetween         = 0x10
	frameStartUnbPrec    = 0x20
	frameEndUnbPrec      = 0x40
	frameStartUnbFol     = 0x80
	frameEndUnbFol       = 0x100
	frameStartCurrentRow = 0x200
	frameEndCurrentRow   = 0x400
	frameStartOffPrec    = 0x800
	frameEndOffPrec      = 0x1000
	frameStartOffFol     = 0x2000
	frameEndOffFol       = 0x4000
	frameExclusions      = 0x8000 | 0x10000 | 0x20000
)

// window renders the inside of OVER (…).
func (p *pushdown) window(w *pg_query.WindowDef, sc *scope) (string, error) {
	var parts []string
	if r := w.GetRefname(); r != "" {
		parts = append(parts, p.quote(r))
	}
	if pc := w.GetPartitionClause(); len(pc) > 0 {
		s, err := p.exprList(pc, sc)
		if err != nil {
			return "", err
		}
		parts = append(parts, "PARTITION BY "+s)
	}
	if oc := w.GetOrderClause(); len(oc) > 0 {
		s, err := p.sortList(oc, sc)
		if err != nil {
			return "", err
		}
		parts = append(parts, "ORDER BY "+s)
	}
	opts := w.GetFrameOptions()
	if opts&frameNonDefault != 0 {
		if opts&frameExclusions != 0 {
			return "", unsupported(nil, "frame exclusions are not supported over cubes")
		}
		mode := "RANGE"
		switch {
		case opts&frameRows != 0:
			mode = "ROWS"
		case opts&frameGroups != 0:
			mode = "GROUPS"
		}
		bound := func(unbPrec, unbFol, cur, offPrec, offFol int32, off *pg_query.Node) (string, error) {
			switch {
			case opts&unbPrec != 0:
				return "UNBOUNDED PRECEDING", nil
			case opts&unbFol != 0:
				return "UNBOUNDED FOLLOWING", nil
			case opts&cur != 0:
				return "CURRENT ROW", nil
			}
			c, ok := p.s.Const(off)
			n, err := strconv.Atoi(c.Text)
			if !ok || err != nil || n < 0 {
				return "", unsupported(off, "window frame offsets must be non-negative integer constants")
			}
			if opts&offPrec != 0 {
				return strconv.Itoa(n) + " PRECEDING", nil
			}
			return strconv.Itoa(n) + " FOLLOWING", nil
		}
		start, err := bound(frameStartUnbPrec, frameStartUnbFol, frameStartCurrentRow, frameStartOffPrec, frameStartOffFol, w.GetStartOffset())
		if err != nil {
			return "", err
		}
		if opts&frameBetween != 0 {
			end, err := bound(frameEndUnbPrec, frameEndUnbFol, frameEndCurrentRow, frameEndOffPrec, frameEndOffFol, w.GetEndOffset())
			if err != nil {
				return "", err
			}
			parts = append(parts, mode+" BETWEEN "+start+" AND "+end)
		} else {
			parts = append(parts, mode+" "+start)
		}
	}
	return strings.Join(parts, " "), nil
}

// call is a call of name for the dialect: its arguments rendered on
// demand, once (rendering binds their values), integer arguments cast as
// PostgreSQL's signatures have them (a bigint is refused by the cast,
// never passed on: DuckDB's lead/lag crashed the process on -2^63).
func (p *pushdown) call(name string, args []*pg_query.Node, sc *scope) cubes.Call {
	a := &callArgs{p: p, args: args, sc: sc, intArg: -1}
	if i, ok := integerArgument[name]; ok {
		a.intArg = i
	}
	return cubes.Call{Name: name, NArgs: len(args), In: a}
}

// callArgs renders a call's arguments for the dialect (cubes.CallArgs),
// each once.
type callArgs struct {
	p      *pushdown
	args   []*pg_query.Node
	sc     *scope
	intArg int  // the integer argument's position, -1 for none
	dim1   bool // array_upper/lower without their dimension: Arg(1) is 1
	cache  [6]string
	have   uint8
	more   map[int]string
}

func (a *callArgs) Arg(i int) (string, error) {
	if a.dim1 && i == 1 {
		return "1", nil
	}
	if i < len(a.cache) && a.have&(1<<i) != 0 {
		return a.cache[i], nil
	}
	if s, ok := a.more[i]; ok {
		return s, nil
	}
	s, err := a.p.expr(a.args[i], a.sc)
	if err != nil {
		return "", err
	}
	if i == a.intArg {
		s = cubes.CastAs(a.p.d, s, "INTEGER")
	}
	if i < len(a.cache) {
		a.cache[i], a.have = s, a.have|1<<i
	} else {
		if a.more == nil {
			a.more = map[int]string{}
		}
		a.more[i] = s
	}
	return s, nil
}

func (a *callArgs) Const(i int) (string, bool) {
	if i >= len(a.args) {
		return "", false
	}
	v, ok := a.p.s.Const(a.args[i])
	return v.Text, ok
}

func (a *callArgs) Bind(v any) string { return a.p.arg(v) }

// fieldArgs are EXTRACT's: the field (a constant) and the expression,
// rendered already.
type fieldArgs struct {
	p        *pushdown
	field, x string
}

func (a *fieldArgs) Arg(i int) (string, error) {
	if i == 0 {
		return "'" + a.field + "'", nil
	}
	return a.x, nil
}

func (a *fieldArgs) Const(i int) (string, bool) { return a.field, i == 0 }
func (a *fieldArgs) Bind(v any) string          { return a.p.arg(v) }

// dialectCall writes c as the dialect does, else as PostgreSQL does.
func (p *pushdown) dialectCall(c cubes.Call, args []*pg_query.Node) (string, error) {
	if s, ok, err := p.d.Function(c); ok {
		if err != nil {
			return "", argError(err, args)
		}
		return s, nil
	}
	name := p.d.FunctionName(c.Name)
	if name == "" {
		return "", p.lacks("function "+c.Name+"()", -1)
	}
	parts, err := c.Args()
	if err != nil {
		return "", err
	}
	return name + "(" + strings.Join(parts, ", ") + ")", nil
}

// fieldCall writes date_trunc or date_part of a field (a constant) and
// an expression, rendered already, as the dialect does.
func (p *pushdown) fieldCall(name, field, x string, loc int32) (string, error) {
	if s, ok, err := p.d.Function(cubes.Call{Name: name, NArgs: 2, In: &fieldArgs{p: p, field: field, x: x}}); ok {
		return s, err
	}
	out := p.d.FunctionName(name)
	if out == "" {
		return "", p.lacks("function "+name+"()", loc)
	}
	return out + "('" + field + "', " + x + ")", nil
}

// renderedArgs are a call's arguments rendered already.
type renderedArgs struct {
	p    *pushdown
	vals []string
}

func (a *renderedArgs) Arg(i int) (string, error)  { return a.vals[i], nil }
func (a *renderedArgs) Const(i int) (string, bool) { return "", false }
func (a *renderedArgs) Bind(v any) string          { return a.p.arg(v) }

// argError places a dialect's refusal of an argument (*cubes.ArgError)
// at the argument.
func argError(err error, args []*pg_query.Node) error {
	var ae *cubes.ArgError
	if errors.As(err, &ae) && ae.Arg < len(args) {
		return unsupported(args[ae.Arg], "%s", ae.Message)
	}
	return err
}
