package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// /load, /dry-run and /sql in every request shape @cubejs-client/core
// 1.x sends (issue #16): queryType=multi, compareDateRange, blending,
// member.granularity dimensions, the normalized query echoed, Cube's
// default order. One gateway over a throwaway PostgreSQL with the demo
// data; its model's created_at has a custom granularity.

// cubeClient talks to a gateway's Cube API with one key.
type cubeClient struct {
	t    *testing.T
	base string
	key  string
}

// get sends GET path?query=q plus extra parameters and decodes the answer.
func (c cubeClient) get(path string, q string, params ...string) (int, map[string]any, string) {
	c.t.Helper()
	v := url.Values{"query": {q}}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return c.send("GET", c.base+path+"?"+v.Encode(), "")
}

// post sends body to path.
func (c cubeClient) post(path, body string) (int, map[string]any, string) {
	c.t.Helper()
	return c.send("POST", c.base+path, body)
}

func (c cubeClient) send(method, u, body string) (int, map[string]any, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", c.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m, string(b)
}

// jget walks a decoded JSON value: keys for objects, ints for arrays.
func jget(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func jlen(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	return -1
}

func jstr(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// canon is JSON text as jstr writes it (object keys sorted).
func canon(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "invalid JSON: " + s
	}
	return jstr(v)
}

// startCubeLoadGateway starts the gateway of these tests: the demo model
// with a custom granularity fiscal_year on orders.created_at.
func startCubeLoadGateway(t *testing.T) (*apptest.Gateway, cubeClient) {
	t.Helper()
	dir := t.TempDir()
	if err := app.WriteDemoModel(dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "orders.yml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const td = "      - name: created_at\n        sql: created_at\n        type: time\n"
	if !strings.Contains(string(b), td) {
		t.Fatal("the demo model's orders.created_at changed")
	}
	b = []byte(strings.Replace(string(b), td, td+"        granularities:\n          - name: fiscal_year\n            interval: 1 year\n            offset: 3 months\n", 1))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders), ModelDir: dir})
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "web app", auth.KeyInput{Scopes: &[]string{"load", "sql", "meta"}})
	if err != nil {
		t.Fatal(err)
	}
	return g, cubeClient{t: t, base: "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/", key: k.KeyValue}
}

