package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

// The policy follows members, not names: for every test model (the demo
// model, the oracle's, cubes' features model and testdata/viewpolicy with
// its views over joins and views of views), every cube and every view,
// and principals filtered on some cube's dimension (named on the cube or
// through a view), no row the filter leaves out is visible — through a
// grouped cube query, an ungrouped one, a pushed-down statement, REST
// /load, and /sql, /dry-run and EXPLAIN print the filter. Each answer is
// compared with the same question asked by an unfiltered principal with
// the filter written by hand (on the cube, CROSS JOINed) when the question
// reads the filtered cube, and as it is when it does not. On embedded
// DuckDB and on a real PostgreSQL.
func TestViewPolicyDuckDB(t *testing.T) {
	ctx := context.Background()
	dsn := apptest.DuckDB(t, apptest.Demo(3000))
	w, err := warehouse.OpenDuckDB(ctx, strings.TrimPrefix(dsn, "duckdb://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range featureTables {
		if _, err := w.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	runViewPolicy(t, dsn)
}

func TestViewPolicyPostgres(t *testing.T) {
	pg, dsn := apptest.Postgres(t, apptest.Demo(3000))
	for _, stmt := range featureTables {
		pg.Psql("fixture", "-c", strings.ReplaceAll(stmt, "range(1, ", "generate_series(1, "))
	}
	runViewPolicy(t, dsn)
}

// featureTables are the tables of cubes/testdata/features: 400 events of
// 20 accounts.
var featureTables = []string{
	`CREATE TABLE public.accounts AS SELECT g AS id, CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END AS plan FROM range(1, 21) t(g)`,
	`CREATE TABLE public.events AS SELECT g AS id, TIMESTAMP '2024-01-01' + g * INTERVAL '7 hours' AS at, 1 + g % 23 AS account_id, g % 10 AS value FROM range(1, 401) t(g)`,
}

type vpModel struct {
	name    string
	dir     func(t *testing.T) string
	filters []auth.RowFilter
}

func runViewPolicy(t *testing.T, dsn string) {
	copyDir := func(src string) func(t *testing.T) string {
		return func(t *testing.T) string {
			dst := t.TempDir()
			err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(dst, strings.ReplaceAll(strings.TrimPrefix(p, src+"/"), "/", "_")), b, 0o644)
			})
			if err != nil {
				t.Fatal(err)
			}
			return dst
		}
	}
	web := auth.RowFilter{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}
	gold := auth.RowFilter{Member: "customers.tier", Operator: "equals", Values: []string{"gold"}}
	for _, m := range []vpModel{
		{"demo", func(t *testing.T) string {
			dir := t.TempDir()
			if err := app.WriteDemoModel(dir); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []auth.RowFilter{web, gold}},
		{"oracle", copyDir("../../../testdata/oracle/model"), []auth.RowFilter{web, {Member: "sales.status", Operator: "equals", Values: []string{"completed"}}}},
		{"features", copyDir("../../../cubes/testdata/features"), []auth.RowFilter{
			{Member: "events.at", Operator: "beforeDate", Values: []string{"2024-02-15"}},
			{Member: "accounts.plan", Operator: "equals", Values: []string{"pro"}}}},
		{"viewpolicy", copyDir("../../../testdata/viewpolicy"), []auth.RowFilter{web, gold,
			{Member: "order_facts.status", Operator: "equals", Values: []string{"completed"}}}},
	} {
		t.Run(m.name, func(t *testing.T) {
			g := apptest.Start(t, apptest.Options{DSN: dsn, ModelDir: m.dir(t)})
			all := newVPPrincipal(t, g, auth.SecurityContext{})
			filtered := map[string]vpPrincipal{}
			for _, f := range m.filters {
				p := newVPPrincipal(t, g, auth.SecurityContext{RowFilters: []auth.RowFilter{f}})
				filtered[f.Member] = p
				t.Run(f.Member+"="+f.Values[0], func(t *testing.T) { checkViewPolicy(t, g, all, p, f) })
			}
			switch m.name {
			case "viewpolicy":
				checkViewPolicySpecifics(t, g, all, filtered["orders.channel"], filtered["customers.tier"])
			case "features":
				checkFeatureSubQuery(t, g, filtered["events.at"])
			}
		})
	}
}

