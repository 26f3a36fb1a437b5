package catalog

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// colInfo is a column in scope: the relation alias it belongs to, its
// name and type.
type colInfo struct {
	rel  string
	name string
	typ  uint32
	mod  int32
	// hidden columns (a join's USING duplicates) are not expanded by *.
	hidden bool
	// fields of a record-typed column, when known.
	fields map[string]uint32
}

// scope resolves column names while compiling; parent is the enclosing
// query's scope (correlated subqueries).
type scope struct {
	cols   []colInfo
	parent *scope
	ctes   map[string]*cte
	// correlated is set when an expression compiled in this scope reads
	// a column of an enclosing one.
	correlated bool
	// grouped: compiling post-aggregation expressions; aggs collects the
	// aggregate calls met, wins the window functions, srfs the
	// set-returning functions of the select list.
	agg  *aggCtx
	srfs *[]*srfSlot
	// outputs are the select list's aliases, for ORDER BY.
	outputs []colInfo
	// transparent scopes carry CTEs but no row level of their own.
	transparent bool
	// onRef, when set, is told every column of this scope an expression
	// reads (to know when a WHERE term can be evaluated).
	onRef func(i int)
}

type cte struct {
	cols []colInfo
	// rows is set once computed (or while computing a recursive CTE).
	rows [][]any
	done bool
	q    *query
}

// env is the runtime counterpart of scope: the current row at each level.
type env struct {
	row    []any
	parent *env
	aggs   []any
	wins   []any
	srfs   []any
}

type expr struct {
	typ    uint32
	fields map[string]uint32 // a record's fields, when known
	eval   func(*env) (any, error)
	// constant expressions (no column, no parameter) are folded.
	name string // the column name Postgres gives it (FigureColname)
	// weak names (a cast's type, "case") yield to a stronger one.
	weak bool
	// param is n for the parameter $n.
	param int
}

// query is a compiled SELECT.
type query struct {
	cols       []colInfo
	correlated bool
	run        func(*env) ([][]any, error)
}

// executor compiles and runs one statement.
type executor struct {
	ctx context.Context
	cat *Catalog
	s   Session
	// params holds the parameters' values once read.
	params map[int]any
	// indexes of session relations, built during the statement.
	indexes map[indexKey]map[string][][]any
	// withOID: the statement reads the tableoid system column.
	withOID bool
	// b accounts for the statement's rows, memory and time.
	b *budget
	// sublinks are the statement's uncorrelated subqueries, compiled and
	// run once.
	sublinks map[*pg_query.SubLink]*sublink
	// sets are hash sets of arrays compared with = ANY, by array.
	sets map[*any]*valueSet
}

func newExecutor(ctx context.Context, c *Catalog, s Session, sel *pg_query.SelectStmt) *executor {
	return &executor{ctx: ctx, cat: c, s: s, withOID: mentionsTableOID(sel), b: newBudget(ctx, s)}
}

// param reads $n's value once per statement.
func (x *executor) param(n int) (any, error) {
	if v, ok := x.params[n]; ok {
		return v, nil
	}
	text, t, err := x.s.Param(n)
	if err != nil {
		return nil, err
	}
	var v any
	if text != nil {
		// Checked as the type's input function would.
		if v, err = x.convert(*text, tUnknown, t); err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && elemOf(t) == 0 {
			v = parseCopyText(s, t)
		}
	}
	if x.params == nil {
		x.params = map[int]any{}
	}
	x.params[n] = v
	return v, nil
}

func unsupported(n *pg_query.Node, format string, args ...any) error {
	return pgerr.Unsupported(pgnames.Location(n), format, args...)
}

func located(e *pgerr.Error, n *pg_query.Node) *pgerr.Error {
	if loc := pgnames.Location(n); loc >= 0 {
		e.At(loc + 1)
	}
	return e
}

