package catalog

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

func constExpr(v any, typ uint32, name string) *expr {
	return &expr{typ: typ, name: name, eval: func(*env) (any, error) { return v, nil }}
}

func (x *executor) compileBool(n *pg_query.Node, sc *scope, clause string) (*expr, error) {
	e, err := x.compileExpr(n, sc)
	if err != nil {
		return nil, err
	}
	if e.typ != tBool && e.typ != tUnknown {
		return nil, located(pgerr.New(pgerrcode.DatatypeMismatch, "argument of %s must be type boolean, not type %s", clause, x.typeName(e.typ)), n)
	}
	return e, nil
}

func (x *executor) compileExprs(ns []*pg_query.Node, sc *scope) ([]*expr, error) {
	// A compiled expression costs its closures: an IN list of a million
	// values is charged as the rows it resembles.
	if x.b != nil {
		if err := x.b.alloc(int64(len(ns)) * compiledExprBytes); err != nil {
			return nil, err
		}
	}
	out := make([]*expr, len(ns))
	for i, n := range ns {
		e, err := x.compileExpr(n, sc)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// once is eval evaluated at its first call only: for expressions whose
// value cannot change within the statement.
func once(eval func(*env) (any, error)) func(*env) (any, error) {
	var (
		done bool
		v    any
		err  error
	)
	return func(e *env) (any, error) {
		if !done {
			v, err = eval(e)
			done = true
		}
		return v, err
	}
}

// compileExpr compiles an expression into a closure with its static type.
func (x *executor) compileExpr(n *pg_query.Node, sc *scope) (*expr, error) {
	switch {
	case n.GetAConst() != nil:
		return constant(n.GetAConst())
	case n.GetColumnRef() != nil:
		return x.compileColumnRef(n, sc)
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		arg, err := x.compileExpr(tc.GetArg(), sc)
		if err != nil {
			return nil, err
		}
		t, err := x.resolveType(tc.GetTypeName())
		if err != nil {
			return nil, located(err.(*pgerr.Error), n)
		}
		e := x.cast(arg, t)
		if arg.name != "" && !arg.weak && tc.GetArg().GetAConst() == nil {
			e.name, e.weak = arg.name, false
		} else {
			e.name, e.weak = typeLabel(tc.GetTypeName()), true
		}
		if tc.GetArg().GetAConst() != nil && e != arg {
			// A cast literal ('{…}'::text[], '…'::regclass) is converted
			// once per statement, not once per row.
			e.eval = once(e.eval)
		}
		return e, nil
	case n.GetParamRef() != nil:
		num := int(n.GetParamRef().GetNumber())
		typ := x.s.ParamType(num)
		if typ == 0 {
			typ = tUnknown
		}
		return &expr{typ: typ, param: num, eval: func(*env) (any, error) { return x.param(num) }}, nil
	case n.GetAExpr() != nil:
		return x.compileAExpr(n, sc)
	case n.GetBoolExpr() != nil:
		return x.compileBoolExpr(n.GetBoolExpr(), sc)
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		arg, err := x.compileExpr(nt.GetArg(), sc)
		if err != nil {
			return nil, err
		}
		isNull := nt.GetNulltesttype() == pg_query.NullTestType_IS_NULL
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			v, err := arg.eval(e)
			if err != nil {
				return nil, err
			}
			return (v == nil) == isNull, nil
		}}, nil
	case n.GetBooleanTest() != nil:
		bt := n.GetBooleanTest()
		arg, err := x.compileExpr(bt.GetArg(), sc)
		if err != nil {
			return nil, err
		}
		kind := bt.GetBooltesttype()
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			v, err := arg.eval(e)
			if err != nil {
				return nil, err
			}
			switch kind {
			case pg_query.BoolTestType_IS_TRUE:
				return v == true, nil
			case pg_query.BoolTestType_IS_NOT_TRUE:
				return v != true, nil
			case pg_query.BoolTestType_IS_FALSE:
				return v == false, nil
			case pg_query.BoolTestType_IS_NOT_FALSE:
				return v != false, nil
			case pg_query.BoolTestType_IS_UNKNOWN:
				return v == nil, nil
			}
			return v != nil, nil
		}}, nil
	case n.GetCaseExpr() != nil:
		return x.compileCase(n.GetCaseExpr(), sc)
	case n.GetCoalesceExpr() != nil:
		args, err := x.compileExprs(n.GetCoalesceExpr().GetArgs(), sc)
		if err != nil {
			return nil, err
		}
		t := commonTypeOf(args)
		args = x.castAll(args, t)
		return &expr{typ: t, name: "coalesce", eval: func(e *env) (any, error) {
			for _, a := range args {
				v, err := a.eval(e)
				if err != nil || v != nil {
					return v, err
				}
			}
			return nil, nil
		}}, nil
	case n.GetMinMaxExpr() != nil:
		mm := n.GetMinMaxExpr()
		args, err := x.compileExprs(mm.GetArgs(), sc)
		if err != nil {
			return nil, err
		}
		t := commonTypeOf(args)
		args = x.castAll(args, t)
		greatest := mm.GetOp() == pg_query.MinMaxOp_IS_GREATEST
		name := "least"
		if greatest {
			name = "greatest"
		}
		return &expr{typ: t, name: name, eval: func(e *env) (any, error) {
			var best any
			for _, a := range args {
				v, err := a.eval(e)
				if err != nil {
					return nil, err
				}
				if v == nil {
					continue
				}
				if best == nil || (compareValues(v, best) > 0) == greatest && compareValues(v, best) != 0 {
					best = v
				}
			}
			return best, nil
		}}, nil
	case n.GetFuncCall() != nil:
		return x.compileFunc(n, sc)
	case n.GetSqlvalueFunction() != nil:
		return x.sqlValueFunction(n.GetSqlvalueFunction())
	case n.GetSubLink() != nil:
		return x.compileSubLink(n.GetSubLink(), sc)
	case n.GetAArrayExpr() != nil:
		elems, err := x.compileExprs(n.GetAArrayExpr().GetElements(), sc)
		if err != nil {
			return nil, err
		}
		et := commonTypeOf(elems)
		elems = x.castAll(elems, et)
		constant := true
		for _, el := range n.GetAArrayExpr().GetElements() {
			if c := el.GetTypeCast(); c != nil {
				el = c.GetArg()
			}
			constant = constant && el.GetAConst() != nil
		}
		eval := func(e *env) (any, error) {
			out := make([]any, len(elems))
			for i, el := range elems {
				v, err := el.eval(e)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		}
		if constant {
			eval = once(eval) // ARRAY[1, 2, …] is built once per statement
		}
		return &expr{typ: arrayOf(et), name: "array", eval: eval}, nil
	case n.GetAIndirection() != nil:
		return x.compileIndirection(n.GetAIndirection(), sc)
	case n.GetCollateClause() != nil:
		return x.compileExpr(n.GetCollateClause().GetArg(), sc)
	case n.GetRowExpr() != nil:
		args, err := x.compileExprs(n.GetRowExpr().GetArgs(), sc)
		if err != nil {
			return nil, err
		}
		return &expr{typ: tRecord, name: "row", eval: func(e *env) (any, error) {
			r := &record{}
			for i, a := range args {
				v, err := a.eval(e)
				if err != nil {
					return nil, err
				}
				r.names = append(r.names, "f"+strconv.Itoa(i+1))
				r.types = append(r.types, a.typ)
				r.vals = append(r.vals, v)
			}
			return r, nil
		}}, nil
	}
	return nil, unsupported(n, "this expression is not supported in catalog queries")
}

