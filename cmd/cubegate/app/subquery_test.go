package app_test

import (
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

const subQueryModel = `
cubes:
  - name: customers
    sql_table: public.customers_raw
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: tier
        sql: tier
        type: string
      - name: lifetime_orders
        sql: "{orders.count}"
        type: number
        sub_query: true
      - name: lifetime_value
        sql: "{orders.total_amount}"
        type: number
        sub_query: true
  - name: orders
    sql_table: public.orders_raw
    joins:
      - name: customers
        sql: "{CUBE}.customer_id = {customers}.id"
        relationship: many_to_one
    measures:
      - name: count
        type: count
      - name: total_amount
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
`

// A sub_query dimension is a measure of a joined cube per row: grouped
// and filtered by, it answers as hand-written SQL does on both warehouses.
func TestSubQueryDimensions(t *testing.T) {
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	m, err := cubes.LoadFiles(map[string][]byte{"s.yml": []byte(subQueryModel)})
	if err != nil {
		t.Fatal(err)
	}
	want := direct(t, pg, `SELECT c.tier, (SELECT count(*) FROM public.orders_raw o WHERE o.customer_id = c.id) n, count(*)
		FROM public.customers_raw c WHERE (SELECT coalesce(sum(amount), 0) FROM public.orders_raw o WHERE o.customer_id = c.id) > 5000
		GROUP BY 1, 2 ORDER BY 1, 2`)
	if len(want) < 5 {
		t.Fatalf("oracle: %v", want)
	}
	q := cubes.Query{Measures: []string{"customers.count"}, Dimensions: []string{"customers.tier", "customers.lifetime_orders"},
		Filters: []cubes.Filter{{Member: "customers.lifetime_value", Operator: "gt", Values: []string{"5000"}}},
		Order:   cubes.Order{{ID: "customers.tier"}, {ID: "customers.lifetime_orders"}}}
	for _, g := range []*apptest.Gateway{pg, duck} {
		_, got := compileAndRun(t, g, m, q)
		sameCells(t, "sub_query on "+g.Warehouse().Dialect(), got, want)
	}
	for _, bad := range []string{
		"cubes:\n  - name: a\n    sql_table: t\n    dimensions:\n      - name: x\n        sql: \"{CUBE}.v\"\n        type: number\n        sub_query: true\n",
		"cubes:\n  - name: a\n    sql_table: t\n    dimensions:\n      - name: x\n        sql: \"{b.count}\"\n        type: number\n        sub_query: true\n  - name: b\n    sql_table: u\n    measures:\n      - name: count\n        type: count\n",
	} {
		if _, err := cubes.LoadFiles(map[string][]byte{"s.yml": []byte(bad)}); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}
