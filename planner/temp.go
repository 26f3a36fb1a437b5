package planner

import (
	"context"
	"fmt"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"io"
)

// Temporary tables: Tableau creates them to probe a connection and to
// hold filter values (CREATE LOCAL TEMPORARY TABLE … ON COMMIT PRESERVE
// ROWS, INSERT … VALUES, SELECT … INTO TEMP, DROP TABLE). They live in the
// session and are read by the catalog engine. Everything else that would
// write is refused: the model is read-only.

func readOnlyModel(n *pg_query.Node) error {
	cmd := statementName(n)
	switch {
	case n.GetCreateStmt() != nil, n.GetCreateTableAsStmt() != nil:
		cmd = "CREATE TABLE"
	case n.GetDropStmt() != nil:
		cmd = "DROP TABLE"
	case n.GetAlterTableStmt() != nil:
		cmd = "ALTER TABLE"
	}
	return pgerr.New(pgerrcode.ReadOnlySQLTransaction, "cannot execute %s in a read-only transaction", cmd).
		WithHint("cubegate serves a read-only semantic model; only temporary tables can be created, filled and dropped")
}

func isTemp(rv *pg_query.RangeVar) bool { return rv.GetRelpersistence() == "t" }

func (s *Session) tempTable(name string) *catalog.TempTable { return s.temps[name] }

// tempBytes is what the session's temporary tables hold.
func (s *Session) tempBytes() int64 {
	n := int64(0)
	for _, t := range s.temps {
		n += t.Bytes
	}
	return n
}

func (s *Session) addTemp(n *pg_query.Node, t *catalog.TempTable, ifNotExists bool) (pgwire.Portal, error) {
	if _, exists := s.temps[t.Name]; exists || isCube(s.h.Model(), t.Name) {
		if ifNotExists {
			return &staticPortal{tag: "CREATE TABLE"}, nil
		}
		return nil, pgerr.New(pgerrcode.DuplicateTable, "relation %q already exists", t.Name)
	}
	return &staticPortal{tag: "CREATE TABLE", exec: func() { s.temps[t.Name] = t; s.tempGen++ }}, nil
}

func (s *Session) planCreate(n *pg_query.Node) (pgwire.Portal, error) {
	cs := n.GetCreateStmt()
	if !isTemp(cs.GetRelation()) {
		return nil, readOnlyModel(n)
	}
	t := &catalog.TempTable{Name: cs.GetRelation().GetRelname()}
	for _, e := range cs.GetTableElts() {
		cd := e.GetColumnDef()
		if cd == nil {
			continue // constraints: nothing to enforce on a scratch table
		}
		oid, mod, err := catalog.ResolveType(cd.GetTypeName())
		if err != nil {
			return nil, err
		}
		t.Columns = append(t.Columns, catalog.Column{Name: cd.GetColname(), Type: oid, Mod: mod})
	}
	// An empty table costs its definition: a session cannot create
	// tables without end either.
	t.Bytes = 1024 + 64*int64(len(t.Columns))
	if err := s.h.opts.Evaluator.CheckTemp(s.tempBytes(), t.Bytes); err != nil {
		return nil, err
	}
	return s.addTemp(n, t, cs.GetIfNotExists())
}

// planSelectInto runs SELECT … INTO TEMP t and CREATE TEMP TABLE t AS ….
func (s *Session) planSelectInto(ctx context.Context, n *pg_query.Node, sel *pg_query.SelectStmt, into *pg_query.IntoClause, ifNotExists bool) (pgwire.Portal, error) {
	if !isTemp(into.GetRel()) {
		return nil, readOnlyModel(n)
	}
	plain := proto.Clone(sel).(*pg_query.SelectStmt)
	plain.IntoClause = nil
	var t *catalog.TempTable
	if classify(sel, s.h.Model(), s.temps) == readsCubes {
		// Tableau's extract: the cube query (or push-down) runs in the
		// warehouse and its rows stream into the table.
		var err error
		if t, err = s.extract(ctx, plain, into.GetRel().GetRelname()); err != nil {
			return nil, err
		}
	} else {
		var err error
		if t, err = s.catalog().SelectInto(ctx, plain, s.catalogSession(), into.GetRel().GetRelname()); err != nil {
			return nil, err
		}
	}
	for i, c := range into.GetColNames() {
		if i < len(t.Columns) {
			t.Columns[i].Name = c.GetString_().GetSval()
		}
	}
	if err := s.h.opts.Evaluator.CheckTemp(s.tempBytes(), t.Bytes); err != nil {
		return nil, err
	}
	p, err := s.addTemp(n, t, ifNotExists)
	if err != nil {
		return nil, err
	}
	sp := p.(*staticPortal)
	sp.tag = fmt.Sprintf("SELECT %d", len(t.Rows))
	return sp, nil
}