func constant(c *pg_query.A_Const) (*expr, error) {
	switch {
	case c.GetIsnull():
		return constExpr(nil, tUnknown, ""), nil
	case c.GetIval() != nil:
		return constExpr(int64(c.GetIval().GetIval()), tInt4, ""), nil
	case c.GetFval() != nil:
		s := c.GetFval().GetFval()
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return constExpr(i, tInt8, ""), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid number %q", s)
		}
		return constExpr(f, tNumeric, ""), nil
	case c.GetSval() != nil:
		return constExpr(c.GetSval().GetSval(), tUnknown, ""), nil
	case c.GetBoolval() != nil:
		return constExpr(c.GetBoolval().GetBoolval(), tBool, ""), nil
	case c.GetBsval() != nil:
		return constExpr(c.GetBsval().GetBsval(), tText, ""), nil
	}
	return constExpr(nil, tUnknown, ""), nil
}

func (x *executor) compileColumnRef(n *pg_query.Node, sc *scope) (*expr, error) {
	cr := n.GetColumnRef()
	f := cr.GetFields()
	if f[len(f)-1].GetAStar() != nil && len(f) >= 2 {
		return x.wholeRow(fieldName(f[len(f)-2]), sc, n)
	}
	depth := -1
	for s := sc; s != nil; s = s.parent {
		if s.transparent {
			continue
		}
		depth++
		name, i, ok := s.lookup(cr)
		if !ok {
			continue
		}
		if i == -2 {
			return nil, located(pgerr.New(pgerrcode.AmbiguousColumn, "column reference %q is ambiguous", name), n)
		}
		if s.onRef != nil && i >= 0 {
			s.onRef(i)
		}
		if depth > 0 {
			for m := sc; m != s; m = m.parent {
				m.correlated = true
			}
		}
		e := colExpr(depth, i, s.cols[i].typ)
		e.name = name
		e.fields = s.cols[i].fields
		return e, nil
	}
	// A whole-row reference (t) or a composite's field ((t).f) is rare in
	// catalog queries; a bare name may also be a relation alias.
	name := fieldName(f[len(f)-1])
	if len(f) >= 2 {
		rel := fieldName(f[len(f)-2])
		for s := sc; s != nil; s = s.parent {
			for _, c := range s.cols {
				if c.rel == rel {
					return nil, located(pgerr.New(pgerrcode.UndefinedColumn, "column %s.%s does not exist", rel, name), n)
				}
			}
		}
		return nil, located(pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", rel), n)
	}
	return nil, located(pgerr.New(pgerrcode.UndefinedColumn, "column %q does not exist", name), n)
}

// wholeRow is t.* (or t) as a value: a record of the relation's columns.
func (x *executor) wholeRow(rel string, sc *scope, n *pg_query.Node) (*expr, error) {
	depth := -1
	for s := sc; s != nil; s = s.parent {
		if s.transparent {
			continue
		}
		depth++
		var idx []int
		for i, c := range s.cols {
			if c.rel == rel && !c.hidden {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			continue
		}
		if depth > 0 {
			for m := sc; m != s; m = m.parent {
				m.correlated = true
			}
		}
		cols := make([]*expr, len(idx))
		rec := &record{}
		fields := map[string]uint32{}
		for k, i := range idx {
			if s.onRef != nil {
				s.onRef(i)
			}
			cols[k] = colExpr(depth, i, s.cols[i].typ)
			rec.names = append(rec.names, s.cols[i].name)
			rec.types = append(rec.types, s.cols[i].typ)
			fields[s.cols[i].name] = s.cols[i].typ
		}
		return &expr{typ: tRecord, name: rel, fields: fields, eval: func(e *env) (any, error) {
			r := &record{names: rec.names, types: rec.types, vals: make([]any, len(cols))}
			for k, c := range cols {
				v, err := c.eval(e)
				if err != nil {
					return nil, err
				}
				r.vals[k] = v
			}
			return r, nil
		}}, nil
	}
	return nil, located(pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", rel), n)
}

func (r *record) get(name string) any {
	for i, n := range r.names {
		if n == name {
			return r.vals[i]
		}
	}
	return nil
}

func (x *executor) compileBoolExpr(b *pg_query.BoolExpr, sc *scope) (*expr, error) {
	args, err := x.compileExprs(b.GetArgs(), sc)
	if err != nil {
		return nil, err
	}
	switch b.GetBoolop() {
	case pg_query.BoolExprType_NOT_EXPR:
		a := args[0]
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			v, err := a.eval(e)
			if err != nil || v == nil {
				return nil, err
			}
			return !truthy(v), nil
		}}, nil
	case pg_query.BoolExprType_AND_EXPR:
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			var res any = true
			for _, a := range args {
				v, err := a.eval(e)
				if err != nil {
					return nil, err
				}
				if v == nil {
					res = nil
				} else if !truthy(v) {
					return false, nil
				}
			}
			return res, nil
		}}, nil
	}
	return &expr{typ: tBool, eval: func(e *env) (any, error) {
		var res any = false
		for _, a := range args {
			v, err := a.eval(e)
			if err != nil {
				return nil, err
			}
			if v == nil {
				res = nil
			} else if truthy(v) {
				return true, nil
			}
		}
		return res, nil
	}}, nil
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "t" || v == "true"
	}
	return false
}