// vpPrincipal is a credential and an API key with one security context.
type vpPrincipal struct {
	conn *pgx.Conn
	key  string
	base string
}

func newVPPrincipal(t *testing.T, g *apptest.Gateway, sec auth.SecurityContext) vpPrincipal {
	t.Helper()
	ctx := context.Background()
	// Scope sql: EXPLAIN prints the warehouse SQL and the row filters.
	c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "vp", Database: g.Database, Security: sec, Scopes: []string{"sql"}})
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "vp", auth.KeyInput{Scopes: &[]string{"load", "sql", "meta"}, Security: &sec})
	if err != nil {
		t.Fatal(err)
	}
	return vpPrincipal{conn: apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, c.Database)), key: k.KeyValue,
		base: "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/"}
}

// run answers sql as text cells, or the error's SQLSTATE.
func (p vpPrincipal) run(sql string) ([][]string, string) {
	res, err := p.conn.PgConn().Exec(context.Background(), sql).ReadAll()
	if err != nil {
		if pe, ok := err.(*pgconn.PgError); ok {
			return nil, pe.Code
		}
		return nil, "error: " + err.Error()
	}
	var out [][]string
	for _, r := range res[len(res)-1].Rows {
		row := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out, ""
}

func (p vpPrincipal) post(t *testing.T, endpoint string, q any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q})
	req, _ := http.NewRequest("POST", p.base+endpoint, bytes.NewReader(body))
	req.Header.Set("Authorization", p.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %s", endpoint, b)
	}
	return resp.StatusCode, out
}

func qi(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// vpCase is one cube or view under one row filter.
type vpCase struct {
	t        *testing.T
	m        *cubes.Model
	x        *cubes.Cube
	f        auth.RowFilter
	filtered *cubes.Cube // the cube whose rows the filter restricts
	fm       string      // its dimension's name
	all, p   vpPrincipal
}

// reads reports whether a query reads the filtered cube's rows in its
// join: the cubes of its members and the join path between them, and the
// own cube of a sub_query dimension (whose aggregated cube the
// dimension's subquery reads: see onlySubQuery).
func (c vpCase) reads(q cubes.Query) bool {
	var plain cubes.Query
	plain.Measures = q.Measures
	for _, name := range q.Dimensions {
		mem, _ := c.m.Member(name)
		if d, ok := origin(mem).(*cubes.Dimension); ok && d.SubQuery {
			if d.Cube == c.filtered {
				return true
			}
			continue
		}
		plain.Dimensions = append(plain.Dimensions, name)
	}
	if len(plain.Measures)+len(plain.Dimensions) == 0 {
		return false
	}
	cs, err := c.m.CubesRead(&plain)
	if err != nil {
		c.t.Fatalf("%+v: %v", q, err)
	}
	for _, x := range cs {
		if x == c.filtered {
			return true
		}
	}
	return false
}

// onlySubQuery reports whether the filtered cube's rows are read by the
// query's sub_query dimension only, not by its join: the filter is then
// inside the dimension's subquery, which no filter written on the query
// reproduces (checkViewPolicySpecifics and checkFeatureSubQuery compare
// those with the warehouse).
func (c vpCase) onlySubQuery(q cubes.Query) bool {
	cs, err := c.m.CubesRead(&q)
	if err != nil {
		c.t.Fatalf("%+v: %v", q, err)
	}
	for _, x := range cs {
		if x == c.filtered {
			return !c.reads(q)
		}
	}
	return false
}

func origin(m cubes.Member) cubes.Member {
	if o := cubes.Origin(m); o != nil {
		return o
	}
	return m
}

// hand is the SQL condition of the filter, written on the cube aliased f.
func (c vpCase) hand(alias string) string {
	v := c.f.Values[0]
	lit := "'" + strings.ReplaceAll(v, "'", "''") + "'"
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		lit = v
	}
	op := map[string]string{"equals": "=", "lt": "<", "beforeDate": "<"}[c.f.Operator]
	return alias + qi(c.fm) + " " + op + " " + lit
}

