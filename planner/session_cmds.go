package planner

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// vars are a session's settings.
type vars struct {
	m map[string]string
}

// reportedVars are sent as ParameterStatus, as PostgreSQL 15 does.
var reportedVars = []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
	"in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding", "server_version",
	"session_authorization", "standard_conforming_strings", "TimeZone"}

func newVars(info pgwire.SessionInfo) *vars {
	v := &vars{m: map[string]string{
		"application_name":              info.Params["application_name"],
		"client_encoding":               "UTF8",
		"datestyle":                     "ISO, MDY",
		"default_transaction_read_only": "off",
		"in_hot_standby":                "off",
		"integer_datetimes":             "on",
		"intervalstyle":                 "postgres",
		"is_superuser":                  "off",
		"server_encoding":               "UTF8",
		"server_version":                ServerVersion,
		"server_version_num":            ServerVersionNum,
		"session_authorization":         info.User,
		"standard_conforming_strings":   "on",
		"timezone":                      "UTC",
		"search_path":                   `"$user", public`,
		"extra_float_digits":            "1",
		"statement_timeout":             "0",
		"transaction_isolation":         "read committed",
		"max_identifier_length":         "63",
	}}
	return v
}

func (v *vars) reported() [][2]string {
	out := make([][2]string, 0, len(reportedVars))
	for _, name := range reportedVars {
		out = append(out, [2]string{name, v.m[strings.ToLower(name)]})
	}
	return out
}

func (s *Session) planSet(n *pg_query.VariableSetStmt) (pgwire.Portal, error) {
	name := strings.ToLower(n.GetName())
	switch n.GetKind() {
	case pg_query.VariableSetKind_VAR_SET_VALUE:
		vals := make([]string, 0, len(n.GetArgs()))
		for _, a := range n.GetArgs() {
			c, ok := s.params.constOf(a)
			if !ok {
				return nil, pgerr.New(pgerrcode.FeatureNotSupported, "SET %s: only constant values are supported", name)
			}
			vals = append(vals, c.text)
		}
		if name == "client_encoding" && !strings.EqualFold(strings.ReplaceAll(strings.Join(vals, ""), "-", ""), "utf8") {
			return nil, pgerr.New(pgerrcode.FeatureNotSupported, "client_encoding %q is not supported", strings.Join(vals, "")).
				WithHint("cubegate speaks UTF8 only")
		}
		value := strings.Join(vals, ", ")
		return &staticPortal{tag: "SET", exec: func() { s.vars.m[name] = value }}, nil
	case pg_query.VariableSetKind_VAR_SET_DEFAULT, pg_query.VariableSetKind_VAR_RESET:
		return &staticPortal{tag: tagOf(n), exec: func() { s.vars.m[name] = newVars(s.info).m[name] }}, nil
	case pg_query.VariableSetKind_VAR_RESET_ALL:
		return &staticPortal{tag: "RESET", exec: func() { s.vars = newVars(s.info) }}, nil
	}
	// SET TRANSACTION … and friends change nothing a read-only gateway
	// does differently.
	return &staticPortal{tag: "SET"}, nil
}

func (s *Session) planShow(n *pg_query.VariableShowStmt) (pgwire.Portal, error) {
	name := strings.ToLower(n.GetName())
	if name == "all" {
		names := make([]string, 0, len(s.vars.m))
		for k := range s.vars.m {
			names = append(names, k)
		}
		sort.Strings(names)
		rows := make([][]any, len(names))
		for i, k := range names {
			rows[i] = []any{k, s.vars.m[k], ""}
		}
		return &staticPortal{tag: "SHOW", cols: []pgwire.Column{textCol("name"), textCol("setting"), textCol("description")}, rows: rows}, nil
	}
	if name == "time zone" {
		name = "timezone"
	}
	v, ok := s.vars.m[name]
	if !ok {
		return nil, pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", n.GetName())
	}
	return &staticPortal{tag: "SHOW", cols: []pgwire.Column{textCol(n.GetName())}, rows: [][]any{{v}}}, nil
}

func tagOf(n *pg_query.VariableSetStmt) string {
	if n.GetKind() == pg_query.VariableSetKind_VAR_RESET {
		return "RESET"
	}
	return "SET"
}

// planTransaction tracks the transaction block, for ReadyForQuery and for
// the failed state (25P02). A read-only gateway has nothing to commit.
func (s *Session) planTransaction(n *pg_query.TransactionStmt) (pgwire.Portal, error) {
	inBlock := s.tx != 0
	switch n.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		return &staticPortal{tag: "BEGIN", exec: func() {
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
}
