package cubes

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// ctxModel is one cube, orders, whose sql is cubeSQL (and whose status
// dimension's sql is statusSQL when set).
func ctxModel(t *testing.T, cubeSQL, statusSQL string) *Model {
	t.Helper()
	m, err := LoadFiles(map[string][]byte{"orders.yml": []byte(ctxYAML(cubeSQL, statusSQL))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctxYAML(cubeSQL, statusSQL string) string {
	if statusSQL == "" {
		statusSQL = "status"
	}
	return fmt.Sprintf(`cubes:
  - name: orders
    sql: %q
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: %q
        type: string
      - name: amount
        sql: amount
        type: number
      - name: created_at
        sql: created_at
        type: time
      - name: local_created_at
        sql: "{SQL_UTILS.convertTz('created_at')}"
        type: time
views:
  - name: orders_view
    cubes:
      - join_path: orders
        includes: "*"
`, cubeSQL, statusSQL)
}

var ctxNow = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

// from is the FROM clause of the compiled SQL: the cube's rendered table.
func from(sql string) string {
	i := strings.Index(sql, " FROM ")
	j := strings.LastIndex(sql, ` AS "orders"`)
	if i < 0 || j < i {
		return sql
	}
	return sql[i+6 : j]
}

func argsText(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = formatArg(a)
	}
	return strings.Join(parts, ", ")
}

func TestSecurityContextTokens(t *testing.T) {
	inj := "x'; DROP TABLE t; --"
	cases := []struct {
		name, sql string
		claims    map[string]any
		want      string // the cube's table as rendered (postgres and duckdb alike)
		args      string
		code      string // an error's SQLSTATE
	}{
		{"scalar", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}",
			map[string]any{"customer_id": int64(42)}, "(SELECT * FROM orders WHERE (customer_id = $1))", "42", ""},
		{"array", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.regions.filter('region')}",
			map[string]any{"regions": []any{"eu", "us"}}, "(SELECT * FROM orders WHERE (region IN ($1, $2)))", "'eu', 'us'", ""},
		{"empty array", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.regions.filter('region')}",
			map[string]any{"regions": []any{}}, "(SELECT * FROM orders WHERE (1 = 0))", "", ""},
		{"absent", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}",
			nil, "(SELECT * FROM orders WHERE (1 = 1))", "", ""},
		{"null is absent", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}",
			map[string]any{"customer_id": nil}, "(SELECT * FROM orders WHERE (1 = 1))", "", ""},
		{"required present", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.requiredFilter('customer_id')}",
			map[string]any{"customer_id": "c1"}, "(SELECT * FROM orders WHERE (customer_id = $1))", "'c1'", ""},
		{"required absent", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.requiredFilter('customer_id')}",
			map[string]any{"other": 1}, "", "", "42501"},
		{"nested", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.user.org.filter('org_id')}",
			map[string]any{"user": map[string]any{"org": int64(7)}}, "(SELECT * FROM orders WHERE (org_id = $1))", "7", ""},
		{"nested absent", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.user.org.filter('org_id')}",
			map[string]any{"user": "x"}, "(SELECT * FROM orders WHERE (1 = 1))", "", ""},
		{"value", "SELECT * FROM orders WHERE tenant = {SECURITY_CONTEXT.tenant}",
			map[string]any{"tenant": "acme"}, "(SELECT * FROM orders WHERE tenant = $1)", "'acme'", ""},
		{"value absent", "SELECT * FROM orders WHERE tenant = {SECURITY_CONTEXT.tenant}",
			nil, "(SELECT * FROM orders WHERE tenant = NULL)", "", ""},
		{"unsafeValue is bound", "SELECT * FROM orders WHERE tenant = {SECURITY_CONTEXT.tenant.unsafeValue()}",
			map[string]any{"tenant": inj}, "(SELECT * FROM orders WHERE tenant = $1)", "'x''; DROP TABLE t; --'", ""},
		{"injection in a filter", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}",
			map[string]any{"customer_id": inj}, "(SELECT * FROM orders WHERE (customer_id = $1))", "'x''; DROP TABLE t; --'", ""},
		{"array value", "SELECT * FROM orders WHERE region IN ({SECURITY_CONTEXT.regions})",
			map[string]any{"regions": []any{"eu", int64(3), true}}, "(SELECT * FROM orders WHERE region IN ($1, $2, $3))", "'eu', 3, true", ""},
		{"object refused", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.user.filter('u')}",
			map[string]any{"user": map[string]any{"a": 1}}, "", "", "22023"},
		{"USER_CONTEXT and ${}", "SELECT * FROM orders WHERE ${USER_CONTEXT.customer_id.filter('customer_id')}",
			map[string]any{"customer_id": 1.5}, "(SELECT * FROM orders WHERE (customer_id = $1))", "1.5", ""},
		{"braces in strings", "SELECT * FROM orders WHERE {SECURITY_CONTEXT.k.filter('coalesce(k, \\'}\\')')} AND j = '{x}'",
			map[string]any{"k": "v"}, "(SELECT * FROM orders WHERE (coalesce(k, '}') = $1) AND j = '{x}')", "'v'", ""},
	}
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		for _, tc := range cases {
			t.Run(d.Name()+"/"+tc.name, func(t *testing.T) {
				m := ctxModel(t, tc.sql, "")
				c, err := m.CompileWith(&Query{Measures: []string{"orders.count"}}, d, Options{Now: ctxNow, Security: tc.claims})
				if tc.code != "" {
					var pe *pgerr.Error
					if !errors.As(err, &pe) || pe.Code != tc.code {
						t.Fatalf("err = %v, want SQLSTATE %s", err, tc.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := from(c.SQL); got != tc.want {
					t.Errorf("table\n got %s\nwant %s", got, tc.want)
				}
				if got := argsText(c.Args); got != tc.args {
					t.Errorf("args = %s, want %s", got, tc.args)
				}
				if strings.Contains(c.SQL, "DROP") {
					t.Errorf("a claim reached the SQL text: %s", c.SQL)
				}
			})
		}
	}
}

func TestFilterParams(t *testing.T) {
	const created = "SELECT * FROM orders WHERE {FILTER_PARAMS.orders.created_at.filter('created_at')}"
	const status = "SELECT * FROM orders WHERE {FILTER_PARAMS.orders.status.filter('status')}"
	const amount = "SELECT * FROM orders WHERE {FILTER_PARAMS.orders.amount.filter('amount')}"
	const group = "SELECT * FROM orders WHERE {FILTER_GROUP(FILTER_PARAMS.orders.status.filter('status'), FILTER_PARAMS.orders.amount.filter('amount'))}"
	const byLambda = "SELECT * FROM orders WHERE {FILTER_PARAMS.orders.created_at.filter(lambda from, to: f'created_at BETWEEN {from} AND {to}')}"
	const byValue = "SELECT * FROM orders WHERE {FILTER_PARAMS.orders.status.filter(lambda value: f'status = {value} AND note <> \\'x\\\\\\'')}"
	f := func(member, op string, vals ...string) Filter {
		return Filter{Member: member, Operator: op, Values: vals}
	}
	cases := []struct {
		name, sql string
		q         Query
		want      string
		args      string
	}{
		{"no filter", status, Query{}, "(SELECT * FROM orders WHERE (1 = 1))", ""},
		{"equals", status, Query{Filters: []Filter{f("orders.status", "equals", "new")}},
			"(SELECT * FROM orders WHERE (status = $1))", "'new'"},
		{"equals list", status, Query{Filters: []Filter{f("orders.status", "equals", "new", "old")}},
			"(SELECT * FROM orders WHERE (status IN ($1, $2)))", "'new', 'old'"},
		{"notEquals", status, Query{Filters: []Filter{f("orders.status", "notEquals", "new")}},
			"(SELECT * FROM orders WHERE ((status <> $1 OR status IS NULL)))", "'new'"},
		{"contains", status, Query{Filters: []Filter{f("orders.status", "contains", "ne")}},
			`(SELECT * FROM orders WHERE ((status ILIKE '%' || $1 || '%' ESCAPE '\')))`, "'ne'"},
		{"set", status, Query{Filters: []Filter{f("orders.status", "set")}},
			"(SELECT * FROM orders WHERE (status IS NOT NULL))", ""},
		{"notSet", status, Query{Filters: []Filter{f("orders.status", "notSet")}},
			"(SELECT * FROM orders WHERE (status IS NULL))", ""},
		{"gt", amount, Query{Filters: []Filter{f("orders.amount", "gt", "10")}}, "(SELECT * FROM orders WHERE (amount > $1))", "10"},
		{"gte", amount, Query{Filters: []Filter{f("orders.amount", "gte", "10")}}, "(SELECT * FROM orders WHERE (amount >= $1))", "10"},
		{"lt", amount, Query{Filters: []Filter{f("orders.amount", "lt", "10.5")}}, "(SELECT * FROM orders WHERE (amount < $1))", "10.5"},
		{"lte and gt", amount, Query{Filters: []Filter{f("orders.amount", "lte", "10"), f("orders.amount", "gt", "1")}},
			"(SELECT * FROM orders WHERE (amount <= $1 AND amount > $2))", "10, 1"},
		{"inDateRange", created, Query{Filters: []Filter{f("orders.created_at", "inDateRange", "2024-01-01", "2024-01-31")}},
			"(SELECT * FROM orders WHERE ((created_at >= $1 AND created_at <= $2)))", "'2024-01-01T00:00:00.000Z', '2024-01-31T23:59:59.999Z'"},
		{"notInDateRange", created, Query{Filters: []Filter{f("orders.created_at", "notInDateRange", "2024-01-01", "2024-01-31")}},
			"(SELECT * FROM orders WHERE ((created_at < $1 OR created_at > $2)))", "'2024-01-01T00:00:00.000Z', '2024-01-31T23:59:59.999Z'"},
		{"beforeDate", created, Query{Filters: []Filter{f("orders.created_at", "beforeDate", "2024-02-01")}},
			"(SELECT * FROM orders WHERE (created_at < $1))", "'2024-02-01T00:00:00.000Z'"},
		{"afterDate", created, Query{Filters: []Filter{f("orders.created_at", "afterDate", "2024-02-01")}},
			"(SELECT * FROM orders WHERE (created_at > $1))", "'2024-02-01T00:00:00.000Z'"},
		{"dateRange", created, Query{TimeDimensions: []TimeDimension{{Dimension: "orders.created_at", DateRange: DateRange{Pair: []string{"2024-01-01", "2024-01-02"}}}}},
			"(SELECT * FROM orders WHERE ((created_at >= $1 AND created_at <= $2)))", "'2024-01-01T00:00:00.000Z', '2024-01-02T23:59:59.999Z'"},
		{"relative dateRange", created, Query{TimeDimensions: []TimeDimension{{Dimension: "orders.created_at", DateRange: DateRange{Relative: "yesterday"}}}},
			"(SELECT * FROM orders WHERE ((created_at >= $1 AND created_at <= $2)))", "'2024-03-14T00:00:00.000Z', '2024-03-14T23:59:59.999Z'"},
		{"dateRange in a time zone", created, Query{Timezone: "Europe/Paris", TimeDimensions: []TimeDimension{{Dimension: "orders.created_at", DateRange: DateRange{Pair: []string{"2024-01-01", "2024-01-01"}}}}},
			"(SELECT * FROM orders WHERE ((created_at >= $1 AND created_at <= $2)))", "'2023-12-31T23:00:00.000Z', '2024-01-01T22:59:59.999Z'"},
		{"through a view", status, Query{Filters: []Filter{f("orders_view.status", "equals", "new")}},
			"(SELECT * FROM orders WHERE (status = $1))", "'new'"},
		{"nested and", status, Query{Filters: []Filter{{And: []Filter{f("orders.status", "equals", "new"), f("orders.amount", "gt", "1")}}}},
			"(SELECT * FROM orders WHERE (status = $1))", "'new'"},
		{"or is not pushed", status, Query{Filters: []Filter{{Or: []Filter{f("orders.status", "equals", "new"), f("orders.status", "equals", "old")}}}},
			"(SELECT * FROM orders WHERE (1 = 1))", ""},
		{"group: and", group, Query{Filters: []Filter{f("orders.status", "equals", "new"), f("orders.amount", "gt", "1")}},
			"(SELECT * FROM orders WHERE (status = $1 AND amount > $2))", "'new', 1"},
		{"group: or", group, Query{Filters: []Filter{{Or: []Filter{f("orders.status", "equals", "new"), f("orders.amount", "gt", "1")}}}},
			"(SELECT * FROM orders WHERE ((status = $1 OR amount > $2)))", "'new', 1"},
		{"group: or with another member", group, Query{Filters: []Filter{{Or: []Filter{f("orders.status", "equals", "new"), f("orders.id", "gt", "1")}}, f("orders.amount", "lt", "5")}},
			"(SELECT * FROM orders WHERE (amount < $1))", "5"},
		{"callback: date range", byLambda, Query{Filters: []Filter{f("orders.created_at", "inDateRange", "2024-01-01", "2024-01-31")}},
			"(SELECT * FROM orders WHERE ((created_at BETWEEN $1 AND $2)))", "'2024-01-01T00:00:00.000Z', '2024-01-31T23:59:59.999Z'"},
		{"callback: time dimension", byLambda, Query{TimeDimensions: []TimeDimension{{Dimension: "orders.created_at", Granularity: "day", DateRange: DateRange{Pair: []string{"2024-01-01", "2024-01-02"}}}}},
			"(SELECT * FROM orders WHERE ((created_at BETWEEN $1 AND $2)))", "'2024-01-01T00:00:00.000Z', '2024-01-02T23:59:59.999Z'"},
		{"callback: one value, escapes", byValue, Query{Filters: []Filter{f("orders.status", "equals", "a", "b")}},
			`(SELECT * FROM orders WHERE (((status = $1 AND note <> 'x\') OR (status = $2 AND note <> 'x\'))))`, "'a', 'b'"},
		{"callback: not for notEquals", byValue, Query{Filters: []Filter{f("orders.status", "notEquals", "a")}},
			"(SELECT * FROM orders WHERE (1 = 1))", ""},
	}
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		for _, tc := range cases {
			t.Run(d.Name()+"/"+tc.name, func(t *testing.T) {
				m := ctxModel(t, tc.sql, "")
				q := tc.q
				q.Measures = []string{"orders.count"}
				c, err := m.CompileWith(&q, d, Options{Now: ctxNow})
				if err != nil {
					t.Fatal(err)
				}
				// The hint's arguments are bound after the query's own
				// (the columns and WHERE are rendered first): renumber.
				got := from(c.SQL)
				n := strings.Count(got, "$")
				all := c.Args
				k := len(all) - n
				if n > 0 {
					// The hint's parameters are the last n, in order.
					for i := n; i >= 1; i-- {
						got = strings.ReplaceAll(got, fmt.Sprintf("$%d", k+i), fmt.Sprintf("$%d", i))
					}
				}
				if got != tc.want {
					t.Errorf("table\n got %s\nwant %s\nsql: %s", got, tc.want, c.SQL)
				}
				if a := argsText(all[k:]); a != tc.args {
					t.Errorf("hint args = %s, want %s", a, tc.args)
				}
				// The query's own WHERE keeps every filter.
				if len(q.Filters) > 0 && !strings.Contains(c.SQL[strings.LastIndex(c.SQL, ` AS "orders"`):], " WHERE ") {
					t.Errorf("the query lost its WHERE: %s", c.SQL)
				}
			})
		}
	}
}

