package app_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// slowModel is a cube whose every query takes about sleep seconds in a
// Postgres warehouse.
func slowModel(sleep string) string {
	return `
cubes:
  - name: slow
    sql: "SELECT g AS id, 'x' AS label FROM generate_series(1, 2) g, LATERAL (SELECT pg_sleep(` + sleep + `)) s"
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: label
        sql: label
        type: string
`
}

// slowWarehouses are a PostgreSQL and an embedded DuckDB with a slow cube
// (seconds a query).
func slowWarehouses(pg *pgtest.Cluster) []struct{ name, dsn, model string } {
	return []struct{ name, dsn, model string }{
		{"postgres", pg.CreateDatabase("slow"), slowModel("5")},
		// A count over three billion generated rows keeps DuckDB busy for seconds.
		{"duckdb", "duckdb::memory:", strings.Replace(slowModel(""), `"SELECT g AS id, 'x' AS label FROM generate_series(1, 2) g, LATERAL (SELECT pg_sleep()) s"`,
			`"SELECT i AS id, 'x' AS label FROM range(3000000000) t(i)"`, 1)},
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestStatementTimeout(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	for _, wh := range slowWarehouses(pg) {
		t.Run(wh.name, func(t *testing.T) {
			connStr := apptest.Start(t, apptest.Options{DSN: wh.dsn, Model: wh.model}).ConnString(t, "limits")
			conn := apptest.Connect(t, connStr)
			if _, err := conn.Exec(ctx, `SET statement_timeout = '150ms'`); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			_, err := conn.Exec(ctx, `SELECT label, MEASURE(count) FROM slow GROUP BY 1`)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "57014" || pe.Message != "canceling statement due to statement timeout" {
				t.Fatalf("err = %v, want 57014 statement timeout", err)
			}
			if d := time.Since(began); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
			if _, err := conn.Exec(ctx, `RESET statement_timeout`); err != nil {
				t.Fatalf("session unusable: %v", err)
			}
		})
	}
}

func TestIdleInTransactionTimeout(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(100)})
	_, _, connStr, _ := g.MintCredential(ctx, "idle")
	conn := apptest.Connect(t, connStr)
	if _, err := conn.Exec(ctx, `SET idle_in_transaction_session_timeout = 100`); err != nil {
		t.Fatal(err)
	}
	// Idle outside a block is fine.
	time.Sleep(250 * time.Millisecond)
	if _, err := conn.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	_, err := conn.Exec(ctx, `SELECT 1`)
	if code := pgCode(err); code != "25P03" && !conn.IsClosed() {
		t.Fatalf("err = %v, want the session ended with 25P03", err)
	}
}

func TestMaxConnectionsAndStartupLimits(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Model: slowModel("0"), Adjust: func(c *app.Config) {
		c.SQL.MaxConnections = 2
		// One credential may take both (the defaults are half and three quarters).
		c.SQL.MaxSessionsPerCredential, c.SQL.MaxSessionsPerTenant = 2, 2
		c.SQL.StartupTimeout = 300 * time.Millisecond
		c.SQL.MaxMessageSize = 4096
	}})
	connStr := g.ConnString(t, "limits")
	a := apptest.Connect(t, connStr)
	apptest.Connect(t, connStr)
	_, err := pgconn.Connect(ctx, connStr)
	if code := pgCode(err); code != "53300" {
		t.Fatalf("third connection: %v, want 53300", err)
	}

	// A client that says nothing is disconnected after the startup timeout.
	nc, err := net.Dial("tcp", g.SQLAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	began := time.Now()
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("slow client: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("slow client held for %v", d)
	}

	// A message over the configured size ends the session with 54000.
	_, err = a.Exec(ctx, "SELECT '"+strings.Repeat("x", 5000)+"'")
	if code := pgCode(err); code != "54000" {
		t.Fatalf("oversized message: %v, want 54000", err)
	}
}

// A refused message much larger than the sockets' buffers: the client is
// still writing it when refused, and the rest is drained (read, not
// kept) so that it reads the error, not a connection reset.
func TestRefusedMessageDrained(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Model: slowModel("0"), Adjust: func(c *app.Config) { c.SQL.MaxMessageSize = 4096 }})
	connStr := g.ConnString(t, "drain")
	for i := range 3 {
		c, err := pgconn.Connect(ctx, connStr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Exec(ctx, "SELECT '"+strings.Repeat("x", 16<<20)+"'").ReadAll()
		if code := pgCode(err); code != "54000" {
			t.Fatalf("a 16 MiB message (try %d): %v, want 54000", i, err)
		}
		c.Close(ctx)
	}
}

// Shutdown: idle sessions end at once with 57P01, a running statement
// finishes, then its session ends too; no new connection is accepted.
func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase("slow")
	g := apptest.Start(t, apptest.Options{DSN: dsn, Model: slowModel("0.5"), Adjust: func(c *app.Config) { c.SQL.DrainTimeout = 5 * time.Second }})
	connStr := g.ConnString(t, "limits")
	busy := apptest.Connect(t, connStr)
	idle := apptest.Connect(t, connStr)
	result := make(chan error, 1)
	go func() {
		res, err := busy.PgConn().Exec(ctx, `SELECT label, MEASURE(count) FROM slow GROUP BY 1`).ReadAll()
		if err == nil && (len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][1]) != "2") {
			err = errors.New("wrong result")
		}
		result <- err
	}()
	active := slowStatements(t, dsn)
	waitFor(t, "the slow statement to start", func() bool { return active() > 0 })
	done := make(chan error, 1)
	go func() { done <- g.Shutdown() }()
	time.Sleep(100 * time.Millisecond)
	_, err := idle.Exec(ctx, `SELECT 1`)
	if code := pgCode(err); code != "57P01" && !idle.IsClosed() {
		t.Fatalf("idle session: %v, want 57P01", err)
	}
	if err := <-result; err != nil {
		t.Fatalf("the running statement did not finish: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	if _, err := pgconn.Connect(ctx, connStr); err == nil {
		t.Fatal("a connection was accepted after shutdown")
	}
}

// slowStatements returns a counter of the slow cube's statements running
// in the Postgres warehouse at dsn.
func slowStatements(t *testing.T, dsn string) func() int {
	t.Helper()
	watch, err := pgconn.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Close(context.Background()) })
	return func() int {
		res, err := watch.Exec(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()`).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(res[0].Rows[0][0]))
		return n
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
