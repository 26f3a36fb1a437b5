package catalog

import (
	"context"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// TempTable is a session's temporary table (Tableau's extract and filter
// path: CREATE LOCAL TEMPORARY TABLE … ON COMMIT PRESERVE ROWS, INSERT,
// SELECT … INTO TEMP, DROP). It lives in the session, in the catalog
// engine's values, and is read by catalog queries like any relation.
type TempTable struct {
	Name    string
	Columns []Column
	Rows    [][]any
	// Bytes is what Rows keep, as the evaluator's budget counts memory.
	Bytes int64
}

// Targets are the indexes of INSERT's target columns cols in t (all, in
// order, when cols is empty); an unknown one is 42703.
func (t *TempTable) Targets(cols []*pg_query.ResTarget) ([]int, error) {
	idx := make([]int, 0, len(t.Columns))
	if len(cols) == 0 {
		for i := range t.Columns {
			idx = append(idx, i)
		}
	}
	for _, rt := range cols {
		found := -1
		for i, col := range t.Columns {
			if col.Name == rt.GetName() {
				found = i
			}
		}
		if found < 0 {
			return nil, pgerr.New(pgerrcode.UndefinedColumn, "column %q of relation %q does not exist", rt.GetName(), t.Name).At(rt.GetLocation() + 1)
		}
		idx = append(idx, found)
	}
	return idx, nil
}

// rowsSize is what rows keep: their slots and their text, bytea and
// array values.
func rowsSize(rows [][]any) int64 {
	n := int64(0)
	for _, r := range rows {
		n += rowHeader + slotBytes*int64(len(r))
		for _, v := range r {
			n += sizeOf(v)
		}
	}
	return n
}

// tempNamespace is the pg_temp schema's name in error messages and OIDs.
const tempNamespace = "pg_temp_3"

// ResolveType is the OID of a type name, as CREATE TABLE reads it.
func ResolveType(tn *pg_query.TypeName) (uint32, int32, error) {
	x := &executor{cat: &Catalog{}}
	oid, err := x.resolveType(tn)
	if err != nil {
		return 0, 0, err
	}
	mod := int32(-1)
	if mods := tn.GetTypmods(); len(mods) > 0 {
		if c := mods[0].GetAConst(); c != nil && c.GetIval() != nil {
			n := c.GetIval().GetIval()
			switch oid {
			case tVarchar, tBPChar:
				mod = n + 4
			case tNumeric:
				scale := int32(0)
				if len(mods) > 1 {
					scale = mods[1].GetAConst().GetIval().GetIval()
				}
				mod = (n<<16 | scale) + 4
			default:
				mod = n
			}
		}
	}
	return oid, mod, nil
}

// SelectInto runs sel and returns its result as a new table named name.
func (c *Catalog) SelectInto(ctx context.Context, sel *pg_query.SelectStmt, s Session, name string) (*TempTable, error) {
	x := newExecutor(ctx, c, s, sel)
	defer x.b.done()
	q, err := x.compileSelect(sel, nil)
	if err != nil {
		return nil, err
	}
	rows, err := q.run(nil)
	if err != nil {
		return nil, err
	}
	t := &TempTable{Name: name, Rows: rows, Bytes: rowsSize(rows)}
	for _, col := range q.cols {
		t.Columns = append(t.Columns, Column{Name: col.name, Type: resolved(col.typ), Mod: col.mod})
	}
	return t, nil
}

// Insert runs sel (VALUES or a SELECT) and appends its rows to t, each
// value converted to its column's type; cols names the target columns
// (all, in order, when empty). It returns the number of rows inserted.
func (c *Catalog) Insert(ctx context.Context, sel *pg_query.SelectStmt, s Session, t *TempTable, cols []*pg_query.ResTarget) (int64, error) {
	idx, err := t.Targets(cols)
	if err != nil {
		return 0, err
	}
	x := newExecutor(ctx, c, s, sel)
	defer x.b.done()
	q, err := x.compileSelect(sel, nil)
	if err != nil {
		return 0, err
	}
	if len(q.cols) > len(idx) {
		return 0, pgerr.New(pgerrcode.SyntaxError, "INSERT has more expressions than target columns")
	}
	rows, err := q.run(nil)
	if err != nil {
		return 0, err
	}
	for k, r := range rows {
		row := make([]any, len(t.Columns))
		for i, v := range r {
			col := t.Columns[idx[i]]
			cv, err := x.convert(v, q.cols[i].typ, col.Type)
			if err != nil {
				// Point at the value, when it is written in VALUES.
				if pe, ok := err.(*pgerr.Error); ok && k < len(sel.GetValuesLists()) {
					if items := sel.GetValuesLists()[k].GetList().GetItems(); i < len(items) {
						located(pe, items[i])
					}
				}
				return 0, err
			}
			row[idx[i]] = cv
		}
		t.Rows = append(t.Rows, row)
		t.Bytes += rowsSize(t.Rows[len(t.Rows)-1:])
	}
	return int64(len(rows)), nil
}

func (t *TempTable) relation() *relation {
	return &relation{schema: tempNamespace, name: t.Name, kind: 'r', cols: t.Columns, rows: t.Rows}
}

// Load appends to t the rows next yields — values in text form, nil for
// NULL, as a warehouse's result is sent — each read by its column's input
// function; idx names the target column of each value (all, in order,
// when nil). It streams: next is asked for a row at a time, each charged
// to the statement's budget (rows, memory, time) and to the session's
// temporary tables (tempHeld bytes already), so a result too large fails
// with 54000 or 53200 instead of growing the process. It returns the rows
// appended; on an error t is left as it was.
func (c *Catalog) Load(ctx context.Context, s Session, t *TempTable, idx []int, tempHeld int64, next func() ([]*string, error)) (int64, error) {
	if idx == nil {
		for i := range t.Columns {
			idx = append(idx, i)
		}
	}
	x := newExecutor(ctx, c, s, &pg_query.SelectStmt{})
	defer x.b.done()
	start, bytes := len(t.Rows), t.Bytes
	undo := func(err error) (int64, error) {
		t.Rows, t.Bytes = t.Rows[:start], bytes
		return 0, err
	}
	for {
		vals, err := next()
		if err != nil {
			return undo(err)
		}
		if vals == nil {
			return int64(len(t.Rows) - start), nil
		}
		if err := x.b.row(1, len(t.Columns)); err != nil {
			return undo(err)
		}
		row := make([]any, len(t.Columns))
		for i, v := range vals {
			if v == nil || i >= len(idx) {
				continue
			}
			cv, err := x.convert(*v, tText, t.Columns[idx[i]].Type)
			if err != nil {
				return undo(err)
			}
			row[idx[i]] = cv
		}
		t.Rows = append(t.Rows, row)
		t.Bytes += rowsSize(t.Rows[len(t.Rows)-1:])
		if err := x.b.lim.CheckTemp(tempHeld, t.Bytes); err != nil {
			return undo(err)
		}
	}
}