// compileSelect compiles a SELECT (or set operation) in scope parent.
func (x *executor) compileSelect(sel *pg_query.SelectStmt, parent *scope) (*query, error) {
	sc := &scope{parent: parent}
	if w := sel.GetWithClause(); w != nil {
		sc.ctes = map[string]*cte{}
		for _, n := range w.GetCtes() {
			c := n.GetCommonTableExpr()
			if err := x.compileCTE(c, sc, w.GetRecursive()); err != nil {
				return nil, err
			}
		}
	}
	if sel.GetOp() != pg_query.SetOperation_SETOP_NONE {
		sc.transparent = true
		return x.compileSetOp(sel, sc)
	}
	if vl := sel.GetValuesLists(); len(vl) > 0 {
		sc.transparent = true
		return x.compileValues(vl, sc)
	}
	if sel.GetIntoClause() != nil {
		return nil, unsupported(nil, "SELECT INTO is not supported for catalog queries")
	}
	if len(sel.GetLockingClause()) > 0 {
		// FOR UPDATE / FOR SHARE on a read-only catalog: nothing to lock.
		_ = 0
	}
	// FROM
	var src *source
	var where *expr
	var err error
	if from := sel.GetFromClause(); len(from) > 1 && sel.GetWhereClause() != nil {
		// Several FROM items and a WHERE: joined in the order the data
		// suggests, by hash on the WHERE's equalities (see joinPlan).
		if src, err = x.compileJoinedFrom(from, sel.GetWhereClause(), sc); err != nil {
			return nil, err
		}
	} else {
		if src, err = x.compileFrom(sel.GetFromClause(), sc); err != nil {
			return nil, err
		}
		sc.cols = src.cols
		if w := sel.GetWhereClause(); w != nil {
			if where, err = x.compileBool(w, sc, "WHERE"); err != nil {
				return nil, err
			}
			if err := x.pushDown(conjuncts(w), src.bases, sc); err != nil {
				return nil, err
			}
		}
	}
	// Grouping: GROUP BY, aggregates or HAVING make the query grouped.
	ag := &aggCtx{}
	post := &scope{cols: sc.cols, parent: parent, ctes: sc.ctes, agg: ag}
	var srfs []*srfSlot
	post.srfs = &srfs
	targets, err := x.expandTargets(sel.GetTargetList(), post)
	if err != nil {
		return nil, err
	}
	var groupKeys []*expr
	for _, g := range sel.GetGroupClause() {
		var e *expr
		if c := g.GetAConst(); c != nil && c.GetIval() != nil {
			i := int(c.GetIval().GetIval())
			if i < 1 || i > len(targets) {
				return nil, located(pgerr.New(pgerrcode.InvalidColumnReference, "GROUP BY position %d is not in select list", i), g)
			}
			e = targets[i-1].e
		} else if cr := g.GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && findOutput(targets, fieldName(cr.GetFields()[0])) >= 0 && !sc.has(fieldName(cr.GetFields()[0])) {
			e = targets[findOutput(targets, fieldName(cr.GetFields()[0]))].e
		} else {
			if e, err = x.compileExpr(g, sc); err != nil {
				return nil, err
			}
		}
		groupKeys = append(groupKeys, e)
	}
	var having *expr
	if h := sel.GetHavingClause(); h != nil {
		if having, err = x.compileBool(h, post, "HAVING"); err != nil {
			return nil, err
		}
	}
	// ORDER BY: output names and ordinals first, then expressions.
	post.outputs = make([]colInfo, len(targets))
	for i, t := range targets {
		post.outputs[i] = colInfo{name: t.name, typ: t.e.typ}
	}
	type sortKey struct {
		out int // output column, or -1
		e   *expr
	}
	var keys []sortKey
	var dirs []sortDir
	for _, n := range sel.GetSortClause() {
		sb := n.GetSortBy()
		k := sortKey{out: -1}
		dirs = append(dirs, sortDirOf(sb))
		if c := sb.GetNode().GetAConst(); c != nil && c.GetIval() != nil {
			i := int(c.GetIval().GetIval())
			if i < 1 || i > len(targets) {
				return nil, located(pgerr.New(pgerrcode.InvalidColumnReference, "ORDER BY position %d is not in select list", i), sb.GetNode())
			}
			k.out = i - 1
		} else if cr := sb.GetNode().GetColumnRef(); cr != nil && len(cr.GetFields()) == 1 && fieldName(cr.GetFields()[0]) != "" && findOutput(targets, fieldName(cr.GetFields()[0])) >= 0 {
			k.out = findOutput(targets, fieldName(cr.GetFields()[0]))
		} else {
			if k.e, err = x.compileExpr(sb.GetNode(), post); err != nil {
				return nil, err
			}
		}
		keys = append(keys, k)
	}
	grouped := len(groupKeys) > 0 || len(ag.aggs) > 0 || having != nil
	if grouped {
		if err := checkGrouping(targets, post); err != nil {
			_ = err // Postgres would require grouping; the catalog is lenient.
		}
	}
	var distinctOn []*expr
	distinct := false
	if dc := sel.GetDistinctClause(); dc != nil {
		distinct = true
		for _, n := range dc {
			if n == nil || n.GetNode() == nil {
				continue
			}
			e, err := x.compileExpr(n, post)
			if err != nil {
				return nil, err
			}
			distinctOn = append(distinctOn, e)
		}
	}
	var limit, offset *expr
	if n := sel.GetLimitCount(); n != nil {
		if limit, err = x.compileExpr(n, &scope{parent: parent, transparent: true}); err != nil {
			return nil, err
		}
	}
	if n := sel.GetLimitOffset(); n != nil {
		if offset, err = x.compileExpr(n, &scope{parent: parent, transparent: true}); err != nil {
			return nil, err
		}
	}
	cols := make([]colInfo, len(targets))
	for i, t := range targets {
		cols[i] = colInfo{name: t.name, typ: t.e.typ, mod: t.mod, fields: t.e.fields}
	}
	q := &query{cols: cols, correlated: sc.correlated || post.correlated}
	q.run = func(pe *env) ([][]any, error) {
		rows, err := src.run(pe)
		if err != nil {
			return nil, err
		}
		// WHERE
		var envs []*env
		for _, r := range rows {
			if err := x.b.tick(); err != nil {
				return nil, err
			}
			e := &env{row: r, parent: pe}
			if where != nil {
				v, err := where.eval(e)
				if err != nil {
					return nil, err
				}
				if v != true {
					continue
				}
			}
			envs = append(envs, e)
		}
		if err := x.ctx.Err(); err != nil {
			return nil, err
		}
		if grouped {
			if envs, err = group(envs, groupKeys, ag, pe); err != nil {
				return nil, err
			}
			if having != nil {
				kept := envs[:0]
				for _, e := range envs {
					v, err := having.eval(e)
					if err != nil {
						return nil, err
					}
					if v == true {
						kept = append(kept, e)
					}
				}
				envs = kept
			}
		}
		if len(ag.wins) > 0 {
			if err := x.windows(envs, ag.wins); err != nil {
				return nil, err
			}
		}
		// Project (expanding set-returning functions), with sort keys.
		type outRow struct {
			vals []any
			keys []any
			on   []any
		}
		var out []outRow
		for _, e := range envs {
			n := 1
			var lists [][]any
			if len(srfs) > 0 {
				lists = make([][]any, len(srfs))
				n = 0
				for i, s := range srfs {
					l, err := s.eval(e)
					if err != nil {
						return nil, err
					}
					lists[i] = l
					n = max(n, len(l))
				}
				e.srfs = make([]any, len(srfs))
			}
			for k := 0; k < n; k++ {
				for i := range lists {
					if k < len(lists[i]) {
						e.srfs[i] = lists[i][k]
					} else {
						e.srfs[i] = nil
					}
				}
				if err := x.b.row(1, len(targets)); err != nil {
					return nil, err
				}
				vals := make([]any, len(targets))
				for i, t := range targets {
					v, err := t.e.eval(e)
					if err != nil {
						return nil, err
					}
					vals[i] = v
				}
				r := outRow{vals: vals}
				for _, key := range keys {
					if key.out >= 0 {
						r.keys = append(r.keys, vals[key.out])
						continue
					}
					v, err := key.e.eval(e)
					if err != nil {
						return nil, err
					}
					r.keys = append(r.keys, v)
				}
				for _, d := range distinctOn {
					v, err := d.eval(e)
					if err != nil {
						return nil, err
					}
					r.on = append(r.on, v)
				}
				out = append(out, r)
			}
		}
		if len(keys) > 0 {
			sort.SliceStable(out, func(i, j int) bool { return compareKeys(out[i].keys, out[j].keys, dirs) < 0 })
		}
		result := make([][]any, 0, len(out))
		if distinct {
			seen := map[string]bool{}
			for _, r := range out {
				k := r.on
				if distinctOn == nil {
					k = r.vals
				}
				key := rowKey(k)
				if !seen[key] {
					seen[key] = true
					result = append(result, r.vals)
				}
			}
		} else {
			for _, r := range out {
				result = append(result, r.vals)
			}
		}
		return applyLimit(result, limit, offset, pe)
	}
	return q, nil
}

