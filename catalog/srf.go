package catalog

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

var srfFuncs = map[string]bool{"unnest": true, "generate_series": true, "generate_subscripts": true,
	"_pg_expandarray": true, "pg_get_keywords": true, "pg_show_all_settings": true, "regexp_split_to_table": true,
	"string_to_table": true, "pg_partition_ancestors": true}

// compileSRF compiles a set-returning function into a row source whose
// arguments are evaluated in sc.
func (x *executor) compileSRF(fc *pg_query.FuncCall, name string, sc *scope) (*source, error) {
	args, err := x.compileExprs(fc.GetArgs(), sc)
	if err != nil {
		return nil, err
	}
	evalArgs := func(e *env) ([]any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a.eval(e)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		return vals, nil
	}
	need := func(n int) error {
		if len(args) < n {
			return pgerr.New(pgerrcode.UndefinedFunction, "function %s with %d arguments does not exist", name, len(args))
		}
		return nil
	}
	single := func(typ uint32, f func(vals []any) ([]any, error)) *source {
		return &source{cols: []colInfo{{name: name, typ: typ, mod: -1}}, run: func(e *env) ([][]any, error) {
			vals, err := evalArgs(e)
			if err != nil {
				return nil, err
			}
			items, err := f(vals)
			if err != nil {
				return nil, err
			}
			if err := x.b.row(len(items), 1); err != nil {
				return nil, err
			}
			rows := make([][]any, len(items))
			for i, it := range items {
				rows[i] = []any{it}
			}
			return rows, nil
		}}
	}
	switch name {
	case "unnest":
		if err := need(1); err != nil {
			return nil, err
		}
		et := elemOf(args[0].typ)
		if args[0].typ == tUnknown {
			return nil, pgerr.New(pgerrcode.IndeterminateDatatype, "could not determine polymorphic type because input has type unknown")
		}
		return single(et, func(v []any) ([]any, error) {
			arr, _ := v[0].([]any)
			return arr, nil
		}), nil
	case "generate_series":
		if err := need(2); err != nil {
			return nil, err
		}
		for _, a := range args {
			switch a.typ {
			case tInt2, tInt4, tInt8, tNumeric, tUnknown:
			default:
				// Dates and intervals: the warehouse's to evaluate.
				return nil, pgerr.New(pgerrcode.FeatureNotSupported, "generate_series over %s is not evaluated by the catalog", x.typeName(a.typ))
			}
		}
		t := numericResult(args[0].typ, args[1].typ)
		return single(t, func(v []any) ([]any, error) {
			if v[0] == nil || v[1] == nil {
				return nil, nil
			}
			step := int64(1)
			if len(v) > 2 && v[2] != nil {
				step, _ = toInt(v[2])
			}
			if step == 0 {
				return nil, pgerr.New(pgerrcode.InvalidParameterValue, "step size cannot equal zero")
			}
			a, _ := toInt(v[0])
			b, _ := toInt(v[1])
			var out []any
			for i := a; (step > 0 && i <= b) || (step < 0 && i >= b); i += step {
				// Rows are charged once the series is built (single);
				// it stops as soon as it could not be.
				if int64(len(out)) >= x.b.rowsLeft(1) {
					return nil, x.b.row(len(out)+1, 1) // the limit it hits
				}
				if err := x.b.tick(); err != nil {
					return nil, err
				}
				out = append(out, i)
				if (step > 0 && i > math.MaxInt64-step) || (step < 0 && i < math.MinInt64-step) {
					break // the next value would overflow: i was the last one
				}
			}
			return out, nil
		}), nil
	case "generate_subscripts":
		if err := need(2); err != nil {
			return nil, err
		}
		base := int64(1)
		if args[0].typ == tInt2Vector || args[0].typ == tOIDVector {
			base = 0
		}
		return single(tInt4, func(v []any) ([]any, error) {
			arr, _ := v[0].([]any)
			if d, _ := toInt(v[1]); d != 1 {
				return nil, nil
			}
			out := make([]any, len(arr))
			for i := range arr {
				out[i] = base + int64(i)
			}
			if len(v) > 2 && v[2] == true {
				for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
					out[i], out[j] = out[j], out[i]
				}
			}
			return out, nil
		}), nil
	case "regexp_split_to_table", "string_to_table":
		if err := need(2); err != nil {
			return nil, err
		}
		return single(tText, func(v []any) ([]any, error) {
			if v[0] == nil || (v[1] == nil && name != "string_to_table") {
				return nil, nil
			}
			s := toText(v[0])
			var parts []string
			if name == "string_to_table" {
				parts, err := splitString(x, s, v[1])
				if err != nil {
					return nil, err
				}
				return parts, nil
			}
			re, err := x.regexp(toText(v[1]), false)
			if err != nil {
				return nil, err
			}
			// At most one piece per byte and one more: counted (within
			// the rows the statement may still make) before they are cut.
			if left := x.b.rowsLeft(1); int64(len(s))+1 > left {
				if int64(len(re.FindAllStringIndex(s, int(left)))+1) > left {
					return nil, x.b.tooManyRows()
				}
			}
			parts = re.Split(s, -1)
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}), nil
	case "_pg_expandarray":
		if err := need(1); err != nil {
			return nil, err
		}
		et := elemOf(args[0].typ)
		base := int64(1)
		return &source{cols: []colInfo{{name: "x", typ: et, mod: -1}, {name: "n", typ: tInt4, mod: -1}}, run: func(e *env) ([][]any, error) {
			vals, err := evalArgs(e)
			if err != nil {
				return nil, err
			}
			arr, _ := vals[0].([]any)
			if err := x.b.row(len(arr), 2); err != nil {
				return nil, err
			}
			rows := make([][]any, len(arr))
			for i, v := range arr {
				rows[i] = []any{v, base + int64(i)}
			}
			return rows, nil
		}}, nil
	case "pg_partition_ancestors":
		// No table is partitioned: a table is its only ancestor.
		if err := need(1); err != nil {
			return nil, err
		}
		return &source{cols: []colInfo{{name: "relid", typ: tRegclass, mod: -1}}, run: func(e *env) ([][]any, error) {
			vals, err := evalArgs(e)
			if err != nil || vals[0] == nil {
				return nil, err
			}
			oid, _ := toInt(vals[0])
			if _, ok := x.cat.classes[uint32(oid)]; !ok {
				return nil, nil
			}
			return [][]any{{oid}}, nil
		}}, nil
	case "pg_get_keywords", "pg_show_all_settings":
		rel := snapshot().rels["pg_catalog.pg_get_keywords"]
		if name == "pg_show_all_settings" {
			rel = x.cat.rels["pg_catalog.pg_settings"]
		}
		cols := make([]colInfo, len(rel.cols))
		for i, c := range rel.cols {
			cols[i] = colInfo{name: c.Name, typ: c.Type, mod: c.Mod}
		}
		return &source{cols: cols, run: func(*env) ([][]any, error) { return x.cat.rowsOf(x, rel) }}, nil
	}
	return nil, unsupported(nil, "function %s is not supported", name)
}

