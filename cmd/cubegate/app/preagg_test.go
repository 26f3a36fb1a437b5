package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// rollupYAML gives the demo model's orders three rollups, one built in
// quarterly partitions.
const rollupYAML = `
    pre_aggregations:
      - name: by_channel_month_parts
        measures: [count, total_amount, completed_count]
        dimensions: [channel]
        time_dimension: created_at
        granularity: day
        partition_granularity: quarter
      - name: by_status_day
        measures: [count, total_amount, min_amount, max_amount, completed_count, total_quantity]
        dimensions: [status, channel]
        segments: [completed]
        time_dimension: created_at
        granularity: day
      - name: by_country
        measures: [count, total_amount]
        dimensions: [customers.country, customers.tier]
`

func rollupModelDir(t *testing.T) string { return demoModelWith(t, rollupYAML) }

// demoModelWith is a folder holding the demo model with yaml (a
// pre_aggregations: section) appended to its orders cube.
func demoModelWith(t testing.TB, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := app.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "orders.yml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
	return dir
}

// restClient posts /load with a key.
type restClient struct {
	t    *testing.T
	base string
	key  string
}

func (c restClient) load(q string) (map[string]any, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/cubejs-api/v1/load", bytes.NewReader([]byte(`{"query":`+q+`}`)))
	req.Header.Set("Authorization", c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans map[string]any
	if err := json.Unmarshal(b, &ans); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("load %s: %d %.300s", q, resp.StatusCode, b)
	}
	return ans, string(b)
}

