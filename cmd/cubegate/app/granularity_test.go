package app_test

import (
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

const granularityModel = `
cubes:
  - name: orders
    sql_table: public.orders_raw
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: created_at
        sql: created_at
        type: time
        granularities:
          - name: fiscal_year
            interval: 1 year
            offset: 3 months
          - name: two_weeks
            interval: 2 weeks
            origin: "2022-01-03"
          - name: half_year
            interval: 6 months
          - name: quarter_hour
            interval: 15 minutes
`

// Custom granularities bucket time as hand-written SQL does, on both
// warehouses.
func TestCustomGranularities(t *testing.T) {
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	m, err := cubes.LoadFiles(map[string][]byte{"g.yml": []byte(granularityModel)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ granularity, oracle string }{
		{"fiscal_year", `date_trunc('year', created_at - interval '3 months') + interval '3 months'`},
		{"two_weeks", `timestamp '2022-01-03' + floor(extract(epoch FROM created_at - timestamp '2022-01-03') / 1209600) * interval '14 days'`},
		{"half_year", `date_trunc('year', created_at) + CASE WHEN extract(month FROM created_at) >= 7 THEN interval '6 months' ELSE interval '0' END`},
		{"quarter_hour", `date_trunc('hour', created_at) + floor(extract(minute FROM created_at) / 15) * interval '15 minutes'`},
	}
	for _, c := range cases {
		want := direct(t, pg, `SELECT `+c.oracle+`, count(*) FROM public.orders_raw WHERE created_at < timestamp '2022-03-01' GROUP BY 1 ORDER BY 1`)
		q := cubes.Query{Measures: []string{"orders.count"},
			TimeDimensions: []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: c.granularity}},
			Filters:        []cubes.Filter{{Member: "orders.created_at", Operator: "beforeDate", Values: []string{"2022-03-01"}}}}
		for _, g := range []*apptest.Gateway{pg, duck} {
			_, got := compileAndRun(t, g, m, q)
			sameCells(t, c.granularity+" on "+g.Warehouse().Dialect(), got, want)
		}
	}
	if _, err := cubes.LoadFiles(map[string][]byte{"g.yml": []byte("cubes:\n  - name: a\n    sql_table: t\n    dimensions:\n      - name: t\n        sql: t\n        type: time\n        granularities:\n          - name: odd\n            interval: 1 month 3 days\n")}); err == nil {
		t.Fatal("a mixed interval was accepted")
	}
}