// pair runs a statement as the filtered principal, and its hand-filtered
// form (when reads) or itself as the unfiltered one; both answer alike.
func (c vpCase) pair(what, sql string, reads bool, handSQL string) [][]string {
	c.t.Helper()
	got, gotErr := c.p.run(sql)
	wantSQL := sql
	if reads {
		wantSQL = handSQL
	}
	want, wantErr := c.all.run(wantSQL)
	if gotErr != wantErr {
		c.t.Errorf("%s: %s answers %q, %s answers %q", what, sql, gotErr, wantSQL, wantErr)
		return nil
	}
	if gotErr == "" {
		sameCells(c.t, what+": "+sql+" vs "+wantSQL, got, want)
	}
	return got
}

// handFrom writes FROM X with the filter by hand: on X itself, or on the
// filtered cube joined to it (the join path comes from the model).
func (c vpCase) handFrom(tail string) (string, string) {
	if c.x == c.filtered {
		return " FROM " + qi(c.x.Name) + " x WHERE " + c.hand("x."), tail
	}
	return " FROM " + qi(c.x.Name) + " x CROSS JOIN " + qi(c.filtered.Name) + " f WHERE " + c.hand("f."), tail
}

func checkViewPolicy(t *testing.T, g *apptest.Gateway, all, p vpPrincipal, f auth.RowFilter) {
	m := g.CurrentModel()
	fmem, err := m.Member(f.Member)
	if err != nil {
		t.Fatal(err)
	}
	fo := origin(fmem)
	checked := 0
	for _, x := range m.Cubes {
		if !x.Public {
			continue
		}
		c := vpCase{t: t, m: m, x: x, f: f, filtered: fo.OwnerCube(), fm: fo.MemberName(), all: all, p: p}
		t.Run(x.Name, func(t *testing.T) {
			c.t = t
			checkOne(c)
		})
		checked++
	}
	if checked < 3 {
		t.Fatalf("only %d cubes and views", checked)
	}
}

