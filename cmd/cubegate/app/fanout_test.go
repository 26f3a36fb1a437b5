package app_test

import (
	"encoding/json"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// fanoutModel reads the fixture through a one-to-many join: clients have
// many purchases, a purchase has one item.
const fanoutModel = `
cubes:
  - name: clients
    sql_table: public.customers_raw
    joins:
      - name: purchases
        sql: "{CUBE}.id = {purchases}.customer_id"
        relationship: one_to_many
    measures:
      - name: count
        type: count
      - name: active
        type: count
        filters:
          - sql: "{CUBE}.is_active"
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: tier
        sql: tier
        type: string
      - name: country
        sql: country
        type: string
  - name: purchases
    sql_table: public.orders_raw
    joins:
      - name: items
        sql: "{CUBE}.product_id = {items}.id"
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
      - name: status
        sql: status
        type: string
  - name: items
    sql_table: public.products_raw
    measures:
      - name: count
        type: count
      - name: avg_price
        sql: price
        type: avg
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: category
        sql: category
        type: string
`

// Measures a join multiplies are computed on de-duplicated keys: the
// answers equal hand-written SQL on Postgres and on DuckDB.
func TestFanOutDeduplicates(t *testing.T) {
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	cases := []struct{ name, query, oracle string }{
		{"clients and purchases by tier", `{"measures":["clients.count","clients.active","purchases.count"],"dimensions":["clients.tier"],"order":{"clients.tier":"asc"}}`,
			`SELECT c.tier, (SELECT count(*) FROM public.customers_raw c2 WHERE c2.tier = c.tier),
			        (SELECT count(*) FROM public.customers_raw c2 WHERE c2.tier = c.tier AND c2.is_active),
			        count(o.id)
			 FROM public.customers_raw c LEFT JOIN public.orders_raw o ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`},
		{"clients by purchase status", `{"measures":["clients.count"],"dimensions":["purchases.status"],"order":{"purchases.status":"asc"}}`,
			`SELECT o.status, count(DISTINCT c.id) FROM public.customers_raw c LEFT JOIN public.orders_raw o ON o.customer_id = c.id
			 GROUP BY 1 ORDER BY 1 NULLS LAST`},
		{"items multiplied two joins away", `{"measures":["purchases.total_amount","items.avg_price","items.count"],"dimensions":["clients.country"],"order":{"clients.country":"asc"}}`,
			`SELECT a.country, a.total, b.avg_price, b.n FROM
			   (SELECT c.country, sum(o.amount) total FROM public.customers_raw c LEFT JOIN public.orders_raw o ON o.customer_id = c.id GROUP BY 1) a
			 JOIN
			   (SELECT country, avg(price) avg_price, count(id) n FROM (SELECT DISTINCT c.country, p.id, p.price FROM public.customers_raw c
			      LEFT JOIN public.orders_raw o ON o.customer_id = c.id LEFT JOIN public.products_raw p ON o.product_id = p.id) d GROUP BY 1) b
			 ON a.country = b.country ORDER BY 1`},
		{"a filter on a multiplied measure", `{"measures":["clients.count"],"dimensions":["purchases.status"],"filters":[{"member":"clients.count","operator":"gt","values":["350"]}],"order":{"purchases.status":"asc"}}`,
			`SELECT o.status, count(DISTINCT c.id) FROM public.customers_raw c LEFT JOIN public.orders_raw o ON o.customer_id = c.id
			 GROUP BY 1 HAVING count(DISTINCT c.id) > 350 ORDER BY 1 NULLS LAST`},
	}
	m, err := cubes.LoadFiles(map[string][]byte{"fanout.yml": []byte(fanoutModel)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		want := direct(t, pg, c.oracle)
		if len(want) == 0 {
			t.Fatalf("%s: the oracle has no rows", c.name)
		}
		for _, g := range []*apptest.Gateway{pg, duck} {
			var q cubes.Query
			if err := json.Unmarshal([]byte(c.query), &q); err != nil {
				t.Fatal(err)
			}
			_, got := compileAndRun(t, g, m, q)
			sameCellsApprox(t, c.name+" on "+g.Warehouse().Dialect(), got, want)
		}
	}
}

// sameCellsApprox is sameCells with averages compared within 1e-9.
func sameCellsApprox(t *testing.T, what string, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		for j := range got[i] {
			if !sameValue(got[i][j], want[i][j]) {
				t.Fatalf("%s: row %d col %d = %s, want %s\n got %v\nwant %v", what, i, j, got[i][j], want[i][j], got, want)
			}
		}
	}
}
