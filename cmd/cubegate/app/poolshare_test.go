package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// TestWarehousePoolFairShare (issue #21): the PostgreSQL warehouse's pool
// has 4 connections; one credential opens 8 large results it never
// reads (a cursor per session, one row fetched). It holds 2 connections
// (limits.principal_connections' default: half the pool) and its other
// 6 statements wait for one of its own; a bystander credential's
// queries meanwhile answer within 5 s (generous: 2 slow cores shared
// with other tests; a few ms is usual). The hog's 9th statement waits
// and is canceled by its statement_timeout (57014) within a few
// seconds, as is, once a second credential has taken the rest of the
// pool, a third credential's statement waiting for a free connection.
func TestWarehousePoolFairShare(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 20000, Customers: 100, Products: 10}),
		Adjust: func(c *app.Config) { c.Warehouse.DSN += "&pool_max_conns=4" }})
	ctx := context.Background()
	pg, ok := g.Warehouse().(*warehouse.Postgres)
	if !ok {
		t.Fatalf("warehouse %T", g.Warehouse())
	}
	if s := pg.Shares(); s.Size != 4 || s.PerPrincipal != 2 {
		t.Fatalf("shares: %+v, want a pool of 4, 2 a principal", s)
	}
	mint := func(label string) (string, string) {
		c, _, connStr, err := g.MintCredential(ctx, label)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID, connStr
	}
	hogID, hog := mint("hog")
	_, bystander := mint("bystander")

	// The bystander's baseline.
	by := apptest.Connect(t, bystander)
	measure := func() (time.Duration, error) {
		start := time.Now()
		var n int64
		err := by.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n)
		if err == nil && n != 20000 {
			err = fmt.Errorf("count %d", n)
		}
		return time.Since(start), err
	}
	base, err := measure()
	if err != nil {
		t.Fatal(err)
	}

	// The hog: 8 sessions, each a cursor over every order, one row read.
	attack, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	opened := make(chan int, 8)
	for i := range 8 {
		conn := apptest.Connect(t, hog)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := conn.Exec(attack, `BEGIN`); err != nil {
				return
			}
			if _, err := conn.Exec(attack, fmt.Sprintf(`DECLARE c%d CURSOR FOR SELECT id, status, amount FROM orders`, i)); err != nil {
				return
			}
			if _, err := conn.Exec(attack, fmt.Sprintf(`FETCH 1 FROM c%d`, i)); err == nil {
				opened <- i
			}
		}()
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	for range 2 {
		select {
		case <-opened:
		case <-time.After(20 * time.Second):
			t.Fatal("the hog's first two cursors did not open")
		}
	}
	time.Sleep(500 * time.Millisecond) // the other six reach their wait
	if n := pg.Shares().Held(warehouse.Owner{Principal: hogID, Tenant: auth.DefaultTenant}); n != 2 {
		t.Fatalf("the hog holds %d connections, want its share of 2", n)
	}
	if len(opened) != 0 {
		t.Fatalf("a third cursor of the hog opened beyond its share")
	}

	// The bystander answers meanwhile.
	var worst time.Duration
	for range 5 {
		d, err := measure()
		if err != nil {
			t.Fatalf("the bystander during the attack: %v", err)
		}
		worst = max(worst, d)
	}
	t.Logf("bystander latency: %v before the attack, at worst %v during it (8 unread results of one credential, pool of 4)", base, worst)
	if worst > 5*time.Second {
		t.Errorf("the bystander took %v during the attack, want under 5s", worst)
	}

	// The hog's 9th statement waits for its share, until its
	// statement_timeout.
	timedOut := func(who, connStr string) {
		t.Helper()
		c := apptest.Connect(t, connStr)
		if _, err := c.Exec(ctx, `SET statement_timeout = '1s'`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := c.Exec(ctx, `SELECT id FROM orders LIMIT 1`)
		took := time.Since(start)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("%s's statement over its share: %v, want 57014", who, err)
		}
		t.Logf("%s's statement canceled by its statement_timeout after %v: %s", who, took, pe.Message)
		if took < 900*time.Millisecond || took > 6*time.Second {
			t.Errorf("%s's statement ended after %v, want about 1s", who, took)
		}
		// The session goes on.
		var one int
		if err := c.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
			t.Errorf("%s's session after 57014: %v", who, err)
		}
	}
	timedOut("the hog", hog)

	// A second credential takes the rest of the pool; a third waits for
	// a free connection no longer than its statement_timeout.
	_, other := mint("other")
	for i := range 2 {
		c := apptest.Connect(t, other)
		for _, q := range []string{`BEGIN`, fmt.Sprintf(`DECLARE d%d CURSOR FOR SELECT id FROM orders`, i), fmt.Sprintf(`FETCH 1 FROM d%d`, i)} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("the second credential's cursor: %s: %v", q, err)
			}
		}
	}
	if st := pg.Pool().Stat(); st.AcquiredConns() != 4 {
		t.Fatalf("%d of the pool's connections held, want all 4", st.AcquiredConns())
	}
	_, third := mint("third")
	timedOut("a third credential waiting for the pool", third)
}

// A session whose own cursors hold its credential's whole share cannot
// wait for one of them (only it could give one back, and it is waiting):
// its next warehouse statement is 53400 at once, naming the setting,
// rather than hanging until a timeout it may not have; closing a cursor
// lets it go on.
func TestWarehouseShareOwnSession(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(2000),
		Adjust: func(c *app.Config) { c.Warehouse.DSN += "&pool_max_conns=4" }})
	conn := apptest.Connect(t, g.ConnString(t, "cursors"))
	ctx := context.Background()
	for _, sql := range []string{`BEGIN`, `DECLARE a CURSOR FOR SELECT id FROM orders`, `DECLARE b CURSOR FOR SELECT id FROM orders`,
		`FETCH 1 FROM a`, `FETCH 1 FROM b`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// The session's process id is the one the client was given: it tells
	// the session's connections from its credential's other sessions'.
	if pid := viaGateway(t, conn, `SELECT pg_backend_pid()`)[0][0]; pid != fmt.Sprint(conn.PgConn().PID()) || pid == "0" {
		t.Errorf("pg_backend_pid() %s, BackendKeyData %d", pid, conn.PgConn().PID())
	}
	if _, err := conn.Exec(ctx, `DECLARE c CURSOR FOR SELECT id FROM orders`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := conn.Exec(ctx, `FETCH 1 FROM c`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53400" || !strings.Contains(pe.Message, "limits.principal_connections") {
		t.Fatalf("a third cursor: %v, want 53400 naming limits.principal_connections", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("refused after %v, want at once", took)
	}
	if _, err := conn.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	sameCells(t, "after the refusal", viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`), [][]string{{"2000"}})
}
