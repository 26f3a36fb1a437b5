package catalog

import (
	"sort"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"math/big"
	"strconv"
)

// aggCtx collects, while compiling a query's post-grouping expressions,
// the aggregate calls and window functions they contain.
type aggCtx struct {
	aggs []*aggSlot
	wins []*winSlot
}

type aggSlot struct {
	name     string
	args     []*expr
	star     bool
	distinct bool
	filter   *expr
	order    []orderKey
	typ      uint32
	b        *budget
}

type orderKey struct {
	e   *expr
	dir sortDir
}

func orderDirs(keys []orderKey) []sortDir {
	dirs := make([]sortDir, len(keys))
	for i, k := range keys {
		dirs[i] = k.dir
	}
	return dirs
}

type winSlot struct {
	name      string
	partition []*expr
	order     []orderKey
	agg       *aggSlot // an aggregate used as a window function
	idx       int
}

// srfSlot is a set-returning function of the select list.
type srfSlot struct {
	eval func(*env) ([]any, error)
}

var aggregates = map[string]bool{
	"count": true, "sum": true, "min": true, "max": true, "avg": true, "array_agg": true,
	"string_agg": true, "bool_and": true, "bool_or": true, "every": true, "json_agg": true, "jsonb_agg": true,
}

// compileAgg compiles an aggregate call in a grouped scope: its arguments
// are evaluated per input row, its value read from the group's env.
func (x *executor) compileAgg(fc *pg_query.FuncCall, name string, sc *scope, n *pg_query.Node) (*expr, error) {
	if sc.agg == nil {
		return nil, located(pgerr.New(pgerrcode.GroupingError, "aggregate functions are not allowed here"), n)
	}
	in := &scope{cols: sc.cols, parent: sc.parent, ctes: sc.ctes}
	slot := &aggSlot{name: name, star: fc.GetAggStar(), distinct: fc.GetAggDistinct(), b: x.b}
	for _, a := range fc.GetArgs() {
		e, err := x.compileExpr(a, in)
		if err != nil {
			return nil, err
		}
		slot.args = append(slot.args, e)
	}
	want := 1
	switch {
	case slot.star:
		want = 0
	case name == "string_agg":
		want = 2
	}
	if len(slot.args) != want || (slot.star && name != "count") {
		types := make([]string, len(slot.args))
		for i, a := range slot.args {
			types[i] = x.typeName(resolved(a.typ))
		}
		if slot.star {
			types = []string{"*"}
		}
		return nil, located(pgerr.New(pgerrcode.UndefinedFunction, "function %s(%s) does not exist", name, strings.Join(types, ", ")).
			WithHint("No function matches the given name and argument types."), n)
	}
	if f := fc.GetAggFilter(); f != nil {
		e, err := x.compileBool(f, in, "FILTER")
		if err != nil {
			return nil, err
		}
		slot.filter = e
	}
	for _, o := range fc.GetAggOrder() {
		sb := o.GetSortBy()
		e, err := x.compileExpr(sb.GetNode(), in)
		if err != nil {
			return nil, err
		}
		slot.order = append(slot.order, orderKey{e: e, dir: sortDirOf(sb)})
	}
	slot.typ = aggType(name, slot.args)
	if in.correlated {
		sc.correlated = true
	}
	if fc.GetOver() != nil {
		return x.compileWindow(fc, name, sc, slot)
	}
	i := len(sc.agg.aggs)
	sc.agg.aggs = append(sc.agg.aggs, slot)
	return &expr{typ: slot.typ, name: name, eval: func(e *env) (any, error) {
		if i >= len(e.aggs) {
			// Read before the groups are aggregated: GROUP BY names it.
			return nil, located(pgerr.New(pgerrcode.GroupingError, "aggregate functions are not allowed in GROUP BY"), n)
		}
		return e.aggs[i], nil
	}}, nil
}

func aggType(name string, args []*expr) uint32 {
	switch name {
	case "count":
		return tInt8
	case "sum":
		if len(args) > 0 && (args[0].typ == tInt2 || args[0].typ == tInt4) {
			return tInt8
		}
		if len(args) > 0 && (args[0].typ == tFloat4 || args[0].typ == tFloat8) {
			return tFloat8
		}
		return tNumeric
	case "avg":
		if len(args) > 0 && (args[0].typ == tFloat4 || args[0].typ == tFloat8) {
			return tFloat8
		}
		return tNumeric
	case "min", "max":
		if len(args) > 0 {
			if args[0].typ == tName {
				return tText // there is no min(name): name is compared as text
			}
			return resolved(args[0].typ)
		}
	case "array_agg":
		if len(args) > 0 {
			return arrayOf(resolved(args[0].typ))
		}
	case "string_agg":
		return tText
	case "bool_and", "bool_or", "every":
		return tBool
	case "json_agg":
		return tJSON
	case "jsonb_agg":
		return 3802
	}
	return tText
}

