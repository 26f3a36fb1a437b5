package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL state store, read directly
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // the SQLite state store, read directly

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// connectAs mints a credential with scopes (and sec) and connects with it.
func connectAs(t *testing.T, g *apptest.Gateway, label string, sec auth.SecurityContext, scopes ...string) (auth.Credential, *pgx.Conn) {
	t.Helper()
	c, pw, err := g.Auth.CreateCredential(context.Background(), auth.CreateCredentialInput{Label: label, Database: g.Database, Security: sec, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	return c, apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, c.Database))
}

// What a principal sees of the audit log and of EXPLAIN (issue #21):
//   - cubegate.audit_log shows a credential its own rows only; one with
//     scope audit:read sees the tenant's whole log;
//   - REST queries are stored normalized, like SQL: no filter value, no
//     row-filter value, in the log;
//   - EXPLAIN prints the warehouse SQL and the row filters' values only
//     to a credential with scope sql; others get the plan with a line
//     saying the SQL is hidden and which scope shows it.
func TestAuditRowsAndExplainByScope(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	web := auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"rowfilter-web"}}}}
	alice, aliceConn := connectAs(t, g, "alice", web)
	bob, bobConn := connectAs(t, g, "bob", auth.SecurityContext{})
	_, auditor := connectAs(t, g, "auditor", auth.SecurityContext{}, "audit:read")
	_, sqlConn := connectAs(t, g, "engineer", web, "sql")

	viaGateway(t, aliceConn, `SELECT MEASURE(count) FROM orders WHERE status = 'alice-literal'`)
	viaGateway(t, bobConn, `SELECT MEASURE(count) FROM orders WHERE status = 'bob-literal'`)
	key, err := g.Keys.Create(ctx, auth.DefaultTenant, "rest", auth.KeyInput{Scopes: &[]string{"load"}, Security: &web})
	if err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape(`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["rest-literal"]}]}`)
	req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+"/cubejs-api/v1/load?query="+q, nil)
	req.Header.Set("Authorization", key.KeyValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("load: %v %v", err, resp)
	}
	resp.Body.Close()

	const cols = `SELECT credential_id, api_key_id, statement, warehouse_sql FROM cubegate.audit_log`
	// Alice sees her own rows (her login, her query), none of bob's or the key's.
	rows := viaGateway(t, aliceConn, cols)
	if len(rows) < 2 {
		t.Fatalf("alice sees %d rows of her own", len(rows))
	}
	for _, r := range rows {
		if r[0] != alice.ID {
			t.Errorf("alice sees a row of credential %q, key %q: %v", r[0], r[1], r)
		}
	}
	if s := fmtRows(rows); strings.Contains(s, "bob") || strings.Contains(s, bob.ID) {
		t.Errorf("alice sees bob's rows: %s", s)
	}
	// The auditor sees everybody's: alice's, bob's and the REST key's.
	rows = viaGateway(t, auditor, cols)
	all := fmtRows(rows)
	if !strings.Contains(all, alice.ID) || !strings.Contains(all, bob.ID) || !strings.Contains(all, key.ID) {
		t.Errorf("the auditor does not see the whole tenant's log: %s", all)
	}
	// Nothing un-normalized: no literal of SQL or REST, no row-filter value.
	for _, lit := range []string{"alice-literal", "bob-literal", "rest-literal", "rowfilter-web"} {
		if strings.Contains(all, lit) {
			t.Errorf("%q is in the audit log", lit)
		}
	}
	var rest []string
	for _, r := range rows {
		if r[1] == key.ID {
			rest = r
		}
	}
	if rest == nil || !strings.Contains(rest[2], `"values":["$`) || !strings.Contains(rest[2], "orders.status") {
		t.Errorf("the REST query's statement is not normalized: %v", rest)
	}

	// EXPLAIN: hidden for alice, shown for the engineer with scope sql.
	const explain = `EXPLAIN SELECT status, MEASURE(count) FROM orders WHERE status = 'x' GROUP BY 1`
	plan := fmtRows(viaGateway(t, aliceConn, explain))
	if !strings.Contains(plan, "hidden") || !strings.Contains(plan, "scope sql") ||
		strings.Contains(plan, "orders_raw") || strings.Contains(plan, "rowfilter-web") {
		t.Errorf("EXPLAIN without scope sql:\n%s", plan)
	}
	plan = fmtRows(viaGateway(t, sqlConn, explain))
	if strings.Contains(plan, "hidden") || !strings.Contains(plan, "orders_raw") || !strings.Contains(plan, "rowfilter-web") {
		t.Errorf("EXPLAIN with scope sql:\n%s", plan)
	}
}

func fmtRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, " | ") + "\n")
	}
	return b.String()
}