func checkOne(c vpCase) {
	t, x := c.t, c.x
	full := func(mem cubes.Member) string { return x.Name + "." + mem.MemberName() }
	var count *cubes.Measure
	if cm := x.CountMeasure(); cm != nil && cm.Public {
		count = cm
	}
	var dims []*cubes.Dimension
	var plainDim *cubes.Dimension // the first dimension that is not a sub_query
	for _, d := range x.Dimensions {
		if !d.Public {
			continue
		}
		dims = append(dims, d)
		if od, _ := origin(d).(*cubes.Dimension); plainDim == nil && !od.SubQuery {
			plainDim = d
		}
	}
	// A grouped cube query per measure.
	for _, ms := range x.Measures {
		if !ms.Public {
			continue
		}
		q := cubes.Query{Measures: []string{full(ms)}}
		from, _ := c.handFrom("")
		c.pair("measure", `SELECT MEASURE(`+qi(ms.Name)+`) FROM `+qi(x.Name), c.reads(q),
			`SELECT MEASURE(x.`+qi(ms.Name)+`)`+from)
	}
	for _, d := range dims {
		od := origin(d).(*cubes.Dimension)
		q := cubes.Query{Dimensions: []string{full(d)}}
		if count != nil {
			q.Measures = []string{full(count)}
		}
		if c.onlySubQuery(q) {
			continue // a sub_query's own rows: checkFeatureSubQuery, checkViewPolicySpecifics
		}
		from, _ := c.handFrom("")
		// Grouped by the dimension.
		sel, handSel := qi(d.Name), "x."+qi(d.Name)
		if count != nil {
			sel += ", MEASURE(" + qi(count.Name) + ")"
			handSel += ", MEASURE(x." + qi(count.Name) + ")"
		}
		c.pair("grouped", `SELECT `+sel+` FROM `+qi(x.Name)+` GROUP BY 1 ORDER BY 1`, c.reads(q),
			`SELECT `+handSel+from+` GROUP BY 1 ORDER BY 1`)
		// Ungrouped: the rows themselves.
		uq := cubes.Query{Dimensions: []string{full(d)}, Ungrouped: true}
		rows := c.pair("ungrouped", `SELECT `+qi(d.Name)+` FROM `+qi(x.Name)+` ORDER BY 1`, c.reads(uq),
			`SELECT x.`+qi(d.Name)+from+` ORDER BY 1`)
		if od.Cube == c.filtered && od.Name == c.fm && c.f.Operator == "equals" {
			for _, r := range rows {
				if r[0] != c.f.Values[0] {
					t.Fatalf("%s shows %s = %q, a row the filter leaves out", x.Name, d.Name, r[0])
				}
			}
		}
	}
	// Pushed down: the view's row source reads all its cubes.
	var rs cubes.Query
	for _, ms := range x.Measures {
		if ms.Public {
			rs.Measures = append(rs.Measures, full(ms))
		}
	}
	for _, d := range dims {
		if od := origin(d).(*cubes.Dimension); !od.SubQuery {
			rs.Dimensions = append(rs.Dimensions, full(d))
		}
	}
	readsRS := c.reads(rs)
	from, _ := c.handFrom("")
	c.pair("pushed-down count", `SELECT count(*) FROM (SELECT 1 AS one FROM `+qi(x.Name)+`) s`, readsRS,
		`SELECT count(*) FROM (SELECT 1 AS one`+from+`) s`)
	if plainDim != nil {
		c.pair("pushed-down lower()", `SELECT lower(CAST(`+qi(plainDim.Name)+` AS TEXT)) AS k, count(*) FROM `+qi(x.Name)+` GROUP BY 1 ORDER BY 1`, readsRS,
			`SELECT lower(CAST(x.`+qi(plainDim.Name)+` AS TEXT)) AS k, count(*)`+from+` GROUP BY 1 ORDER BY 1`)
		plan, code := c.p.run(`EXPLAIN SELECT lower(CAST(` + qi(plainDim.Name) + ` AS TEXT)) FROM ` + qi(x.Name))
		if code != "" {
			t.Fatalf("EXPLAIN push-down: %s", code)
		}
		if got := strings.Contains(fmt.Sprint(plan), "row filters: [{\"member\":\""+c.filtered.Name+"."+c.fm+"\""); got != readsRS {
			t.Errorf("EXPLAIN of a push-down over %s shows the row filter: %v, reads %s: %v\n%v", x.Name, got, c.filtered.Name, readsRS, plan)
		}
	}
	if plainDim == nil && count == nil {
		return
	}
	// One cube query through EXPLAIN and REST.
	q := cubes.Query{}
	sel, handSel := "", ""
	if plainDim != nil {
		q.Dimensions = []string{full(plainDim)}
		sel, handSel = qi(plainDim.Name), "x."+qi(plainDim.Name)
	}
	if count != nil {
		q.Measures = []string{full(count)}
		if sel != "" {
			sel, handSel = sel+", ", handSel+", "
		}
		sel += "MEASURE(" + qi(count.Name) + ")"
		handSel += "MEASURE(x." + qi(count.Name) + ")"
	}
	reads := c.reads(q)
	group := ""
	if plainDim != nil && count != nil {
		group = " GROUP BY 1"
	}
	got, code := c.p.run(`EXPLAIN SELECT ` + sel + ` FROM ` + qi(x.Name) + group)
	if code != "" {
		t.Fatalf("EXPLAIN: %s", code)
	}
	wantSQL := `EXPLAIN SELECT ` + sel + ` FROM ` + qi(x.Name) + group
	if reads {
		wantSQL = `EXPLAIN SELECT ` + handSel + from + group
	}
	want, code := c.all.run(wantSQL)
	if code != "" {
		t.Fatalf("%s: %s", wantSQL, code)
	}
	if a, b := warehouseLines(got), warehouseLines(want); a != b {
		t.Errorf("EXPLAIN over %s:\n%s\nwant (filter by hand):\n%s", x.Name, a, b)
	}
	if has := strings.Contains(fmt.Sprint(got), "Row filters: "); has != reads {
		t.Errorf("EXPLAIN over %s prints row filters: %v, reads %s: %v", x.Name, has, c.filtered.Name, reads)
	}
	// REST: load, sql, dry-run.
	q.Order = cubes.Order{}
	if plainDim != nil {
		q.Order = cubes.Order{{ID: full(plainDim)}}
	}
	hq := q
	if reads {
		hq.Filters = []cubes.Filter{{Member: c.filtered.Name + "." + c.fm, Operator: c.f.Operator, Values: c.f.Values}}
	}
	st, gl := c.p.post(t, "load", q)
	st2, wl := c.all.post(t, "load", hq)
	if st != 200 || st2 != 200 {
		t.Fatalf("load: %d %v / %d %v", st, gl, st2, wl)
	}
	if a, b := fmt.Sprint(gl["data"]), fmt.Sprint(wl["data"]); a != b {
		t.Errorf("REST load over %s: %s\nwant %s", x.Name, a, b)
	}
	_, gs := c.p.post(t, "sql", q)
	_, ws := c.all.post(t, "sql", hq)
	if a, b := fmt.Sprint(gs["sql"].(map[string]any)["sql"]), fmt.Sprint(ws["sql"].(map[string]any)["sql"]); a != b {
		t.Errorf("REST sql over %s: %s\nwant %s", x.Name, a, b)
	}
	_, gd := c.p.post(t, "dry-run", q)
	nq := gd["normalizedQueries"].([]any)[0].(map[string]any)
	fs, _ := json.Marshal(nq["filters"])
	if has := strings.Contains(string(fs), `"member":"`+c.filtered.Name+"."+c.fm+`"`); has != reads {
		t.Errorf("dry-run over %s shows the row filter: %v, reads: %v (%s)", x.Name, has, reads, fs)
	}
}