// sortDir is an ORDER BY key's direction and NULLs placement: as in
// PostgreSQL, NULLs sort as larger than every value unless NULLS FIRST or
// NULLS LAST says otherwise.
type sortDir struct{ desc, nullsFirst bool }

func sortDirOf(sb *pg_query.SortBy) sortDir {
	d := sortDir{desc: sb.GetSortbyDir() == pg_query.SortByDir_SORTBY_DESC}
	d.nullsFirst = d.desc
	switch sb.GetSortbyNulls() {
	case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
		d.nullsFirst = true
	case pg_query.SortByNulls_SORTBY_NULLS_LAST:
		d.nullsFirst = false
	}
	return d
}

// compareKeys orders two rows' sort keys: negative when a comes first.
func compareKeys(a, b []any, dirs []sortDir) int {
	for k, d := range dirs {
		switch {
		case a[k] == nil && b[k] == nil:
			continue
		case a[k] == nil, b[k] == nil:
			if (a[k] == nil) == d.nullsFirst {
				return -1
			}
			return 1
		}
		c := compareValues(a[k], b[k])
		if d.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func applyLimit(rows [][]any, limit, offset *expr, pe *env) ([][]any, error) {
	if offset != nil {
		v, err := offset.eval(pe)
		if err != nil {
			return nil, err
		}
		if n, ok := toInt(v); ok && n > 0 {
			if int(n) >= len(rows) {
				rows = nil
			} else {
				rows = rows[n:]
			}
		}
	}
	if limit != nil {
		v, err := limit.eval(pe)
		if err != nil {
			return nil, err
		}
		if n, ok := toInt(v); ok && n >= 0 && int(n) < len(rows) {
			rows = rows[:n]
		}
	}
	return rows, nil
}

// rowKey is a hashable spelling of values, for DISTINCT, UNION and GROUP BY.
func rowKey(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		writeKey(&b, v)
		b.WriteByte(0)
	}
	return b.String()
}

func writeKey(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("\x01N")
	case string:
		b.WriteString("s")
		b.WriteString(v)
	case int64:
		b.WriteString("n")
		b.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
	case float64:
		b.WriteString("n")
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case bool:
		if v {
			b.WriteString("T")
		} else {
			b.WriteString("F")
		}
	case []any:
		b.WriteString("[")
		for _, e := range v {
			writeKey(b, e)
			b.WriteByte(1)
		}
		b.WriteString("]")
	case *record:
		b.WriteString("(")
		for _, e := range v.vals {
			writeKey(b, e)
			b.WriteByte(1)
		}
		b.WriteString(")")
	default:
		fmt.Fprintf(b, "?%v", v)
	}
}