func (s *Session) planInsert(ctx context.Context, n *pg_query.Node) (pgwire.Portal, error) {
	ins := n.GetInsertStmt()
	t := s.temps[ins.GetRelation().GetRelname()]
	if t == nil || (ins.GetRelation().GetSchemaname() != "" && ins.GetRelation().GetSchemaname() != "pg_temp") {
		if t == nil && !isCube(s.h.Model(), ins.GetRelation().GetRelname()) {
			return nil, pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", ins.GetRelation().GetRelname())
		}
		return nil, readOnlyModel(n)
	}
	if len(ins.GetReturningList()) > 0 || ins.GetOnConflictClause() != nil {
		return nil, unsupported(n, "INSERT … RETURNING and ON CONFLICT are not supported on temporary tables")
	}
	var cols []*pg_query.ResTarget
	for _, c := range ins.GetCols() {
		cols = append(cols, c.GetResTarget())
	}
	sel := ins.GetSelectStmt().GetSelectStmt()
	if sel == nil {
		return nil, unsupported(n, "INSERT … DEFAULT VALUES is not supported")
	}
	work := &catalog.TempTable{Name: t.Name, Columns: t.Columns}
	var added int64
	if classify(sel, s.h.Model(), s.temps) == readsCubes {
		idx, err := work.Targets(cols)
		if err != nil {
			return nil, err
		}
		if added, err = s.extractInto(ctx, sel, work, idx); err != nil {
			return nil, err
		}
	} else {
		var err error
		if added, err = s.catalog().Insert(ctx, sel, s.catalogSession(), work, cols); err != nil {
			return nil, err
		}
	}
	if err := s.h.opts.Evaluator.CheckTemp(s.tempBytes(), work.Bytes); err != nil {
		return nil, err
	}
	return &staticPortal{tag: fmt.Sprintf("INSERT 0 %d", added), exec: func() {
		t.Rows = append(t.Rows, work.Rows...)
		t.Bytes += work.Bytes
	}}, nil
}

func (s *Session) planDrop(n *pg_query.Node) (pgwire.Portal, error) {
	d := n.GetDropStmt()
	if d.GetRemoveType() != pg_query.ObjectType_OBJECT_TABLE {
		return nil, readOnlyModel(n)
	}
	var names []string
	for _, o := range d.GetObjects() {
		items := o.GetList().GetItems()
		name := items[len(items)-1].GetString_().GetSval()
		if len(items) > 1 {
			if schema := items[len(items)-2].GetString_().GetSval(); schema != "pg_temp" {
				return nil, readOnlyModel(n)
			}
		}
		if s.temps[name] == nil {
			if isCube(s.h.Model(), name) {
				return nil, readOnlyModel(n)
			}
			if !d.GetMissingOk() {
				return nil, pgerr.New(pgerrcode.UndefinedTable, "table %q does not exist", name)
			}
			continue
		}
		names = append(names, name)
	}
	return &staticPortal{tag: "DROP TABLE", exec: func() {
		for _, name := range names {
			delete(s.temps, name)
			s.tempGen++
		}
	}}, nil
}

// extract runs a SELECT over cubes in the warehouse and returns its rows
// as a new temporary table named name (CREATE TEMP TABLE … AS, SELECT …
// INTO: Tableau's extract).
func (s *Session) extract(ctx context.Context, sel *pg_query.SelectStmt, name string) (*catalog.TempTable, error) {
	t := &catalog.TempTable{Name: name}
	if _, err := s.extractInto(ctx, sel, t, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// extractInto runs sel in the warehouse, as any SELECT over cubes runs
// (route, admission, audit), and streams its rows into t's columns idx
// (all when nil); a table without columns takes sel's. Rows are read one
// at a time under the evaluator's row, memory and time budgets and the
// session's temporary-table memory (limits.statement_rows,
// statement_memory, temp_memory): an extract too large fails with 54000
// or 53200, nothing is cut silently.
func (s *Session) extractInto(ctx context.Context, sel *pg_query.SelectStmt, t *catalog.TempTable, idx []int) (int64, error) {
	p, err := s.routeSelect(ctx, sel)
	if err != nil {
		return 0, err
	}
	portal, err := p.node.open(ctx, s)
	if err != nil {
		return 0, err
	}
	defer portal.Close()
	cols := portal.Columns()
	if t.Columns == nil {
		for _, c := range cols {
			t.Columns = append(t.Columns, catalog.Column{Name: c.Name, Type: c.TypeOID, Mod: c.TypeMod})
		}
	} else if len(cols) > len(idx) {
		return 0, pgerr.New(pgerrcode.SyntaxError, "INSERT has more expressions than target columns")
	}
	texts := make([]*string, len(cols))
	var buf []byte
	return s.catalog().Load(ctx, s.catalogSession(), t, idx, s.tempBytes(), func() ([]*string, error) {
		row, err := portal.Next(ctx)
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for i, v := range row {
			if v == nil {
				texts[i] = nil
				continue
			}
			buf, err = pgwire.AppendText(buf[:0], cols[i].TypeOID, v)
			if err != nil {
				return nil, err
			}
			text := string(buf)
			texts[i] = &text
		}
		return texts, nil
	})
}
