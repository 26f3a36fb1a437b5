package planner

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// where binds a WHERE or HAVING condition: top-level AND terms become
// separate filters (segments among them), the rest nests.
func (b *binder) where(n *pg_query.Node) error {
	if be := n.GetBoolExpr(); be != nil && be.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		for _, a := range be.GetArgs() {
			if err := b.where(a); err != nil {
				return err
			}
		}
		return nil
	}
	if seg, ok, err := b.segment(n); ok || err != nil {
		if err != nil {
			return err
		}
		b.q.Segments = append(b.q.Segments, seg)
		return nil
	}
	f, err := b.filter(n)
	if err != nil {
		return err
	}
	b.q.Filters = append(b.q.Filters, f)
	return nil
}

// segment recognizes a segment column used as a condition: seg,
// seg = true, seg IS TRUE.
func (b *binder) segment(n *pg_query.Node) (string, bool, error) {
	col := n
	if e := n.GetAExpr(); e != nil && e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && pgnames.Op(e.GetName()) == "=" {
		if c, ok := b.s.params.constOf(e.GetRexpr()); ok && c.text == "true" {
			col = e.GetLexpr()
		}
	}
	if bt := n.GetBooleanTest(); bt != nil && bt.GetBooltesttype() == pg_query.BoolTestType_IS_TRUE {
		col = bt.GetArg()
	}
	if col.GetColumnRef() == nil {
		return "", false, nil
	}
	mem, _, err := b.column(col)
	if err != nil {
		return "", false, err
	}
	if s, ok := mem.(*cubes.Segment); ok {
		return cubes.FullName(s), true, nil
	}
	return "", false, nil
}

// operand binds the member side of a comparison and returns the type
// values compared with it take.
func (b *binder) operand(n *pg_query.Node) (string, uint32, error) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.GetArg()
	}
	switch {
	case n.GetColumnRef() != nil:
		mem, col, err := b.column(n)
		if err != nil {
			return "", 0, err
		}
		switch m := mem.(type) {
		case *cubes.Segment:
			return "", 0, unsupported(n, "segment %q can only be used on its own in WHERE", col)
		case *cubes.Dimension:
			return cubes.FullName(m), dimensionOID(m), nil
		case *cubes.Measure:
			return cubes.FullName(m), measureOID(m), nil
		}
	case n.GetFuncCall() != nil:
		o, err := b.funcCall(n)
		if err != nil {
			return "", 0, err
		}
		if o.dim {
			return "", 0, notYet(n, "filters on date_trunc(…) are not supported yet").WithHint("filter on the time dimension itself")
		}
		return o.key, o.col.TypeOID, nil
	}
	return "", 0, notYet(n, "this condition is not supported yet").
		WithHint("compare a dimension or measure with a constant")
}

// values reads the constants compared with a member of type oid;
// parameters among them take that type.
func (b *binder) values(n *pg_query.Node, oid uint32) ([]string, error) {
	var items []*pg_query.Node
	if l := n.GetList(); l != nil {
		items = l.GetItems()
	} else {
		items = []*pg_query.Node{n}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		c, ok := b.s.params.constOf(it)
		if !ok {
			return nil, unsupported(it, "only constants can be compared with members")
		}
		if c.param > 0 {
			b.s.params.infer(c.param, oid)
			if b.s.params.describing() {
				c.text = placeholder(oid)
			}
		}
		if c.isNull {
			return nil, unsupported(it, "comparison with NULL is never true").WithHint("use IS NULL or IS NOT NULL")
		}
		out = append(out, c.text)
	}
	return out, nil
}

