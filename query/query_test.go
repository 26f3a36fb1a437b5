package query

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/warehouse"
)

// The query service over real parts: an embedded DuckDB, the limiter and
// the audit log on a SQLite state store.

const model = `cubes:
  - name: orders
    sql_table: main.orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
`

type fixture struct {
	svc    *Service
	audit  *auth.Audit
	wh     *warehouse.DuckDB
	m      *cubes.Model
	events []Event
}

func newFixture(t *testing.T, maxRunning int) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.yml"), []byte(model), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	if _, err := wh.DB().Exec(`CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'paid'), (2, 'paid'), (3, 'open')) t(id, status)`); err != nil {
		t.Fatal(err)
	}
	store, err := auth.OpenStore(ctx, "sqlite://"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	audit := auth.NewAudit(store)
	t.Cleanup(audit.Close)
	f := &fixture{audit: audit, wh: wh, m: m}
	f.svc = &Service{Limits: auth.NewLimiter(0, 0, maxRunning), Audit: audit, Observe: func(e Event) { f.events = append(f.events, e) }}
	return f
}

func (f *fixture) audited(t *testing.T) []auth.AuditEvent {
	t.Helper()
	f.audit.Sync()
	events, err := f.audit.Recent(context.Background(), "acme", "query", 100)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// A query goes principal → policy → compile → admission → execute →
// audit: the row filters of the principal's security context are in the
// SQL, its rows stream, and closing records them with who asked.
func TestServiceRunsAndRecords(t *testing.T) {
	f := newFixture(t, 1)
	p := Principal{TenantID: "acme", APIKeyID: "k1", Address: "192.0.2.1",
		Security: auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "equals", Values: []string{"paid"}}}}}
	q := &cubes.Query{Measures: []string{"orders.count"}}
	c, err := f.svc.Compile(p, f.m, cubes.DuckDB{}, q, cubes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.Admit(p)
	if err != nil {
		t.Fatal(err)
	}
	res := f.svc.Run(a, f.wh, Statement{API: "rest", Kind: "cube", Action: "rest", Text: `{"measures":["orders.count"]}`, SQL: c.SQL, Args: c.Args})
	row, err := res.Next(context.Background())
	if err != nil || len(row) != 1 || row[0] != int64(2) {
		t.Fatalf("row %v, %v: the row filter keeps the two paid orders", row, err)
	}
	if _, err := res.Next(context.Background()); err != io.EOF {
		t.Fatalf("after the last row: %v", err)
	}
	// One running query at most: the admission holds the slot.
	if _, err := f.svc.Admit(p); !isBusy(err) {
		t.Fatalf("a second admission while one runs: %v", err)
	}
	res.Close(nil)
	res.Close(nil) // harmless
	a.Release()
	a.Release()
	if b, err := f.svc.Admit(p); err != nil {
		t.Fatalf("after release: %v", err)
	} else {
		b.Release()
	}
	ev := f.audited(t)
	if len(ev) != 1 || ev[0].Outcome != "ok" || ev[0].Rows != 1 || ev[0].APIKeyID != "k1" || ev[0].Address != "192.0.2.1" ||
		ev[0].Action != "rest" || ev[0].WarehouseSQL != c.SQL || ev[0].Statement != `{"measures":["orders.count"]}` {
		t.Fatalf("audited %+v", ev)
	}
	if len(f.events) != 1 || f.events[0] != (Event{API: "rest", Kind: "cube", Outcome: "ok", Rows: 1, Took: f.events[0].Took, Wait: f.events[0].Wait, Served: "warehouse"}) {
		t.Fatalf("observed %+v", f.events)
	}
}

func isBusy(err error) bool {
	var le *auth.LimitError
	return errors.As(err, &le) && le.Busy
}

// A member the security context hides is refused by the compiler (42501)
// whichever API asks.
func TestServiceCompileUnderPolicy(t *testing.T) {
	f := newFixture(t, 0)
	p := Principal{Security: auth.SecurityContext{Allow: []string{"orders.count"}}}
	_, err := f.svc.Compile(p, f.m, cubes.DuckDB{}, &cubes.Query{Dimensions: []string{"orders.status"}}, cubes.Options{})
	var pe *pgerr.Error
	if !errors.As(err, &pe) || pe.Code != pgerrcode.InsufficientPrivilege {
		t.Fatalf("a hidden member: %v", err)
	}
	if _, err := f.svc.Compile(p, f.m, cubes.DuckDB{}, &cubes.Query{Measures: []string{"orders.count"}}, cubes.Options{}); err != nil {
		t.Fatalf("an allowed member: %v", err)
	}
	if p.Tenant() != auth.DefaultTenant {
		t.Fatalf("tenant %q", p.Tenant())
	}
}

// A query the warehouse refuses, or one failing on the client's side, is
// recorded as an error; a catalog query is recorded without a warehouse.
func TestServiceRecordsErrors(t *testing.T) {
	f := newFixture(t, 0)
	p := Principal{TenantID: "acme", CredentialID: "c1", Username: "cg_x"}
	a, _ := f.svc.Admit(p)
	defer a.Release()
	res := f.svc.Run(a, f.wh, Statement{API: "sql", Kind: "pushdown", Action: "sql", SQL: "SELECT * FROM nowhere"})
	if err := res.Start(context.Background()); err == nil {
		t.Fatal("a missing table ran")
	}
	res.Close(nil)
	res = f.svc.Run(a, f.wh, Statement{API: "sql", Kind: "pushdown", Action: "sql", SQL: "SELECT 1"})
	if _, err := res.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	res.Close(errors.New("the client went away"))
	f.svc.Record(p, Statement{API: "sql", Kind: "catalog", Action: "catalog", Normalize: func() (string, string) { return "SELECT $1", "fp" }}, time.Now(), 7, nil)
	ev := f.audited(t)
	var got []string
	for i := len(ev) - 1; i >= 0; i-- {
		e := ev[i]
		if e.CredentialID != "c1" || e.Username != "cg_x" {
			t.Errorf("principal lost: %+v", e)
		}
		got = append(got, e.Action+":"+e.Outcome+":"+e.Statement+":"+e.Error)
	}
	want := []string{"sql:error::", "sql:error::the client went away", "catalog:ok:SELECT $1:"}
	if len(got) != 3 || !strings.HasPrefix(got[0], want[0]) || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("audited %q, want %q (the first with the warehouse's error)", got, want)
	}
	if f.events[2].Kind != "catalog" || f.events[2].Rows != 7 || f.events[2].Wait != 0 {
		t.Fatalf("observed %+v", f.events)
	}
}