func resolved(t uint32) uint32 {
	if t == tUnknown {
		return tText
	}
	return t
}

// group splits envs into groups by keys and computes each group's
// aggregates; without keys the whole input is one group (even if empty).
func group(envs []*env, keys []*expr, ag *aggCtx, pe *env) ([]*env, error) {
	type grp struct {
		first *env
		rows  []*env
	}
	var order []*grp
	if len(keys) == 0 {
		g := &grp{rows: envs}
		if len(envs) > 0 {
			g.first = envs[0]
		} else {
			g.first = &env{parent: pe}
		}
		order = append(order, g)
	} else {
		byKey := map[string]*grp{}
		for _, e := range envs {
			vals := make([]any, len(keys))
			for i, k := range keys {
				v, err := k.eval(e)
				if err != nil {
					return nil, err
				}
				vals[i] = v
			}
			key := rowKey(vals)
			g := byKey[key]
			if g == nil {
				g = &grp{first: e}
				byKey[key] = g
				order = append(order, g)
			}
			g.rows = append(g.rows, e)
		}
	}
	out := make([]*env, len(order))
	for gi, g := range order {
		ge := &env{row: g.first.row, parent: g.first.parent, aggs: make([]any, len(ag.aggs))}
		for i, a := range ag.aggs {
			v, err := a.compute(g.rows)
			if err != nil {
				return nil, err
			}
			ge.aggs[i] = v
		}
		out[gi] = ge
	}
	return out, nil
}

