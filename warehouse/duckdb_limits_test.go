package warehouse

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestDuckDBMemoryLimit: the embedded DuckDB shares the gateway's process,
// so it gets a memory limit (half the machine's memory unless the DSN
// sets one), and a statement past it fails with 53200, not the process.
func TestDuckDBMemoryLimit(t *testing.T) {
	ctx := context.Background()
	w, err := OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var limit string
	if err := w.DB().QueryRow("SELECT current_setting('memory_limit')").Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if want := physicalMemory() / 2; want > 0 && !strings.Contains(limit, "GiB") && !strings.Contains(limit, "MiB") {
		t.Fatalf("memory_limit %q, want about %d bytes", limit, want)
	}

	// With a Go memory limit (GOMEMLIMIT, limits.memory_limit), DuckDB
	// gets a quarter of it.
	prev := debug.SetMemoryLimit(1 << 30)
	quarter, err := OpenDuckDB(ctx, "")
	debug.SetMemoryLimit(prev)
	if err != nil {
		t.Fatal(err)
	}
	defer quarter.Close()
	if err := quarter.DB().QueryRow("SELECT current_setting('memory_limit')").Scan(&limit); err != nil || limit != "244.1 MiB" {
		t.Fatalf("memory_limit under a 1 GiB Go limit: %q %v, want 256 MB (244.1 MiB)", limit, err)
	}

	small, err := OpenDuckDB(ctx, "?memory_limit=100MB")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := small.DB().QueryRow("SELECT current_setting('memory_limit')").Scan(&limit); err != nil || !strings.HasPrefix(limit, "95") {
		t.Fatalf("memory_limit from the DSN: %q %v", limit, err)
	}
	_, err = small.Query(ctx, memoryHog)
	if !outOfMemory(err) {
		t.Fatalf("over DuckDB's memory limit: %v, want 53200", err)
	}
	if _, err := small.Query(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after: %v", err)
	}
}

// TestRedact: no form of DSN shows its password.
func TestRedact(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:s3cret@db.internal:5432/x":          "postgres://u:***@db.internal:5432/x",
		"postgres://db.internal/x?user=u&password=s3cret": "postgres://db.internal/x?password=***&user=u",
		"postgresql://u:s3cret@db/x?password=other&a=b":   "postgresql://u:***@db/x?a=b&password=***",
		"host=db user=u password=s3cret dbname=x":         "host=db user=u password=*** dbname=x",
		"mysql://bob:pa#ss@db/x":                          "mysql://bob:***@db/x",
		"mysql://bob:p ss@db/x":                           "mysql://bob:***@db/x",
		"clickhouse://u:a@b#c@h:9000/x":                   "clickhouse://u:***@h:9000/x",
		"host=db password = 's3 cret' dbname=x":           "host=db password = *** dbname=x",
		"duckdb:///var/lib/cubegate/warehouse.duckdb":     "duckdb:///var/lib/cubegate/warehouse.duckdb",
		"sqlite://./state.db":                             "sqlite://./state.db",
		"postgres://u@db/x":                               "postgres://u@db/x",
	} {
		got := Redact(dsn)
		if got != want || strings.Contains(got, "s3") || strings.Contains(got, "other") {
			t.Errorf("Redact(%q) = %q, want %q", dsn, got, want)
		}
	}
}

// DuckDB's errors get their SQLSTATE from the driver's error type, and
// their message without the type's name.
func TestDuckDBErrorCodes(t *testing.T) {
	ctx := context.Background()
	w, err := OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range []struct{ sql, code, message string }{
		{"SELECT 'x'::INTEGER", "22P02", "Could not convert string 'x' to INT32"},
		{"SELECT error('boom')", "22023", "boom"},
		{"SELECT * FROM no_such_table", "42P01", "Table with name no_such_table does not exist!"},
		{"SELECT nope FROM (SELECT 1 AS a)", "42000", `Referenced column "nope" not found in FROM clause!`},
		{"SELEC 1", "42601", `syntax error at or near "SELEC"`},
		{"SELECT 2147483647::INTEGER + 1", "22003", "Overflow in addition of INT32 (2147483647 + 1)!"},
	} {
		rows, err := w.Query(ctx, c.sql)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		var we *Error
		if !errors.As(err, &we) || we.Code != c.code || we.Message != c.message {
			t.Errorf("%s: %#v, want %s %q", c.sql, err, c.code, c.message)
		}
	}
}

