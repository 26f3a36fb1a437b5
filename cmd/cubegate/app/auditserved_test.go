package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestAuditServedAndCode: the audit log says what answered each query and
// the SQLSTATE of each failure, and the console's Query history shows
// both. On a real gateway (DuckDB, the demo model with one rollup, the
// result cache on):
//   - a REST query run twice is served by the warehouse, then the cache;
//   - a query the rollup covers (REST and SQL) is served by
//     rollup:orders.by_status;
//   - a SQL statement with an unknown column, refused while planned
//     (never run), is a query event: outcome error, code 42703, nothing
//     served, the statement normalized (its literal left out); a member
//     the credential's security context hides is 42501 likewise; a REST
//     query naming an unknown member is 42703 too;
//   - GET /admin/v1/audit's JSON carries code and served, and the history
//     page lists the refused statement with 42703, its detail too.
func TestAuditServedAndCode(t *testing.T) {
	dir := demoModelWith(t, `
    pre_aggregations:
      - name: by_status
        measures: [count]
        dimensions: [status]
`)
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(500), ModelDir: dir, Adjust: func(c *app.Config) {
		c.Cache.Enabled = true
		c.PreAgg.Enabled = true
		c.Model.Watch = false
	}})
	ctx := context.Background()
	base := "http://" + g.HTTPAddr().String()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIClient(t, base, "")
	waitBuilt(t, api, admin.KeyValue, 1)
	load := testKey(t, g, nil, "load")
	rest := restClient{t, base, load}

	// newest reads the tenant's latest query events over the admin API.
	newest := func(n int) []auth.AuditEvent {
		t.Helper()
		a := api.do("GET", fmt.Sprintf("/admin/v1/audit?kind=query&limit=%d", n), admin.KeyValue, nil)
		if a.status != 200 {
			t.Fatalf("GET /admin/v1/audit: %d %s", a.status, a.Error.Message)
		}
		var events []auth.AuditEvent
		if err := json.Unmarshal(a.Data, &events); err != nil {
			t.Fatal(err)
		}
		return events
	}

	// The warehouse, then the result cache.
	const byChannel = `{"measures":["orders.total_amount"],"dimensions":["orders.channel"],"order":[["orders.channel","asc"]]}`
	first, _ := rest.load(byChannel)
	second, _ := rest.load(byChannel)
	if _, ok := first["usedPreAggregations"]; ok {
		t.Fatalf("the query by channel read a rollup: %v", first["usedPreAggregations"])
	}
	if sameData(first["data"].([]any), second["data"].([]any)) != "" {
		t.Fatal("the cached answer differs")
	}
	ev := newest(2)
	if len(ev) != 2 || ev[1].Served != "warehouse" || ev[0].Served != "cache" || ev[0].Outcome != "ok" || ev[1].Code != "" || ev[0].Code != "" {
		t.Errorf("a REST query run twice: %s", servedOf(ev))
	}
	// The raw JSON names the fields code and served.
	if a := api.do("GET", "/admin/v1/audit?kind=query&limit=1", admin.KeyValue, nil); !strings.Contains(string(a.Data), `"served":"cache"`) {
		t.Errorf("GET /admin/v1/audit: %s", a.Data)
	}

	// A rollup, over REST and SQL.
	ans, _ := rest.load(`{"measures":["orders.count"],"dimensions":["orders.status"]}`)
	if used, _ := ans["usedPreAggregations"].(map[string]any); used["orders.by_status"] == nil {
		t.Fatalf("the query by status did not read the rollup: %v", ans["usedPreAggregations"])
	}
	if ev := newest(1); ev[0].Served != "rollup:orders.by_status" || ev[0].Action != "rest" {
		t.Errorf("REST over the rollup: %s", servedOf(ev))
	}
	cred, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "psql", Database: g.Database})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	conn := apptest.Connect(t, app.ConnectionString(cred.Username, pw, host, port, g.Database))
	rows, err := conn.Query(ctx, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Close(); rows.Err() != nil || n == 0 {
		t.Fatalf("SQL over the rollup: %d rows, %v", n, rows.Err())
	}
	if ev := newest(1); ev[0].Served != "rollup:orders.by_status" || ev[0].Action != "sql" || ev[0].Rows != int64(n) {
		t.Errorf("SQL over the rollup: %s", servedOf(ev))
	}

	// Refused while planned: an unknown column (the literal is left out
	// of the log), then a member the security context hides.
	_, err = conn.Exec(ctx, `SELECT nope FROM orders WHERE status = 'a secret value'`)
	if code := sqlState(err); code != "42703" {
		t.Fatalf("an unknown column: %v", err)
	}
	refused := newest(1)[0]
	if refused.Outcome != "error" || refused.Code != "42703" || refused.Served != "" || refused.Action != "sql" ||
		!strings.Contains(refused.Statement, "SELECT nope FROM orders WHERE status = $1") || refused.CredentialID != cred.ID {
		t.Errorf("the refused statement's event: %+v", refused)
	}
	if strings.Contains(refused.Statement, "secret") || strings.Contains(refused.WarehouseSQL, "secret") {
		t.Errorf("the literal is in the log: %+v", refused)
	}
	hidden, hpw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "hidden", Database: g.Database,
		Security: auth.SecurityContext{Allow: []string{"orders.count", "orders.status"}}})
	if err != nil {
		t.Fatal(err)
	}
	hconn := apptest.Connect(t, app.ConnectionString(hidden.Username, hpw, host, port, g.Database))
	_, err = hconn.Exec(ctx, `SELECT MEASURE(total_amount) FROM orders`)
	if code := sqlState(err); code != "42501" {
		t.Fatalf("a hidden member: %v", err)
	}
	if ev := newest(1); ev[0].Outcome != "error" || ev[0].Code != "42501" || ev[0].CredentialID != hidden.ID || ev[0].Served != "" {
		t.Errorf("the hidden member's event: %+v", ev[0])
	}
	// REST: an unknown member, refused before it compiled.
	if st := rest.status(`{"measures":["orders.nope"]}`); st != 400 {
		t.Fatalf("REST's unknown member: %d", st)
	}
	if ev := newest(1); ev[0].Outcome != "error" || ev[0].Code != "42703" || ev[0].Action != "rest" || ev[0].Served != "" {
		t.Errorf("REST's unknown member's event: %+v", ev[0])
	}

	// The console's Query history.
	c := newConsoleClient(t, base)
	c.mustSignIn(url.Values{"api_key": {admin.KeyValue}})
	_, page := c.get("/console/queries?outcome=error&api=sql&q=nope")
	row := regexp.MustCompile(fmt.Sprintf(`(?s)<tr data-event="%d" data-api="SQL" data-outcome="error">(.*?)</tr>`, refused.ID)).FindStringSubmatch(page)
	if row == nil || !strings.Contains(row[1], `<code class="sqlstate" title="SQLSTATE">42703</code>`) || !strings.Contains(row[1], "SELECT nope FROM orders WHERE status = $1") ||
		!strings.Contains(row[1], `<td class="served nowrap">—</td>`) {
		t.Errorf("the refused statement in the history:\n%s", page)
	}
	_, detail := c.get(fmt.Sprintf("/console/queries/%d", refused.ID))
	if !strings.Contains(detail, `(SQLSTATE <code id="event-code">42703</code>)`) {
		t.Errorf("the refused statement's detail:\n%s", detail)
	}
	_, page = c.get("/console/queries?served=rollup")
	if !strings.Contains(page, `<td class="served nowrap">rollup orders.by_status</td>`) || strings.Contains(page, `<td class="served nowrap">result cache</td>`) ||
		!strings.Contains(page, "Showing events 1–2 of 2 matching") {
		t.Errorf("served=rollup:\n%s", page)
	}
	_, page = c.get("/console/queries?served=cache")
	if !strings.Contains(page, `<td class="served nowrap">result cache</td>`) || !strings.Contains(page, "orders.channel") {
		t.Errorf("served=cache:\n%s", page)
	}
}

// sqlState is a wire error's SQLSTATE ("" for none).
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// servedOf lists events as action/outcome/code/served, for a message.
func servedOf(events []auth.AuditEvent) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "[%d %s %s %q %q] ", e.ID, e.Action, e.Outcome, e.Code, e.Served)
	}
	return b.String()
}