func checkGrouping([]target, *scope) error { return nil }

type target struct {
	name string
	e    *expr
	mod  int32
}

func findOutput(ts []target, name string) int {
	for i, t := range ts {
		if t.name == name {
			return i
		}
	}
	return -1
}

func (s *scope) has(name string) bool {
	for _, c := range s.cols {
		if c.name == name {
			return true
		}
	}
	return false
}

// expandTargets compiles the select list, expanding * and t.*.
func (x *executor) expandTargets(list []*pg_query.Node, sc *scope) ([]target, error) {
	var out []target
	for _, n := range list {
		rt := n.GetResTarget()
		if cr := rt.GetVal().GetColumnRef(); cr != nil {
			f := cr.GetFields()
			if len(f) > 0 && f[len(f)-1].GetAStar() != nil {
				rel := ""
				if len(f) >= 2 {
					rel = fieldName(f[len(f)-2])
				}
				found := false
				for i, c := range sc.cols {
					if c.hidden || (rel != "" && c.rel != rel) {
						continue
					}
					found = true
					e := colExpr(0, i, c.typ)
					e.fields = c.fields
					out = append(out, target{name: c.name, e: e, mod: c.mod})
				}
				if !found && rel != "" {
					return nil, located(pgerr.New(pgerrcode.UndefinedTable, "missing FROM-clause entry for table %q", rel), rt.GetVal())
				}
				continue
			}
		}
		e, err := x.compileExpr(rt.GetVal(), sc)
		if err != nil {
			return nil, err
		}
		name := rt.GetName()
		if name == "" {
			name = e.name
		}
		if name == "" {
			name = "?column?"
		}
		t := target{name: name, e: e, mod: -1}
		if cr := rt.GetVal().GetColumnRef(); cr != nil {
			if _, i, ok := sc.lookup(cr); ok && i >= 0 {
				t.mod = sc.cols[i].mod
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func colExpr(depth, i int, typ uint32) *expr {
	if depth == 0 {
		return &expr{typ: typ, eval: func(e *env) (any, error) {
			if e.row == nil {
				return nil, nil
			}
			return e.row[i], nil
		}}
	}
	return &expr{typ: typ, eval: func(e *env) (any, error) {
		for d := 0; d < depth; d++ {
			e = e.parent
		}
		if e == nil || e.row == nil {
			return nil, nil
		}
		return e.row[i], nil
	}}
}

// lookup finds a column reference in this scope only (depth 0).
func (s *scope) lookup(cr *pg_query.ColumnRef) (string, int, bool) {
	f := cr.GetFields()
	var rel, name string
	switch len(f) {
	case 1:
		name = fieldName(f[0])
	case 2:
		rel, name = fieldName(f[0]), fieldName(f[1])
	default:
		rel, name = fieldName(f[len(f)-2]), fieldName(f[len(f)-1])
	}
	found := -1
	for i, c := range s.cols {
		if c.name == name && (rel == "" || c.rel == rel) {
			if found >= 0 && !c.hidden && !s.cols[found].hidden {
				return name, -2, true // ambiguous
			}
			if found < 0 || s.cols[found].hidden {
				found = i
			}
		}
	}
	return name, found, found >= 0
}

func fieldName(n *pg_query.Node) string {
	if s := n.GetString_(); s != nil {
		return s.GetSval()
	}
	return ""
}

// source is a FROM clause compiled: its columns and a row producer.
type source struct {
	cols  []colInfo
	run   func(*env) ([][]any, error)
	bases []*baseScan // the relations scanned, for WHERE push-down
}

// mergeBases lists the scans of a join's sides, the right side's columns
// after the left's.
func mergeBases(l, r *source, lNullable, rNullable bool) []*baseScan {
	var out []*baseScan
	for _, b := range l.bases {
		b.nullable = b.nullable || lNullable
		out = append(out, b)
	}
	for _, b := range r.bases {
		b.offset += len(l.cols)
		b.nullable = b.nullable || rNullable
		out = append(out, b)
	}
	return out
}

func (x *executor) compileFrom(items []*pg_query.Node, sc *scope) (*source, error) {
	if len(items) == 0 {
		return &source{run: func(*env) ([][]any, error) { return [][]any{{}}, nil }}, nil
	}
	var acc *source
	for _, it := range items {
		s, err := x.compileFromItem(it, sc)
		if err != nil {
			return nil, err
		}
		if acc == nil {
			acc = s
			continue
		}
		bases := mergeBases(acc, s, false, false)
		acc = x.crossJoin(acc, s)
		acc.bases = bases
	}
	return acc, nil
}

func (x *executor) crossJoin(l, r *source) *source {
	cols := append(append([]colInfo{}, l.cols...), r.cols...)
	return &source{cols: cols, run: func(e *env) ([][]any, error) {
		lr, err := l.run(e)
		if err != nil {
			return nil, err
		}
		rr, err := r.run(e)
		if err != nil {
			return nil, err
		}
		if err := x.b.row(len(lr)*len(rr), len(cols)); err != nil {
			return nil, err
		}
		out := make([][]any, 0, len(lr)*len(rr))
		for _, a := range lr {
			for _, b := range rr {
				out = append(out, concatRow(a, b))
			}
		}
		return out, nil
	}}
}

func concatRow(a, b []any) []any {
	r := make([]any, 0, len(a)+len(b))
	return append(append(r, a...), b...)
}

func aliasCols(cols []colInfo, a *pg_query.Alias, def string) []colInfo {
	out := make([]colInfo, len(cols))
	copy(out, cols)
	name := def
	if a != nil {
		name = a.GetAliasname()
		for i, c := range a.GetColnames() {
			if i < len(out) {
				out[i].name = fieldName(c)
			}
		}
	}
	for i := range out {
		out[i].rel = name
	}
	return out
}

func (x *executor) compileFromItem(n *pg_query.Node, sc *scope) (*source, error) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		name := rv.GetRelname()
		if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" {
			for s := sc; s != nil; s = s.parent {
				if c, ok := s.ctes[name]; ok {
					return x.cteSource(c, rv.GetAlias(), name), nil
				}
			}
		}
		rel, err := x.cat.lookupRelation(x, rv)
		if err != nil {
			return nil, located(err.(*pgerr.Error), n)
		}
		cols := make([]colInfo, len(rel.cols))
		for i, c := range rel.cols {
			cols[i] = colInfo{name: c.Name, typ: c.Type, mod: c.Mod}
		}
		cols = aliasCols(cols, rv.GetAlias(), name)
		b := &baseScan{rel: rel, tableOID: int64(x.cat.classOIDs[rel.schema+"."+rel.name])}
		if x.withOID && len(rv.GetAlias().GetColnames()) == 0 {
			// The system column tableoid (psql's \dd reads it).
			b.withOID = true
			cols = append(cols, colInfo{rel: cols[0].rel, name: "tableoid", typ: tOID, mod: -1, hidden: true})
		}
		b.cols = cols
		return &source{cols: cols, bases: []*baseScan{b}, run: func(pe *env) ([][]any, error) { return b.rows(x, pe) }}, nil
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		q, err := x.compileSelect(rs.GetSubquery().GetSelectStmt(), &scope{parent: sc.parent, ctes: sc.ctes, transparent: true})
		if err != nil {
			return nil, err
		}
		if q.correlated {
			sc.correlated = true
		}
		return &source{cols: aliasCols(q.cols, rs.GetAlias(), ""), run: q.run}, nil
	case n.GetJoinExpr() != nil:
		return x.compileJoin(n.GetJoinExpr(), sc)
	case n.GetRangeFunction() != nil:
		return x.compileRangeFunction(n.GetRangeFunction(), sc)
	}
	return nil, unsupported(n, "this FROM item is not supported in catalog queries")
}

func (x *executor) cteSource(c *cte, alias *pg_query.Alias, name string) *source {
	return &source{cols: aliasCols(c.cols, alias, name), run: func(e *env) ([][]any, error) {
		if !c.done {
			rows, err := c.q.run(e)
			if err != nil {
				return nil, err
			}
			c.rows, c.done = rows, true
		}
		return c.rows, nil
	}}
}

func (x *executor) compileCTE(c *pg_query.CommonTableExpr, sc *scope, recursive bool) error {
	sel := c.GetCtequery().GetSelectStmt()
	if sel == nil {
		return unsupported(c.GetCtequery(), "only SELECT is supported in WITH")
	}
	def := &cte{}
	rename := func(cols []colInfo) []colInfo {
		out := make([]colInfo, len(cols))
		copy(out, cols)
		for i, n := range c.GetAliascolnames() {
			if i < len(out) {
				out[i].name = fieldName(n)
			}
		}
		return out
	}
	if recursive && sel.GetOp() == pg_query.SetOperation_SETOP_UNION {
		// WITH RECURSIVE: the non-recursive term, then the recursive term
		// over the rows the previous iteration added, until none.
		base, err := x.compileSelect(sel.GetLarg(), &scope{parent: sc.parent, ctes: sc.ctes, transparent: true})
		if err != nil {
			return err
		}
		def.cols = rename(base.cols)
		work := &cte{cols: def.cols, done: true}
		inner := &scope{parent: sc.parent, ctes: map[string]*cte{}, transparent: true}
		for k, v := range sc.ctes {
			inner.ctes[k] = v
		}
		inner.ctes[c.GetCtename()] = work
		rec, err := x.compileSelect(sel.GetRarg(), inner)
		if err != nil {
			return err
		}
		all := sel.GetAll()
		def.q = &query{cols: def.cols, run: func(e *env) ([][]any, error) {
			rows, err := base.run(e)
			if err != nil {
				return nil, err
			}
			seen := map[string]bool{}
			var out [][]any
			add := func(rs [][]any) [][]any {
				var added [][]any
				for _, r := range rs {
					if !all {
						k := rowKey(r)
						if seen[k] {
							continue
						}
						seen[k] = true
					}
					added = append(added, r)
				}
				out = append(out, added...)
				return added
			}
			delta := add(rows)
			for i := 0; len(delta) > 0; i++ {
				if i > 100000 {
					return nil, pgerr.New(pgerrcode.ProgramLimitExceeded, "recursive query %q did not end", c.GetCtename())
				}
				if err := x.ctx.Err(); err != nil {
					return nil, err
				}
				work.rows = delta
				next, err := rec.run(e)
				if err != nil {
					return nil, err
				}
				delta = add(next)
			}
			return out, nil
		}}
	} else {
		q, err := x.compileSelect(sel, &scope{parent: sc.parent, ctes: sc.ctes, transparent: true})
		if err != nil {
			return err
		}
		def.cols = rename(q.cols)
		def.q = q
	}
	sc.ctes[c.GetCtename()] = def
	return nil
}

func (x *executor) compileSetOp(sel *pg_query.SelectStmt, sc *scope) (*query, error) {
	l, err := x.compileSelect(sel.GetLarg(), sc)
	if err != nil {
		return nil, err
	}
	r, err := x.compileSelect(sel.GetRarg(), sc)
	if err != nil {
		return nil, err
	}
	if len(l.cols) != len(r.cols) {
		return nil, pgerr.New(pgerrcode.SyntaxError, "each %s query must have the same number of columns", pgnames.SetOp(sel.GetOp()))
	}
	cols := make([]colInfo, len(l.cols))
	for i := range cols {
		cols[i] = colInfo{name: l.cols[i].name, typ: commonType(l.cols[i].typ, r.cols[i].typ), mod: -1}
	}
	op, all := sel.GetOp(), sel.GetAll()
	post := &scope{parent: sc.parent, outputs: cols}
	var keys []int // output columns
	var dirs []sortDir
	for _, n := range sel.GetSortClause() {
		sb := n.GetSortBy()
		out := -1
		if c := sb.GetNode().GetAConst(); c != nil && c.GetIval() != nil {
			out = int(c.GetIval().GetIval()) - 1
		} else if cr := sb.GetNode().GetColumnRef(); cr != nil {
			name := fieldName(cr.GetFields()[len(cr.GetFields())-1])
			for i, c := range cols {
				if c.name == name {
					out = i
					break
				}
			}
		}
		if out < 0 || out >= len(cols) {
			return nil, unsupported(sb.GetNode(), "ORDER BY on a %s must name an output column", pgnames.SetOp(op))
		}
		keys = append(keys, out)
		dirs = append(dirs, sortDirOf(sb))
	}
	var limit, offset *expr
	if n := sel.GetLimitCount(); n != nil {
		if limit, err = x.compileExpr(n, post); err != nil {
			return nil, err
		}
	}
	if n := sel.GetLimitOffset(); n != nil {
		if offset, err = x.compileExpr(n, post); err != nil {
			return nil, err
		}
	}
	return &query{cols: cols, correlated: l.correlated || r.correlated, run: func(e *env) ([][]any, error) {
		a, err := l.run(e)
		if err != nil {
			return nil, err
		}
		b, err := r.run(e)
		if err != nil {
			return nil, err
		}
		if err := x.b.row(len(a)+len(b), 0); err != nil {
			return nil, err
		}
		var out [][]any
		switch op {
		case pg_query.SetOperation_SETOP_UNION:
			if all {
				out = append(append(out, a...), b...)
			} else {
				seen := map[string]bool{}
				for _, rs := range [][][]any{a, b} {
					for _, row := range rs {
						k := rowKey(row)
						if !seen[k] {
							seen[k] = true
							out = append(out, row)
						}
					}
				}
			}
		case pg_query.SetOperation_SETOP_INTERSECT, pg_query.SetOperation_SETOP_EXCEPT:
			inB := map[string]int{}
			for _, row := range b {
				inB[rowKey(row)]++
			}
			seen := map[string]bool{}
			want := op == pg_query.SetOperation_SETOP_INTERSECT
			for _, row := range a {
				k := rowKey(row)
				if (inB[k] > 0) != want {
					continue
				}
				if all {
					if want {
						inB[k]--
					}
				} else if seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, row)
			}
		}
		if len(keys) > 0 {
			sortKeys := func(row []any) []any {
				ks := make([]any, len(keys))
				for i, k := range keys {
					ks[i] = row[k]
				}
				return ks
			}
			sort.SliceStable(out, func(i, j int) bool { return compareKeys(sortKeys(out[i]), sortKeys(out[j]), dirs) < 0 })
		}
		return applyLimit(out, limit, offset, e)
	}}, nil
}

