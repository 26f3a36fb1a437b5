package cubes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func preaggModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadDir("testdata/preagg")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func preagg(t testing.TB, m *Model, cube, name string) *PreAggregation {
	t.Helper()
	c, ok := m.Cube(cube)
	if !ok {
		t.Fatalf("no cube %s", cube)
	}
	for _, pa := range c.PreAggregations {
		if pa.Name == name {
			return pa
		}
	}
	t.Fatalf("no pre-aggregation %s.%s", cube, name)
	return nil
}

func TestLoadPreAggregations(t *testing.T) {
	m := preaggModel(t)
	orders, _ := m.Cube("orders")
	if got := orders.RefreshEvery(); got != time.Hour {
		t.Errorf("orders refresh every %v", got)
	}
	customers, _ := m.Cube("customers")
	if got := customers.RefreshEvery(); got != 10*time.Second || customers.RefreshKey.SQL == "" {
		t.Errorf("customers refresh every %v, key %+v", got, customers.RefreshKey)
	}
	sales, _ := m.Cube("sales")
	if got := sales.RefreshEvery(); got != 10*time.Second {
		t.Errorf("default refresh every %v", got)
	}

	day := preagg(t, m, "orders", "by_day")
	names := func(ms []Member) string {
		var out []string
		for _, x := range ms {
			out = append(out, FullName(x))
		}
		return strings.Join(out, ",")
	}
	var ms, ds []Member
	for _, x := range day.Measures {
		ms = append(ms, x)
	}
	for _, x := range day.Dimensions {
		ds = append(ds, x)
	}
	if got := names(ms); got != "orders.count,orders.total_amount,orders.unique_customers,orders.approx_customers,orders.avg_amount" {
		t.Errorf("measures %s", got)
	}
	if got := names(ds); got != "orders.status,customers.city" {
		t.Errorf("dimensions %s", got)
	}
	if day.TimeDimension == nil || FullName(day.TimeDimension) != "orders.created_at" || day.Granularity != "day" || day.PartitionGranularity != "month" {
		t.Errorf("time %+v %s %s", day.TimeDimension, day.Granularity, day.PartitionGranularity)
	}
	if len(day.Segments) != 1 || day.Segments[0].Name != "completed" {
		t.Errorf("segments %+v", day.Segments)
	}
	rk := day.RefreshKey
	if rk == nil || rk.EveryDuration != time.Hour || !rk.Incremental || rk.UpdateWindowDuration != 7*24*time.Hour {
		t.Errorf("refresh key %+v", rk)
	}
	if day.BuildRangeStart != "SELECT '2024-01-01'" || day.BuildRangeEnd != "SELECT now()" {
		t.Errorf("build range %q %q", day.BuildRangeStart, day.BuildRangeEnd)
	}
	if len(day.Indexes) != 1 || day.Indexes[0].Name != "by_city" || names(day.Indexes[0].Columns) != "customers.city,orders.status" {
		t.Errorf("indexes %+v", day.Indexes)
	}
	if day.ScheduledRefresh || day.External || day.AllowNonStrictDateRangeMatch || day.Pos.Line == 0 {
		t.Errorf("flags %+v", day)
	}
	month := preagg(t, m, "orders", "by_status_month")
	if month.Type != PreAggRollup || !month.ScheduledRefresh || !month.External {
		t.Errorf("defaults %+v", month)
	}
	raw := preagg(t, m, "orders", "raw_source")
	if raw.Type != PreAggOriginalSQL || raw.RefreshKey.Cron != "0 3 * * *" || raw.RefreshKey.EveryDuration != 0 {
		t.Errorf("original_sql %+v %+v", raw, raw.RefreshKey)
	}
	if !preagg(t, m, "orders", "by_week").AllowNonStrictDateRangeMatch {
		t.Error("allow_non_strict_date_range_match")
	}
	view := preagg(t, m, "sales", "by_status")
	if view.Cube != sales || view.Dimensions[0].Cube != sales || FullName(resolveMember(view.Dimensions[0])) != "orders.status" {
		t.Errorf("view rollup %+v", view.Dimensions[0])
	}
}