var flipped = map[string]string{"=": "=", "<>": "<>", "!=": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

// negations of comparison operators, valid in SQL's three-valued logic.
var negatedOp = map[string]string{"=": "<>", "<>": "=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}

// pushNot rewrites NOT n into an equivalent condition without a NOT on
// top (three-valued logic holds for each rewrite), or nil when it cannot.
func pushNot(n *pg_query.Node) *pg_query.Node {
	switch {
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		if be.GetBoolop() == pg_query.BoolExprType_NOT_EXPR {
			return be.GetArgs()[0] // NOT NOT a = a
		}
		op := pg_query.BoolExprType_AND_EXPR // De Morgan
		if be.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
			op = pg_query.BoolExprType_OR_EXPR
		}
		args := make([]*pg_query.Node, len(be.GetArgs()))
		for i, a := range be.GetArgs() {
			if args[i] = pushNot(a); args[i] == nil {
				return nil
			}
		}
		return &pg_query.Node{Node: &pg_query.Node_BoolExpr{BoolExpr: &pg_query.BoolExpr{Boolop: op, Args: args, Location: be.GetLocation()}}}
	case n.GetNullTest() != nil:
		nt := *n.GetNullTest()
		if nt.Nulltesttype == pg_query.NullTestType_IS_NULL {
			nt.Nulltesttype = pg_query.NullTestType_IS_NOT_NULL
		} else {
			nt.Nulltesttype = pg_query.NullTestType_IS_NULL
		}
		return &pg_query.Node{Node: &pg_query.Node_NullTest{NullTest: &nt}}
	case n.GetAExpr() != nil:
		e := *n.GetAExpr()
		name := pgnames.Op(e.Name)
		switch e.Kind {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			neg, ok := negatedOp[name]
			if !ok {
				return nil
			}
			e.Name = []*pg_query.Node{{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: neg}}}}
		case pg_query.A_Expr_Kind_AEXPR_IN, pg_query.A_Expr_Kind_AEXPR_ILIKE:
			flip := map[string]string{"=": "<>", "<>": "=", "~~*": "!~~*", "!~~*": "~~*"}[name]
			if flip == "" {
				return nil
			}
			e.Name = []*pg_query.Node{{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: flip}}}}
		case pg_query.A_Expr_Kind_AEXPR_BETWEEN:
			e.Kind = pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN
		case pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
			e.Kind = pg_query.A_Expr_Kind_AEXPR_BETWEEN
		default:
			return nil
		}
		return &pg_query.Node{Node: &pg_query.Node_AExpr{AExpr: &e}}
	}
	return nil
}

// filter binds one condition that is not a top-level AND term.
func (b *binder) filter(n *pg_query.Node) (cubes.Filter, error) {
	if be := n.GetBoolExpr(); be != nil && be.GetBoolop() == pg_query.BoolExprType_NOT_EXPR {
		if _, isSeg, _ := b.segment(be.GetArgs()[0]); isSeg {
			return cubes.Filter{}, unsupported(n, "segments cannot be negated")
		}
		if pushed := pushNot(be.GetArgs()[0]); pushed != nil {
			return b.filter(pushed)
		}
	}
	switch {
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		var group []cubes.Filter
		for _, a := range be.GetArgs() {
			if _, isSeg, _ := b.segment(a); isSeg {
				return cubes.Filter{}, unsupported(a, "segments cannot be combined with OR or NOT")
			}
			f, err := b.filter(a)
			if err != nil {
				return cubes.Filter{}, err
			}
			group = append(group, f)
		}
		switch be.GetBoolop() {
		case pg_query.BoolExprType_AND_EXPR:
			return cubes.Filter{And: group}, nil
		case pg_query.BoolExprType_OR_EXPR:
			return cubes.Filter{Or: group}, nil
		}
		return cubes.Filter{}, unsupported(n, "NOT over this condition is not supported").WithHint("write the negated comparison instead (<>, NOT IN, IS NOT NULL)")
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		m, _, err := b.operand(nt.GetArg())
		if err != nil {
			return cubes.Filter{}, err
		}
		op := "set"
		if nt.GetNulltesttype() == pg_query.NullTestType_IS_NULL {
			op = "notSet"
		}
		return cubes.Filter{Member: m, Operator: op}, nil
	case n.GetAExpr() != nil:
		return b.aexpr(n)
	}
	return cubes.Filter{}, notYet(n, "this condition is not supported yet")
}

// notEqualsSQL is SQL's <> / NOT IN, which drops NULLs, where Cube's
// notEquals keeps them: pair it with "set".
func notEqualsSQL(m string, vals []string) cubes.Filter {
	return cubes.Filter{And: []cubes.Filter{
		{Member: m, Operator: "notEquals", Values: vals},
		{Member: m, Operator: "set"},
	}}
}