// TestContextGolden pins whole statements for both dialects.
func TestContextGolden(t *testing.T) {
	m := ctxModel(t, "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')} AND {FILTER_PARAMS.orders.created_at.filter('created_at')}", "")
	q := Query{Measures: []string{"orders.count"}, Dimensions: []string{"orders.local_created_at"}, Timezone: "America/New_York",
		TimeDimensions: []TimeDimension{{Dimension: "orders.created_at", DateRange: DateRange{Pair: []string{"2024-01-01", "2024-01-31"}}}}}
	// The time dimension that converts itself is not converted twice;
	// the cube's hint binds the claim and the date range after the
	// query's own arguments.
	want := map[string]string{
		"postgres": `SELECT (("orders".created_at)::timestamptz AT TIME ZONE $1) "orders__local_created_at", count("orders".id) "orders__count" FROM (SELECT * FROM orders WHERE (customer_id = $4) AND ((created_at >= $5 AND created_at <= $6))) AS "orders" WHERE ("orders".created_at >= $2 AND "orders".created_at <= $3) GROUP BY 1 ORDER BY 2 DESC`,
		"duckdb":   `SELECT timezone($1, CAST("orders".created_at AS TIMESTAMPTZ)) "orders__local_created_at", count("orders".id) "orders__count" FROM (SELECT * FROM orders WHERE (customer_id = $4) AND ((created_at >= $5 AND created_at <= $6))) AS "orders" WHERE ("orders".created_at >= $2 AND "orders".created_at <= $3) GROUP BY 1 ORDER BY 2 DESC`,
	}
	const args = `
-- $1 = 'America/New_York'
-- $2 = '2024-01-01T05:00:00.000Z'
-- $3 = '2024-02-01T04:59:59.999Z'
-- $4 = 42
-- $5 = '2024-01-01T05:00:00.000Z'
-- $6 = '2024-02-01T04:59:59.999Z'`
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		c, err := m.CompileWith(&q, d, Options{Now: ctxNow, Security: map[string]any{"customer_id": int64(42)}})
		if err != nil {
			t.Fatal(err)
		}
		w := want[d.Name()] + args
		if got := c.String(); got != w {
			t.Errorf("%s:\n got %s\nwant %s", d.Name(), got, w)
		}
	}
}

