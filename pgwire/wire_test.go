package pgwire_test

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/pgwire/wiretest"
)

// The wire scripts of the wire layer alone (testdata/*.test, format in
// pgwire/wiretest): the simple and extended protocols, portals, errors
// and transaction states, against scriptSession — a session that knows a
// handful of statements and answers them as PostgreSQL does — with no
// planner and no warehouse. go test ./pgwire -rewrite records what the
// server sends as the expected messages; review the diff.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected messages of testdata/*.test")

func TestWireScripts(t *testing.T) {
	scripts, _ := filepath.Glob("testdata/*.test")
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata")
	}
	conn := serveTest(t, scriptHandler{})
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			blocks, only := wiretest.Parse(t, path)
			outs := wiretest.Run(t, blocks, conn)
			if *rewrite {
				wiretest.Write(t, path, blocks, only, outs)
				blocks, _ = wiretest.Parse(t, path)
			}
			wiretest.Check(t, "pgwire", blocks, outs)
		})
	}
}

type scriptHandler struct{}

func (scriptHandler) NewSession(context.Context, pgwire.SessionInfo) (pgwire.Session, error) {
	return &scriptSession{tx: 'I'}, nil
}

// scriptSession knows: SELECT generate_series(1, N) AS n; SELECT 1/0
// (22012); SELECT $1::int4 AS n (extended protocol); BEGIN, COMMIT and
// ROLLBACK. Anything else is a syntax error at its first word.
type scriptSession struct{ tx byte }

var series = regexp.MustCompile(`(?i)^select generate_series\(1, (\d+)\) as n$`)

func (s *scriptSession) Parse(_ context.Context, sql string) ([]pgwire.Statement, error) {
	var out []pgwire.Statement
	for _, part := range strings.Split(sql, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		st := &scriptStmt{s: s, sql: part}
		if err := st.check(); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *scriptSession) Prepare(_ context.Context, sql string, oids []uint32) (pgwire.PreparedStatement, error) {
	st := &scriptStmt{s: s, sql: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sql), ";"))}
	if err := st.check(); err != nil {
		return nil, err
	}
	if strings.EqualFold(st.sql, "SELECT $1::int4 AS n") {
		st.params = []uint32{23}
	}
	return st, nil
}

func (s *scriptSession) TxStatus() byte { return s.tx }
func (s *scriptSession) StatementFailed() {
	if s.tx == 'T' {
		s.tx = 'E'
	}
}
func (s *scriptSession) Close() error { return nil }

type scriptStmt struct {
	s      *scriptSession
	sql    string
	params []uint32
}

var int4Col = []pgwire.Column{{Name: "n", TypeOID: 23, TypeSize: 4, TypeMod: -1}}

func (st *scriptStmt) check() error {
	switch strings.ToUpper(st.sql) {
	case "BEGIN", "COMMIT", "ROLLBACK", "SELECT 1/0", "SELECT $1::INT4 AS N":
		return nil
	}
	if series.MatchString(st.sql) {
		return nil
	}
	word, _, _ := strings.Cut(st.sql, " ")
	return pgerr.New(pgerrcode.SyntaxError, "syntax error at or near %q", word).At(1)
}

func (st *scriptStmt) ParamOIDs() []uint32 { return st.params }

func (st *scriptStmt) Columns() []pgwire.Column {
	if series.MatchString(st.sql) || len(st.params) > 0 {
		return int4Col
	}
	if strings.EqualFold(st.sql, "SELECT 1/0") {
		return []pgwire.Column{{Name: "?column?", TypeOID: 23, TypeSize: 4, TypeMod: -1}}
	}
	return nil
}

func (st *scriptStmt) Bind(ctx context.Context) (pgwire.Portal, error) {
	return st.BindParams(ctx, nil)
}

func (st *scriptStmt) BindParams(_ context.Context, values []*string) (pgwire.Portal, error) {
	s := st.s
	upper := strings.ToUpper(st.sql)
	if s.tx == 'E' && upper != "COMMIT" && upper != "ROLLBACK" {
		return nil, pgerr.New(pgerrcode.InFailedSQLTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	switch upper {
	case "BEGIN":
		s.tx = 'T'
		return &scriptPortal{tag: "BEGIN"}, nil
	case "COMMIT":
		tag := "COMMIT"
		if s.tx == 'E' {
			tag = "ROLLBACK"
		}
		s.tx = 'I'
		return &scriptPortal{tag: tag}, nil
	case "ROLLBACK":
		s.tx = 'I'
		return &scriptPortal{tag: "ROLLBACK"}, nil
	case "SELECT 1/0":
		return &scriptPortal{tag: "SELECT", cols: st.Columns(), err: pgerr.New(pgerrcode.DivisionByZero, "division by zero")}, nil
	case "SELECT $1::INT4 AS N":
		var rows [][]any
		if len(values) == 1 {
			var v any
			if values[0] != nil {
				n, err := strconv.ParseInt(*values[0], 10, 32)
				if err != nil {
					return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type integer: %q", *values[0])
				}
				v = n
			}
			rows = append(rows, []any{v})
		}
		return &scriptPortal{tag: "SELECT", cols: int4Col, rows: rows}, nil
	}
	n, _ := strconv.Atoi(series.FindStringSubmatch(st.sql)[1])
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1)}
	}
	return &scriptPortal{tag: "SELECT", cols: int4Col, rows: rows}, nil
}

type scriptPortal struct {
	tag  string
	cols []pgwire.Column
	rows [][]any
	err  error // returned instead of the first row
	next int
}

func (p *scriptPortal) Columns() []pgwire.Column { return p.cols }

func (p *scriptPortal) Next(context.Context) ([]any, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.next >= len(p.rows) {
		return nil, io.EOF
	}
	p.next++
	return p.rows[p.next-1], nil
}

func (p *scriptPortal) Tag(n int64) string {
	if p.tag == "SELECT" {
		return "SELECT " + strconv.FormatInt(n, 10)
	}
	return p.tag
}

func (p *scriptPortal) Close() error { return nil }