// Credential scopes over the admin API (issue #21): a key grants only
// scopes it holds (403 SCOPE_ESCALATION otherwise), on creation and by
// PATCH; an unknown credential scope is 400; the scopes are stored and
// shown.
func TestCredentialScopesAdminAPI(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	mk := func(scopes ...string) string {
		k, err := g.Keys.Create(ctx, auth.DefaultTenant, "k", auth.KeyInput{Scopes: &scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyValue
	}
	plain := mk("credentials:write", "load", "meta")
	withSQL := mk("credentials:write", "load", "meta", "sql")
	call := func(method, path, key, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+g.HTTPAddr().String()+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		if d, ok := v["data"].(map[string]any); ok {
			v = d
		}
		return resp.StatusCode, v
	}
	if code, v := call("POST", "/admin/v1/credentials", plain, `{"database":"demo","scopes":["sql"]}`); code != 403 || !strings.Contains(fmtAny(v), "SCOPE_ESCALATION") {
		t.Fatalf("a key without sql grants sql: %d %v", code, v)
	}
	if code, v := call("POST", "/admin/v1/credentials", withSQL, `{"database":"demo","scopes":["nope"]}`); code != 400 {
		t.Fatalf("an unknown scope: %d %v", code, v)
	}
	code, v := call("POST", "/admin/v1/credentials", withSQL, `{"database":"demo","scopes":["sql"]}`)
	if code != 201 || fmtAny(v["scopes"]) != "[sql]" {
		t.Fatalf("a key with sql grants sql: %d %v", code, v)
	}
	id := v["id"].(string)
	if code, v := call("PATCH", "/admin/v1/credentials/"+id, withSQL, `{"scopes":["sql","audit:read"]}`); code != 403 || !strings.Contains(fmtAny(v), "SCOPE_ESCALATION") {
		t.Fatalf("PATCH adding audit:read the key lacks: %d %v", code, v)
	}
	// A credential with sql is wider than a key without it: not its to change.
	if code, _ := call("PATCH", "/admin/v1/credentials/"+id, plain, `{"label":"x"}`); code != 403 {
		t.Fatalf("a key without sql changes a credential with sql: %d", code)
	}
	if c, err := g.Auth.GetCredential(ctx, id); err != nil || !slices.Equal(c.Scopes, []string{"sql"}) {
		t.Fatalf("stored: %v %v", c.Scopes, err)
	}
}

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return strings.NewReplacer(`"`, "", ",", " ").Replace(string(b))
}

// The credentials table's scopes column on the PostgreSQL state store
// (the SQLite one is in auth's tests): migrated, written and read back.
func TestCredentialScopesPostgresStateStore(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) { c.State.DSN = state }})
	ctx := context.Background()
	c, _, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Database: g.Database, Scopes: []string{"sql", "audit:read"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Auth.GetCredential(ctx, c.ID)
	if err != nil || !slices.Equal(got.Scopes, []string{"audit:read", "sql"}) {
		t.Fatalf("scopes on PostgreSQL: %v %v", got.Scopes, err)
	}
}

// httpGet GETs path on the gateway's HTTP listener with key.
func httpGet(t *testing.T, g *apptest.Gateway, path, key string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+path, nil)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var v map[string]any
	json.Unmarshal(buf.Bytes(), &v)
	if d, ok := v["data"].(map[string]any); ok {
		v = d
	}
	return resp.StatusCode, v, buf.String()
}