// status posts /load and returns the HTTP status alone.
func (c restClient) status(q string) int {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/cubejs-api/v1/load", bytes.NewReader([]byte(`{"query":`+q+`}`)))
	req.Header.Set("Authorization", c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitBuilt waits until every pre-aggregation of the gateway is BUILT.
func waitBuilt(t *testing.T, api *apiClient, admin string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := api.do("GET", "/admin/v1/pre-aggregations", admin, nil)
		var list []map[string]any
		json.Unmarshal(a.Data, &list)
		built := 0
		for _, p := range list {
			if p["state"] == "BUILT" {
				built++
			}
			if p["state"] == "ERROR" {
				t.Fatalf("a pre-aggregation failed to build: %v", p)
			}
		}
		if built == n && len(list) == n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("pre-aggregations not built within 60 s: %s", a.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sameData compares two answers' data: equal strings, or numbers equal to
// 1e-9 relative (a rollup's number measure is computed in the rollup
// store's arithmetic, not the warehouse's).
func sameData(a, b []any) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		ra, rb := a[i].(map[string]any), b[i].(map[string]any)
		if len(ra) != len(rb) {
			return fmt.Sprintf("row %d: %v vs %v", i, ra, rb)
		}
		for k, va := range ra {
			vb := rb[k]
			if fmt.Sprint(va) == fmt.Sprint(vb) {
				continue
			}
			fa, ea := strconv.ParseFloat(fmt.Sprint(va), 64)
			fb, eb := strconv.ParseFloat(fmt.Sprint(vb), 64)
			if ea == nil && eb == nil && math.Abs(fa-fb) <= 1e-9*math.Max(1, math.Abs(fa)) {
				continue
			}
			return fmt.Sprintf("row %d %s: %v vs %v", i, k, va, vb)
		}
	}
	return ""
}

// randomRollupQuery draws a query over the rollups' members: some match
// a rollup, some (unaligned date ranges, members outside) do not.
func randomRollupQuery(r *rand.Rand) string {
	pick := func(from []string, min int) []string {
		out := []string{}
		for _, x := range from {
			if r.IntN(3) == 0 {
				out = append(out, x)
			}
		}
		for len(out) < min {
			out = append(out, from[r.IntN(len(from))])
			sort.Strings(out)
			out = compactStrings(out)
		}
		return out
	}
	q := map[string]any{}
	if r.IntN(5) == 0 {
		q["measures"] = pick([]string{"orders.count", "orders.total_amount"}, 1)
		q["dimensions"] = pick([]string{"customers.country", "customers.tier"}, 0)
	} else {
		q["measures"] = pick([]string{"orders.count", "orders.total_amount", "orders.min_amount", "orders.max_amount", "orders.completed_count",
			"orders.total_quantity", "orders.avg_order_value", "orders.completed_ratio", "orders.avg_amount"}, 1)
		q["dimensions"] = pick([]string{"orders.status", "orders.channel"}, 0)
		if r.IntN(4) > 0 {
			td := map[string]any{"dimension": "orders.created_at"}
			if g := []string{"", "day", "week", "month", "quarter", "year"}[r.IntN(6)]; g != "" {
				td["granularity"] = g
			}
			switch r.IntN(3) {
			case 0:
				td["dateRange"] = []string{"2022-03-01", "2023-06-30"}
			case 1:
				td["dateRange"] = []string{"2022-03-05T10:00:00", "2023-01-01"} // not on a day's boundary
			}
			q["timeDimensions"] = []any{td}
		}
		if r.IntN(3) == 0 {
			q["segments"] = []string{"orders.completed"}
		}
		if r.IntN(3) == 0 {
			q["filters"] = []any{map[string]any{"member": "orders.status", "operator": []string{"equals", "notEquals"}[r.IntN(2)], "values": []string{"shipped", "cancelled"}[:1+r.IntN(2)]}}
		}
		if r.IntN(4) == 0 {
			q["filters"] = []any{map[string]any{"member": "orders.amount", "operator": "gt", "values": []string{"100"}}} // not in a rollup
		}
	}
	// A total order, so that both answers list rows alike.
	order := [][]string{}
	for _, d := range q["dimensions"].([]string) {
		order = append(order, []string{d, "asc"})
	}
	if tds, ok := q["timeDimensions"].([]any); ok {
		if td := tds[0].(map[string]any); td["granularity"] != nil {
			order = append([][]string{{"orders.created_at", "asc"}}, order...)
		}
	}
	q["order"] = order
	q["limit"] = 50000
	if r.IntN(5) == 0 {
		q["timezone"] = "America/New_York" // rollups are UTC: the warehouse answers
	}
	b, _ := json.Marshal(q)
	return string(b)
}

// randomRollupSQL draws a SQL statement over the rollups' members, as a
// BI tool writes a cube query.
func randomRollupSQL(r *rand.Rand) string {
	var cols, group []string
	for _, d := range []string{"status", "channel"} {
		if r.IntN(2) == 0 {
			cols = append(cols, d)
		}
	}
	if g := []string{"", "day", "month", "year"}[r.IntN(4)]; g != "" {
		cols = append(cols, "date_trunc('"+g+"', created_at) AS t")
	}
	for i := range cols {
		group = append(group, strconv.Itoa(i+1))
	}
	ms := []string{"MEASURE(count)", "MEASURE(total_amount)", "MEASURE(min_amount)", "MEASURE(max_amount)", "MEASURE(completed_count)", "MEASURE(avg_order_value)", "MEASURE(avg_amount)"}
	n := 1 + r.IntN(3)
	for i := 0; i < n; i++ {
		cols = append(cols, ms[r.IntN(len(ms))])
	}
	sql := "SELECT " + strings.Join(cols, ", ") + " FROM orders"
	var where []string
	switch r.IntN(4) {
	case 0:
		where = append(where, "status IN ('shipped', 'completed')")
	case 1:
		where = append(where, "channel <> 'web'")
	}
	switch r.IntN(3) {
	case 0:
		where = append(where, "created_at >= '2022-04-01' AND created_at < '2023-01-01'")
	case 1:
		where = append(where, "created_at >= '2022-04-01 12:00:00'")
	}
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	if len(group) > 0 {
		sql += " GROUP BY " + strings.Join(group, ", ")
	}
	var order []string
	for i := range cols {
		order = append(order, strconv.Itoa(i+1))
	}
	return sql + " ORDER BY " + strings.Join(order, ", ")
}

// sameText compares two results' text cells: equal, or numbers equal to
// 1e-9 relative.
func sameText(a, b [][]string) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows vs %d", len(a), len(b))
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] == b[i][j] {
				continue
			}
			fa, ea := strconv.ParseFloat(a[i][j], 64)
			fb, eb := strconv.ParseFloat(b[i][j], 64)
			if ea == nil && eb == nil && math.Abs(fa-fb) <= 1e-9*math.Max(1, math.Abs(fa)) {
				continue
			}
			return fmt.Sprintf("row %d column %d: %s vs %s", i, j, a[i][j], b[i][j])
		}
	}
	return ""
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// TestPreAggregations: rollups declared in the model are built into the
// rollup store and answer the queries they cover, over REST and SQL,
// exactly as the warehouse does — 300 random queries against a gateway
// without pre-aggregations on the same data, on DuckDB and PostgreSQL —
// and say so (usedPreAggregations, EXPLAIN naming the rollup or why
// none matched).
func TestPreAggregations(t *testing.T) {
	for _, engine := range []string{"duckdb", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := rollupModelDir(t)
			fixture := apptest.Demo(3000)
			opts := func(preagg bool) apptest.Options {
				o := apptest.Options{ModelDir: dir, Adjust: func(c *app.Config) {
					c.PreAgg.Enabled = preagg
					c.Cache.Enabled = false
				}}
				if engine == "duckdb" {
					o.DuckDB = fixture
				} else {
					o.Postgres = fixture
				}
				return o
			}
			with, without := apptest.Start(t, opts(true)), apptest.Start(t, opts(false))
			ctx := context.Background()
			keyWith := func(g *apptest.Gateway, sec *auth.SecurityContext, scopes ...string) string {
				return testKey(t, g, sec, scopes...)
			}
			keyOf := func(g *apptest.Gateway, scopes ...string) string { return testKey(t, g, nil, scopes...) }
			admin := keyOf(with, "admin")
			api := newAPIClient(t, "http://"+with.HTTPAddr().String(), "")
			list := waitBuilt(t, api, admin, 3)
			for _, p := range list {
				if p["rows"].(float64) <= 0 {
					t.Fatalf("a built rollup without rows: %v", p)
				}
			}
			a := restClient{t, "http://" + with.HTTPAddr().String(), keyOf(with, "load")}
			b := restClient{t, "http://" + without.HTTPAddr().String(), keyOf(without, "load")}
			// A third of the queries under a security context whose row
			// filter the matcher must treat as a filter.
			notCancelled := &auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "notEquals", Values: []string{"cancelled"}}}}
			fa := restClient{t, a.base, keyWith(with, notCancelled, "load")}
			fb := restClient{t, b.base, keyWith(without, notCancelled, "load")}
			r := rand.New(rand.NewPCG(7, 17))
			used := map[string]int{}
			var served strings.Builder
			for i := 0; i < 300; i++ {
				q := randomRollupQuery(r)
				ca, cb, who := a, b, ""
				if i%3 == 2 {
					ca, cb, who = fa, fb, "row filter "
				}
				ansA, rawA := ca.load(q)
				ansB, _ := cb.load(q)
				if d := sameData(ansA["data"].([]any), ansB["data"].([]any)); d != "" {
					t.Fatalf("query %d %s: with pre-aggregations %s\n%.500s", i, q, d, rawA)
				}
				by := "(none)"
				if u, ok := ansA["usedPreAggregations"].(map[string]any); ok && len(u) > 0 {
					for name := range u {
						by = name
					}
				}
				used[by]++
				fmt.Fprintf(&served, "%-30s %s%s\n", by, who, q)
			}
			t.Logf("300 random queries answered alike; served by: %v", used)
			// Which rollup served which query, the same on both engines.
			golden := filepath.Join("testdata", "preagg_served.txt")
			if *rewrite {
				if err := os.WriteFile(golden, []byte(served.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if want, err := os.ReadFile(golden); err != nil || string(want) != served.String() {
				t.Errorf("the queries' rollups differ from %s (go test -run TestPreAggregations -rewrite writes it): %v", golden, err)
			}

			// SQL: the same answers, and EXPLAIN says which rollup or why.
			connA, connB := apptest.Connect(t, with.ConnString(t, "a")), apptest.Connect(t, without.ConnString(t, "b"))
			fromRollup := 0
			for i := 0; i < 100; i++ {
				sql := randomRollupSQL(r)
				ra, rb := viaGateway(t, connA, sql), viaGateway(t, connB, sql)
				if d := sameText(ra, rb); d != "" {
					t.Fatalf("SQL %d %s: with pre-aggregations %s", i, sql, d)
				}
				if strings.Contains(sqlRows(t, connA, "EXPLAIN "+sql), "Pre-aggregation: ") {
					fromRollup++
				}
			}
			t.Logf("100 random SQL statements answered alike, %d from a rollup", fromRollup)
			// Pushed down: a wrapper whose every cube read is a cube query
			// a rollup of the store covers runs on the store.
			for _, sql := range []string{
				`SELECT status, c FROM (SELECT status, MEASURE(count) AS c FROM orders GROUP BY 1) AS t WHERE c > 0 ORDER BY 1`,
				`WITH m AS (SELECT date_trunc('month', created_at) AS month, channel, MEASURE(total_amount) AS amount, MEASURE(count) AS n FROM orders GROUP BY 1, 2) SELECT month, channel, amount, n, sum(amount) OVER (PARTITION BY channel ORDER BY month) AS running FROM m ORDER BY 1, 2`,
			} {
				if d := sameText(viaGateway(t, connA, sql), viaGateway(t, connB, sql)); d != "" {
					t.Fatalf("%s: with pre-aggregations %s", sql, d)
				}
				if ex := sqlRows(t, connA, "EXPLAIN "+sql); !strings.Contains(ex, "(the rollup store)") || !strings.Contains(ex, "Push-down") {
					t.Fatalf("EXPLAIN %s:\n%s", sql, ex)
				}
			}
			// Over the extended protocol (described, then run), with a
			// parameter in the outer statement.
			ext := func(c *pgx.Conn) string {
				rows, err := c.Query(ctx, `SELECT status, c FROM (SELECT status, MEASURE(count) AS c FROM orders GROUP BY 1) AS t WHERE c > $1 ORDER BY 1`, 10)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var st string
					var n int64
					if err := rows.Scan(&st, &n); err != nil {
						t.Fatal(err)
					}
					out = append(out, fmt.Sprint(st, n))
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return strings.Join(out, ",")
			}
			if a, b := ext(connA), ext(connB); a != b || a == "" {
				t.Fatalf("extended protocol: %q with pre-aggregations, %q without", a, b)
			}
			// A division is a double in the store, a numeric on
			// PostgreSQL: such a statement stays on the warehouse there
			// (its types are the ones it was described with); alike
			// either way.
			div := `SELECT channel, amount / n AS per_order FROM (SELECT channel, MEASURE(total_amount) AS amount, MEASURE(count) AS n FROM orders GROUP BY 1) t ORDER BY 1`
			if d := sameText(viaGateway(t, connA, div), viaGateway(t, connB, div)); d != "" {
				t.Fatalf("%s: with pre-aggregations %s", div, d)
			}
			if ex := sqlRows(t, connA, "EXPLAIN "+div); (engine == "postgres") == strings.Contains(ex, "(the rollup store)") {
				t.Fatalf("EXPLAIN on %s %s:\n%s", engine, div, ex)
			}
			if fromRollup < 20 {
				t.Fatalf("only %d of 100 SQL statements from a rollup", fromRollup)
			}
			for _, c := range []struct{ sql, explain string }{
				{`SELECT status, MEASURE(count), MEASURE(total_amount) FROM orders GROUP BY 1 ORDER BY 1`, "Pre-aggregation: orders.by_status_day"},
				{`SELECT date_trunc('month', created_at) AS m, channel, MEASURE(completed_count) FROM orders WHERE created_at >= '2022-06-01' AND created_at < '2023-01-01' GROUP BY 1, 2 ORDER BY 1, 2`, "Pre-aggregation: orders.by_channel_month_parts"},
				{`SELECT customers.country, MEASURE(orders.total_amount) FROM orders JOIN customers ON true GROUP BY 1 ORDER BY 1`, "Pre-aggregation: orders.by_country"},
				{`SELECT amount_tier, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`, "orders.by_status_day: no — orders.amount_tier"},
			} {
				ra, rb := sqlRows(t, connA, c.sql), sqlRows(t, connB, c.sql)
				if ra != rb {
					t.Fatalf("%s\nwith pre-aggregations:\n%s\nwithout:\n%s", c.sql, ra, rb)
				}
				if ex := sqlRows(t, connA, "EXPLAIN "+c.sql); !strings.Contains(ex, c.explain) {
					t.Fatalf("EXPLAIN %s:\n%s\nwant %q", c.sql, ex, c.explain)
				}
			}
			if used["orders.by_status_day"] < 60 || used["orders.by_country"] < 10 || used["orders.by_channel_month_parts"] < 10 || used["(none)"] < 30 {
				t.Fatalf("served by %v: want each rollup and the warehouse to answer a share", used)
			}
		})
	}
}