// rowsOf is a result's data keyed by the given keys, one string a row.
func rowsOf(data any, keys ...string) []string {
	var out []string
	for _, r := range data.([]any) {
		var parts []string
		for _, k := range keys {
			parts = append(parts, strings.Trim(jstr(jget(r, k)), `"`))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

// directRows is a warehouse query's rows, one string a row.
func directRows(t *testing.T, g *apptest.Gateway, sql string) []string {
	t.Helper()
	var out []string
	for _, r := range direct(t, g, sql) {
		out = append(out, strings.Join(r, "|"))
	}
	return out
}

// TestCubeLoadQueryTypes: queryType=multi answers {queryType, results,
// pivotQuery, slowQuery} over GET and POST (and /subscribe, which the
// client's subscribe() polls); compareDateRange answers one
// result per range (each query holding its range, each row its
// "compareDateRange") and is refused to a client that sends no
// queryType; blending answers one result per query with the time axis
// "time.<granularity>", and refuses mismatched or missing granularities;
// an array without queryType answers as it always did.
func TestCubeLoadQueryTypes(t *testing.T) {
	g, c := startCubeLoadGateway(t)
	one := `{"measures":["orders.count"],"dimensions":["orders.status"],"order":{"orders.status":"asc"}}`
	_, single, body := c.get("load", one)
	if jget(single, "data") == nil {
		t.Fatalf("single: %s", body)
	}
	for name, send := range map[string]func() (int, map[string]any, string){
		"GET":  func() (int, map[string]any, string) { return c.get("load", one, "queryType", "multi") },
		"POST": func() (int, map[string]any, string) { return c.post("load", `{"query":`+one+`,"queryType":"multi"}`) },
		// subscribe() over HTTP polls /subscribe, answered as /load.
		"GET subscribe": func() (int, map[string]any, string) { return c.get("subscribe", one, "queryType", "multi") },
	} {
		status, m, body := send()
		if status != 200 || jget(m, "queryType") != "regularQuery" || jlen(jget(m, "results")) != 1 || jget(m, "slowQuery") != false {
			t.Fatalf("%s multi: %d %.500s", name, status, body)
		}
		r := jget(m, "results", 0)
		for _, k := range []string{"query", "data", "annotation", "lastRefreshTime", "dataSource", "dbType", "external", "slowQuery", "total"} {
			if _, ok := r.(map[string]any)[k]; !ok {
				t.Errorf("%s multi: the result has no %q: %.500s", name, k, body)
			}
		}
		if !reflect.DeepEqual(jget(r, "data"), jget(single, "data")) || !reflect.DeepEqual(jget(r, "query"), jget(single, "query")) {
			t.Errorf("%s multi: the result differs from the single answer:\n%s\n%s", name, jstr(r), body)
		}
		if p := jget(m, "pivotQuery"); jget(p, "queryType") != "regularQuery" || jstr(jget(p, "measures")) != `["orders.count"]` {
			t.Errorf("%s multi: pivotQuery %s", name, jstr(p))
		}
	}

	// compareDateRange: one result per range.
	cmp := `{"measures":["orders.count"],"dimensions":["orders.channel"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","compareDateRange":[["2023-01-01","2023-03-31"],"2024-02-10"]}]}`
	status, m, body := c.get("load", cmp, "queryType", "multi")
	if status != 200 || jget(m, "queryType") != "compareDateRangeQuery" || jlen(jget(m, "results")) != 2 {
		t.Fatalf("compareDateRange: %d %.500s", status, body)
	}
	ranges := [][2]string{{"2023-01-01T00:00:00.000", "2023-03-31T23:59:59.999"}, {"2024-02-10T00:00:00.000", "2024-02-10T23:59:59.999"}}
	for i, rg := range ranges {
		r := jget(m, "results", i)
		if got := jstr(jget(r, "query", "timeDimensions", 0)); got != canon(`{"dimension":"orders.created_at","dateRange":["`+rg[0]+`","`+rg[1]+`"],"granularity":"month"}`) {
			t.Errorf("range %d: query's time dimension %s", i, got)
		}
		want := directRows(t, g, `SELECT to_char(date_trunc('month', created_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS'), channel, count(*), '`+rg[0]+` - `+rg[1]+`'
			FROM public.orders_raw WHERE created_at >= '`+rg[0]+`' AND created_at <= '`+rg[1]+`' GROUP BY 1, 2 ORDER BY 1, 2`)
		got := rowsOf(jget(r, "data"), "orders.created_at.month", "orders.channel", "orders.count", "compareDateRange")
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("range %d rows:\n got %q\nwant %q", i, got, want)
		}
	}
	if p := jget(m, "pivotQuery"); jget(p, "queryType") != "compareDateRangeQuery" || jstr(jget(p, "dimensions")) != `["compareDateRange","orders.channel"]` {
		t.Errorf("compareDateRange pivotQuery: %s", jstr(p))
	}
	// A client that reads one result is told to use queryType (Cube's
	// answer): never one range silently answered.
	if status, m, body := c.get("load", cmp); status != 400 || !strings.Contains(jstr(jget(m, "error")), "compareDateRangeQuery") {
		t.Errorf("compareDateRange without queryType: %d %s", status, body)
	}

	// Blending: an array of queries with queryType=multi.
	blend := `[{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","dateRange":["2022-01-01","2022-04-30"]}]},
		{"measures":["customers.count"],"timeDimensions":[{"dimension":"customers.signed_up_at","granularity":"month","dateRange":["2022-01-01","2022-04-30"]}]}]`
	status, m, body = c.post("load", `{"query":`+blend+`,"queryType":"multi"}`)
	if status != 200 || jget(m, "queryType") != "blendingQuery" || jlen(jget(m, "results")) != 2 {
		t.Fatalf("blending: %d %.500s", status, body)
	}
	want := directRows(t, g, `SELECT to_char(date_trunc('month', created_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS'), count(*) FROM public.orders_raw
		WHERE created_at >= '2022-01-01' AND created_at < '2022-05-01' GROUP BY 1 ORDER BY 1`)
	if got := rowsOf(jget(m, "results", 0, "data"), "time.month", "orders.count"); !slices.Equal(got, want) {
		t.Errorf("blending rows: %q, want %q", got, want)
	}
	if got := rowsOf(jget(m, "results", 1, "data"), "time.month"); len(got) != 4 || got[0] != "2022-01-01T00:00:00.000" {
		t.Errorf("blending second query's time axis: %q", got)
	}
	if p := jget(m, "pivotQuery"); jstr(jget(p, "measures")) != `["orders.count","customers.count"]` || jstr(jget(p, "timeDimensions")) != canon(`[{"dimension":"time","granularity":"month"}]`) || jget(p, "queryType") != "blendingQuery" {
		t.Errorf("blending pivotQuery: %s", jstr(p))
	}
	for _, bad := range []string{
		`[{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]},{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"year"}]}]`,
		`[{"measures":["orders.count"]},{"measures":["customers.count"]}]`,
	} {
		if status, m, body := c.post("load", `{"query":`+bad+`,"queryType":"multi"}`); status != 400 || !strings.Contains(jstr(jget(m, "error")), "blending") {
			t.Errorf("blending refused: %d %s", status, body)
		}
	}
	// Without queryType an array answers as before: one result per query.
	if status, m, body := c.post("load", `{"query":[{"measures":["orders.count"]},{"measures":["customers.count"]}]}`); status != 200 || jget(m, "queryType") != "multi" || jlen(jget(m, "results")) != 2 {
		t.Errorf("array without queryType: %d %.300s", status, body)
	}
	// The session goes on after the refusals.
	if status, _, body := c.get("load", one, "queryType", "multi"); status != 200 {
		t.Errorf("after errors: %d %s", status, body)
	}
}

// TestCubeLoadNormalizedQuery: the query echoed in "query" (and
// pivotQuery) is Cube's normalized one — timezone UTC by default,
// dimensions/timeDimensions/filters always arrays, limit and rowLimit,
// date ranges (strings, relative, one date, a pair) resolved to
// YYYY-MM-DDTHH:mm:ss.SSS bounds, the legacy filter key dimension as
// member, order only as sent ([{id, desc}]), offset, total, ungrouped and
// renewQuery accepted; filter values sent as numbers read as Cube does.
func TestCubeLoadNormalizedQuery(t *testing.T) {
	_, c := startCubeLoadGateway(t)
	status, m, body := c.get("load", `{"measures":["orders.count"],"renewQuery":true,"filters":[{"dimension":"orders.status","operator":"equals","values":["completed"]},{"or":[{"dimension":"orders.channel","operator":"equals","values":["web"]},{"member":"orders.quantity","operator":"gt","values":[3]}]}],
		"timeDimensions":[{"dimension":"orders.created_at","dateRange":"2023-06-15"},{"dimension":"orders.shipped_at","dateRange":["2023-06-15","2023-06-20T12:00:00"]}]}`, "queryType", "multi")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	q := jget(m, "results", 0, "query")
	for k, want := range map[string]string{
		"measures":   `["orders.count"]`,
		"dimensions": `[]`,
		"timezone":   `"UTC"`,
		"limit":      `10000`,
		"rowLimit":   `10000`,
		"renewQuery": `true`,
		"filters":    `[{"member":"orders.status","operator":"equals","values":["completed"]},{"or":[{"member":"orders.channel","operator":"equals","values":["web"]},{"member":"orders.quantity","operator":"gt","values":["3"]}]}]`,
		"timeDimensions": `[{"dimension":"orders.created_at","dateRange":["2023-06-15T00:00:00.000","2023-06-15T23:59:59.999"]},` +
			`{"dimension":"orders.shipped_at","dateRange":["2023-06-15T00:00:00.000","2023-06-20T12:00:00.000"]}]`,
		"order": `null`,
	} {
		if got := jstr(jget(q, k)); got != canon(want) {
			t.Errorf("query.%s = %s, want %s", k, got, want)
		}
	}
	// Relative ranges resolve at now, in the query's time zone.
	loc, _ := time.LoadLocation("Europe/Paris")
	now := time.Now().In(loc)
	status, m, body = c.get("load", `{"measures":["orders.count"],"timezone":"Europe/Paris","timeDimensions":[{"dimension":"orders.created_at","dateRange":"last 7 days"},{"dimension":"orders.shipped_at","dateRange":"this month"}]}`, "queryType", "multi")
	tds := jget(m, "results", 0, "query", "timeDimensions")
	day := func(t time.Time) string { return t.Format("2006-01-02") }
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	wantLast7 := `["` + day(now.AddDate(0, 0, -7)) + `T00:00:00.000","` + day(now.AddDate(0, 0, -1)) + `T23:59:59.999"]`
	wantMonth := `["` + day(first) + `T00:00:00.000","` + day(first.AddDate(0, 1, -1)) + `T23:59:59.999"]`
	if status != 200 || jstr(jget(tds, 0, "dateRange")) != wantLast7 || jstr(jget(tds, 1, "dateRange")) != wantMonth || jget(m, "results", 0, "query", "timezone") != "Europe/Paris" {
		t.Errorf("relative ranges: %d %s, want %s and %s (%.300s)", status, jstr(tds), wantLast7, wantMonth, body)
	}
	// Order as sent, offset, total, ungrouped.
	status, m, body = c.get("load", `{"dimensions":["orders.id","orders.status"],"order":[["orders.id","desc"]],"limit":3,"offset":2,"total":true,"ungrouped":true}`, "queryType", "multi")
	q = jget(m, "results", 0, "query")
	if status != 200 || jstr(jget(q, "order")) != canon(`[{"id":"orders.id","desc":true}]`) || jstr(jget(q, "offset")) != "2" || jget(q, "total") != true || jget(q, "ungrouped") != true || jstr(jget(q, "rowLimit")) != "3" {
		t.Errorf("order/offset/total/ungrouped: %d %.600s", status, body)
	}
	if ids := rowsOf(jget(m, "results", 0, "data"), "orders.id"); jstr(ids) != jstr([]string{jstr(e2eOrders - 2), jstr(e2eOrders - 3), jstr(e2eOrders - 4)}) || jstr(jget(m, "results", 0, "total")) != jstr(e2eOrders) {
		t.Errorf("ids %v, total %v", ids, jget(m, "results", 0, "total"))
	}
	// A bad date range is a 400 naming it; the key goes on.
	if status, _, body := c.get("load", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":["2023-13-45"]}]}`); status != 400 || !strings.Contains(body, "2023-13-45") {
		t.Errorf("bad dateRange: %d %s", status, body)
	}
}

// TestCubeLoadGranularMembers: "orders.created_at.month" in dimensions
// (predefined and custom granularities) is a time dimension with a
// granularity, as Cube normalizes it: rows keyed under it and the bare
// dimension, the annotation under timeDimensions, the echo listing it in
// timeDimensions; it orders; with two granularities of one dimension the
// bare key holds the finest; a dimension asked for itself keeps its own
// values under its bare key.
func TestCubeLoadGranularMembers(t *testing.T) {
	g, c := startCubeLoadGateway(t)
	status, m, body := c.get("load", `{"measures":["orders.count"],"dimensions":["orders.created_at.year"],"order":{"orders.created_at.year":"desc"}}`, "queryType", "multi")
	r := jget(m, "results", 0)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	want := directRows(t, g, `SELECT to_char(date_trunc('year', created_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS') y, to_char(date_trunc('year', created_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS'), count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1 DESC`)
	if got := rowsOf(jget(r, "data"), "orders.created_at.year", "orders.created_at", "orders.count"); !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if jget(r, "annotation", "timeDimensions", "orders.created_at.year") == nil || jstr(jget(r, "query", "dimensions")) != `[]` ||
		jstr(jget(r, "query", "timeDimensions")) != canon(`[{"dimension":"orders.created_at","granularity":"year"}]`) {
		t.Errorf("annotation/echo: %s", body)
	}
	// A custom granularity, by name.
	status, m, body = c.get("load", `{"measures":["orders.count"],"dimensions":["orders.created_at.fiscal_year"]}`, "queryType", "multi")
	want = directRows(t, g, `SELECT to_char(date_trunc('year', created_at - interval '3 months') + interval '3 months', 'YYYY-MM-DD"T"HH24:MI:SS.MS'), count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1`)
	if got := rowsOf(jget(m, "results", 0, "data"), "orders.created_at.fiscal_year", "orders.count"); status != 200 || !slices.Equal(got, want) {
		t.Errorf("custom granularity: %d %q, want %q (%.300s)", status, got, want, body)
	}
	// Two granularities: the bare key is the month's; the dimension itself
	// asked for keeps its raw value.
	_, m, body = c.get("load", `{"measures":["orders.count"],"dimensions":["orders.created_at.year","orders.created_at.month"],"filters":[{"member":"orders.created_at","operator":"inDateRange","values":["2023-05-01","2023-06-30"]}]}`, "queryType", "multi")
	for _, row := range rowsOf(jget(m, "results", 0, "data"), "orders.created_at.month", "orders.created_at", "orders.created_at.year") {
		p := strings.Split(row, "|")
		if p[0] != p[1] || p[2] != "2023-01-01T00:00:00.000" {
			t.Errorf("two granularities: %s (%.300s)", row, body)
		}
	}
	_, m, body = c.get("load", `{"dimensions":["orders.created_at","orders.created_at.day"],"filters":[{"member":"orders.id","operator":"equals","values":["7"]}]}`, "queryType", "multi")
	row := jget(m, "results", 0, "data", 0)
	if day, raw := jstr(jget(row, "orders.created_at.day")), jstr(jget(row, "orders.created_at")); !strings.HasSuffix(day, `T00:00:00.000"`) || raw == day || !strings.HasPrefix(raw, strings.TrimSuffix(day, `T00:00:00.000"`)) {
		t.Errorf("the raw dimension next to its day: %s", body)
	}
	// An unknown granularity is a 400.
	if status, _, body := c.get("load", `{"measures":["orders.count"],"dimensions":["orders.created_at.fortnight"]}`); status != 400 || !strings.Contains(body, "fortnight") {
		t.Errorf("unknown granularity: %d %s", status, body)
	}
}

// TestCubeDryRunAndSQL: /dry-run answers queryType, normalizedQueries,
// queryOrder (Cube's default order when the query gives none: the first
// time dimension with a granularity ascending, else the first measure
// descending when there are dimensions, else the first dimension
// ascending, else none), transformedQueries and pivotQuery; /sql answers
// {sql: {sql: [text, params], order, …}} for one query and an array for
// compareDateRange and blending, as the client's SqlQuery reads them.
func TestCubeDryRunAndSQL(t *testing.T) {
	_, c := startCubeLoadGateway(t)
	for q, order := range map[string]string{
		`{"measures":["orders.count"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`: `{"orders.created_at":"asc"}`,
		`{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"]}`:                                                    `{"orders.count":"desc"}`,
		`{"dimensions":["orders.status","orders.channel"]}`:                                                                                     `{"orders.status":"asc"}`,
		`{"measures":["orders.count"]}`: `{}`,
		`{"measures":["orders.count"],"dimensions":["orders.status"],"order":{"orders.status":"desc"}}`: `{"orders.status":"desc"}`,
		`{"measures":["orders.count"],"dimensions":["orders.created_at.week"]}`:                         `{"orders.created_at":"asc"}`,
	} {
		status, m, body := c.get("dry-run", q)
		if status != 200 || jget(m, "queryType") != "regularQuery" || jstr(jget(m, "queryOrder")) != "["+order+"]" ||
			jlen(jget(m, "normalizedQueries")) != 1 || jlen(jget(m, "transformedQueries")) != 1 || jget(m, "pivotQuery", "queryType") != "regularQuery" {
			t.Errorf("dry-run %s: %d, want queryOrder [%s]: %.600s", q, status, order, body)
		}
	}
	// The default order is the order the rows come in.
	_, m, _ := c.get("load", `{"measures":["orders.count"],"dimensions":["orders.channel"]}`)
	var counts []int
	for _, s := range rowsOf(jget(m, "data"), "orders.count") {
		n, _ := strconv.Atoi(s)
		counts = append(counts, -n)
	}
	if len(counts) < 2 || !slices.IsSorted(counts) {
		t.Errorf("default order: counts %v not descending", counts)
	}
	cmp := `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","compareDateRange":["2023-01-01",["2024-01-01","2024-01-31"]]}]}`
	status, m, body := c.get("dry-run", cmp)
	if status != 200 || jget(m, "queryType") != "compareDateRangeQuery" || jlen(jget(m, "normalizedQueries")) != 2 || jstr(jget(m, "pivotQuery", "dimensions")) != `["compareDateRange"]` {
		t.Errorf("dry-run compareDateRange: %d %.600s", status, body)
	}
	status, m, body = c.get("sql", `{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.channel","operator":"equals","values":["web"]}]}`)
	if sql := jget(m, "sql", "sql"); status != 200 || !strings.Contains(jstr(jget(sql, 0)), "orders_raw") || jstr(jget(sql, 1)) != `["web",10001]` && jstr(jget(sql, 1)) != `["web",10000]` ||
		jstr(jget(m, "sql", "order")) != `{"orders.count":"desc"}` || jget(m, "sql", "aliasNameToMember") == nil {
		t.Errorf("sql: %d %.600s", status, body)
	}
	status, _, body = c.get("sql", cmp)
	var arr []map[string]any
	if err := json.Unmarshal([]byte(body), &arr); status != 200 || err != nil || len(arr) != 2 || jget(arr[1], "sql", "sql", 0) == nil {
		t.Errorf("sql compareDateRange: %d %v %.600s", status, err, body)
	}
}

// TestCubeLoadValueSpelling: values as Cube writes them — a sum or min
// of a numeric(10,2) column keeps its scale ("….00"), an ungrouped count
// is the number 1, bigint counts are strings, integer dimensions
// numbers.
func TestCubeLoadValueSpelling(t *testing.T) {
	_, c := startCubeLoadGateway(t)
	_, m, _ := c.get("load", `{"measures":["orders.min_amount","orders.total_amount","orders.count"],"dimensions":["orders.quantity"],"order":{"orders.quantity":"asc"}}`)
	scale2 := regexp.MustCompile(`^"\d+\.\d\d"$`)
	for _, r := range jget(m, "data").([]any) {
		if !scale2.MatchString(jstr(jget(r, "orders.min_amount"))) || !scale2.MatchString(jstr(jget(r, "orders.total_amount"))) || !regexp.MustCompile(`^"\d+"$`).MatchString(jstr(jget(r, "orders.count"))) {
			t.Fatalf("numeric scale / bigint as string: %s", jstr(r))
		}
		if _, ok := jget(r, "orders.quantity").(float64); !ok {
			t.Fatalf("integer dimension as a number: %s", jstr(r))
		}
	}
	_, m, body := c.get("load", `{"ungrouped":true,"measures":["orders.count","orders.total_amount"],"dimensions":["orders.id"],"filters":[{"member":"orders.id","operator":"lte","values":["3"]}],"order":{"orders.id":"asc"}}`)
	if got := jstr(jget(m, "data", 0)); !regexp.MustCompile(`"orders.count":1[,}]`).MatchString(got) || !scale2.MatchString(jstr(jget(m, "data", 0, "orders.total_amount"))) {
		t.Errorf("ungrouped count: %s (%.300s)", got, body)
	}
}

// TestCubeLoadErrors: the refusals Cube makes before compiling come in
// its shape and words — 400 {"type":"UserError","error"} for an unknown
// member or cube, a member of the wrong kind, a query with nothing to
// select, an ungrouped query without every primary key (all named); 400 "Invalid query format" for a filter
// with an unknown operator — on /load, /sql and /dry-run alike. A key
// that is not valid is 401 with an "error" (Cube says 403 "Invalid
// token"; @cubejs-client/core treats both alike: a RequestError with the
// status and the body's error). The key goes on working after each.
func TestCubeLoadErrors(t *testing.T) {
	_, c := startCubeLoadGateway(t)
	for _, tc := range []struct{ query, want string }{
		{`{"measures":["orders.no_such_measure"]}`, `{"type":"UserError","error":"'no_such_measure' not found for path 'orders.no_such_measure'"}`},
		{`{"measures":["nope.count"]}`, `{"type":"UserError","error":"Cube 'nope' not found for path 'nope.count'"}`},
		{`{"measures":["orders.status"]}`, `{"type":"UserError","error":"'status' not found for path 'orders.status'"}`},
		{`{"measures":["orders.count"],"filters":[{"member":"orders.nope","operator":"equals","values":["x"]}]}`, `{"type":"UserError","error":"'nope' not found for path 'orders.nope'"}`},
		{`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["x"]},{"or":[{"member":"orders.status","operator":"like","values":["x"]}]}]}`,
			`{"error":"Invalid query format: \"filters[1]\" does not match any of the allowed types"}`},
		{`{"timeDimensions":[{"dimension":"orders.created_at","dateRange":"2023-06-15"}]}`,
			`{"type":"UserError","error":"Query should contain either measures, dimensions or timeDimensions with granularities in order to be valid"}`},
		{`{"ungrouped":true,"dimensions":["orders.status","customers.name","products.name"],"limit":5}`,
			`{"type":"UserError","error":"Ungrouped query requires primary keys to be present in dimensions: 'orders.id', 'customers.id', 'products.id'. Pass allowUngroupedWithoutPrimaryKey option to disable this check."}`},
	} {
		for _, path := range []string{"load", "sql", "dry-run"} {
			status, _, body := c.get(path, tc.query, "queryType", "multi")
			if status != 400 || canon(body) != canon(tc.want) {
				t.Errorf("%s %s: %d %s, want 400 %s", path, tc.query, status, body, tc.want)
			}
		}
	}
	bad := c
	bad.key = "Bearer cg_live_not_a_key"
	if status, m, body := bad.get("load", `{"measures":["orders.count"]}`, "queryType", "multi"); status != 401 || jget(m, "error") == nil {
		t.Errorf("invalid key: %d %s", status, body)
	}
	if status, _, body := c.get("load", `{"measures":["orders.count"]}`, "queryType", "multi"); status != 200 {
		t.Errorf("after the errors: %d %s", status, body)
	}
}

// TestCubeLoadCompact: responseFormat "compact" (the client's resType)
// answers data as {members, dataset} with the same values as the default
// format, in the order of members; a format cubegate does not write is a
// 400, not another shape.
func TestCubeLoadCompact(t *testing.T) {
	_, c := startCubeLoadGateway(t)
	q := `"measures":["orders.count"],"dimensions":["orders.status","orders.created_at.year"],"order":{"orders.status":"asc","orders.created_at":"asc"}`
	_, def, body := c.get("load", `{`+q+`}`, "queryType", "multi")
	status, m, body2 := c.get("load", `{`+q+`,"responseFormat":"compact"}`, "queryType", "multi")
	members := jget(m, "results", 0, "data", "members")
	if status != 200 || jstr(members) != `["orders.status","orders.created_at.year","orders.count","orders.created_at"]` || jget(m, "results", 0, "query", "responseFormat") != "compact" {
		t.Fatalf("compact: %d %.500s", status, body2)
	}
	rows := jget(def, "results", 0, "data").([]any)
	dataset := jget(m, "results", 0, "data", "dataset").([]any)
	if len(rows) == 0 || len(rows) != len(dataset) {
		t.Fatalf("%d rows, %d in the dataset: %.300s", len(rows), len(dataset), body)
	}
	for i, r := range rows {
		for j, k := range members.([]any) {
			if jstr(jget(r, k.(string))) != jstr(jget(dataset[i], j)) {
				t.Errorf("row %d %s: %s vs %s", i, k, jstr(jget(r, k.(string))), jstr(jget(dataset[i], j)))
			}
		}
	}
	if status, _, body := c.get("load", `{`+q+`,"responseFormat":"columnar"}`, "queryType", "multi"); status != 400 || !strings.Contains(body, "columnar") {
		t.Errorf("columnar: %d %s", status, body)
	}
}
