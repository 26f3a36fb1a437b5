package app_test

import (
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

const rollingModel = `
cubes:
  - name: orders
    sql_table: public.orders_raw
    measures:
      - name: count
        type: count
      - name: rolling_count_3m
        type: count
        rolling_window:
          trailing: 3 month
      - name: running_total
        sql: amount
        type: sum
        rolling_window:
          trailing: unbounded
      - name: next_week_count
        type: count
        rolling_window:
          trailing: 1 day
          leading: 6 day
          offset: start
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
      - name: channel
        sql: channel
        type: string
      - name: created_at
        sql: created_at
        type: time
`

// Rolling windows answer as hand-written SQL over a period series does,
// on both warehouses: a trailing window reaches rows before the range.
func TestRollingWindows(t *testing.T) {
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	m, err := cubes.LoadFiles(map[string][]byte{"r.yml": []byte(rollingModel)})
	if err != nil {
		t.Fatal(err)
	}
	// Cube's windows: with offset end, (end - trailing, end] where end is
	// the period's last millisecond; with offset start, [start - trailing,
	// start + leading).
	want := direct(t, pg, `SELECT s.d,
		  (SELECT count(*) FROM public.orders_raw o WHERE o.status = 'completed' AND o.created_at >= s.d AND o.created_at < s.d + interval '1 month'),
		  (SELECT count(*) FROM public.orders_raw o WHERE o.status = 'completed'
		     AND o.created_at > s.d + interval '1 month' - interval '1 millisecond' - interval '3 months'
		     AND o.created_at <= s.d + interval '1 month' - interval '1 millisecond'),
		  (SELECT sum(amount) FROM public.orders_raw o WHERE o.status = 'completed' AND o.created_at <= s.d + interval '1 month' - interval '1 millisecond'),
		  (SELECT count(*) FROM public.orders_raw o WHERE o.status = 'completed' AND o.created_at >= s.d - interval '1 day' AND o.created_at < s.d + interval '6 days')
		FROM generate_series(timestamp '2023-01-01', timestamp '2023-06-30', interval '1 month') s(d) ORDER BY 1`)
	q := cubes.Query{Measures: []string{"orders.count", "orders.rolling_count_3m", "orders.running_total", "orders.next_week_count"},
		TimeDimensions: []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: "month", DateRange: cubes.DateRange{Pair: []string{"2023-01-01", "2023-06-30"}}}},
		Filters:        []cubes.Filter{{Member: "orders.status", Operator: "equals", Values: []string{"completed"}}},
		Order:          cubes.Order{{ID: "orders.created_at.month"}}}
	for _, g := range []*apptest.Gateway{pg, duck} {
		_, got := compileAndRun(t, g, m, q)
		sameCells(t, "rolling on "+g.Warehouse().Dialect(), got, want)
	}
	// By another dimension: each window groups the rows it reaches.
	perMeasure := []string{
		`o.created_at >= s.d AND o.created_at < s.d + interval '1 month'`,
		`o.created_at > s.d + interval '1 month' - interval '1 millisecond' - interval '3 months' AND o.created_at <= s.d + interval '1 month' - interval '1 millisecond'`,
	}
	expected := map[string][]string{}
	for mi, cond := range perMeasure {
		for _, r := range direct(t, pg, `SELECT s.d, o.channel, count(o.id) FROM generate_series(timestamp '2023-01-01', timestamp '2023-04-30', interval '1 month') s(d)
			LEFT JOIN public.orders_raw o ON `+cond+` GROUP BY 1, 2`) {
			k := r[0] + "|" + r[1]
			if expected[k] == nil {
				expected[k] = []string{"NULL", "NULL"}
			}
			expected[k][mi] = r[2]
		}
	}
	q2 := cubes.Query{Measures: []string{"orders.count", "orders.rolling_count_3m"}, Dimensions: []string{"orders.channel"},
		TimeDimensions: []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: "month", DateRange: cubes.DateRange{Pair: []string{"2023-01-01", "2023-04-30"}}}}}
	for _, g := range []*apptest.Gateway{pg, duck} {
		_, got := compileAndRun(t, g, m, q2)
		for _, r := range got {
			// Columns: channel, month, count, rolling count.
			k := r[1] + "|" + r[0]
			if want, ok := expected[k]; !ok || r[2] != want[0] || r[3] != want[1] {
				t.Fatalf("%s: group %s = %v, want %v", g.Warehouse().Dialect(), k, r, want)
			}
		}
		if len(got) != len(expected) {
			t.Fatalf("%s: %d groups, want %d", g.Warehouse().Dialect(), len(got), len(expected))
		}
	}
}