func (x *executor) compileCase(c *pg_query.CaseExpr, sc *scope) (*expr, error) {
	var arg *expr
	var err error
	if c.GetArg() != nil {
		if arg, err = x.compileExpr(c.GetArg(), sc); err != nil {
			return nil, err
		}
	}
	type when struct{ cond, res *expr }
	var whens []when
	var results []*expr
	for _, w := range c.GetArgs() {
		cw := w.GetCaseWhen()
		cond, err := x.compileExpr(cw.GetExpr(), sc)
		if err != nil {
			return nil, err
		}
		if arg != nil {
			cond = x.comparison("=", arg, cond)
		}
		res, err := x.compileExpr(cw.GetResult(), sc)
		if err != nil {
			return nil, err
		}
		whens = append(whens, when{cond, res})
		results = append(results, res)
	}
	var def *expr
	if c.GetDefresult() != nil {
		if def, err = x.compileExpr(c.GetDefresult(), sc); err != nil {
			return nil, err
		}
		// As in PostgreSQL, the ELSE result weighs first in the type.
		results = append([]*expr{def}, results...)
	}
	t := commonTypeOf(results)
	for i := range whens {
		whens[i].res = x.cast(whens[i].res, t)
	}
	if def != nil {
		def = x.cast(def, t)
	}
	name, weak := "case", true
	if def != nil && def.name != "" && !def.weak {
		name, weak = def.name, false
	}
	return &expr{typ: t, name: name, weak: weak, eval: func(e *env) (any, error) {
		for _, w := range whens {
			v, err := w.cond.eval(e)
			if err != nil {
				return nil, err
			}
			if v == true {
				return w.res.eval(e)
			}
		}
		if def != nil {
			return def.eval(e)
		}
		return nil, nil
	}}, nil
}

func (x *executor) compileIndirection(ind *pg_query.A_Indirection, sc *scope) (*expr, error) {
	e, err := x.compileExpr(ind.GetArg(), sc)
	if err != nil {
		return nil, err
	}
	for _, in := range ind.GetIndirection() {
		base := e
		switch {
		case in.GetAIndices() != nil:
			ai := in.GetAIndices()
			var lo, hi *expr
			if ai.GetLidx() != nil {
				if lo, err = x.compileExpr(ai.GetLidx(), sc); err != nil {
					return nil, err
				}
			}
			if ai.GetUidx() != nil {
				if hi, err = x.compileExpr(ai.GetUidx(), sc); err != nil {
					return nil, err
				}
			}
			slice := ai.GetIsSlice()
			lower := 1
			if base.typ == tInt2Vector || base.typ == tOIDVector {
				lower = 0
			}
			et := elemOf(base.typ)
			if et == 0 {
				et = tText
			}
			typ := et
			if slice {
				typ = base.typ
			}
			e = &expr{typ: typ, name: base.name, eval: func(en *env) (any, error) {
				v, err := base.eval(en)
				if err != nil {
					return nil, err
				}
				arr, ok := v.([]any)
				if !ok {
					return nil, nil
				}
				idx := func(ex *expr, def int) (int, bool, error) {
					if ex == nil {
						return def, true, nil
					}
					v, err := ex.eval(en)
					if err != nil || v == nil {
						return 0, false, err
					}
					n, ok := toInt(v)
					return int(n), ok, nil
				}
				if !slice {
					i, ok, err := idx(hi, 0)
					if err != nil || !ok {
						return nil, err
					}
					i -= lower
					if i < 0 || i >= len(arr) {
						return nil, nil
					}
					return arr[i], nil
				}
				l, ok1, err := idx(lo, lower)
				if err != nil {
					return nil, err
				}
				h, ok2, err := idx(hi, len(arr)-1+lower)
				if err != nil || !ok1 || !ok2 {
					return nil, err
				}
				l, h = max(l-lower, 0), min(h-lower, len(arr)-1)
				if l > h {
					return []any{}, nil
				}
				return append([]any{}, arr[l:h+1]...), nil
			}}
		case in.GetString_() != nil:
			field := in.GetString_().GetSval()
			typ := uint32(tText)
			if ft, ok := recordFieldType(base, field); ok {
				typ = ft
			}
			e = &expr{typ: typ, name: field, eval: func(en *env) (any, error) {
				v, err := base.eval(en)
				if err != nil {
					return nil, err
				}
				r, ok := v.(*record)
				if !ok {
					return nil, nil
				}
				for i, n := range r.names {
					if n == field {
						return r.vals[i], nil
					}
				}
				return nil, pgerr.New(pgerrcode.UndefinedColumn, "column %q not found in data type record", field)
			}}
		default:
			return nil, unsupported(nil, "this indirection is not supported")
		}
	}
	return e, nil
}