func (x *executor) compileValues(lists []*pg_query.Node, sc *scope) (*query, error) {
	var rows [][]*expr
	for _, l := range lists {
		var row []*expr
		for _, n := range l.GetList().GetItems() {
			e, err := x.compileExpr(n, sc)
			if err != nil {
				return nil, err
			}
			row = append(row, e)
		}
		rows = append(rows, row)
	}
	cols := make([]colInfo, len(rows[0]))
	for i := range cols {
		cols[i] = colInfo{name: "column" + strconv.Itoa(i+1), typ: rows[0][i].typ, mod: -1}
		if cols[i].typ == tUnknown {
			cols[i].typ = tText
		}
	}
	return &query{cols: cols, run: func(e *env) ([][]any, error) {
		out := make([][]any, len(rows))
		for i, r := range rows {
			out[i] = make([]any, len(r))
			for j, c := range r {
				v, err := c.eval(e)
				if err != nil {
					return nil, err
				}
				out[i][j] = v
			}
		}
		return out, nil
	}}, nil
}

func (x *executor) compileJoin(j *pg_query.JoinExpr, sc *scope) (*source, error) {
	l, err := x.compileFromItem(j.GetLarg(), sc)
	if err != nil {
		return nil, err
	}
	r, err := x.compileFromItem(j.GetRarg(), sc)
	if err != nil {
		return nil, err
	}
	cols := append(append([]colInfo{}, l.cols...), r.cols...)
	js := &scope{cols: cols, parent: sc.parent, ctes: sc.ctes}
	var on *expr
	var using []string
	for _, u := range j.GetUsingClause() {
		using = append(using, fieldName(u))
	}
	if j.GetIsNatural() {
		for _, a := range l.cols {
			for _, b := range r.cols {
				if a.name == b.name {
					using = append(using, a.name)
				}
			}
		}
	}
	// Equi-join keys (a = b between the two sides) make a hash join.
	var lk, rk []int
	if len(using) > 0 {
		for _, name := range using {
			li, ri := -1, -1
			for i, c := range l.cols {
				if c.name == name {
					li = i
				}
			}
			for i, c := range r.cols {
				if c.name == name {
					ri = i
				}
			}
			if li < 0 || ri < 0 {
				return nil, pgerr.New(pgerrcode.UndefinedColumn, "column %q specified in USING clause does not exist", name)
			}
			lk, rk = append(lk, li), append(rk, ri)
			cols[len(l.cols)+ri].hidden = true
		}
	} else if q := j.GetQuals(); q != nil {
		if on, err = x.compileBool(q, js, "JOIN/ON"); err != nil {
			return nil, err
		}
		lk, rk = equiKeys(q, js, len(l.cols))
	}
	if js.correlated {
		sc.correlated = true
	}
	jt := j.GetJointype()
	bases := mergeBases(l, r, jt == pg_query.JoinType_JOIN_RIGHT || jt == pg_query.JoinType_JOIN_FULL,
		jt == pg_query.JoinType_JOIN_LEFT || jt == pg_query.JoinType_JOIN_FULL)
	alias := j.GetAlias()
	if alias != nil {
		cols = aliasCols(cols, alias, "")
	}
	nl, nr := len(l.cols), len(r.cols)
	return &source{cols: cols, bases: bases, run: func(e *env) ([][]any, error) {
		lr, err := l.run(e)
		if err != nil {
			return nil, err
		}
		rr, err := r.run(e)
		if err != nil {
			return nil, err
		}
		var out [][]any
		rMatched := make([]bool, len(rr))
		var index map[string][]int
		if len(lk) > 0 {
			index = make(map[string][]int, len(rr))
			for i, row := range rr {
				k, ok := keyOf(row, rk)
				if ok {
					index[k] = append(index[k], i)
				}
			}
		}
		test := func(row []any) (bool, error) {
			if on == nil {
				return true, nil
			}
			v, err := on.eval(&env{row: row, parent: e})
			return v == true, err
		}
		for _, a := range lr {
			matched := false
			candidates := func(yield func(int) bool) {
				if index != nil {
					k, ok := keyOf(a, lk)
					if !ok {
						return
					}
					for _, i := range index[k] {
						if !yield(i) {
							return
						}
					}
					return
				}
				for i := range rr {
					if !yield(i) {
						return
					}
				}
			}
			var ferr error
			for i := range candidates {
				if ferr = x.b.tick(); ferr != nil {
					break
				}
				row := concatRow(a, rr[i])
				ok, err := test(row)
				if err != nil {
					ferr = err
					break
				}
				if ok {
					if ferr = x.b.row(1, len(row)); ferr != nil {
						break
					}
					matched = true
					rMatched[i] = true
					out = append(out, row)
				}
			}
			if ferr != nil {
				return nil, ferr
			}
			if !matched && (jt == pg_query.JoinType_JOIN_LEFT || jt == pg_query.JoinType_JOIN_FULL) {
				if err := x.b.row(1, nl+nr); err != nil {
					return nil, err
				}
				out = append(out, concatRow(a, make([]any, nr)))
			}
		}
		if jt == pg_query.JoinType_JOIN_RIGHT || jt == pg_query.JoinType_JOIN_FULL {
			for i, b := range rr {
				if !rMatched[i] {
					if err := x.b.row(1, nl+nr); err != nil {
						return nil, err
					}
					out = append(out, concatRow(make([]any, nl), b))
				}
			}
		}
		return out, nil
	}}, nil
}

