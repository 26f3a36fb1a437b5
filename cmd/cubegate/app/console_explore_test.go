package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

var (
	tableRE = regexp.MustCompile(`(?s)<table id="result-table">.*?<tbody>(.*?)</tbody>`)
	rowRE   = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	preRE   = func(id string) *regexp.Regexp { return regexp.MustCompile(`(?s)<pre id="` + id + `"[^>]*>(.*?)</pre>`) }
)

// resultRows is the playground's result table as text ("NULL" for NULL).
func resultRows(t *testing.T, page string) [][]string {
	t.Helper()
	m := tableRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no result table in the page:\n%s", page)
	}
	var out [][]string
	for _, r := range rowRE.FindAllStringSubmatch(m[1], -1) {
		var row []string
		for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
			if strings.Contains(c[1], `class="null"`) {
				row = append(row, "NULL")
			} else {
				row = append(row, html.UnescapeString(c[1]))
			}
		}
		out = append(out, row)
	}
	return out
}

// preText is the text of <pre id="id">, "" when there is none.
func preText(page, id string) string {
	if m := preRE(id).FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// psqlRows runs sql through the gateway's SQL API in the simple protocol
// and returns the rows as text, as psql shows them ("NULL" for NULL).
func psqlRows(t *testing.T, connStr, sql string) [][]string {
	t.Helper()
	conn := apptest.Connect(t, connStr)
	res, err := conn.PgConn().Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]string
	for _, r := range res[len(res)-1].Rows {
		var row []string
		for _, v := range r {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, string(v))
			}
		}
		out = append(out, row)
	}
	return out
}