func recordFieldType(e *expr, field string) (uint32, bool) {
	t, ok := e.fields[field]
	return t, ok
}

// sublink is a compiled subquery and its rows, run once when it is not
// correlated.
type sublink struct {
	q    *query
	rows func(*env) ([][]any, error)
}

// sublinkPlan compiles a subquery. An uncorrelated one is compiled and
// run once per statement, however often its expression is compiled (a
// WHERE term is compiled for its scan and for the statement): without
// that, subqueries nested n deep ran 2^n times.
func (x *executor) sublinkPlan(sl *pg_query.SubLink, sc *scope) (*sublink, error) {
	if p := x.sublinks[sl]; p != nil {
		return p, nil
	}
	q, err := x.compileSelect(sl.GetSubselect().GetSelectStmt(), sc)
	if err != nil {
		return nil, err
	}
	var cache [][]any
	cached := false
	p := &sublink{q: q, rows: func(e *env) ([][]any, error) {
		if cached {
			return cache, nil
		}
		r, err := q.run(e)
		if err != nil {
			return nil, err
		}
		if !q.correlated {
			cache, cached = r, true
		}
		return r, nil
	}}
	if !q.correlated {
		if x.sublinks == nil {
			x.sublinks = map[*pg_query.SubLink]*sublink{}
		}
		x.sublinks[sl] = p
	}
	return p, nil
}

// compileSubLink compiles scalar, EXISTS, IN/ANY and ARRAY subqueries.
func (x *executor) compileSubLink(sl *pg_query.SubLink, sc *scope) (*expr, error) {
	p, err := x.sublinkPlan(sl, sc)
	if err != nil {
		return nil, err
	}
	q, rows := p.q, p.rows
	switch sl.GetSubLinkType() {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return &expr{typ: tBool, name: "exists", eval: func(e *env) (any, error) {
			r, err := rows(e)
			return len(r) > 0, err
		}}, nil
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if len(q.cols) != 1 {
			return nil, pgerr.New(pgerrcode.SyntaxError, "subquery must return only one column")
		}
		return &expr{typ: resolved(q.cols[0].typ), name: q.cols[0].name, eval: func(e *env) (any, error) {
			r, err := rows(e)
			if err != nil {
				return nil, err
			}
			if len(r) > 1 {
				return nil, pgerr.New(pgerrcode.CardinalityViolation, "more than one row returned by a subquery used as an expression")
			}
			if len(r) == 0 {
				return nil, nil
			}
			return r[0][0], nil
		}}, nil
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return &expr{typ: arrayOf(resolved(q.cols[0].typ)), name: "array", eval: func(e *env) (any, error) {
			r, err := rows(e)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(r))
			for i, row := range r {
				out[i] = row[0]
			}
			return out, nil
		}}, nil
	case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK:
		test, err := x.compileExpr(sl.GetTestexpr(), sc)
		if err != nil {
			return nil, err
		}
		op := "="
		if len(sl.GetOperName()) > 0 {
			op = pgnames.Op(sl.GetOperName())
		}
		all := sl.GetSubLinkType() == pg_query.SubLinkType_ALL_SUBLINK
		// The subquery's column, kept while its rows are: an
		// uncorrelated subquery's values are one array for every row
		// (and one hash set, see anyAll).
		var vals []any
		var valsOf [][]any
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			l, err := test.eval(e)
			if err != nil {
				return nil, err
			}
			r, err := rows(e)
			if err != nil {
				return nil, err
			}
			if len(r) == 0 || len(valsOf) == 0 || &r[0] != &valsOf[0] {
				vals = make([]any, len(r))
				for i, row := range r {
					vals[i] = row[0]
				}
				valsOf = r
			}
			return x.anyAll(op, l, vals, test.typ, q.cols[0].typ, all)
		}}, nil
	}
	return nil, unsupported(nil, "this kind of subquery is not supported")
}