func TestPreAggregationReferenceForms(t *testing.T) {
	m := preaggModel(t)
	orders, _ := m.Cube("orders")
	for _, ref := range []string{"status", "CUBE.status", "orders.status", "{CUBE}.status", "{CUBE.status}", "${CUBE}.status", "${CUBE.status}", "{orders.status}"} {
		mem, err := preaggMember(m, orders, ref)
		if err != nil || FullName(mem) != "orders.status" {
			t.Errorf("%s: %v %v", ref, mem, err)
		}
	}
	if mem, err := preaggMember(m, orders, "customers.city"); err != nil || FullName(mem) != "customers.city" {
		t.Errorf("joined member: %v %v", mem, err)
	}
}

func TestPreAggregationExtends(t *testing.T) {
	m, err := LoadFiles(map[string][]byte{"m.yml": []byte(`
cubes:
  - name: base
    sql_table: t
    refresh_key:
      every: 30 minutes
    measures:
      - name: count
        type: count
    dimensions:
      - name: kind
        sql: kind
        type: string
    pre_aggregations:
      - name: by_kind
        measures: [CUBE.count]
        dimensions: [kind]
  - name: child
    extends: base
    sql_table: t2
`)})
	if err != nil {
		t.Fatal(err)
	}
	child, _ := m.Cube("child")
	if len(child.PreAggregations) != 1 || child.PreAggregations[0].Cube != child || child.PreAggregations[0].Measures[0].Cube != child {
		t.Fatalf("inherited %+v", child.PreAggregations)
	}
	if child.RefreshEvery() != 30*time.Minute {
		t.Errorf("refresh %v", child.RefreshEvery())
	}
}

