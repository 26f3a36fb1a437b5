package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// TestDuckDBLockedDownThroughTheGateway (issue #21): on the embedded
// DuckDB, every way a client has to reach a file or a setting — read_csv
// and friends in a statement (pushed down or not), COPY, SET, set_config,
// PRAGMA, a REST query naming one — is refused, and the DuckDB's own
// settings (duckdb_settings(), read directly) are still what the gateway
// opened it with: a memory limit, external access off, the
// configuration locked, UTC. The session goes on after each refusal.
func TestDuckDBLockedDownThroughTheGateway(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	duck, ok := g.Warehouse().(*warehouse.DuckDB)
	if !ok {
		t.Fatalf("warehouse %T", g.Warehouse())
	}
	settings := func() map[string]string {
		rows, err := duck.DB().QueryContext(ctx, `SELECT name, value FROM duckdb_settings() WHERE name IN ('memory_limit', 'enable_external_access', 'lock_configuration', 'TimeZone', 'threads')`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var n, v string
			if err := rows.Scan(&n, &v); err != nil {
				t.Fatal(err)
			}
			m[n] = v
		}
		return m
	}
	before := settings()
	if before["enable_external_access"] != "false" || before["lock_configuration"] != "true" || before["TimeZone"] != "UTC" ||
		before["memory_limit"] == "" || before["memory_limit"] == "0 bytes" {
		t.Fatalf("the warehouse's settings: %v", before)
	}
	t.Logf("DuckDB settings: %v", before)

	conn := apptest.Connect(t, g.ConnString(t, "lock"))
	for _, q := range []string{
		`SELECT * FROM read_csv('/etc/passwd')`,
		`SELECT * FROM read_csv_auto('/etc/passwd')`,
		`SELECT * FROM '/etc/passwd'`,
		`SELECT status, (SELECT count(*) FROM read_text('/etc/passwd')) FROM orders`,
		`SELECT pg_read_file('/etc/passwd')`,
		`COPY (SELECT status FROM orders) TO '/tmp/cubegate-out.csv'`,
		`PRAGMA memory_limit = '100GB'`,
		`ATTACH '/tmp/other.duckdb'`,
		`INSTALL httpfs`,
		`LOAD httpfs`,
	} {
		rows, err := conn.Query(ctx, q)
		n := 0
		if err == nil {
			for rows.Next() {
				n++
			}
			err = rows.Err()
		}
		if err == nil {
			t.Errorf("%s: answered %d rows, want an error", q, n)
		} else if strings.Contains(err.Error(), "root:") {
			t.Errorf("%s: the file's content in the error: %v", q, err)
		}
		var one int
		if err := conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
			t.Fatalf("the session after %s: %v", q, err)
		}
	}
	// The session's own settings are its own: whatever SET and
	// set_config accept, the warehouse's stay.
	for _, q := range []string{
		`SET memory_limit = '100GB'`,
		`SET enable_external_access = true`,
		`SET lock_configuration = false`,
		`SELECT set_config('memory_limit', '100GB', false)`,
		`RESET ALL`,
	} {
		conn.Exec(ctx, q)
	}
	var n int64
	if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("a cube query after: %d %v", n, err)
	}
	// REST: a member naming a table function is no member.
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "lock", auth.KeyInput{Scopes: &[]string{"load", "sql"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		`/cubejs-api/v1/load?query=` + url.QueryEscape(`{"dimensions":["read_csv('/etc/passwd').x"]}`),
		`/cubejs-api/v1/load?query=` + url.QueryEscape(`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["x') UNION SELECT * FROM read_csv('/etc/passwd') --"]}]}`),
	} {
		req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+path, nil)
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "root:") {
			t.Errorf("REST %s: %d %s", path, resp.StatusCode, b)
		}
	}
	if after := settings(); len(after) != len(before) || after["memory_limit"] != before["memory_limit"] ||
		after["enable_external_access"] != "false" || after["lock_configuration"] != "true" || after["TimeZone"] != "UTC" {
		t.Errorf("the warehouse's settings changed: %v, then %v", before, after)
	}
	// Even a statement that reached the DuckDB could not change them.
	if _, err := duck.DB().ExecContext(ctx, `SET GLOBAL memory_limit = '100GB'`); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("SET on the DuckDB itself: %v, want refused as locked", err)
	}
	if _, err := duck.DB().ExecContext(ctx, `SELECT * FROM read_csv('/etc/passwd')`); err == nil {
		t.Errorf("read_csv on the DuckDB itself: accepted")
	}
}

// longDuckDB are statements that run for minutes on the embedded DuckDB
// over 1,000 orders: a set-returning generate_series of 200 million
// values a row (the path the issue reproduced: DuckDB built the list in
// one call no interrupt reached) and a four-way cross join.
var longDuckDB = []string{
	`SELECT sum(x) FROM (SELECT generate_series(1, 200000000) AS x FROM orders) s`,
	`SELECT count(*) FROM (SELECT * FROM orders) a, (SELECT * FROM orders) b, (SELECT * FROM orders) c, (SELECT * FROM orders) d`,
}