// equiKeys finds column = column conditions between the join's sides
// among the ANDed terms of q.
func equiKeys(q *pg_query.Node, js *scope, nl int) (lk, rk []int) {
	var terms []*pg_query.Node
	var walk func(n *pg_query.Node)
	walk = func(n *pg_query.Node) {
		if b := n.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
			for _, a := range b.GetArgs() {
				walk(a)
			}
			return
		}
		terms = append(terms, n)
	}
	walk(q)
	for _, t := range terms {
		a := t.GetAExpr()
		if a == nil || a.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || pgnames.Op(a.GetName()) != "=" {
			continue
		}
		lc, rc := a.GetLexpr().GetColumnRef(), a.GetRexpr().GetColumnRef()
		if lc == nil || rc == nil {
			continue
		}
		_, li, ok1 := js.lookup(lc)
		_, ri, ok2 := js.lookup(rc)
		if !ok1 || !ok2 || li < 0 || ri < 0 {
			continue
		}
		if li >= nl && ri < nl {
			li, ri = ri, li
		}
		if li < nl && ri >= nl && sameClass(js.cols[li].typ, js.cols[ri].typ) {
			lk, rk = append(lk, li), append(rk, ri-nl)
		}
	}
	return lk, rk
}

// keyOf is the hash key of row's columns idx; false when one is NULL
// (NULL never equals anything).
func keyOf(row []any, idx []int) (string, bool) {
	var b strings.Builder
	for _, i := range idx {
		if row[i] == nil {
			return "", false
		}
		writeKey(&b, row[i])
		b.WriteByte(0)
	}
	return b.String(), true
}