// sqlRows runs sql and prints its rows, one line each.
func sqlRows(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range viaGateway(t, conn, sql) {
		b.WriteString(strings.Join(r, "|") + "\n")
	}
	return b.String()
}

// TestPreAggregationRefresh: a rollup is rebuilt every refresh_key every
// and picks up the warehouse's new rows; a build that fails leaves the
// old build serving (state ERROR, its error shown) and is retried; a
// reload that changes a rollup builds the new one and drops the old.
func TestPreAggregationRefresh(t *testing.T) {
	dir := t.TempDir()
	if err := app.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	orders := filepath.Join(dir, "orders.yml")
	base, err := os.ReadFile(orders)
	if err != nil {
		t.Fatal(err)
	}
	write := func(measures string) {
		t.Helper()
		yml := string(base) + `
    pre_aggregations:
      - name: by_status
        measures: [` + measures + `]
        dimensions: [status]
        refresh_key:
          every: 1 second
`
		if err := os.WriteFile(orders, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("count")
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), ModelDir: dir, Adjust: func(c *app.Config) {
		c.Cache.Enabled = false
		c.Model.Watch = false
	}})
	keyOf := func(scopes ...string) string { return testKey(t, g, nil, scopes...) }
	admin := keyOf("admin")
	api := newAPIClient(t, "http://"+g.HTTPAddr().String(), "")
	waitBuilt(t, api, admin, 1)
	rest := restClient{t, "http://" + g.HTTPAddr().String(), keyOf("load")}
	count := func() (string, bool) {
		ans, _ := rest.load(`{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.status","operator":"equals","values":["shipped"]}]}`)
		data := ans["data"].([]any)
		used, _ := ans["usedPreAggregations"].(map[string]any)
		return fmt.Sprint(data[0].(map[string]any)["orders.count"]), len(used) == 1
	}
	wh := g.Warehouse().(*warehouse.DuckDB)
	exec := func(sql string) {
		t.Helper()
		if _, err := wh.DB().Exec(sql); err != nil {
			t.Fatal(err)
		}
	}
	truth := func() string {
		return direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE status = 'shipped'`)[0][0]
	}
	if n, used := count(); !used || n != truth() {
		t.Fatalf("from the rollup: %s (used %v), want %s", n, used, truth())
	}

	// New rows reach the rollup within its interval.
	exec(`INSERT INTO public.orders_raw SELECT * REPLACE (id + 1000000 AS id, 'shipped' AS status) FROM public.orders_raw WHERE id <= 100`)
	want := truth()
	t0 := time.Now()
	for {
		n, used := count()
		if used && n == want {
			break
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("after 10 s the rollup answers %s (used %v), the warehouse %s", n, used, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("new rows answered from the rebuilt rollup %s after they were written", time.Since(t0).Round(time.Millisecond))

	// A build that fails keeps the old one serving, then recovers.
	exec(`ALTER TABLE public.orders_raw RENAME TO orders_away`)
	var failed map[string]any
	for deadline := time.Now().Add(10 * time.Second); failed == nil; time.Sleep(100 * time.Millisecond) {
		a := api.do("GET", "/admin/v1/pre-aggregations", admin, nil)
		var list []map[string]any
		json.Unmarshal(a.Data, &list)
		if len(list) == 1 && list[0]["error"] != nil {
			failed = list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed build shown: %s", a.Data)
		}
	}
	if failed["state"] != "BUILT" || !strings.Contains(fmt.Sprint(failed["error"]), "orders_raw") {
		t.Fatalf("a failed rebuild of a built rollup: %v, want BUILT with the build's error", failed)
	}
	if n, used := count(); !used || n != want {
		t.Fatalf("while its rebuild fails, the rollup answers %s (used %v), want the old build's %s", n, used, want)
	}
	exec(`ALTER TABLE public.orders_away RENAME TO orders_raw`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		a := api.do("GET", "/admin/v1/pre-aggregations", admin, nil)
		var list []map[string]any
		json.Unmarshal(a.Data, &list)
		if len(list) == 1 && list[0]["error"] == nil && list[0]["state"] == "BUILT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollup did not recover: %s", a.Data)
		}
	}

	// A reload that changes the rollup builds the new one, drops the old.
	old := waitBuilt(t, api, admin, 1)[0]["id"]
	write("count, total_amount")
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		list := waitBuilt(t, api, admin, 1)
		if list[0]["id"] != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed rollup was not built: %v", list)
		}
	}
	ans, _ := rest.load(`{"measures":["orders.total_amount"],"dimensions":["orders.status"]}`)
	if used, _ := ans["usedPreAggregations"].(map[string]any); len(used) != 1 {
		t.Fatalf("the changed rollup does not answer: %v", ans["usedPreAggregations"])
	}
}

// TestPreAggregationRefreshKeySQL: a rollup with a refresh_key sql is
// rebuilt when the key's value changes, and only then.
func TestPreAggregationRefreshKeySQL(t *testing.T) {
	dir := demoModelWith(t, `
    pre_aggregations:
      - name: by_status
        measures: [count]
        dimensions: [status]
        refresh_key:
          sql: SELECT max(id) FROM public.orders_raw
          every: 1 second
`)
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), ModelDir: dir, Adjust: func(c *app.Config) { c.Cache.Enabled = false }})
	admin := testKey(t, g, nil, "admin")
	api := newAPIClient(t, "http://"+g.HTTPAddr().String(), "")
	first := waitBuilt(t, api, admin, 1)[0]["built_at"]
	time.Sleep(2500 * time.Millisecond)
	if again := waitBuilt(t, api, admin, 1)[0]["built_at"]; again != first {
		t.Fatalf("rebuilt (%v, first %v) while the key's value stayed", again, first)
	}
	if _, err := g.Warehouse().(*warehouse.DuckDB).DB().Exec(`INSERT INTO public.orders_raw SELECT * REPLACE (id + 1000000 AS id) FROM public.orders_raw WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for waitBuilt(t, api, admin, 1)[0]["built_at"] == first {
		if time.Since(t0) > 10*time.Second {
			t.Fatal("not rebuilt 10 s after its key's value changed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("rebuilt %s after the key's value changed", time.Since(t0).Round(time.Millisecond))
}

// TestPreAggregationsInWarehouse: a rollup with external: false is built
// as a table of the warehouse (preagg.warehouse_schema) that two gateways
// on that warehouse share — one builds each refresh, both read it — and
// answers as the raw tables do.
func TestPreAggregationsInWarehouse(t *testing.T) {
	dir := demoModelWith(t, `
    pre_aggregations:
      - name: shared
        external: false
        measures: [count, total_amount, min_amount, max_amount, completed_count, total_quantity]
        dimensions: [status, channel]
        segments: [completed]
        time_dimension: created_at
        granularity: day
        refresh_key:
          every: 4 second
        indexes:
          - name: by_status
            columns: [status, created_at]
`)
	noCache := func(c *app.Config) { c.Cache.Enabled = false }
	a := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(3000), ModelDir: dir, Adjust: noCache})
	dsn := a.Postgres.DatabaseDSN("fixture")
	b := apptest.Start(t, apptest.Options{DSN: dsn, ModelDir: dir, Adjust: noCache})
	raw := apptest.Start(t, apptest.Options{DSN: dsn, ModelDir: dir, Adjust: func(c *app.Config) { noCache(c); c.PreAgg.Enabled = false }})
	keyOf := func(g *apptest.Gateway, scopes ...string) string { return testKey(t, g, nil, scopes...) }
	for _, g := range []*apptest.Gateway{a, b} {
		waitBuilt(t, newAPIClient(t, "http://"+g.HTTPAddr().String(), ""), keyOf(g, "admin"), 1)
	}
	ra := restClient{t, "http://" + a.HTTPAddr().String(), keyOf(a, "load")}
	rb := restClient{t, "http://" + b.HTTPAddr().String(), keyOf(b, "load")}
	rr := restClient{t, "http://" + raw.HTTPAddr().String(), keyOf(raw, "load")}
	r := rand.New(rand.NewPCG(3, 5))
	served := 0
	for i := 0; i < 60; i++ {
		q := randomRollupQuery(r)
		want, _ := rr.load(q)
		for _, c := range []restClient{ra, rb} {
			got, body := c.load(q)
			if d := sameData(got["data"].([]any), want["data"].([]any)); d != "" {
				t.Fatalf("query %s: %s\n%.400s", q, d, body)
			}
			if u, ok := got["usedPreAggregations"].(map[string]any); ok && u["orders.shared"] != nil {
				served++
			}
		}
	}
	if served < 30 {
		t.Fatalf("the warehouse rollup served %d of 120 answers", served)
	}
	// Its tables: in the schema, one per refresh, the older ones dropped.
	time.Sleep(5 * time.Second)
	tables := direct(t, a, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'cubegate_preagg' ORDER BY 1`)
	if len(tables) == 0 || len(tables) > 3 {
		t.Fatalf("tables in cubegate_preagg after several refreshes: %v", tables)
	}
	if ix := direct(t, a, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'cubegate_preagg'`); ix[0][0] == "0" {
		t.Fatal("the rollup's index was not made")
	}
	conn := apptest.Connect(t, b.ConnString(t, "b"))
	if ex := sqlRows(t, conn, `EXPLAIN SELECT status, MEASURE(count) FROM orders GROUP BY 1`); !strings.Contains(ex, "Pre-aggregation: orders.shared (a table in the warehouse)") {
		t.Fatalf("EXPLAIN:\n%s", ex)
	}
	// Pushed down: a BI tool's wrapper around one cube query reads the
	// rollup for its subquery.
	connRaw := apptest.Connect(t, raw.ConnString(t, "raw"))
	for _, sql := range []string{
		`SELECT status, c FROM (SELECT status, MEASURE(count) AS c FROM orders GROUP BY 1) AS t WHERE c > 0 ORDER BY 1`,
		`SELECT t.channel, t.amount / t.n AS per_order FROM (SELECT channel, MEASURE(total_amount) AS amount, MEASURE(count) AS n FROM orders WHERE status <> 'cancelled' GROUP BY 1) t ORDER BY 2 DESC`,
		`WITH m AS (SELECT date_trunc('month', created_at) AS month, MEASURE(total_amount) AS amount FROM orders GROUP BY 1) SELECT month, amount, sum(amount) OVER (ORDER BY month) AS running FROM m ORDER BY 1`,
	} {
		if got, want := sqlRows(t, conn, sql), sqlRows(t, connRaw, sql); got != want {
			t.Fatalf("%s\nwith the rollup:\n%s\nwithout:\n%s", sql, got, want)
		}
		if ex := sqlRows(t, conn, "EXPLAIN "+sql); !strings.Contains(ex, "read from pre-aggregation orders.shared") || !strings.Contains(ex, "Push-down") {
			t.Fatalf("EXPLAIN %s:\n%s", sql, ex)
		}
	}
	t.Logf("%d of 120 answers from the shared rollup; tables now %v", served, tables)

	// On the embedded DuckDB, the same: a table in the DuckDB file.
	d := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(3000), ModelDir: dir, Adjust: noCache})
	waitBuilt(t, newAPIClient(t, "http://"+d.HTTPAddr().String(), ""), keyOf(d, "admin"), 1)
	rd := restClient{t, "http://" + d.HTTPAddr().String(), keyOf(d, "load")}
	q := `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"],"order":[["orders.status","asc"]]}`
	got, body := rd.load(q)
	want, _ := rr.load(q)
	if u, _ := got["usedPreAggregations"].(map[string]any); u["orders.shared"] == nil || sameData(got["data"].([]any), want["data"].([]any)) != "" {
		t.Fatalf("DuckDB, a rollup in the warehouse: %.500s", body)
	}
}