// TestDuckDBLockedDown (issue #21): the embedded DuckDB is opened with
// external access off (no files, URLs, extensions beyond the database)
// and its configuration locked once set up: reading /etc/passwd, writing
// a file, SET, PRAGMA or RESET of a setting all fail on the database
// handle itself, and the settings stay as opened. A DSN that asks for
// external access explicitly gets it.
func TestDuckDBLockedDown(t *testing.T) {
	ctx := context.Background()
	w, err := OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	settings := func(db *DuckDB) map[string]string {
		rows, err := db.DB().QueryContext(ctx, `SELECT name, value FROM duckdb_settings() WHERE name IN ('memory_limit', 'enable_external_access', 'lock_configuration', 'TimeZone')`)
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
	before := settings(w)
	if before["enable_external_access"] != "false" || before["lock_configuration"] != "true" || before["memory_limit"] == "" || before["TimeZone"] != "UTC" {
		t.Fatalf("settings: %v", before)
	}
	for _, q := range []string{
		`SELECT * FROM read_csv('/etc/passwd')`,
		`SELECT * FROM read_text('/etc/passwd')`,
		`COPY (SELECT 1) TO '` + t.TempDir() + `/out.csv'`,
		`ATTACH '` + t.TempDir() + `/other.duckdb'`,
		`INSTALL httpfs`,
		`SET memory_limit = '100GB'`,
		`SET GLOBAL enable_external_access = true`,
		`SET lock_configuration = false`,
		`PRAGMA memory_limit = '100GB'`,
		`RESET memory_limit`,
		`SET TimeZone = 'America/New_York'`,
	} {
		if _, err := w.DB().ExecContext(ctx, q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if after := settings(w); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("settings changed: %v, then %v", before, after)
	}
	// Tables are made as before (the demo's data, the tests' fixtures).
	if _, err := w.DB().ExecContext(ctx, `CREATE TABLE t AS SELECT range AS i FROM range(10)`); err != nil {
		t.Fatal(err)
	}

	open, err := OpenDuckDB(ctx, "?enable_external_access=true")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if s := settings(open); s["enable_external_access"] != "true" || s["lock_configuration"] != "true" {
		t.Errorf("a DSN asking for external access: %v", s)
	}
}

// memoryHog needs about 1 GB: past smallDuckDB's memory limit.
const memoryHog = "SELECT string_agg(repeat('x', 1000), ',') FROM range(1000000)"

// smallDuckDB is an in-memory DuckDB with a 100 MB memory limit.
func smallDuckDB(t *testing.T) *DuckDB {
	t.Helper()
	w, err := OpenDuckDB(context.Background(), "?memory_limit=100MB&threads=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestDuckDBMemoryShared: DuckDB's memory limit is one for all statements;
// a client's statement that fills it must not make another client's small
// statement fail (it is run again once the hog has let go), while the
// hog itself still gets its 53200.
func TestDuckDBMemoryShared(t *testing.T) {
	ctx := context.Background()
	w := smallDuckDB(t)
	hogs := make(chan error, 10)
	go func() {
		for range cap(hogs) {
			_, err := w.Query(ctx, memoryHog)
			hogs <- err
		}
		close(hogs)
	}()
	small := 0
	for done := false; !done; {
		select {
		case err, ok := <-hogs:
			if !ok {
				done = true
				break
			}
			if !outOfMemory(err) {
				t.Fatalf("the hog: %v, want 53200", err)
			}
		default:
			rows, err := w.Query(ctx, "SELECT i % 7 AS k, count(*) FROM range(20000) t(i) GROUP BY k ORDER BY k")
			if err != nil {
				t.Fatalf("a small statement beside the hog (after %d): %v", small, err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("a small statement's rows beside the hog: %v", err)
			}
			rows.Close()
			if n != 7 {
				t.Fatalf("%d rows, want 7", n)
			}
			small++
		}
	}
	if small == 0 {
		t.Fatal("no small statement ran beside the hog")
	}
	if n := len(w.running.running("")); n != 0 {
		t.Fatalf("%d statements still counted as running", n)
	}
	t.Logf("%d small statements answered beside %d hogs", small, cap(hogs))
}

// A statement out of memory waits for no result its own session holds
// open (a cursor waits on it, not the reverse), and for another's at most
// memoryRetryWait (review of #17).
func TestDuckDBMemoryRetryBounds(t *testing.T) {
	ctx := context.Background()
	w := smallDuckDB(t)
	for _, c := range []struct {
		name, holder string
		atLeast      time.Duration
	}{
		{"its own session's cursor", "s1", 0},
		{"another session's cursor", "s2", memoryRetryWait},
	} {
		cur, err := w.Query(WithOwner(ctx, Owner{Session: c.holder}), "SELECT * FROM range(10)")
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err = w.Query(WithOwner(ctx, Owner{Session: "s1"}), memoryHog)
		took := time.Since(t0)
		cur.Close()
		if !outOfMemory(err) {
			t.Fatalf("%s: %v, want 53200", c.name, err)
		}
		if took < c.atLeast || took > c.atLeast+5*time.Second {
			t.Fatalf("beside %s the hog got its 53200 after %s, want %s to %s", c.name, took, c.atLeast, c.atLeast+5*time.Second)
		}
		t.Logf("beside %s: 53200 after %s", c.name, took.Round(time.Millisecond))
	}
}