// TestDuckDBStatementsCanceled (issue #21): a long statement on the
// embedded DuckDB stops within 3 s (a second or two is usual) of a
// CancelRequest and of its statement_timeout, with 57014, and the session
// answers at once afterwards.
func TestDuckDBStatementsCanceled(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	conn := apptest.Connect(t, g.ConnString(t, "cancel"))
	check := func(how, q string, err error, late time.Duration) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Errorf("%s: %s: %v, want 57014", how, q, err)
		}
		t.Logf("%s: %s stopped %v after", how, q, late.Round(time.Millisecond))
		if late > 3*time.Second {
			t.Errorf("%s: %s stopped %v after, want within 3s", how, q, late)
		}
		start := time.Now()
		var n int64
		if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != 1000 {
			t.Errorf("the session after: %d %v", n, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the session's next query took %v", d)
		}
	}
	run := func(q string) error {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		return rows.Err()
	}
	for _, q := range longDuckDB {
		// CancelRequest, half a second in.
		sent := make(chan time.Time, 1)
		timer := time.AfterFunc(500*time.Millisecond, func() {
			sent <- time.Now()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			conn.PgConn().CancelRequest(cctx)
		})
		err := run(q)
		ended := time.Now()
		timer.Stop()
		select {
		case at := <-sent:
			check("CancelRequest", q, err, ended.Sub(at))
		default:
			t.Errorf("%s ended before the CancelRequest: %v", q, err)
		}

		// statement_timeout.
		if _, err := conn.Exec(ctx, `SET statement_timeout = '500ms'`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = run(q)
		check("statement_timeout", q, err, time.Since(start)-500*time.Millisecond)
		if _, err := conn.Exec(ctx, `RESET statement_timeout`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSIGTERMWhileDuckDBRuns (issue #21): the real binary, on SIGTERM
// while long DuckDB statements run (no statement_timeout), exits within
// sql.drain_timeout (2 s here) plus 5 s, its sessions told 57P01.
func TestSIGTERMWhileDuckDBRuns(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cubegate/cubegate/cmd/cubegate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := apptest.Prepare(t, apptest.Options{DuckDB: apptest.Demo(1000)}).Config
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUBEGATE_") {
			env = append(env, kv)
		}
	}
	sqlAddr := hostilePort(t)
	env = append(env, "CUBEGATE_SQL_LISTEN="+sqlAddr, "CUBEGATE_HTTP_LISTEN="+hostilePort(t), "CUBEGATE_MODEL_DIR="+cfg.Model.Dir,
		"CUBEGATE_MODEL_WATCH=false", "CUBEGATE_WAREHOUSE_DSN="+cfg.Warehouse.DSN, "CUBEGATE_STATE_DSN="+cfg.State.DSN,
		"CUBEGATE_DATA_SOURCE_NAME="+cfg.DataSource.Name, "CUBEGATE_SQL_DRAIN_TIMEOUT=2s", "CUBEGATE_LOG_LEVEL=warn")
	mint := exec.Command(bin, "credentials", "create", "--label", "sigterm", "--json")
	mint.Env = env
	var stderr bytes.Buffer
	mint.Stderr = &stderr
	out, err := mint.Output()
	if err != nil {
		t.Fatalf("credentials create: %v\n%s", err, stderr.String())
	}
	var cred struct {
		ConnectionString string `json:"connection_string"`
	}
	if err := json.Unmarshal(out, &cred); err != nil || cred.ConnectionString == "" {
		t.Fatalf("credentials create: %v %s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
	})
	ctx := context.Background()
	connect := func() (*pgx.Conn, error) {
		c, err := pgx.ParseConfig(cred.ConnectionString + "?sslmode=disable")
		if err != nil {
			return nil, err
		}
		c.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return pgx.ConnectConfig(cctx, c)
	}
	var conns []*pgx.Conn
	for deadline := time.Now().Add(30 * time.Second); len(conns) == 0; time.Sleep(50 * time.Millisecond) {
		if c, err := connect(); err == nil {
			conns = append(conns, c)
		} else if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("the gateway does not answer: %v\n%s", err, b)
		}
	}
	c2, err := connect()
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, c2)
	errs := make(chan error, len(longDuckDB))
	for i, q := range longDuckDB {
		go func() {
			_, err := conns[i].Exec(ctx, q)
			errs <- err
		}()
	}
	time.Sleep(time.Second) // both run
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Logf("the gateway exited %v after SIGTERM (drain_timeout 2s): %v", time.Since(sent).Round(time.Millisecond), err)
		if err != nil {
			t.Errorf("exit status: %v", err)
		}
	case <-time.After(7 * time.Second):
		b, _ := os.ReadFile(logf.Name())
		t.Fatalf("the gateway still runs 7s after SIGTERM with drain_timeout 2s\n%s", b)
	}
	for range longDuckDB {
		select {
		case err := <-errs:
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code != "57P01" {
				t.Errorf("a running statement at shutdown: %v, want 57P01 (or the connection closed)", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("a statement still waits after the gateway exited")
		}
	}
}
