package planner

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func (s *Session) planSet(n *pg_query.VariableSetStmt) (pgwire.Portal, error) {
	name := n.GetName()
	switch n.GetKind() {
	case pg_query.VariableSetKind_VAR_SET_VALUE:
		vals := make([]string, 0, len(n.GetArgs()))
		for _, a := range n.GetArgs() {
			c, ok := s.params.constOf(a)
			if !ok {
				if strings.EqualFold(name, "timezone") && a.GetTypeCast() != nil {
					return nil, unsupported(a, "SET TIME ZONE INTERVAL is not supported").WithHint("use a time zone name")
				}
				return nil, unsupported(a, "SET %s: only constant values are supported", name)
			}
			vals = append(vals, c.text)
		}
		value := strings.Join(vals, ", ")
		if _, ok := lookupVar(name); !ok {
			return nil, pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
		}
		if d, _ := lookupVar(name); d != nil {
			if _, err := d.check(value); err != nil {
				return nil, err
			}
		}
		local := n.GetIsLocal()
		return &staticPortal{tag: "SET", exec: func() {
			// SET LOCAL outside a transaction block only warns in
			// Postgres, and changes nothing.
			if local && s.tx == 0 {
				return
			}
			_ = s.vars.set(name, value, local)
		}}, nil
	case pg_query.VariableSetKind_VAR_SET_DEFAULT, pg_query.VariableSetKind_VAR_RESET:
		if _, ok := lookupVar(name); !ok {
			return nil, pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
		}
		tag := "SET"
		if n.GetKind() == pg_query.VariableSetKind_VAR_RESET {
			tag = "RESET"
		}
		return &staticPortal{tag: tag, exec: func() { _ = s.vars.reset(name) }}, nil
	case pg_query.VariableSetKind_VAR_RESET_ALL:
		return &staticPortal{tag: "RESET", exec: s.vars.resetAll}, nil
	}
	// SET SESSION CHARACTERISTICS AS TRANSACTION …, SET TRANSACTION …:
	// a read-only gateway runs every transaction alike.
	return &staticPortal{tag: "SET"}, nil
}

// ParameterChanges implements pgwire.ParameterReporter: the reported
// settings a statement changed, for ParameterStatus.
func (s *Session) ParameterChanges() [][2]string { return s.vars.takeChanges() }

func (s *Session) planShow(n *pg_query.VariableShowStmt) (pgwire.Portal, error) {
	name := n.GetName()
	if strings.EqualFold(name, "all") {
		return &staticPortal{tag: "SHOW", cols: []pgwire.Column{textCol("name"), textCol("setting"), textCol("description")}, rows: s.vars.all()}, nil
	}
	if strings.EqualFold(name, "time zone") {
		name = "timezone"
	}
	if strings.EqualFold(name, "transaction isolation level") {
		name = "transaction_isolation"
	}
	canon, v, err := s.vars.show(name)
	if err != nil {
		return nil, err
	}
	return &staticPortal{tag: "SHOW", cols: []pgwire.Column{textCol(canon)}, rows: [][]any{{v}}}, nil
}

// planTransaction tracks the transaction block, for ReadyForQuery and for
// the failed state (25P02). A read-only gateway has nothing to commit.
func (s *Session) planTransaction(n *pg_query.TransactionStmt) (pgwire.Portal, error) {
	inBlock := s.tx != 0
	switch n.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		tag := "BEGIN"
		if n.GetKind() == pg_query.TransactionStmtKind_TRANS_STMT_START {
			tag = "START TRANSACTION"
		}
		return &staticPortal{tag: tag, exec: func() {
			if s.tx == 0 {
				s.tx = 'T'
			}
		}}, nil
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		tag := "COMMIT"
		if s.tx == 'E' {
			tag = "ROLLBACK" // as Postgres answers COMMIT of a failed block
		}
		return &staticPortal{tag: tag, exec: s.endTransaction}, nil
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return &staticPortal{tag: "ROLLBACK", exec: s.endTransaction}, nil
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg_query.TransactionStmtKind_TRANS_STMT_RELEASE,
		pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		if !inBlock {
			return nil, pgerr.New(pgerrcode.NoActiveSQLTransaction, "%s can only be used in transaction blocks",
				map[pg_query.TransactionStmtKind]string{
					pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:   "SAVEPOINT",
					pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:     "RELEASE SAVEPOINT",
					pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO SAVEPOINT",
				}[n.GetKind()])
		}
		switch n.GetKind() {
		case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
			return &staticPortal{tag: "SAVEPOINT"}, nil
		case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
			return &staticPortal{tag: "RELEASE"}, nil
		}
		return &staticPortal{tag: "ROLLBACK", exec: func() { s.tx = 'T' }}, nil
	}
	return nil, pgerr.New(pgerrcode.FeatureNotSupported, "%s is not supported yet", statementName(&pg_query.Node{Node: &pg_query.Node_TransactionStmt{TransactionStmt: n}}))
}

// statementName names a statement's kind for messages ("CREATE TABLE").
func statementName(n *pg_query.Node) string {
	t := reflect.TypeOf(n.GetNode())
	if t == nil {
		return "this statement"
	}
	name := strings.TrimPrefix(t.Elem().Name(), "Node_")
	name = strings.TrimSuffix(name, "Stmt")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func textCol(name string) pgwire.Column {
	return pgwire.Column{Name: name, TypeOID: pgtype.TextOID, TypeSize: -1}
}

// staticPortal returns rows computed by cubegate itself. exec, if set,
// is the statement's effect: it runs when the portal is first executed,
// never when it is only planned or described.
type staticPortal struct {
	tag  string
	cols []pgwire.Column
	rows [][]any
	next int
	exec func()
	// onClose runs when the portal closes; ran tells whether exec ran.
	onClose func(ran bool)
}

func (p *staticPortal) Columns() []pgwire.Column { return p.cols }
func (p *staticPortal) Close() error {
	if p.onClose != nil {
		p.onClose(p.exec == nil)
		p.onClose = nil
	}
	return nil
}

func (p *staticPortal) Next(context.Context) ([]any, error) {
	if p.exec != nil {
		p.exec()
		p.exec = nil
	}
	if p.next >= len(p.rows) {
		return nil, io.EOF
	}
	p.next++
	return p.rows[p.next-1], nil
}

func (p *staticPortal) Tag(n int64) string {
	if p.tag == "SELECT" {
		return fmt.Sprintf("SELECT %d", n)
	}
	return p.tag
}

// endTransaction ends the block; cursors declared without WITH HOLD end
// with it.
func (s *Session) endTransaction() {
	s.tx = 0
	s.closeCursors(false)
	s.vars.endTransaction()
}
