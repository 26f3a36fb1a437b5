package catalog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// benchSession is a session with fixed settings and no parameters.
type benchSession struct{}

func (benchSession) User() string                       { return "analyst" }
func (benchSession) Database() string                   { return "db" }
func (benchSession) Version() string                    { return "PostgreSQL 15.0 (cubegate)" }
func (benchSession) BackendPID() int64                  { return 42 }
func (benchSession) Setting(name string) (string, bool) { return "", false }
func (benchSession) SetConfig(string, string, bool) error {
	return nil
}
func (benchSession) ParamType(int) uint32 { return 0 }
func (benchSession) Param(int) (*string, uint32, error) {
	return nil, 0, fmt.Errorf("no parameters")
}
func (benchSession) InferParam(int, uint32)      {}
func (benchSession) TempTable(string) *TempTable { return nil }
func (benchSession) AuditLog() ([][]any, error)  { return nil, nil }

// benchTables is a model of the size BI tools meet: 20 cubes of 30 columns.
func benchTables() []Table {
	var out []Table
	for i := range 20 {
		t := Table{Name: fmt.Sprintf("cube_%02d", i), Description: "a cube"}
		for j := range 30 {
			typ := []uint32{tInt8, tNumeric, tText, tTimestamp, tBool}[j%5]
			t.Columns = append(t.Columns, TableColumn{Name: fmt.Sprintf("member_%02d", j), Type: typ, NotNull: j == 0})
		}
		out = append(out, t)
	}
	return out
}

// captured reads a client's captured statements that are SELECTs over
// the catalog without parameters.
func captured(tb testing.TB, client string) []*pg_query.SelectStmt {
	f, err := os.Open(filepath.Join("..", "testdata", "corpus", "clients", client+".statements.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var stmts []*pg_query.SelectStmt
	var cur strings.Builder
	flush := func() {
		sql := cur.String()
		cur.Reset()
		if strings.Contains(sql, "$1") || !strings.Contains(sql, "pg_") {
			return
		}
		tree, err := pg_query.Parse(sql)
		if err != nil || len(tree.GetStmts()) != 1 {
			return
		}
		if sel := tree.GetStmts()[0].GetStmt().GetSelectStmt(); sel != nil && sel.GetIntoClause() == nil {
			stmts = append(stmts, sel)
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "-- [") {
			flush()
			continue
		}
		cur.WriteString(sc.Text() + "\n")
	}
	flush()
	return stmts
}

// BenchmarkCatalogConnect answers, per iteration, every catalog query a
// client sent while connecting and introspecting (one "connect").
func BenchmarkCatalogConnect(b *testing.B) {
	cat := New(benchTables())
	for _, client := range []string{"psql", "jdbc", "npgsql", "odbc", "sqlalchemy", "pgcli"} {
		stmts := captured(b, client)
		var ok []*pg_query.SelectStmt
		for _, s := range stmts {
			if _, err := cat.Query(context.Background(), s, benchSession{}); err == nil {
				ok = append(ok, s)
			}
		}
		b.Run(fmt.Sprintf("%s-%dqueries", client, len(ok)), func(b *testing.B) {
			for b.Loop() {
				for _, s := range ok {
					if _, err := cat.Query(context.Background(), s, benchSession{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestCatalogConcurrent runs every captured query from many goroutines
// on one catalog (go test -race checks the sharing).
func TestCatalogConcurrent(t *testing.T) {
	cat := New(benchTables())
	var stmts []*pg_query.SelectStmt
	for _, client := range []string{"psql", "jdbc", "npgsql", "sqlalchemy"} {
		stmts = append(stmts, captured(t, client)...)
	}
	want := make([]string, len(stmts))
	for i, s := range stmts {
		res, err := cat.Query(context.Background(), s, benchSession{})
		want[i] = fmt.Sprint(res, err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range stmts {
				k := (i + g) % len(stmts)
				res, err := cat.Query(context.Background(), stmts[k], benchSession{})
				if got := fmt.Sprint(res, err); got != want[k] {
					t.Errorf("statement %d answered differently under concurrency", k)
				}
			}
		}()
	}
	wg.Wait()
	if len(stmts) < 40 {
		t.Fatalf("only %d captured catalog statements", len(stmts))
	}
}
