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
	if classify(sel, s.h.Model(), s.temps) == readsCubes {
		return nil, unsupported(n, "filling a temporary table from cubes is not supported yet").
			WithHint("select from the cube directly")
	}
	plain := proto.Clone(sel).(*pg_query.SelectStmt)
	plain.IntoClause = nil
	t, err := s.catalog().SelectInto(ctx, plain, s.catalogSession(), into.GetRel().GetRelname())
	if err != nil {
		return nil, err
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
	if classify(sel, s.h.Model(), s.temps) == readsCubes {
		return nil, unsupported(n, "filling a temporary table from cubes is not supported yet")
	}
	work := &catalog.TempTable{Name: t.Name, Columns: t.Columns}
	added, err := s.catalog().Insert(ctx, sel, s.catalogSession(), work, cols)
	if err != nil {
		return nil, err
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