// pollUntil polls cond every 50 ms for up to d.
func pollUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// Audit write failures are visible (issue #21): with the state store
// refusing inserts (as a full disk does), the failures are counted in
// cubegate_audit_write_failures_total, logged, and the status is DEGRADED
// with the reason; with audit.fail_closed new SQL statements get 53100
// (the state file is really full: SQLITE_FULL at its max_page_count; the
// session stays usable) and REST queries 503 AUDIT_UNAVAILABLE.
// Once writes work again the status is RUNNING, the same session
// queries, and the log holds the kept events and a record of the gap.
func TestAuditWriteFailuresVisible(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	var logs syncBuffer
	log := zerolog.New(&logs)
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Log: &log, Adjust: func(c *app.Config) {
		c.State.DSN = fullableStateDSN(path)
		c.Audit.FailClosed = true
	}})
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "admin", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	_, conn := connectAs(t, g, "analyst", auth.SecurityContext{})
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	if _, st, _ := httpGet(t, g, "/admin/v1/status", admin.KeyValue); st["state"] != "RUNNING" {
		t.Fatalf("status before: %v", st)
	}

	// The disk is full: the state file is at its max_page_count.
	fillStateFile(t, path, stateMaxPages)
	// These statements run (they were admitted) until the audit log's
	// page is full and its write fails.
	var st map[string]any
	if !pollUntil(10*time.Second, func() bool {
		conn.Exec(ctx, `SELECT MEASURE(count) FROM orders WHERE status = 'a'`)
		_, st, _ = httpGet(t, g, "/admin/v1/status", admin.KeyValue)
		return st["state"] == "DEGRADED"
	}) {
		t.Fatalf("status while audit writes fail: %v", st)
	}
	if reason, _ := st["degraded"].(string); !strings.Contains(reason, "disk is full") {
		t.Errorf("DEGRADED without the reason: %v", st)
	}
	_, _, metrics := httpGet(t, g, "/metrics", "")
	if !regexp.MustCompile(`(?m)^cubegate_audit_write_failures_total [1-9]`).MatchString(metrics) {
		t.Errorf("no failed write in /metrics:\n%s", linesWith(metrics, "audit"))
	}
	if !strings.Contains(logs.String(), "audit log writes fail") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
	// Fail closed: SQL 53100, the session usable after; REST 503.
	_, err = conn.PgConn().Exec(ctx, `SELECT MEASURE(count) FROM orders`).ReadAll()
	if code := codeOf(err); code != "53100" {
		t.Fatalf("a query while the audit log cannot be written: %v, want 53100", err)
	}
	_, err = conn.PgConn().Exec(ctx, `SELECT relname FROM pg_class LIMIT 1`).ReadAll()
	if code := codeOf(err); code != "53100" {
		t.Fatalf("a catalog query while the audit log cannot be written: %v, want 53100", err)
	}
	q := url.QueryEscape(`{"measures":["orders.count"]}`)
	if code, v, _ := httpGet(t, g, "/cubejs-api/v1/load?query="+q, admin.KeyValue); code != 503 || v["code"] != "AUDIT_UNAVAILABLE" {
		t.Fatalf("REST while the audit log cannot be written: %d %v", code, v)
	}

	// Space again.
	emptyStateFile(t, path)
	if !pollUntil(5*time.Second, func() bool {
		_, st, _ = httpGet(t, g, "/admin/v1/status", admin.KeyValue)
		return st["state"] == "RUNNING"
	}) {
		t.Fatalf("status once writes work again: %v", st)
	}
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`) // the same session
	g.Audit.Sync()
	events, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant})
	if err != nil {
		t.Fatal(err)
	}
	gap, kept := false, false
	for _, e := range events {
		gap = gap || e.Kind == "audit" && e.Action == "write_failed"
		kept = kept || e.Kind == "query" && strings.Contains(e.Statement, "status = $1")
	}
	if !gap || !kept {
		t.Errorf("after recovery: gap recorded %v, the failed write's event kept %v", gap, kept)
	}
}

func codeOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func linesWith(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The state file (issue #21): an existing 0644 file is tightened to
// 0600 with a warning; audit events older than audit.retention are
// deleted periodically while the log stays append-only otherwise; the
// file's deletion makes the status DEGRADED and is logged.
func TestStateFileAndRetention(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // an empty SQLite database
		t.Fatal(err)
	}
	var logs syncBuffer
	log := zerolog.New(&logs)
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Log: &log, Adjust: func(c *app.Config) {
		c.State.DSN = "sqlite://" + path
		c.Audit.Retention = 2 * time.Second
	}})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the state file: %v %v, want 0600", fi.Mode(), err)
	}
	if !strings.Contains(logs.String(), "0644") {
		t.Errorf("no warning about the 0644 state file:\n%s", logs.String())
	}
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "admin", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	_, conn := connectAs(t, g, "analyst", auth.SecurityContext{})
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders WHERE status = 'old'`)
	g.Audit.Sync()
	count := func(kind string) int {
		g.Audit.Sync()
		events, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	if count("query") != 1 {
		t.Fatal("the query is not in the audit log")
	}
	if !pollUntil(10*time.Second, func() bool { return count("query") == 0 }) {
		t.Fatal("an event older than audit.retention (2s) is still there after 10s")
	}
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	if count("query") != 1 {
		t.Fatal("a fresh event was deleted")
	}
	// Append-only otherwise.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM audit_log`); err == nil {
		t.Fatal("a DELETE of fresh events went through")
	}
	db.Close()

	// The file is deleted under the running gateway.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if !pollUntil(10*time.Second, func() bool {
		_, st, _ = httpGet(t, g, "/admin/v1/status", admin.KeyValue)
		return st["state"] == "DEGRADED"
	}) {
		t.Fatalf("status after the state file was deleted: %v", st)
	}
	if reason, _ := st["degraded"].(string); !strings.Contains(reason, "deleted") {
		t.Errorf("DEGRADED without the reason: %v", st)
	}
	if !strings.Contains(logs.String(), "was deleted") {
		t.Errorf("the deletion is not logged:\n%s", logs.String())
	}
}

// Retention on the PostgreSQL state store: old events deleted through
// the append-only trigger, which still refuses any other DELETE.
func TestAuditRetentionPostgresStateStore(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.Audit.Retention = 2 * time.Second
	}})
	ctx := context.Background()
	_, conn := connectAs(t, g, "analyst", auth.SecurityContext{})
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	count := func() int {
		g.Audit.Sync()
		events, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "query"})
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	if count() != 1 {
		t.Fatal("the query is not in the audit log")
	}
	if !pollUntil(10*time.Second, func() bool { return count() == 0 }) {
		t.Fatal("an event older than audit.retention (2s) is still there after 10s")
	}
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	if count() != 1 {
		t.Fatal("a fresh event was deleted")
	}
	db, err := sql.Open("pgx", state)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("a DELETE of fresh events: %v", err)
	}
}