// compileAExpr compiles operators, IN, BETWEEN, LIKE, ANY/ALL, NULLIF, …
func (x *executor) compileAExpr(n *pg_query.Node, sc *scope) (*expr, error) {
	a := n.GetAExpr()
	op := pgnames.Op(a.GetName())
	var l, r *expr
	var err error
	if a.GetLexpr() != nil {
		if l, err = x.compileExpr(a.GetLexpr(), sc); err != nil {
			return nil, err
		}
	}
	switch a.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_IN:
		items, err := x.compileExprs(a.GetRexpr().GetList().GetItems(), sc)
		if err != nil {
			return nil, err
		}
		neg := op == "<>"
		if in := x.constantIn(l, a.GetRexpr().GetList().GetItems(), items, neg); in != nil {
			return in, nil
		}
		var cmps []*expr
		for _, it := range items {
			cmps = append(cmps, x.comparison("=", l, it))
		}
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			var res any = false
			for _, c := range cmps {
				if err := x.b.tick(); err != nil {
					return nil, err
				}
				v, err := c.eval(e)
				if err != nil {
					return nil, err
				}
				if v == nil {
					res = nil
				} else if v == true {
					res = true
					break
				}
			}
			if neg && res != nil {
				return !res.(bool), nil
			}
			return res, nil
		}}, nil
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		items, err := x.compileExprs(a.GetRexpr().GetList().GetItems(), sc)
		if err != nil {
			return nil, err
		}
		ge, le := x.comparison(">=", l, items[0]), x.comparison("<=", l, items[1])
		neg := a.GetKind() == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			v1, err := ge.eval(e)
			if err != nil {
				return nil, err
			}
			v2, err := le.eval(e)
			if err != nil {
				return nil, err
			}
			if v1 == false || v2 == false {
				return neg, nil
			}
			if v1 == nil || v2 == nil {
				return nil, nil
			}
			return !neg, nil
		}}, nil
	}
	if a.GetRexpr() != nil {
		if r, err = x.compileExpr(a.GetRexpr(), sc); err != nil {
			return nil, err
		}
	}
	switch a.GetKind() {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if l == nil {
			return x.prefixOp(op, r, n)
		}
		return x.binaryOp(op, l, r, n)
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		all := a.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP_ALL
		et := elemOf(r.typ)
		if et == 0 {
			// An untyped literal or parameter: an array of the left type.
			et = resolved(l.typ)
			if r.param > 0 {
				x.s.InferParam(r.param, arrayOf(et))
			}
			r = x.cast(r, arrayOf(et))
		}
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			lv, err := l.eval(e)
			if err != nil {
				return nil, err
			}
			rv, err := r.eval(e)
			if err != nil || rv == nil {
				return nil, err
			}
			arr, _ := rv.([]any)
			return x.anyAll(op, lv, arr, l.typ, et, all)
		}}, nil
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		eq := x.comparison("=", l, r)
		distinct := a.GetKind() == pg_query.A_Expr_Kind_AEXPR_DISTINCT
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			lv, err := l.eval(e)
			if err != nil {
				return nil, err
			}
			rv, err := r.eval(e)
			if err != nil {
				return nil, err
			}
			var same bool
			switch {
			case lv == nil || rv == nil:
				same = lv == nil && rv == nil
			default:
				v, err := eq.eval(e)
				if err != nil {
					return nil, err
				}
				same = v == true
			}
			return same != distinct, nil
		}}, nil
	case pg_query.A_Expr_Kind_AEXPR_NULLIF:
		eq := x.comparison("=", l, r)
		return &expr{typ: resolved(l.typ), name: "nullif", eval: func(e *env) (any, error) {
			v, err := eq.eval(e)
			if err != nil {
				return nil, err
			}
			if v == true {
				return nil, nil
			}
			return l.eval(e)
		}}, nil
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		ops := map[string]string{"~~": "~~", "!~~": "!~~", "~~*": "~~*", "!~~*": "!~~*"}
		return x.binaryOp(ops[op], l, r, n)
	case pg_query.A_Expr_Kind_AEXPR_SIMILAR:
		return nil, unsupported(n, "SIMILAR TO is not supported in catalog queries")
	}
	return nil, unsupported(n, "operator %s is not supported in catalog queries", op)
}

func (x *executor) anyAll(op string, l any, vals []any, lt, rt uint32, all bool) (any, error) {
	if l == nil {
		if len(vals) == 0 {
			return all, nil
		}
		return nil, nil
	}
	if op == "=" && !all && len(vals) >= 64 {
		if set := x.valueSet(vals, lt, rt); set != nil {
			if k, ok := setKey(l); ok {
				return set.in(k), nil
			}
		}
	}
	var res any = all
	for _, v := range vals {
		if err := x.b.tick(); err != nil {
			return nil, err
		}
		b, err := x.compareOp(op, l, v, lt, rt)
		if err != nil {
			return nil, err
		}
		switch {
		case b == nil:
			res = nil
		case b == true && !all:
			return true, nil
		case b == false && all:
			return false, nil
		}
	}
	return res, nil
}

// valueSet is a hash set of an array's text or integer values, built
// once per array (x = ANY('{…}') over every row), or nil when its
// values are of another kind or do not compare as l's type does.
type valueSet struct {
	keys    map[string]bool
	hasNull bool
}

func (x *executor) valueSet(vals []any, lt, rt uint32) *valueSet {
	if !(exactText(lt) && exactText(rt)) && !(isInteger(lt) && isInteger(rt)) {
		return nil
	}
	id := &vals[0]
	if s, ok := x.sets[id]; ok {
		return s
	}
	s := newValueSet(vals)
	if x.sets == nil {
		x.sets = map[*any]*valueSet{}
	}
	x.sets[id] = s
	return s
}

// newValueSet is the set of vals, or nil when one is neither text, an
// integer nor NULL.
func newValueSet(vals []any) *valueSet {
	s := &valueSet{keys: make(map[string]bool, len(vals))}
	for _, v := range vals {
		if v == nil {
			s.hasNull = true
			continue
		}
		k, ok := setKey(v)
		if !ok {
			return nil
		}
		s.keys[k] = true
	}
	return s
}

// in is key IN the set with SQL's NULL semantics: true, or NULL when the
// set holds a NULL, else false.
func (s *valueSet) in(key string) any {
	switch {
	case s.keys[key]:
		return true
	case s.hasNull:
		return nil
	}
	return false
}

