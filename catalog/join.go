package catalog

import (
	"sort"

	"github.com/cubegate/cubegate/postgres/pgnames"
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// A comma-separated FROM with a WHERE (PgJDBC's and psqlODBC's metadata
// queries join up to ten catalogs this way) is not run as a cross product:
// rows stay full-width (columns of items not joined yet are NULL), each
// WHERE term is applied as soon as every column it reads is there, and
// the next item joined is the smallest one an equality connects to the
// rows so far, by hash.

type whereTerm struct {
	e    *expr
	cols []int // columns of this query level it reads
	// an equality between two columns of different items: a hash key.
	eqL, eqR int
	applied  bool
}

func (x *executor) compileJoinedFrom(from []*pg_query.Node, where *pg_query.Node, sc *scope) (*source, error) {
	var items []*source
	var offsets []int
	var cols []colInfo
	var bases []*baseScan
	for _, it := range from {
		s, err := x.compileFromItem(it, sc)
		if err != nil {
			return nil, err
		}
		for _, b := range s.bases {
			b.offset += len(cols)
			bases = append(bases, b)
		}
		items = append(items, s)
		offsets = append(offsets, len(cols))
		cols = append(cols, s.cols...)
	}
	sc.cols = cols
	if err := x.pushDown(conjuncts(where), bases, sc); err != nil {
		return nil, err
	}
	itemOf := func(col int) int {
		for i := len(offsets) - 1; i >= 0; i-- {
			if col >= offsets[i] {
				return i
			}
		}
		return 0
	}
	var terms []*whereTerm
	for _, n := range conjuncts(where) {
		t := &whereTerm{eqL: -1, eqR: -1}
		sc.onRef = func(i int) { t.cols = append(t.cols, i) }
		e, err := x.compileBool(n, sc, "WHERE")
		sc.onRef = nil
		if err != nil {
			return nil, err
		}
		t.e = e
		if a := n.GetAExpr(); a != nil && a.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && pgnames.Op(a.GetName()) == "=" &&
			a.GetLexpr().GetColumnRef() != nil && a.GetRexpr().GetColumnRef() != nil && len(t.cols) == 2 &&
			itemOf(t.cols[0]) != itemOf(t.cols[1]) && sameClass(cols[t.cols[0]].typ, cols[t.cols[1]].typ) {
			t.eqL, t.eqR = t.cols[0], t.cols[1]
		}
		terms = append(terms, t)
	}
	width := len(cols)
	return &source{cols: cols, bases: bases, run: func(pe *env) ([][]any, error) {
		data := make([][][]any, len(items))
		for i, it := range items {
			rows, err := it.run(pe)
			if err != nil {
				return nil, err
			}
			data[i] = rows
		}
		for _, t := range terms {
			t.applied = false
		}
		joined := make([]bool, len(items))
		have := make([]bool, width)
		ready := func(t *whereTerm) bool {
			for _, c := range t.cols {
				if !have[c] {
					return false
				}
			}
			return true
		}
		filter := func(rows [][]any) ([][]any, error) {
			for _, t := range terms {
				if t.applied || !ready(t) {
					continue
				}
				t.applied = true
				kept := rows[:0:0]
				for _, r := range rows {
					if err := x.b.tick(); err != nil {
						return nil, err
					}
					v, err := t.e.eval(&env{row: r, parent: pe})
					if err != nil {
						return nil, err
					}
					if v == true {
						kept = append(kept, r)
					}
				}
				rows = kept
			}
			return rows, nil
		}
		widen := func(i int) ([][]any, error) {
			if err := x.b.row(len(data[i]), width); err != nil {
				return nil, err
			}
			out := make([][]any, len(data[i]))
			for k, r := range data[i] {
				w := make([]any, width)
				copy(w[offsets[i]:], r)
				out[k] = w
			}
			return out, nil
		}
		mark := func(i int) {
			joined[i] = true
			for c := offsets[i]; c < offsets[i]+len(items[i].cols); c++ {
				have[c] = true
			}
		}
		// Start with the smallest item.
		order := make([]int, len(items))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return len(data[order[a]]) < len(data[order[b]]) })
		first := order[0]
		mark(first)
		wide, err := widen(first)
		if err != nil {
			return nil, err
		}
		acc, err := filter(wide)
		if err != nil {
			return nil, err
		}
		for n := 1; n < len(items) && len(acc) > 0; n++ {
			// The smallest item an equality connects, else the smallest.
			next, keys := -1, [][2]int(nil)
			for _, i := range order {
				if joined[i] {
					continue
				}
				var ks [][2]int
				for _, t := range terms {
					if t.eqL < 0 || t.applied {
						continue
					}
					switch {
					case itemOf(t.eqL) == i && have[t.eqR]:
						ks = append(ks, [2]int{t.eqR, t.eqL})
					case itemOf(t.eqR) == i && have[t.eqL]:
						ks = append(ks, [2]int{t.eqL, t.eqR})
					}
				}
				if len(ks) > 0 {
					next, keys = i, ks
					break
				}
				if next < 0 {
					next = i
				}
			}
			right := data[next] // narrow: the item's own columns
			var out [][]any
			if len(keys) > 0 {
				narrow := make([][2]int, len(keys))
				for i, k := range keys {
					narrow[i] = [2]int{k[0], k[1] - offsets[next]}
				}
				index := map[string][]int{}
				for k, r := range right {
					key, ok := keyOfCols(r, narrow, 1)
					if ok {
						index[key] = append(index[key], k)
					}
				}
				for _, l := range acc {
					key, ok := keyOfCols(l, keys, 0)
					if !ok {
						continue
					}
					if err := x.b.row(len(index[key]), width); err != nil {
						return nil, err
					}
					for _, k := range index[key] {
						out = append(out, merge(l, right[k], offsets[next], len(items[next].cols)))
					}
				}
			} else {
				for _, l := range acc {
					if err := x.b.row(len(right), width); err != nil {
						return nil, err
					}
					for _, r := range right {
						out = append(out, merge(l, r, offsets[next], len(items[next].cols)))
					}
				}
			}
			mark(next)
			if acc, err = filter(out); err != nil {
				return nil, err
			}
			if err := x.ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(acc) == 0 {
			return nil, nil
		}
		return acc, nil
	}}, nil
}

// merge copies the full-width row l with the item's row r at off.
func merge(l, r []any, off, n int) []any {
	w := make([]any, len(l))
	copy(w, l)
	copy(w[off:off+n], r)
	return w
}

func keyOfCols(row []any, keys [][2]int, side int) (string, bool) {
	idx := make([]int, len(keys))
	for i, k := range keys {
		idx[i] = k[side]
	}
	return keyOf(row, idx)
}

// conjuncts splits a condition into its ANDed terms.
func conjuncts(n *pg_query.Node) []*pg_query.Node {
	if b := n.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		var out []*pg_query.Node
		for _, a := range b.GetArgs() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg_query.Node{n}
}