func TestConvertTzToken(t *testing.T) {
	m := ctxModel(t, "SELECT * FROM orders", "")
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		c, err := m.CompileWith(&Query{Dimensions: []string{"orders.local_created_at"}}, d, Options{Now: ctxNow})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.SQL, `SELECT "orders".created_at "orders__local_created_at"`) {
			t.Errorf("%s in UTC: %s", d.Name(), c.SQL)
		}
		c, err = m.CompileWith(&Query{Dimensions: []string{"orders.local_created_at"}, Timezone: "Asia/Tokyo"}, d, Options{Now: ctxNow})
		if err != nil {
			t.Fatal(err)
		}
		if want := d.ConvertTz(`"orders".created_at`, "$1"); !strings.Contains(c.SQL, want) || c.Args[0] != "Asia/Tokyo" {
			t.Errorf("%s in Tokyo: %s %v (want %s)", d.Name(), c.SQL, c.Args, want)
		}
	}
	// In cube SQL, the column is left as written.
	m = ctxModel(t, "SELECT id, {SQL_UTILS.convertTz('created_at')} AS created_at FROM orders", "")
	c, err := m.CompileWith(&Query{Measures: []string{"orders.count"}, Timezone: "Asia/Tokyo"}, Postgres{}, Options{Now: ctxNow})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := from(c.SQL), "(SELECT id, ((created_at)::timestamptz AT TIME ZONE $1) AS created_at FROM orders)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestContextVarsInMemberSQL(t *testing.T) {
	m := ctxModel(t, "SELECT * FROM orders", "CASE WHEN {CUBE}.owner = {SECURITY_CONTEXT.user} THEN status END")
	c, err := m.CompileWith(&Query{Dimensions: []string{"orders.status"}}, Postgres{}, Options{Security: map[string]any{"user": "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.SQL, `SELECT CASE WHEN "orders".owner = $1 THEN status END`) || c.Args[0] != "ann" {
		t.Errorf("%s %v", c.SQL, c.Args)
	}
}

func TestContextVarsLoadErrors(t *testing.T) {
	cases := []struct{ cubeSQL, statusSQL, want string }{
		{"SELECT * FROM t WHERE {SECURITY_CONTEXT.a.filtr('a')}", "", "not filtr()"},
		{"SELECT * FROM t WHERE {SECURITY_CONTEXT}", "", "needs a claim"},
		{"SELECT * FROM t WHERE {SECURITY_CONTEXT.a.filter(a)}", "", "expected a quoted string"},
		{"SELECT * FROM t WHERE {SECURITY_CONTEXT.a.filter('a'}", "", `expected ')'`},
		{"SELECT * FROM t WHERE {SECURITY_CONTEXT.a.filter('a)}", "", "unterminated string"},
		{"SELECT * FROM t WHERE {FILTER_PARAMS.orders.nope.filter('a')}", "", "FILTER_PARAMS.orders.nope"},
		{"SELECT * FROM t WHERE {FILTER_PARAMS.orders.status}", "", "FILTER_PARAMS.cube.member.filter"},
		{"SELECT * FROM t WHERE {FILTER_PARAMS.orders.status.filter(lambda x: f'{y}')}", "", "not one of its parameters"},
		{"SELECT * FROM t WHERE {FILTER_PARAMS.orders.status.filter(lambda x: 'a')}", "", "f-string"},
		{"SELECT * FROM t WHERE {FILTER_GROUP(SECURITY_CONTEXT.a)}", "", "FILTER_GROUP takes FILTER_PARAMS"},
		{"SELECT * FROM t WHERE {SQL_UTILS.convertTimezone('a')}", "", "convertTz only"},
		{"SELECT * FROM t WHERE a = '{SECURITY_CONTEXT.a.unsafeValue()}'", "", "inside a quoted string"},
		{"SELECT * FROM t", "{SECURITY_CONTEXT.a.nope()}", "not nope()"},
		{"SELECT * FROM t", "{FILTER_PARAMS.orders.count.filter('x')}", "dimensions only"},
	}
	for _, tc := range cases {
		_, err := LoadFiles(map[string][]byte{"orders.yml": []byte(ctxYAML(tc.cubeSQL, tc.statusSQL))})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "orders.yml:") {
			t.Errorf("%s / %s: err = %v, want orders.yml:line and %q", tc.cubeSQL, tc.statusSQL, err, tc.want)
		}
	}
}