// setKey is v's key in a valueSet: text as itself, integers in decimal.
func setKey(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

func isInteger(t uint32) bool { return t == tInt2 || t == tInt4 || t == tInt8 || t == tOID }

// exactText is a text type whose equality is byte equality (not
// bpchar, which ignores trailing blanks, nor json).
func exactText(t uint32) bool {
	switch t {
	case tText, tName, tChar, tVarchar, tUnknown, tCString:
		return true
	}
	return false
}

func (x *executor) prefixOp(op string, r *expr, n *pg_query.Node) (*expr, error) {
	switch op {
	case "-":
		return &expr{typ: r.typ, eval: func(e *env) (any, error) {
			v, err := r.eval(e)
			switch v := v.(type) {
			case int64:
				return -v, err
			case float64:
				return -v, err
			}
			return nil, err
		}}, nil
	case "+":
		return r, nil
	case "~":
		return &expr{typ: r.typ, eval: func(e *env) (any, error) {
			v, err := r.eval(e)
			if n, ok := v.(int64); ok {
				return ^n, err
			}
			return nil, err
		}}, nil
	}
	return nil, unsupported(n, "prefix operator %s is not supported", op)
}

var comparisonOps = map[string]bool{"=": true, "<>": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"~": true, "!~": true, "~*": true, "!~*": true, "~~": true, "!~~": true, "~~*": true, "!~~*": true}

func (x *executor) binaryOp(op string, l, r *expr, n *pg_query.Node) (*expr, error) {
	if comparisonOps[op] {
		return x.comparison(op, l, r), nil
	}
	switch op {
	case "||":
		if elemOf(l.typ) != 0 || elemOf(r.typ) != 0 {
			t := l.typ
			if elemOf(t) == 0 {
				t = r.typ
			}
			return &expr{typ: t, eval: func(e *env) (any, error) {
				lv, rv, err := eval2(l, r, e)
				if err != nil {
					return nil, err
				}
				la, _ := lv.([]any)
				ra, _ := rv.([]any)
				if err := x.b.value(mulSize(int64(len(la)+len(ra)+1), slotBytes)); err != nil {
					return nil, err
				}
				var out []any
				for _, v := range []any{lv, rv} {
					if a, ok := v.([]any); ok {
						out = append(out, a...)
					} else if v != nil {
						out = append(out, v)
					}
				}
				return out, nil
			}}, nil
		}
		return &expr{typ: tText, eval: func(e *env) (any, error) {
			lv, rv, err := eval2(l, r, e)
			if err != nil || lv == nil || rv == nil {
				return nil, err
			}
			// A non-text side is cast to text (anytextcat: $1::text), which
			// spells a boolean true/false, not its output t/f.
			cat := func(v any, t uint32) string {
				if b, ok := v.(bool); ok && t == tBool {
					return strconv.FormatBool(b)
				}
				return x.text(v, t)
			}
			ls, rs := cat(lv, l.typ), cat(rv, r.typ)
			if err := x.b.value(int64(len(ls) + len(rs))); err != nil {
				return nil, err
			}
			return ls + rs, nil
		}}, nil
	case "+", "-", "*", "/", "%":
		t := numericResult(l.typ, r.typ)
		return &expr{typ: t, eval: func(e *env) (any, error) {
			lv, rv, err := eval2(l, r, e)
			if err != nil || lv == nil || rv == nil {
				return nil, err
			}
			return arith(op, lv, rv, t)
		}}, nil
	case "&", "|", "#", "<<", ">>":
		t := numericResult(l.typ, r.typ)
		return &expr{typ: t, eval: func(e *env) (any, error) {
			lv, rv, err := eval2(l, r, e)
			if err != nil || lv == nil || rv == nil {
				return nil, err
			}
			a, _ := toInt(lv)
			b, _ := toInt(rv)
			switch op {
			case "&":
				return a & b, nil
			case "|":
				return a | b, nil
			case "#":
				return a ^ b, nil
			case "<<":
				return a << uint(b), nil
			}
			return a >> uint(b), nil
		}}, nil
	case "@>", "<@", "&&":
		return &expr{typ: tBool, eval: func(e *env) (any, error) {
			lv, rv, err := eval2(l, r, e)
			if err != nil || lv == nil || rv == nil {
				return nil, err
			}
			la, _ := x.castValue(lv, l.typ, arrayOf(tText)).([]any)
			ra, _ := x.castValue(rv, r.typ, arrayOf(tText)).([]any)
			if op == "<@" {
				la, ra = ra, la
			}
			contains := func(arr []any, v any) bool {
				for _, a := range arr {
					if a != nil && compareValues(a, v) == 0 {
						return true
					}
				}
				return false
			}
			if op == "&&" {
				for _, v := range ra {
					if contains(la, v) {
						return true, nil
					}
				}
				return false, nil
			}
			for _, v := range ra {
				if !contains(la, v) {
					return false, nil
				}
			}
			return true, nil
		}}, nil
	}
	return nil, located(pgerr.New(pgerrcode.UndefinedFunction, "operator does not exist: %s %s %s", x.typeName(l.typ), op, x.typeName(r.typ)), n)
}

func eval2(l, r *expr, e *env) (any, any, error) {
	lv, err := l.eval(e)
	if err != nil {
		return nil, nil, err
	}
	rv, err := r.eval(e)
	return lv, rv, err
}

func numericResult(a, b uint32) uint32 {
	switch {
	case a == tFloat8 || b == tFloat8 || a == tFloat4 || b == tFloat4:
		return tFloat8
	case a == tNumeric || b == tNumeric:
		return tNumeric
	case a == tInt8 || b == tInt8:
		return tInt8
	case a == tInt2 && b == tInt2:
		return tInt2
	}
	return tInt4
}

func arith(op string, a, b any, t uint32) (any, error) {
	ai, aok := a.(int64)
	bi, bok := b.(int64)
	if aok && bok && !isFloat(t) {
		r, ok, err := intArith(op, ai, bi)
		if err != nil {
			return nil, err
		}
		switch {
		case ok && inIntRange(r, t):
			return r, nil
		case t != tNumeric:
			return nil, pgerr.New(pgerrcode.NumericValueOutOfRange, "%s out of range", intTypeWord(t))
		}
		// An exact result int64 cannot hold: go on in floating point.
	}
	af, ok1 := toFloat(a)
	bf, ok2 := toFloat(b)
	if !ok1 || !ok2 {
		// Dates and intervals: the warehouse's to evaluate.
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "arithmetic on these values is not evaluated by the catalog")
	}
	switch op {
	case "+":
		return af + bf, nil
	case "-":
		return af - bf, nil
	case "*":
		return af * bf, nil
	case "/":
		if bf == 0 {
			return nil, pgerr.New(pgerrcode.DivisionByZero, "division by zero")
		}
		return af / bf, nil
	}
	return math.Mod(af, bf), nil
}

