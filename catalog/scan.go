package catalog

import (
	"sync"

	"github.com/cubegate/cubegate/postgres/pgnames"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A relation scanned in FROM takes the WHERE terms that read only its own
// columns (where NULL-extension by an outer join cannot change them) and
// applies them before any join; a term col = value, where value does not
// read the relation (a constant, or a column of an enclosing query in a
// correlated subquery), becomes a lookup in a hash index of the relation.

type baseScan struct {
	rel      *relation
	tableOID int64 // appended as a last column when the statement reads it
	withOID  bool
	offset   int // of its first column in the FROM clause's rows
	cols     []colInfo
	nullable bool // on the NULL-extended side of an outer join
	filters  []*expr
	lookup   *indexLookup
}

type indexLookup struct {
	col int
	key *expr
}

// index is a hash index of a static relation's column, built once.
type index struct {
	once sync.Once
	rows map[string][][]any
}

var indexes sync.Map // indexKey → *index

type indexKey struct {
	rel *relation
	col int
}

func (b *baseScan) rows(x *executor, pe *env) ([][]any, error) {
	var rows [][]any
	if b.lookup != nil {
		key, err := b.lookup.key.eval(&env{parent: pe})
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, nil
		}
		rows = x.cat.indexOf(x, b.rel, b.lookup.col)[keyString(key)]
	} else {
		all, err := x.cat.rowsOf(x, b.rel)
		if err != nil {
			return nil, err
		}
		rows = all
	}
	if b.withOID {
		withOID := make([][]any, len(rows))
		for i, r := range rows {
			withOID[i] = append(r[:len(r):len(r)], b.tableOID)
		}
		rows = withOID
	}
	if len(b.filters) == 0 {
		return rows, nil
	}
	var out [][]any
	for _, r := range rows {
		if err := x.b.tick(); err != nil {
			return nil, err
		}
		keep := true
		for _, f := range b.filters {
			v, err := f.eval(&env{row: r, parent: pe})
			if err != nil {
				return nil, err
			}
			if v != true {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out, nil
}

func keyString(v any) string {
	k, _ := keyOf([]any{v}, []int{0})
	return k
}

// indexOf returns a relation's rows by the value of one column: built
// once for the catalog's own relations, per statement for the session's.
func (c *Catalog) indexOf(x *executor, r *relation, col int) map[string][][]any {
	build := func(rows [][]any) map[string][][]any {
		m := make(map[string][][]any, len(rows))
		for _, row := range rows {
			if row[col] != nil {
				k := keyString(row[col])
				m[k] = append(m[k], row)
			}
		}
		return m
	}
	if _, dynamic := c.dynamic[r.schema+"."+r.name]; dynamic || r.schema == tempNamespace {
		if x.indexes == nil {
			x.indexes = map[indexKey]map[string][][]any{}
		}
		k := indexKey{r, col}
		if m, ok := x.indexes[k]; ok {
			return m
		}
		rows, _ := c.rowsOf(x, r)
		m := build(rows)
		x.indexes[k] = m
		return m
	}
	v, _ := indexes.LoadOrStore(indexKey{r, col}, &index{})
	ix := v.(*index)
	ix.once.Do(func() { ix.rows = build(r.rows) })
	return ix.rows
}

// pushDown hands each WHERE term that reads a single base relation of
// the FROM clause to that relation's scan. The terms stay in the WHERE
// too: pushing down only filters earlier.
func (x *executor) pushDown(terms []*pg_query.Node, bases []*baseScan, sc *scope) error {
	for _, n := range terms {
		var refs []int
		sc.onRef = func(i int) { refs = append(refs, i) }
		_, err := x.compileBool(n, sc, "WHERE")
		sc.onRef = nil
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			continue
		}
		var base *baseScan
		for _, b := range bases {
			if refs[0] >= b.offset && refs[0] < b.offset+len(b.cols) {
				base = b
			}
		}
		if base == nil || base.nullable {
			continue
		}
		inside := true
		for _, r := range refs {
			if r < base.offset || r >= base.offset+len(base.cols) {
				inside = false
			}
		}
		if !inside {
			continue
		}
		bs := &scope{cols: base.cols, parent: sc.parent, ctes: sc.ctes}
		if base.lookup == nil {
			if l := x.indexable(n, bs); l != nil {
				base.lookup = l
				continue
			}
		}
		e, err := x.compileBool(n, bs, "WHERE")
		if err != nil {
			return err
		}
		base.filters = append(base.filters, e)
	}
	return nil
}

// indexable recognises col = value where value does not read the scanned
// relation.
func (x *executor) indexable(n *pg_query.Node, bs *scope) *indexLookup {
	a := n.GetAExpr()
	if a == nil || a.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || pgnames.Op(a.GetName()) != "=" {
		return nil
	}
	for _, pair := range [][2]*pg_query.Node{{a.GetLexpr(), a.GetRexpr()}, {a.GetRexpr(), a.GetLexpr()}} {
		cr := pair[0].GetColumnRef()
		if cr == nil {
			continue
		}
		_, col, ok := bs.lookup(cr)
		if !ok || col < 0 || !isInt(bs.cols[col].typ) && !isString(bs.cols[col].typ) {
			continue
		}
		reads := false
		bs.onRef = func(int) { reads = true }
		key, err := x.compileExpr(pair[1], bs)
		bs.onRef = nil
		if err == nil && key.typ == tUnknown {
			key = x.cast(key, bs.cols[col].typ)
		}
		if err != nil || reads || !sameClass(key.typ, bs.cols[col].typ) {
			continue
		}
		return &indexLookup{col: col, key: key}
	}
	return nil
}

// mentionsTableOID reports whether a statement reads the tableoid system
// column (only then do scans carry it).
func mentionsTableOID(sel *pg_query.SelectStmt) bool {
	found := false
	Walk(sel.ProtoReflect(), func(m proto.Message) bool {
		if s, ok := m.(*pg_query.String); ok && s.GetSval() == "tableoid" {
			found = true
		}
		return !found
	})
	return found
}

// Walk visits msg and the messages inside it, depth first; visit returns
// false to skip a message's insides.
func Walk(msg protoreflect.Message, visit func(proto.Message) bool) {
	if !visit(msg.Interface()) {
		return
	}
	msg.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				Walk(l.Get(i).Message(), visit)
			}
		case fd.Message() != nil && !fd.IsMap():
			Walk(val.Message(), visit)
		}
		return true
	})
}
