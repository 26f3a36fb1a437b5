package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// syncBuffer is a log sink safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines are the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logged are the options of a gateway on a small demo dataset whose log
// (JSON, at info) goes to buf.
func logged(buf *syncBuffer) apptest.Options {
	log := zerolog.New(buf).Level(zerolog.InfoLevel)
	return apptest.Options{DuckDB: apptest.Demo(200), Log: &log, Adjust: func(c *app.Config) { c.Model.Watch = false }}
}

// Failed SQL statements are logged — SQLSTATE, user, database and the
// normalized statement, never a literal or a parameter value, not even
// when the error message quotes it — and counted by SQLSTATE in /metrics.
// Scrapes and probes are not logged at info; other requests are.
func TestFailedStatementsLogged(t *testing.T) {
	ctx := context.Background()
	buf := &syncBuffer{}
	g := apptest.Start(t, logged(buf))
	cred, _, connStr, err := g.MintCredential(ctx, "log")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	simple := []struct{ sql, code string }{
		{"SELECT 'hunter2-syntax' FROM WHERE", "42601"},
		{"SELECT nope FROM orders WHERE status = 'hunter2-bind'", "42703"},
		{"SELECT status FROM no_such_cube WHERE status = 'hunter2-table' AND 42424242 > 1", "42P01"},
		{"SELECT CAST('hunter2-cast' AS integer)", "22P02"},
		{"SELECT 'unterminated hunter2-open", "42601"},
		// Values that reach the message decoded or computed.
		{"SELECT $$hunter2-dollar$$::int", "22P02"},
		{"SELECT E'hunter2-escaped'::int", "22P02"},
		{"SELECT 'hunter2''s-doubled'::int", "22P02"},
		{"SELECT upper('hunter2-computed')::int", "22P02"},
	}
	for _, q := range simple {
		_, err := conn.PgConn().Exec(ctx, q.sql).ReadAll()
		if err == nil {
			t.Fatalf("%s: no error", q.sql)
		}
	}
	// The extended protocol: a parameter's value never reaches the log.
	if _, err := conn.Exec(ctx, "SELECT CAST($1::text AS integer)", "hunter2-param"); err == nil {
		t.Fatal("no error for a bad parameter")
	}
	// The session lives on.
	var n int64
	if err := conn.QueryRow(ctx, "SELECT MEASURE(count) FROM orders").Scan(&n); err != nil || n != 200 {
		t.Fatalf("count %d %v", n, err)
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) string {
		resp, err := hc.Get("http://" + g.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get("/livez")
	get("/readyz")
	get("/admin/v1/status") // 401: logged
	metrics := get("/metrics")

	var failed []map[string]any
	var httpRoutes []string
	for _, l := range buf.lines(t) {
		switch l["message"] {
		case "statement failed":
			failed = append(failed, l)
		case "http":
			httpRoutes = append(httpRoutes, l["route"].(string))
		}
	}
	log := buf.String()
	if strings.Contains(log, "hunter2") || strings.Contains(log, "42424242") {
		t.Fatalf("a literal reached the log:\n%s", log)
	}
	if len(failed) != len(simple)+1 {
		t.Fatalf("%d failed statements logged, want %d:\n%s", len(failed), len(simple)+1, log)
	}
	for i, q := range simple {
		l := failed[i]
		if l["sqlstate"] != q.code || l["user"] != cred.Username || l["database"] != "demo" || l["statement"] == "" {
			t.Errorf("%s: logged %v", q.sql, l)
		}
	}
	for want, i := range map[string]int{
		"SELECT $1 FROM WHERE":                                          0,
		"SELECT nope FROM orders WHERE status = $1":                     1,
		"SELECT status FROM no_such_cube WHERE status = $1 AND $2 > $3": 2,
		"SELECT CAST($1 AS integer)":                                    3,
		"SELECT …":                                                      4,
		"SELECT upper($1)::int":                                         8,
		"SELECT CAST($1::text AS integer)":                              9,
	} {
		if failed[i]["statement"] != want {
			t.Errorf("statement %d logged as %q, want %q", i, failed[i]["statement"], want)
		}
	}
	if !strings.Contains(failed[3]["error"].(string), "invalid input syntax") {
		t.Errorf("the message is lost: %v", failed[3])
	}
	for _, code := range []string{"42601", "42703", "42P01", "22P02"} {
		if !strings.Contains(metrics, `cubegate_statement_errors_total{sqlstate="`+code+`"}`) {
			t.Errorf("/metrics lacks cubegate_statement_errors_total for %s:\n%s", code, metrics)
		}
	}
	if !strings.Contains(metrics, `cubegate_statement_errors_total{sqlstate="42601"} 2`) {
		t.Errorf("two syntax errors are not counted as 2")
	}
	// Probes and scrapes are debug; the admin request is info.
	if strings.Join(httpRoutes, ",") != "GET /admin/v1/status" {
		t.Fatalf("http requests logged at info: %v", httpRoutes)
	}
}

// A refused model reload logs one error per line, each naming file:line.
func TestRefusedReloadOneErrorPerLine(t *testing.T) {
	buf := &syncBuffer{}
	g := apptest.Start(t, logged(buf))
	modelDir := g.Config.Model.Dir
	bad := "cubes:\n  - name: broken\n    sql_table: t\n    measures:\n      - name: a\n        type: nope\n      - name: b\n        type: nada\n"
	if err := os.WriteFile(filepath.Join(modelDir, "broken.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadModel(); err == nil {
		t.Fatal("the broken model was accepted")
	}
	var msgs []string
	for _, l := range buf.lines(t) {
		if l["level"] == "error" {
			msgs = append(msgs, l["message"].(string))
		}
	}
	if len(msgs) < 3 || !strings.HasPrefix(msgs[0], "model reload refused") {
		t.Fatalf("logged: %q", msgs)
	}
	for _, m := range msgs[1:] {
		if strings.Contains(m, "\n") || !strings.Contains(m, "broken.yml:") {
			t.Errorf("not one error with its file:line per line: %q", m)
		}
	}
	if !strings.Contains(msgs[1], "broken.yml:5") || !strings.Contains(msgs[2], "broken.yml:7") {
		t.Errorf("errors: %q", msgs)
	}
}

// limits.memory_limit is applied with runtime/debug.SetMemoryLimit at
// start; sizes read with their units.
func TestMemoryLimitApplied(t *testing.T) {
	for in, want := range map[string]app.ByteSize{"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5GB": 1_500_000_000, "1048576": 1 << 20, "64 KiB": 64 << 10, "0": 0} {
		if got, err := app.ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"lots", "-1GiB", "GiB", ""} {
		if _, err := app.ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
	before := debug.SetMemoryLimit(-1)
	// Restored once the gateway is closed: cleanups run last first.
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) {
		c.Model.Watch = false
		c.Limits.MemoryLimit = 3 << 30
	}})
	// The whole process's target: Go gets it less what is outside Go
	// (DuckDB, C), and never less than a quarter.
	if got := debug.SetMemoryLimit(-1); got > 3<<30 || got < 3<<30-512<<20 {
		t.Fatalf("Go's memory limit %d MiB, want 3 GiB less the process's C memory", got>>20)
	}
}