// intArith is a op b, and whether it fits an int64.
func intArith(op string, a, b int64) (int64, bool, error) {
	switch op {
	case "+":
		r := a + b
		return r, (b >= 0) == (r >= a), nil
	case "-":
		r := a - b
		return r, (b >= 0) == (r <= a), nil
	case "*":
		r := a * b
		return r, a == 0 || (r/a == b && !(a == -1 && b == math.MinInt64)), nil
	case "/", "%":
		if b == 0 {
			return 0, false, pgerr.New(pgerrcode.DivisionByZero, "division by zero")
		}
		if b == -1 { // MinInt64 / -1 overflows; any % -1 is 0
			if op == "%" {
				return 0, true, nil
			}
			return -a, a != math.MinInt64, nil
		}
		if op == "%" {
			return a % b, true, nil
		}
		return a / b, true, nil
	}
	return 0, false, pgerr.New(pgerrcode.UndefinedFunction, "operator does not exist: %s", op)
}

func inIntRange(v int64, t uint32) bool {
	switch t {
	case tInt2:
		return v >= math.MinInt16 && v <= math.MaxInt16
	case tInt4:
		return v >= math.MinInt32 && v <= math.MaxInt32
	}
	return true
}

func intTypeWord(t uint32) string {
	switch t {
	case tInt2:
		return "smallint"
	case tInt4:
		return "integer"
	}
	return "bigint"
}

// constantIn compiles l [NOT] IN (constants) over a text or integer l
// as one hash lookup per row (BI tools send IN lists of thousands of
// values); nil when the list is not of that shape.
func (x *executor) constantIn(l *expr, nodes []*pg_query.Node, items []*expr, neg bool) *expr {
	lt := resolved(l.typ)
	textual := exactText(lt)
	if !textual && !isInteger(lt) {
		return nil
	}
	for _, n := range nodes {
		c := n.GetAConst()
		if tc := n.GetTypeCast(); tc != nil {
			c = tc.GetArg().GetAConst()
		}
		if c == nil {
			return nil
		}
	}
	vals := make([]any, len(items))
	for i, it := range items {
		v, err := it.eval(&env{})
		if err != nil {
			return nil
		}
		switch v.(type) {
		case string:
			if !textual || (it.typ != tUnknown && !exactText(resolved(it.typ))) {
				return nil
			}
		case int64:
			if textual {
				return nil
			}
		}
		vals[i] = v
	}
	set := newValueSet(vals)
	if set == nil {
		return nil
	}
	return &expr{typ: tBool, eval: func(e *env) (any, error) {
		v, err := l.eval(e)
		if err != nil || v == nil {
			return nil, err
		}
		key, ok := setKey(v)
		if !ok {
			key = x.text(v, lt)
		}
		r := set.in(key)
		if r != nil && neg {
			return !r.(bool), nil
		}
		return r, nil
	}}
}

// comparison compiles a comparison, coercing an untyped literal to the
// other side's type as Postgres does.
func (x *executor) comparison(op string, l, r *expr) *expr {
	lt, rt := l.typ, r.typ
	if l.param > 0 && lt == tUnknown && rt != tUnknown {
		x.s.InferParam(l.param, rt)
	}
	if r.param > 0 && rt == tUnknown && lt != tUnknown {
		x.s.InferParam(r.param, lt)
	}
	switch {
	case lt == tUnknown && rt != tUnknown:
		l, lt = x.cast(l, rt), rt
	case rt == tUnknown && lt != tUnknown && !strings.Contains(op, "~"):
		r, rt = x.cast(r, lt), lt
	}
	return &expr{typ: tBool, eval: func(e *env) (any, error) {
		lv, rv, err := eval2(l, r, e)
		if err != nil || lv == nil || rv == nil {
			return nil, err
		}
		return x.compareOp(op, lv, rv, lt, rt)
	}}
}