// TestConsoleExplore runs the Playground on a real gateway over
// PostgreSQL with the demo model: the builder's and the SQL box's tables
// equal what the SQL API answers psql for the same query, their
// warehouse SQL equals /cubejs-api/v1/sql's and EXPLAIN's, both queries
// are then in the Query history with their principal, API, duration and
// rows; and the Model explorer hides from a restricted key what its
// security context and the model hide.
func TestConsoleExplore(t *testing.T) {
	modelDir := filepath.Join(t.TempDir(), "model")
	if err := app.WriteDemoModel(modelDir); err != nil {
		t.Fatal(err)
	}
	// A hidden member, and an XSS payload in a description.
	cust := filepath.Join(modelDir, "customers.yml")
	b, err := os.ReadFile(cust)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("      - name: city\n"), []byte("      - name: name_hash\n        sql: md5(name)\n        type: string\n        public: false\n\n      - name: city\n        description: \"<img src=x onerror=alert(1)>\"\n"), 1)
	if err := os.WriteFile(cust, b, 0o644); err != nil {
		t.Fatal(err)
	}
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(200), ModelDir: modelDir, Adjust: func(c *app.Config) { c.Model.Watch = false }})
	ctx := context.Background()
	base := "http://" + g.HTTPAddr().String()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("admin"), Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("restricted"), Scopes: &[]string{"meta", "load"},
		Security: &auth.SecurityContext{Allow: []string{"orders.count", "orders.status", "customers.city", "customers.name_hash"}}})
	if err != nil {
		t.Fatal(err)
	}
	// psql's credential holds sql, as the admin key does: EXPLAIN shows
	// the warehouse SQL to both.
	cred, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "psql", Database: g.Database, Scopes: []string{"sql"}})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	connStr := app.ConnectionString(cred.Username, pw, host, port, g.Database)

	c := newConsoleClient(t, base)
	c.mustSignIn(url.Values{"api_key": {admin.KeyValue}})
	restV1SQL := func(q string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/cubejs-api/v1/sql", strings.NewReader(`{"query":`+q+`}`))
		req.Header.Set("Authorization", "Bearer "+admin.KeyValue)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var ans struct {
			SQL struct {
				SQL []json.RawMessage `json:"sql"`
			} `json:"sql"`
		}
		if err := json.Unmarshal(body, &ans); err != nil || len(ans.SQL.SQL) == 0 {
			t.Fatalf("/v1/sql: %d %s", resp.StatusCode, body)
		}
		var sql string
		json.Unmarshal(ans.SQL.SQL[0], &sql)
		return sql
	}

	builderRows := 0
	t.Run("builder", func(t *testing.T) {
		resp, page := c.post("/console/playground", url.Values{"run": {"builder"}, "measures": {"orders.count", "orders.total_amount"},
			"dimensions": {"orders.status"}, "order_member_0": {"orders.status"}, "order_dir_0": {"asc"}, "limit": {"100"}, "page_size": {"100"}})
		if resp.StatusCode != 200 {
			t.Fatalf("builder: %d\n%s", resp.StatusCode, page)
		}
		got := resultRows(t, page)
		builderRows = len(got)
		want := psqlRows(t, connStr, "SELECT status, MEASURE(count), MEASURE(total_amount) FROM orders GROUP BY 1 ORDER BY 1 LIMIT 100")
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) < 2 {
			t.Errorf("the builder's table\n%v\nis not psql's\n%v", got, want)
		}
		q := `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"],"order":[["orders.status","asc"]],"limit":100}`
		if ws, v1 := preText(page, "warehouse-sql"), restV1SQL(q); ws != v1 || v1 == "" || preText(page, "warehouse-params") != "$1 = 100" {
			t.Errorf("the builder's warehouse SQL\n%s\nis not /v1/sql's\n%s", ws, v1)
		}
		for _, want := range []string{`id="result-chart"`, `data-kind="bar"`, `id="cube-query"`} {
			if !strings.Contains(page, want) {
				t.Errorf("the builder's answer lacks %s", want)
			}
		}
	})

	t.Run("builder time series", func(t *testing.T) {
		_, page := c.post("/console/playground", url.Values{"run": {"builder"}, "measures": {"orders.count"},
			"time_dimension": {"orders.created_at"}, "granularity": {"month"}, "order_member_0": {"orders.created_at"}, "limit": {"500"}, "page_size": {"50"}})
		got := resultRows(t, page)
		want := psqlRows(t, connStr, "SELECT DATE_TRUNC('month', created_at), MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1 LIMIT 500")
		// REST spells a timestamp 2024-01-01T00:00:00.000, psql 2024-01-01 00:00:00.
		for _, r := range got {
			r[0] = strings.TrimSuffix(strings.Replace(r[0], "T", " ", 1), ".000")
		}
		if len(want) > 50 {
			want = want[:50]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) < 2 {
			t.Errorf("the time series\n%v\nis not psql's\n%v", got, want)
		}
		if !strings.Contains(page, `data-kind="line"`) {
			t.Error("a time series is not a line chart")
		}
	})

	const boxSQL = "SELECT status, MEASURE(count), MEASURE(avg_amount) FROM orders GROUP BY 1 ORDER BY 1"
	t.Run("SQL box", func(t *testing.T) {
		resp, page := c.post("/console/playground", url.Values{"run": {"sql"}, "sql": {boxSQL}, "page_size": {"100"}})
		if resp.StatusCode != 200 {
			t.Fatalf("SQL box: %d\n%s", resp.StatusCode, page)
		}
		got, want := resultRows(t, page), psqlRows(t, connStr, boxSQL)
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) < 2 {
			t.Errorf("the SQL box's table\n%v\nis not psql's\n%v", got, want)
		}
		// EXPLAIN's last line says how fresh the result cache's answer
		// is: it changes from one EXPLAIN to the next.
		stable := func(lines []string) string {
			var out []string
			for _, l := range lines {
				if !strings.HasPrefix(l, "Result cache:") {
					out = append(out, l)
				}
			}
			return strings.Join(out, "\n")
		}
		var plan []string
		for _, r := range psqlRows(t, connStr, "EXPLAIN "+boxSQL) {
			plan = append(plan, r[0])
		}
		if ex := stable(strings.Split(preText(page, "warehouse-sql"), "\n")); ex != stable(plan) || !strings.Contains(ex, "orders_raw") {
			t.Errorf("the SQL box's EXPLAIN\n%s\nis not psql's\n%s", ex, stable(plan))
		}
		// Page size 50 of more rows: counted, not silently cut.
		_, page = c.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT id FROM orders ORDER BY id"}, "page_size": {"50"}})
		if n := len(resultRows(t, page)); n != 50 || !strings.Contains(page, "Showing the first 50 of 200 rows") || !strings.Contains(page, "150 more rows are not shown") {
			t.Errorf("200 rows at page size 50: %d shown\n%s", n, page)
		}
		_, page = c.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT nope FROM orders"}})
		if !strings.Contains(page, `id="query-sqlstate">SQLSTATE 42703</code>`) {
			t.Errorf("a bad column's error:\n%s", page)
		}
	})

	t.Run("history", func(t *testing.T) {
		who := "api_key:" + admin.ID
		resp, page := c.get("/console/queries?api=rest&principal=" + url.QueryEscape(who))
		if resp.StatusCode != 200 {
			t.Fatalf("history: %d", resp.StatusCode)
		}
		ev := regexp.MustCompile(`(?s)<tr data-event="(\d+)" data-api="REST" data-outcome="ok">(.*?)</tr>`).FindAllStringSubmatch(page, -1)
		var found string
		for _, e := range ev {
			if strings.Contains(e[2], "orders.total_amount") && strings.Contains(e[2], who) && regexp.MustCompile(`<td class="num">[0-9.]+ ms</td>`).MatchString(e[2]) {
				found = e[1]
				if !strings.Contains(e[2], fmt.Sprintf(`<td class="num">%d</td>`, builderRows)) {
					t.Errorf("the builder's query's rows: %s", e[2])
				}
			}
		}
		if found == "" {
			t.Fatalf("the builder's query is not in the history:\n%s", page)
		}
		_, detail := c.get("/console/queries/" + found)
		q := `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"],"order":[["orders.status","asc"]],"limit":100}`
		if ws := preText(detail, "event-warehouse-sql"); ws != restV1SQL(q) {
			t.Errorf("the event's warehouse SQL\n%s\nis not /v1/sql's", ws)
		}
		_, page = c.get("/console/queries?api=sql&q=avg_amount")
		if !strings.Contains(page, "MEASURE(avg_amount)") || !strings.Contains(page, `<td class="principal">`+who+`</td>`) || !strings.Contains(page, `data-api="SQL" data-outcome="ok"`) {
			t.Errorf("the SQL box's statement is not in the history:\n%s", page)
		}
		// A console user's statement names the user.
		store, err := auth.OpenStore(ctx, g.Config.State.DSN)
		if err != nil {
			t.Fatal(err)
		}
		users, err := auth.NewConsoleUsers(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.CreateUser(ctx, "grace", auth.DefaultTenant, "a long enough password", []string{"admin"}, "test"); err != nil {
			t.Fatal(err)
		}
		store.Close()
		u := newConsoleClient(t, base)
		u.mustSignIn(url.Values{"username": {"grace"}, "password": {"a long enough password"}})
		if _, page := u.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT MEASURE(count) FROM customers"}}); len(resultRows(t, page)) != 1 {
			t.Errorf("the console user's statement:\n%s", page)
		}
		_, page = c.get("/console/queries?principal=console_user:grace")
		if !strings.Contains(page, `<td class="principal">console_user:grace</td>`) || !strings.Contains(page, "MEASURE(count) FROM customers") {
			t.Errorf("the console user's statement is not in the history:\n%s", page)
		}
		// A refused query is there too, with its error.
		c.post("/console/playground", url.Values{"run": {"json"}, "query_json": {`{"measures":["orders.nope"]}`}})
		_, page = c.get("/console/queries?outcome=error&api=rest")
		if !strings.Contains(page, "orders.nope") || !strings.Contains(page, `data-api="REST" data-outcome="error"`) {
			t.Errorf("the refused query is not in the history:\n%s", page)
		}
	})

	t.Run("explorer", func(t *testing.T) {
		_, page := c.get("/console/model")
		for _, want := range []string{`id="join-diagram"`, `data-node="orders"`, `data-from="orders" data-to="customers"`, `data-member="customers.name_hash" data-public="false"`,
			`&lt;img src=x onerror=alert(1)&gt;`, `data-cube="sales" data-kind="view"`} {
			if !strings.Contains(page, want) {
				t.Errorf("the admin's explorer lacks %s", want)
			}
		}
		if strings.Contains(page, "<img src=x") {
			t.Error("a description is rendered as markup")
		}
		r := newConsoleClient(t, base)
		r.mustSignIn(url.Values{"api_key": {restricted.KeyValue}})
		_, page = r.get("/console/model")
		var members []string
		for _, m := range regexp.MustCompile(`data-member="([^"]+)"`).FindAllStringSubmatch(page, -1) {
			members = append(members, m[1])
		}
		if strings.Join(members, " ") != "customers.city orders.count orders.status" {
			t.Errorf("the restricted key sees %v (not the hidden customers.name_hash, nothing its context leaves out)", members)
		}
		_, page = r.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT MEASURE(total_amount) FROM orders"}})
		if !strings.Contains(page, "SQLSTATE 42501") {
			t.Errorf("the restricted key read total_amount over SQL:\n%s", page)
		}
		_, page = r.post("/console/playground", url.Values{"run": {"builder"}, "measures": {"orders.total_amount"}})
		if !strings.Contains(page, `id="query-status">HTTP 403`) {
			t.Errorf("the restricted key read total_amount over REST:\n%s", page)
		}
		_, page = r.post("/console/playground", url.Values{"run": {"builder"}, "measures": {"orders.count"}, "dimensions": {"orders.status"}, "limit": {"10"}})
		if len(resultRows(t, page)) < 2 || !strings.Contains(page, "The warehouse SQL is shown to principals holding the sql scope") {
			t.Errorf("the restricted key's allowed query:\n%s", page)
		}
		if resp, _ := r.get("/console/queries"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("the history without audit:read: %d", resp.StatusCode)
		}
	})
}