// TestRESTOracleWithRollups: the shared oracle's 52 queries answer as the
// real Cube recorded them with rollups in the model — those a rollup
// covers from the rollup (counted from usedPreAggregations).
func TestRESTOracleWithRollups(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50}),
		ModelDir: rollupModelDir(t), Adjust: func(c *app.Config) { c.Cache.Enabled = false }})
	keyOf := func(scopes ...string) string { return testKey(t, g, nil, scopes...) }
	base := "http://" + g.HTTPAddr().String()
	waitBuilt(t, newAPIClient(t, base, ""), keyOf("admin"), 3)
	load := keyOf("load")
	out, err := exec.Command("bash", filepath.Join(oracleDir, "compare.sh"), base, load).CombinedOutput()
	if m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed`).FindStringSubmatch(string(out)); err != nil || m == nil || m[2] != "0" || m[1] != "52" {
		t.Fatalf("oracle with rollups: %v %v\n%s", m, err, out)
	}
	// Which of them a rollup answered.
	f, err := os.ReadFile(filepath.Join(oracleDir, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		var l struct {
			Query json.RawMessage `json:"query"`
		}
		json.Unmarshal([]byte(line), &l)
		req, _ := http.NewRequest("POST", base+"/cubejs-api/v1/load", bytes.NewReader([]byte(`{"query":`+string(l.Query)+`}`)))
		req.Header.Set("Authorization", load)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Used map[string]any `json:"usedPreAggregations"`
		}
		json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		by := "(none)"
		for name := range ans.Used {
			by = name
		}
		served[by]++
	}
	t.Logf("52 oracle queries answered as Cube recorded; served by %v", served)
	if served["(none)"] == 52 {
		t.Fatal("no oracle query was answered from a rollup")
	}
}

// TestPreAggregationOnDemand: a rollup with scheduled_refresh: false is
// not built until a query would read it; that query runs on the
// warehouse, and once built the rollup answers.
func TestPreAggregationOnDemand(t *testing.T) {
	dir := demoModelWith(t, `
    pre_aggregations:
      - name: lazy
        scheduled_refresh: false
        measures: [count]
        dimensions: [status]
