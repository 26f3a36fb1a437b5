package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