func TestPreAggregationValidation(t *testing.T) {
	head := `cubes:
  - name: a
    sql_table: t
    joins:
      - name: b
        sql: "{CUBE}.b_id = {b}.id"
        relationship: many_to_one
    measures:
      - name: count
        type: count
    dimensions:
      - name: kind
        sql: kind
        type: string
      - name: at
        sql: at
        type: time
        granularities:
          - name: fortnight
            interval: 2 weeks
    segments:
      - name: big
        sql: "{CUBE}.x > 1"
    pre_aggregations:
` // line 25 is the first pre-aggregation
	tail := `  - name: b
    sql_table: tb
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: city
        sql: city
        type: string
  - name: lonely
    sql_table: tl
    dimensions:
      - name: x
        sql: x
        type: string
`
	cases := []struct{ name, pa, want string }{
		{"unknown member", "      - name: r\n        measures: [nope]\n", `m.yml:26: pre-aggregation a.r: measures: unknown member "nope": a has no member "nope"`},
		{"unknown cube", "      - name: r\n        dimensions: [zz.kind]\n", `m.yml:26: pre-aggregation a.r: dimensions: unknown member "zz.kind": there is no cube "zz"`},
		{"measure in dimensions", "      - name: r\n        dimensions:\n          - count\n", "m.yml:27: pre-aggregation a.r: dimensions: a.count is a measure, not a dimension"},
		{"dimension in measures", "      - name: r\n        measures: [kind]\n", "m.yml:26: pre-aggregation a.r: measures: a.kind is a dimension, not a measure"},
		{"segment in measures", "      - name: r\n        segments: [kind]\n", "m.yml:26: pre-aggregation a.r: segments: a.kind is a dimension, not a segment"},
		{"time dimension not time", "      - name: r\n        time_dimension: kind\n        granularity: day\n", "m.yml:26: pre-aggregation a.r: time_dimension a.kind is of type string, not time"},
		{"unknown granularity", "      - name: r\n        time_dimension: at\n        granularity: decade\n", `m.yml:25: pre-aggregation a.r: unknown granularity "decade" for a.at (want second, minute, hour, day, week, month, quarter, year, fortnight)`},
		{"custom granularity", "      - name: r\n        time_dimension: at\n        granularity: fortnight\n      - name: bad\n        measures: [count]\n        granularity: day\n", "m.yml:28: pre-aggregation a.bad: granularity needs a time_dimension"},
		{"time dimension without granularity", "      - name: r\n        time_dimension: at\n", "m.yml:25: pre-aggregation a.r: time_dimension needs a granularity"},
		{"partition without time dimension", "      - name: r\n        measures: [count]\n        partition_granularity: month\n", "m.yml:25: pre-aggregation a.r: partition_granularity needs a time_dimension"},
		{"partition finer", "      - name: r\n        time_dimension: at\n        granularity: month\n        partition_granularity: day\n", "m.yml:25: pre-aggregation a.r: partition_granularity day is finer than granularity month"},
		{"partition week of days ok, month of weeks not", "      - name: r\n        time_dimension: at\n        granularity: week\n        partition_granularity: month\n", "m.yml:25: pre-aggregation a.r: partition_granularity month is finer than granularity week"},
		{"unknown key", "      - name: r\n        measures: [count]\n        colour: red\n", `m.yml:27: unknown key "colour" in pre-aggregation`},
		{"duplicate name", "      - name: r\n        measures: [count]\n      - name: r\n        dimensions: [kind]\n", "m.yml:27: pre-aggregation a.r is defined twice (first at m.yml:25)"},
		{"rollup_lambda", "      - name: r\n        type: rollup_lambda\n        rollups: [x]\n", "m.yml:25: pre-aggregation a.r: type rollup_lambda is not supported yet"},
		{"unknown type", "      - name: r\n        type: cube\n", `m.yml:25: pre-aggregation a.r: unknown type "cube"`},
		{"no name", "      - measures: [count]\n", `m.yml:25: pre-aggregation in "a" needs a name`},
		{"empty rollup", "      - name: r\n", "m.yml:25: pre-aggregation a.r: a rollup needs measures"},
		{"listed twice", "      - name: r\n        measures: [count, CUBE.count]\n", "m.yml:26: pre-aggregation a.r: measures: a.count is listed twice"},
		{"unreachable cube", "      - name: r\n        measures: [count]\n        dimensions: [lonely.x]\n", "m.yml:27: pre-aggregation a.r: dimensions: lonely.x is in cube lonely, which no join of a reaches"},
		{"index column not in rollup", "      - name: r\n        measures: [count]\n        dimensions: [kind]\n        indexes:\n          - name: i\n            columns: [b.city]\n", "m.yml:30: pre-aggregation a.r: index i: b.city is not in the pre-aggregation"},
		{"bad every", "      - name: r\n        measures: [count]\n        refresh_key:\n          every: often\n", `m.yml:28: refresh_key every: interval "often"`},
		{"update_window without incremental", "      - name: r\n        measures: [count]\n        refresh_key:\n          every: 1 day\n          update_window: 3 day\n", "m.yml:28: refresh_key update_window needs incremental: true"},
		{"incremental without partitions", "      - name: r\n        measures: [count]\n        refresh_key:\n          every: 1 day\n          incremental: true\n", "m.yml:25: pre-aggregation a.r: an incremental refresh_key needs a partition_granularity"},
		{"build range half", "      - name: r\n        measures: [count]\n        build_range_start:\n          sql: SELECT 1\n", "m.yml:25: pre-aggregation a.r: build_range_start and build_range_end go together"},
		{"time_dimensions", "      - name: r\n        time_dimensions: []\n", "m.yml:26: time_dimensions (several time dimensions) is not supported yet"},
		{"immutable on a rollup", "      - name: r\n        measures: [count]\n        refresh_key:\n          immutable: true\n", `m.yml:28: unknown key "immutable" in refresh_key`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFiles(map[string][]byte{"m.yml": []byte(head + c.pa + tail)})
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
	// A cube's own refresh_key is checked too.
	_, err := LoadFiles(map[string][]byte{"m.yml": []byte("cubes:\n  - name: a\n    sql_table: t\n    refresh_key:\n      every: 5 fortnights\n")})
	if err == nil || !strings.Contains(err.Error(), "m.yml:5: refresh_key every") {
		t.Errorf("cube refresh_key: %v", err)
	}
}

func TestParseEvery(t *testing.T) {
	for _, c := range []struct {
		in   string
		d    time.Duration
		cron string
	}{
		{"10 second", 10 * time.Second, ""}, {"1 hour", time.Hour, ""}, {"30 minutes", 30 * time.Minute, ""},
		{"1 day", 24 * time.Hour, ""}, {"2 weeks", 14 * 24 * time.Hour, ""},
		{"0 * * * *", 0, "0 * * * *"}, {"*/5 * * * *", 0, "*/5 * * * *"}, {"0 0 3 * * MON-FRI", 0, "0 0 3 * * MON-FRI"},
	} {
		d, cron, err := parseEvery(c.in)
		if err != nil || d != c.d || cron != c.cron {
			t.Errorf("%q: %v %q %v", c.in, d, cron, err)
		}
	}
}

// rollupGolden are queries compiled from a rollup, per dialect, compared
// with testdata/preagg/golden/<dialect>/<name>.sql; "build:<rollup>"
// is the statement that builds the rollup.
var rollupGolden = []struct{ name, rollup, query string }{
	{"build_by_day", "orders.by_day", ""},
	{"build_view", "sales.by_status", ""},
	{"month_to_quarter", "orders.by_status_month", `{"measures":["orders.count","orders.total_amount","orders.min_amount"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"quarter","dateRange":["2024-01-01","2024-06-30"]}],"limit":10,"offset":5}`},
	{"number_measure_and_having", "orders.by_status_month", `{"measures":["orders.avg_order"],"dimensions":["orders.status"],"filters":[{"member":"orders.count","operator":"gt","values":["2"]},{"member":"orders.status","operator":"notEquals","values":["void"]}],"order":[["orders.count","desc"]],"total":true}`},
	{"segment_and_joined_dimension", "orders.by_day", `{"measures":["orders.count"],"dimensions":["customers.city"],"segments":["orders.completed"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"week"}]}`},
	{"exact_count_distinct", "orders.by_day", `{"measures":["orders.unique_customers"],"dimensions":["orders.status","customers.city"],"segments":["orders.completed"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`},
	{"view_query", "orders.by_status_month", `{"measures":["sales.count"],"dimensions":["sales.status"],"timeDimensions":[{"dimension":"sales.created_at","granularity":"year"}]}`},
	{"row_filter", "orders.by_status_month", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`},
}

func TestRollupGolden(t *testing.T) {
	m := preaggModel(t)
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		for _, g := range rollupGolden {
			t.Run(d.Name()+"/"+g.name, func(t *testing.T) {
				cube, name, _ := strings.Cut(g.rollup, ".")
				pa := preagg(t, m, cube, name)
				var c *Compiled
				var err error
				if g.query == "" {
					c, err = m.CompileRollup(pa, d)
					if err == nil {
						var names []string
						for i, col := range RollupColumns(pa) {
							names = append(names, col.Name)
							if c.Columns[i].Alias != col.Name {
								t.Errorf("column %d: compiled %s, listed %s", i, c.Columns[i].Alias, col.Name)
							}
						}
						if len(c.Columns) != len(names) {
							t.Errorf("%d columns compiled, %d listed", len(c.Columns), len(names))
						}
					}
				} else {
					var q Query
					if err := json.Unmarshal([]byte(g.query), &q); err != nil {
						t.Fatal(err)
					}
					o := Options{Now: matchNow}
					if g.name == "row_filter" {
						o.Policy, err = m.NewPolicy(nil, []Filter{{Member: "orders.status", Operator: "equals", Values: []string{"shipped"}}})
						if err != nil {
							t.Fatal(err)
						}
					}
					if got, _ := m.MatchRollup(&q, o); got != pa {
						t.Fatalf("the query does not match %s", pa.FullName())
					}
					ref, err := m.CompileWith(&q, d, o)
					if err != nil {
						t.Fatal(err)
					}
					c, err = m.CompileFromRollup(&q, pa, "rollups.orders_"+pa.Name, d, o)
					if err == nil && !reflect.DeepEqual(c.Columns, ref.Columns) {
						t.Errorf("columns differ from the cubes'")
					}
					if err == nil && !reflect.DeepEqual(c.RowFilters, ref.RowFilters) {
						t.Errorf("row filters %v, want %v", c.RowFilters, ref.RowFilters)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				got := c.String() + "\n"
				if c.TotalSQL != "" {
					got += "-- total: " + c.TotalSQL + "\n"
				}
				path := filepath.Join("testdata", "preagg", "golden", d.Name(), g.name+".sql")
				if *rewrite {
					os.MkdirAll(filepath.Dir(path), 0o755)
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test ./cubes -rewrite writes it)", err)
				}
				if got != string(want) {
					t.Errorf("SQL differs from %s:\n got: %s\nwant: %s", path, got, want)
				}
			})
		}
	}
}