`)
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), ModelDir: dir, Adjust: func(c *app.Config) { c.Cache.Enabled = false }})
	keyOf := func(scopes ...string) string { return testKey(t, g, nil, scopes...) }
	admin := keyOf("admin")
	api := newAPIClient(t, "http://"+g.HTTPAddr().String(), "")
	time.Sleep(1500 * time.Millisecond) // a worker pass or more
	var list []map[string]any
	json.Unmarshal(api.do("GET", "/admin/v1/pre-aggregations", admin, nil).Data, &list)
	if len(list) != 0 {
		t.Fatalf("built before any query asked: %v", list)
	}
	rest := restClient{t, "http://" + g.HTTPAddr().String(), keyOf("load")}
	q := `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[["orders.status","asc"]]}`
	first, _ := rest.load(q)
	if u, _ := first["usedPreAggregations"].(map[string]any); len(u) != 0 {
		t.Fatalf("the first query was answered from a rollup not built yet: %v", u)
	}
	waitBuilt(t, api, admin, 1)
	again, body := rest.load(q)
	if u, _ := again["usedPreAggregations"].(map[string]any); u["orders.lazy"] == nil || sameData(first["data"].([]any), again["data"].([]any)) != "" {
		t.Fatalf("once built: %.400s", body)
	}
}

// TestOriginalSQLPreAggregation: an original_sql pre-aggregation
// (external: false) materializes its cube's rows in the warehouse, and
// every query over the cube — a cube query or a pushed-down statement —
// reads that table in place of the cube's own.
func TestOriginalSQLPreAggregation(t *testing.T) {
	dir := demoModelWith(t, `
    pre_aggregations:
      - name: base
        type: original_sql
        external: false