// splitString is string_to_table's and string_to_array's split, as
// PostgreSQL's: an empty delimiter keeps the string whole, a NULL one
// splits it into characters; the pieces are counted against the
// statement's rows before they are cut.
func splitString(x *executor, s string, sep any) ([]any, error) {
	if s == "" {
		return []any{}, nil
	}
	var n int
	switch {
	case sep == nil:
		n = utf8.RuneCountInString(s)
	case toText(sep) == "":
		return []any{s}, nil
	default:
		n = strings.Count(s, toText(sep)) + 1
	}
	if int64(n) > x.b.rowsLeft(1) {
		return nil, x.b.tooManyRows()
	}
	if err := x.b.value(mulSize(int64(n), slotBytes)); err != nil {
		return nil, err
	}
	out := make([]any, 0, n)
	if sep == nil {
		for _, r := range s {
			out = append(out, string(r))
		}
		return out, nil
	}
	for _, p := range strings.Split(s, toText(sep)) {
		out = append(out, p)
	}
	return out, nil
}

// compileRangeFunction compiles a function in FROM.
func (x *executor) compileRangeFunction(rf *pg_query.RangeFunction, sc *scope) (*source, error) {
	if len(rf.GetFunctions()) != 1 {
		return nil, unsupported(nil, "ROWS FROM with several functions is not supported")
	}
	item := rf.GetFunctions()[0].GetList().GetItems()
	fc := item[0].GetFuncCall()
	if fc == nil {
		return nil, unsupported(item[0], "this function call is not supported in FROM")
	}
	names := fc.GetFuncname()
	name := strings.ToLower(fieldName(names[len(names)-1]))
	argScope := &scope{parent: sc.parent, ctes: sc.ctes, transparent: true}
	var src *source
	var err error
	if srfFuncs[name] {
		src, err = x.compileSRF(fc, name, argScope)
	} else {
		// A scalar function in FROM is a one-row relation.
		var e *expr
		e, err = x.compileFunc(&pg_query.Node{Node: &pg_query.Node_FuncCall{FuncCall: fc}}, argScope)
		if err == nil {
			src = &source{cols: []colInfo{{name: name, typ: e.typ, mod: -1}}, run: func(en *env) ([][]any, error) {
				v, err := e.eval(en)
				if err != nil {
					return nil, err
				}
				return [][]any{{v}}, nil
			}}
		}
	}
	if err != nil {
		return nil, err
	}
	cols := append([]colInfo{}, src.cols...)
	alias := rf.GetAlias()
	rel := name
	if alias != nil {
		rel = alias.GetAliasname()
		if len(cols) == 1 && len(alias.GetColnames()) == 0 {
			cols[0].name = rel
		}
	}
	if rf.GetOrdinality() {
		cols = append(cols, colInfo{name: "ordinality", typ: tInt8, mod: -1})
	}
	cols = aliasCols(cols, alias, rel)
	for i := range cols {
		cols[i].rel = rel
	}
	ord := rf.GetOrdinality()
	return &source{cols: cols, run: func(e *env) ([][]any, error) {
		rows, err := src.run(e)
		if err != nil || !ord {
			return rows, err
		}
		out := make([][]any, len(rows))
		for i, r := range rows {
			out[i] = append(append([]any{}, r...), int64(i+1))
		}
		return out, nil
	}}, nil
}