// compute runs an aggregate over a group's rows.
func (a *aggSlot) compute(rows []*env) (any, error) {
	type item struct {
		args []any
		keys []any
	}
	var items []item
	seen := map[string]bool{}
	for _, e := range rows {
		if a.filter != nil {
			v, err := a.filter.eval(e)
			if err != nil {
				return nil, err
			}
			if v != true {
				continue
			}
		}
		it := item{args: make([]any, len(a.args))}
		for i, ae := range a.args {
			v, err := ae.eval(e)
			if err != nil {
				return nil, err
			}
			it.args[i] = v
		}
		if a.distinct {
			k := rowKey(it.args)
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		for _, o := range a.order {
			v, err := o.e.eval(e)
			if err != nil {
				return nil, err
			}
			it.keys = append(it.keys, v)
		}
		items = append(items, it)
	}
	if len(a.order) > 0 {
		dirs := orderDirs(a.order)
		sort.SliceStable(items, func(i, j int) bool { return compareKeys(items[i].keys, items[j].keys, dirs) < 0 })
	}
	switch a.name {
	case "count":
		n := int64(0)
		for _, it := range items {
			if a.star || len(it.args) == 0 || it.args[0] != nil {
				n++
			}
		}
		return n, nil
	case "sum", "avg":
		var isum int64
		var fsum float64
		// numeric is held as the float64 nearest its decimal: summed as
		// exact decimals (each float's shortest spelling), then rounded
		// once, 0.1 + 0.2 is 0.3 as in PostgreSQL.
		var dsum *big.Rat
		if a.typ == tNumeric {
			dsum = new(big.Rat)
		}
		n, isFloat := 0, a.typ != tInt8
		for _, it := range items {
			switch v := it.args[0].(type) {
			case int64:
				isum += v
				fsum += float64(v)
				if dsum != nil {
					dsum.Add(dsum, new(big.Rat).SetInt64(v))
				}
				n++
			case float64:
				fsum += v
				if r, ok := new(big.Rat).SetString(strconv.FormatFloat(v, 'g', -1, 64)); ok && dsum != nil {
					dsum.Add(dsum, r)
				} else {
					dsum = nil // NaN, Inf: the float sum says it
				}
				n++
			}
		}
		if n == 0 {
			return nil, nil
		}
		if dsum != nil {
			if a.name == "avg" {
				dsum.Quo(dsum, new(big.Rat).SetInt64(int64(n)))
			}
			f, _ := dsum.Float64()
			return f, nil
		}
		if a.name == "avg" {
			return fsum / float64(n), nil
		}
		if !isFloat {
			return isum, nil
		}
		return fsum, nil
	case "min", "max":
		var best any
		for _, it := range items {
			v := it.args[0]
			if v == nil {
				continue
			}
			if best == nil {
				best = v
				continue
			}
			c := compareValues(v, best)
			if (a.name == "min" && c < 0) || (a.name == "max" && c > 0) {
				best = v
			}
		}
		return best, nil
	case "array_agg":
		if len(items) == 0 {
			return nil, nil
		}
		if err := a.b.value(mulSize(int64(len(items)), slotBytes)); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = it.args[0]
		}
		return out, nil
	case "string_agg":
		var parts []string
		sep := ""
		size := int64(0)
		for _, it := range items {
			if it.args[0] == nil {
				continue
			}
			if len(parts) > 0 && len(it.args) > 1 {
				if s, ok := it.args[1].(string); ok {
					sep = s
				}
				parts = append(parts, sep)
			}
			parts = append(parts, toText(it.args[0]))
			size += int64(len(sep) + len(parts[len(parts)-1]))
			if err := a.b.fits(size); err != nil {
				return nil, err
			}
		}
		if len(parts) == 0 {
			return nil, nil
		}
		if err := a.b.alloc(size); err != nil {
			return nil, err
		}
		return strings.Join(parts, ""), nil
	case "bool_and", "every", "bool_or":
		var res any
		for _, it := range items {
			b, ok := it.args[0].(bool)
			if !ok {
				continue
			}
			if res == nil {
				res = b
			} else if a.name == "bool_or" {
				res = res.(bool) || b
			} else {
				res = res.(bool) && b
			}
		}
		return res, nil
	case "json_agg", "jsonb_agg":
		if len(items) == 0 {
			return nil, nil
		}
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = jsonValue(it.args[0])
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return nil, pgerr.New(pgerrcode.UndefinedFunction, "aggregate %s is not supported", a.name)
}

var windowFuncs = map[string]bool{"row_number": true, "rank": true, "dense_rank": true}

func (x *executor) compileWindow(fc *pg_query.FuncCall, name string, sc *scope, agg *aggSlot) (*expr, error) {
	if sc.agg == nil {
		return nil, located(pgerr.New(pgerrcode.WindowingError, "window functions are not allowed here"), nil)
	}
	w := &winSlot{name: name, agg: agg}
	over := fc.GetOver()
	for _, p := range over.GetPartitionClause() {
		e, err := x.compileExpr(p, sc)
		if err != nil {
			return nil, err
		}
		w.partition = append(w.partition, e)
	}
	for _, o := range over.GetOrderClause() {
		sb := o.GetSortBy()
		e, err := x.compileExpr(sb.GetNode(), sc)
		if err != nil {
			return nil, err
		}
		w.order = append(w.order, orderKey{e: e, dir: sortDirOf(sb)})
	}
	typ := uint32(tInt8)
	if agg != nil {
		typ = agg.typ
	}
	w.idx = len(sc.agg.wins)
	sc.agg.wins = append(sc.agg.wins, w)
	i := w.idx
	return &expr{typ: typ, name: name, eval: func(e *env) (any, error) { return e.wins[i], nil }}, nil
}

// windows computes the window functions over the query's rows.
func (x *executor) windows(envs []*env, wins []*winSlot) error {
	for _, e := range envs {
		e.wins = make([]any, len(wins))
	}
	for _, w := range wins {
		type row struct {
			e    *env
			part string
			keys []any
		}
		rows := make([]row, len(envs))
		for i, e := range envs {
			var pv []any
			for _, p := range w.partition {
				v, err := p.eval(e)
				if err != nil {
					return err
				}
				pv = append(pv, v)
			}
			rows[i] = row{e: e, part: rowKey(pv)}
			for _, o := range w.order {
				v, err := o.e.eval(e)
				if err != nil {
					return err
				}
				rows[i].keys = append(rows[i].keys, v)
			}
		}
		dirs := orderDirs(w.order)
		cmp := func(a, b row) int { return compareKeys(a.keys, b.keys, dirs) }
		parts := map[string][]row{}
		var partOrder []string
		for _, r := range rows {
			if _, ok := parts[r.part]; !ok {
				partOrder = append(partOrder, r.part)
			}
			parts[r.part] = append(parts[r.part], r)
		}
		for _, p := range partOrder {
			rs := parts[p]
			sort.SliceStable(rs, func(i, j int) bool { return cmp(rs[i], rs[j]) < 0 })
			if w.agg != nil {
				// An aggregate over the partition (no frame: the whole
				// partition without ORDER BY, the running one with it).
				for i := range rs {
					end := len(rs)
					if len(w.order) > 0 {
						end = i + 1
						for end < len(rs) && cmp(rs[end], rs[i]) == 0 {
							end++
						}
					}
					envsIn := make([]*env, end)
					for k := 0; k < end; k++ {
						envsIn[k] = rs[k].e
					}
					v, err := w.agg.compute(envsIn)
					if err != nil {
						return err
					}
					rs[i].e.wins[w.idx] = v
				}
				continue
			}
			rank, dense := int64(1), int64(1)
			for i := range rs {
				if i > 0 && cmp(rs[i], rs[i-1]) != 0 {
					rank = int64(i + 1)
					dense++
				}
				switch w.name {
				case "row_number":
					rs[i].e.wins[w.idx] = int64(i + 1)
				case "rank":
					rs[i].e.wins[w.idx] = rank
				case "dense_rank":
					rs[i].e.wins[w.idx] = dense
				}
			}
		}
	}
	return nil
}