`)
	noCache := func(c *app.Config) { c.Cache.Enabled = false }
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(2000), ModelDir: dir, Adjust: noCache})
	admin := testKey(t, g, nil, "admin")
	waitBuilt(t, newAPIClient(t, "http://"+g.HTTPAddr().String(), ""), admin, 1)
	conn := apptest.Connect(t, g.ConnString(t, "o"))
	const cubeQuery = `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`
	const pushed = `SELECT count(*) FROM (SELECT status FROM orders WHERE status <> 'x') AS t`
	before, beforePushed := sqlRows(t, conn, cubeQuery), sqlRows(t, conn, pushed)
	if want := direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0] + "\n"; beforePushed != want {
		t.Fatalf("pushed down: %q, want %q", beforePushed, want)
	}
	if ex := sqlRows(t, conn, "EXPLAIN "+cubeQuery); !strings.Contains(ex, "Cube orders read from its original_sql pre-aggregation") {
		t.Fatalf("EXPLAIN:\n%s", ex)
	}
	// The warehouse's table changes; the materialized rows answer until
	// the next refresh (an hour).
	g.Postgres.Psql("fixture", "-c", `DELETE FROM public.orders_raw WHERE id <= 500`)
	if after, afterPushed := sqlRows(t, conn, cubeQuery), sqlRows(t, conn, pushed); after != before || afterPushed != beforePushed {
		t.Fatalf("after the cube's table changed: %q / %q, want the materialized %q / %q", after, afterPushed, before, beforePushed)
	}
}