func (x *executor) compareOp(op string, lv, rv any, lt, rt uint32) (any, error) {
	if lv == nil || rv == nil {
		return nil, nil
	}
	switch op {
	case "~", "!~", "~*", "!~*":
		re, err := x.regexp(toText(rv), op == "~*" || op == "!~*")
		if err != nil {
			return nil, err
		}
		return re.MatchString(x.text(lv, lt)) == (op[0] != '!'), nil
	case "~~", "!~~", "~~*", "!~~*":
		re, err := x.like(toText(rv), strings.HasSuffix(op, "*"))
		if err != nil {
			return nil, err
		}
		return re.MatchString(x.text(lv, lt)) == (op[0] != '!'), nil
	}
	if isString(lt) && isReg(rt) || isReg(lt) && isString(rt) {
		// a name compared with a regclass etc.: compare as text.
		lv, rv = x.text(lv, lt), x.text(rv, rt)
	} else if _, ok := lv.(string); ok {
		if _, ok := rv.(string); !ok {
			rv = x.castValue(rv, rt, lt)
		}
	} else if _, ok := rv.(string); ok {
		lv = x.castValue(lv, lt, rt)
	}
	c := compareValues(lv, rv)
	switch op {
	case "=":
		return c == 0, nil
	case "<>", "!=":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

type regexpEntry struct {
	re  *regexp.Regexp
	err error
}

var regexpCache sync.Map // string → *regexpEntry

func (x *executor) regexp(pattern string, fold bool) (*regexp.Regexp, error) {
	key := pattern
	if fold {
		key = "(?i)" + pattern
	}
	if v, ok := regexpCache.Load(key); ok {
		ent := v.(*regexpEntry)
		return ent.re, ent.err
	}
	re, err := regexp.Compile(key)
	ent := &regexpEntry{re: re}
	if err != nil {
		ent.err = pgerr.New(pgerrcode.InvalidRegularExpression, "invalid regular expression: %v", err)
	}
	regexpCache.Store(key, ent)
	return ent.re, ent.err
}

// like turns a LIKE pattern (\ escapes) into an anchored regexp.
func (x *executor) like(pattern string, fold bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^(?s:")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(")$")
	return x.regexp(b.String(), fold)
}

// compareValues orders two non-NULL values of comparable types.
func compareValues(a, b any) int {
	switch a := a.(type) {
	case int64:
		switch b := b.(type) {
		case int64:
			return cmp3(a, b)
		case float64:
			return cmpFloat(float64(a), b)
		}
	case float64:
		switch b := b.(type) {
		case int64:
			return cmpFloat(a, float64(b))
		case float64:
			return cmpFloat(a, b)
		}
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b)
		}
	case bool:
		if b, ok := b.(bool); ok {
			switch {
			case a == b:
				return 0
			case !a:
				return -1
			}
			return 1
		}
	case []any:
		if b, ok := b.([]any); ok {
			for i := 0; i < len(a) && i < len(b); i++ {
				if c := compareNullable(a[i], b[i], false); c != 0 {
					return c
				}
			}
			return cmp3(len(a), len(b))
		}
	case *record:
		if b, ok := b.(*record); ok {
			for i := 0; i < len(a.vals) && i < len(b.vals); i++ {
				if c := compareNullable(a.vals[i], b.vals[i], false); c != 0 {
					return c
				}
			}
			return 0
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// compareNullable orders with NULLs last (or first).
func compareNullable(a, b any, nullsFirst bool) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		if nullsFirst {
			return -1
		}
		return 1
	case b == nil:
		if nullsFirst {
			return 1
		}
		return -1
	}
	return compareValues(a, b)
}

func cmp3[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case float64:
		return int64(math.Round(v)), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}

func toText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return fmt.Sprint(v)
}

func jsonValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case bool, int64, float64:
		return toText(v)
	}
	return strconv.Quote(fmt.Sprint(v))
}

// commonType is the type branches resolve to (CASE, UNION, COALESCE), by
// PostgreSQL's rule: keep the candidate a unless it is not its category's
// preferred type and converts implicitly to b but not back.
func commonType(a, b uint32) uint32 {
	switch {
	case a == b:
		return resolved(a)
	case a == tUnknown:
		return resolved(b)
	case b == tUnknown:
		return resolved(a)
	case a == tFloat8 || a == tText || a == tOID || a == tBool:
		return a // preferred in their category
	case implicitCast(a, b) && !implicitCast(b, a):
		return b
	}
	return a
}

var numericRank = map[uint32]int{tInt2: 1, tInt4: 2, tInt8: 3, tNumeric: 4, tFloat4: 5, tFloat8: 6}

// implicitCast says whether PostgreSQL converts a to b implicitly.
func implicitCast(a, b uint32) bool {
	ra, rb := numericRank[a], numericRank[b]
	switch {
	case ra > 0 && rb > 0:
		return ra < rb
	case (a == tInt2 || a == tInt4 || a == tInt8) && (b == tOID || isReg(b)):
		return true
	case a == tOID && isReg(b), isReg(a) && b == tOID:
		return true
	case b == tText && isString(a):
		return true
	case a == tText && (b == tName || b == tVarchar || b == tBPChar):
		return true
	}
	return false
}

func commonTypeOf(es []*expr) uint32 {
	t := uint32(tUnknown)
	for _, e := range es {
		if e.typ == tUnknown {
			continue
		}
		if t == tUnknown {
			t = e.typ
		} else {
			t = commonType(t, e.typ)
		}
	}
	return resolved(t)
}

func sameClass(a, b uint32) bool {
	switch {
	case isInt(a) && isInt(b):
		return true
	case isString(a) && isString(b) && a != tUnknown && b != tUnknown:
		return true
	}
	return a == b
}

func (x *executor) castAll(es []*expr, t uint32) []*expr {
	out := make([]*expr, len(es))
	for i, e := range es {
		out[i] = x.cast(e, t)
	}
	return out
}