// warehouseLines are an EXPLAIN's warehouse SQL and parameters.
func warehouseLines(rows [][]string) string {
	var out []string
	in := false
	for _, r := range rows {
		if strings.HasPrefix(r[0], "Warehouse SQL") {
			in = true
		}
		if in && !strings.HasPrefix(r[0], "Output columns") {
			out = append(out, r[0])
		}
	}
	return strings.Join(out, "\n")
}

// checkViewPolicySpecifics: the sub_query dimension's rows, an allow-list
// through views of views (catalog, SQL, push-down, REST load and meta),
// and errors that show no filtered-out value.
func checkViewPolicySpecifics(t *testing.T, g *apptest.Gateway, all, web, gold vpPrincipal) {
	got, code := web.run(`SELECT id, order_count FROM customers ORDER BY 1`)
	if code != "" {
		t.Fatal(code)
	}
	sameCells(t, "sub_query under a row filter", got, direct(t, g,
		`SELECT c.id, (SELECT count(o.id) FROM public.orders_raw o WHERE o.customer_id = c.id AND o.channel = 'web') FROM public.customers_raw c ORDER BY 1`))
	got, code = web.run(`SELECT tier, sum(order_count) FROM customer_view GROUP BY 1 ORDER BY 1`)
	if code != "" {
		t.Fatal(code)
	}
	sameCells(t, "sub_query through a view, pushed down", got, direct(t, g,
		`SELECT c.tier, sum((SELECT count(o.id) FROM public.orders_raw o WHERE o.customer_id = c.id AND o.channel = 'web')) FROM public.customers_raw c GROUP BY 1 ORDER BY 1`))
	// A join hop: orders by country go through customers, whose filter
	// applies.
	got, code = gold.run(`SELECT country, MEASURE(count) FROM order_geo GROUP BY 1 ORDER BY 1`)
	if code != "" {
		t.Fatal(code)
	}
	sameCells(t, "a view over a two-hop join", got, direct(t, g,
		`SELECT c.country, count(*) FROM public.orders_raw o JOIN public.customers_raw c ON o.customer_id = c.id WHERE c.tier = 'gold' GROUP BY 1 ORDER BY 1`))
	// An error never shows a value the filter leaves out: the cast below
	// fails on every tier but gold.
	got, code = gold.run(`SELECT count(*) FROM customers WHERE CAST(CASE WHEN tier = 'gold' THEN '1' ELSE tier END AS INTEGER) = 1`)
	if code != "" {
		t.Fatalf("a cast over filtered-out rows: %s", code)
	}
	sameCells(t, "fenced row source", got, direct(t, g, `SELECT count(*) FROM public.customers_raw WHERE tier = 'gold'`))

	// An allow-list hides orders' revenue and customers' city through
	// every view.
	hidden := newVPPrincipal(t, g, auth.SecurityContext{Allow: []string{"orders.count", "orders.status", "customers.tier",
		"order_facts", "order_summary", "order_summary_all"}})
	cols, _ := hidden.run(`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name NOT LIKE '\_\_%' ORDER BY 1, 2`)
	sameCells(t, "catalog under an allow-list", cols, [][]string{
		{"customers", "tier"}, {"order_facts", "count"}, {"order_facts", "customers_tier"}, {"order_facts", "status"},
		{"order_summary", "count"}, {"order_summary", "status"}, {"order_summary", "tier"},
		{"order_summary_all", "count"}, {"order_summary_all", "status"}, {"order_summary_all", "tier"},
		{"orders", "count"}, {"orders", "status"},
	})
	for _, sql := range []string{
		`SELECT MEASURE(revenue) FROM order_summary_all`,
		`SELECT customers_city FROM order_facts`,
		`SELECT lower(customers_city) FROM order_facts`,
		`SELECT count(*) FROM order_facts WHERE customers_city = 'Paris'`,
		`SELECT MEASURE(count) FROM order_geo`,
		`SELECT MEASURE(count) FROM orders WHERE channel = 'web'`,
	} {
		_, err := hidden.conn.Exec(context.Background(), sql)
		pe, ok := err.(*pgconn.PgError)
		if !ok || pe.Code != "42501" || strings.Contains(pe.Message, "orders.revenue") || strings.Contains(pe.Message, "customers.city") {
			t.Errorf("%s: %v, want 42501 naming only what the statement names", sql, err)
		}
	}
	if got, code := hidden.run(`SELECT tier, MEASURE(count) FROM order_summary_all GROUP BY 1 ORDER BY 1`); code != "" {
		t.Errorf("allowed members of a view of views: %s", code)
	} else {
		want, _ := all.run(`SELECT tier, MEASURE(count) FROM order_summary_all GROUP BY 1 ORDER BY 1`)
		sameCells(t, "allowed members of a view of views", got, want)
	}
	if st, body := hidden.post(t, "load", map[string]any{"measures": []string{"order_summary.revenue"}}); st != 403 || strings.Contains(fmt.Sprint(body), "orders.") {
		t.Errorf("REST load of a hidden member through a view: %d %v", st, body)
	}
	req, _ := http.NewRequest("GET", hidden.base+"meta", nil)
	req.Header.Set("Authorization", hidden.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var meta struct {
		Cubes []struct {
			Name     string
			Measures []struct{ Name string }
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, c := range meta.Cubes {
		for _, ms := range c.Measures {
			shown = append(shown, ms.Name)
		}
	}
	sort.Strings(shown)
	if fmt.Sprint(shown) != "[order_facts.count order_summary.count order_summary_all.count orders.count]" {
		t.Errorf("meta measures under an allow-list: %v", shown)
	}
}

// checkFeatureSubQuery: accounts' sub_query dimension counts only the
// events an events row filter leaves.
func checkFeatureSubQuery(t *testing.T, g *apptest.Gateway, p vpPrincipal) {
	got, code := p.run(`SELECT plan, lifetime_events FROM accounts ORDER BY 1, 2`)
	if code != "" {
		t.Fatal(code)
	}
	sameCells(t, "sub_query under a row filter", got, direct(t, g,
		`SELECT a.plan, (SELECT count(e.id) FROM public.events e WHERE e.account_id = a.id AND e.at < TIMESTAMP '2024-02-15') AS n FROM public.accounts a ORDER BY 1, 2`))
}