func TestContextCubesSkipMaterializations(t *testing.T) {
	yml := strings.Replace(ctxYAML("SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}", ""), "views:",
		"    pre_aggregations:\n      - name: by_status\n        measures: [count]\n        dimensions: [status]\nviews:", 1)
	m, err := LoadFiles(map[string][]byte{"orders.yml": []byte(yml)})
	if err != nil {
		t.Fatal(err)
	}
	q := &Query{Measures: []string{"orders.count"}, Dimensions: []string{"orders.status"}}
	pa, reasons := m.MatchRollup(q, Options{Now: ctxNow})
	if pa != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "reads the query-time context") {
		t.Errorf("rollup matched for a cube reading SECURITY_CONTEXT: %v %v", pa, reasons)
	}
	// An original_sql table built without the context is not read.
	c, err := m.CompileWith(q, Postgres{}, Options{Tables: map[string]string{"orders": `"built"`}, Security: map[string]any{"customer_id": int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.SQL, `"built"`) || !strings.Contains(c.SQL, "(customer_id = $1)") {
		t.Errorf("materialized table read for a context cube: %s", c.SQL)
	}
	// A cube without context variables still matches.
	plain, err := LoadFiles(map[string][]byte{"orders.yml": []byte(strings.Replace(yml, "{SECURITY_CONTEXT.customer_id.filter('customer_id')}", "1 = 1", 1))})
	if err != nil {
		t.Fatal(err)
	}
	if pa, reasons := plain.MatchRollup(q, Options{Now: ctxNow}); pa == nil {
		t.Errorf("plain cube: no match: %v", reasons)
	}
}

func TestRowSourceSecurity(t *testing.T) {
	m := ctxModel(t, "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')} AND {FILTER_PARAMS.orders.status.filter('status')}", "")
	src, err := m.RowSource([]string{"orders"}, Postgres{}, RowSourceOptions{FirstArg: 2, Security: map[string]any{"customer_id": int64(9)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src.SQL, "(SELECT * FROM orders WHERE (customer_id = $3) AND (1 = 1))") || len(src.Args) != 1 || src.Args[0] != int64(9) {
		t.Errorf("%s %v", src.SQL, src.Args)
	}
	_, err = ctxModel(t, "SELECT * FROM orders WHERE {SECURITY_CONTEXT.customer_id.requiredFilter('customer_id')}", "").
		RowSource([]string{"orders"}, Postgres{}, RowSourceOptions{})
	var pe *pgerr.Error
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("requiredFilter without the claim: %v", err)
	}
}

func TestTemplateParser(t *testing.T) {
	segs, err := splitTemplate(`a {FILTER_PARAMS.c.d.filter(lambda v: f'x = {v} AND y = \'{{lit}}\' AND z = "}}"')} b ${SQL_UTILS.convertTz("t")} {CUBE}.x '{SECURITY' -- {SECURITY_CONTEXT.x}
c`)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 5 || segs[0].text != "a " || segs[2].text != " b " || segs[4].text != ` {CUBE}.x '{SECURITY' -- {SECURITY_CONTEXT.x}
c` {
		t.Fatalf("segments: %+v", segs)
	}
	fn := segs[1].tok.params[0].fn
	if got := fn.render("$1"); got != `(x = $1 AND y = '{lit}' AND z = "}")` {
		t.Errorf("callback: %s", got)
	}
	if segs[3].tok.kind != ctxConvertTz || segs[3].tok.arg != "t" || segs[3].tok.text != `${SQL_UTILS.convertTz("t")}` {
		t.Errorf("convertTz: %+v", segs[3].tok)
	}
	for _, bad := range []string{
		`{FILTER_PARAMS.c.d.filter(lambda v: f'{v')}`,
		`{FILTER_PARAMS.c.d.filter(lambda v: f'}')}`,
		`{SECURITY_CONTEXT.a.filter('x') extra}`,
		`{SECURITY_CONTEXT.a.filter('x')`,
		`"{SECURITY_CONTEXT.a}"`,
	} {
		if _, err := splitTemplate(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