func (b *binder) aexpr(n *pg_query.Node) (cubes.Filter, error) {
	e := n.GetAExpr()
	op := pgnames.Op(e.GetName())
	switch e.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		l, r := e.GetLexpr(), e.GetRexpr()
		if _, isConst := b.s.params.constOf(l); isConst {
			l, r = r, l
			op = flipped[op]
		}
		_, ok := flipped[op]
		if !ok || l == nil {
			return cubes.Filter{}, unsupported(n, "operator %s is not supported in conditions yet", pgnames.Op(e.GetName()))
		}
		m, oid, err := b.operand(l)
		if err != nil {
			return cubes.Filter{}, err
		}
		vals, err := b.values(r, oid)
		if err != nil {
			return cubes.Filter{}, err
		}
		switch op {
		case "=":
			return cubes.Filter{Member: m, Operator: "equals", Values: vals}, nil
		case "<>", "!=":
			return notEqualsSQL(m, vals), nil
		}
		return cubes.Filter{Member: m, Operator: map[string]string{"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op], Values: vals}, nil
	case pg_query.A_Expr_Kind_AEXPR_IN:
		m, oid, err := b.operand(e.GetLexpr())
		if err != nil {
			return cubes.Filter{}, err
		}
		vals, err := b.values(e.GetRexpr(), oid)
		if err != nil {
			return cubes.Filter{}, err
		}
		if op == "<>" {
			return notEqualsSQL(m, vals), nil
		}
		return cubes.Filter{Member: m, Operator: "equals", Values: vals}, nil
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		m, oid, err := b.operand(e.GetLexpr())
		if err != nil {
			return cubes.Filter{}, err
		}
		vals, err := b.values(e.GetRexpr(), oid)
		if err != nil || len(vals) != 2 {
			return cubes.Filter{}, unsupported(n, "BETWEEN needs two constants")
		}
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN {
			return cubes.Filter{Or: []cubes.Filter{
				{Member: m, Operator: "lt", Values: vals[:1]},
				{Member: m, Operator: "gt", Values: vals[1:]},
			}}, nil
		}
		return cubes.Filter{And: []cubes.Filter{
			{Member: m, Operator: "gte", Values: vals[:1]},
			{Member: m, Operator: "lte", Values: vals[1:]},
		}}, nil
	case pg_query.A_Expr_Kind_AEXPR_ILIKE:
		m, oid, err := b.operand(e.GetLexpr())
		if err != nil {
			return cubes.Filter{}, err
		}
		vals, err := b.values(e.GetRexpr(), oid)
		if err != nil || len(vals) != 1 {
			return cubes.Filter{}, unsupported(n, "ILIKE needs a constant pattern")
		}
		fop, val, ok := likeOperator(vals[0])
		if !ok {
			return cubes.Filter{}, notYet(e.GetRexpr(), "ILIKE pattern %q is not supported yet", vals[0]).
				WithHint("patterns of the forms '%%x%%', 'x%%' and '%%x' are")
		}
		if op == "!~~*" {
			return cubes.Filter{And: []cubes.Filter{
				{Member: m, Operator: "not" + strings.ToUpper(fop[:1]) + fop[1:], Values: []string{val}},
				{Member: m, Operator: "set"},
			}}, nil
		}
		return cubes.Filter{Member: m, Operator: fop, Values: []string{val}}, nil
	case pg_query.A_Expr_Kind_AEXPR_LIKE:
		return cubes.Filter{}, notYet(n, "case-sensitive LIKE is not supported yet").WithHint("ILIKE is")
	}
	return cubes.Filter{}, notYet(n, "this condition is not supported yet")
}

// likeOperator maps an ILIKE pattern onto Cube's contains / startsWith /
// endsWith, when it has that shape and no other wildcards.
func likeOperator(p string) (op, val string, ok bool) {
	plain := func(s string) bool { return s != "" && !strings.ContainsAny(s, `%_\`) }
	switch {
	case len(p) >= 2 && strings.HasPrefix(p, "%") && strings.HasSuffix(p, "%") && plain(p[1:len(p)-1]):
		return "contains", p[1 : len(p)-1], true
	case strings.HasSuffix(p, "%") && plain(p[:len(p)-1]):
		return "startsWith", p[:len(p)-1], true
	case strings.HasPrefix(p, "%") && plain(p[1:]):
		return "endsWith", p[1:], true
	}
	return "", "", false
}
