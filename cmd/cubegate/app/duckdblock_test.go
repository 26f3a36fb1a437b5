package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
