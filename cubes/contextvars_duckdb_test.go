package cubes_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

const ctxDiffModel = `cubes:
  - name: orders
    sql: %q
    measures:
      - name: count
        type: count
      - name: total
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
      - name: amount
        sql: amount
        type: number
      - name: customer_id
        sql: customer_id
        type: number
      - name: created_at
        sql: created_at
        type: time
`

// TestFilterParamsAnswers runs queries on DuckDB against a cube whose SQL
// prunes by FILTER_PARAMS and FILTER_GROUP (and a callback) and against
// the same cube without: the answers must be the same — the hint only
// reads less.
func TestFilterParamsAnswers(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	db := w.DB()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE orders (id INTEGER, status VARCHAR, amount INTEGER, created_at TIMESTAMP, customer_id INTEGER)`)
	rnd := rand.New(rand.NewSource(3))
	statuses := []string{"new", "shipped", "completed", "cancelled"}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 300; i++ {
		var status any = statuses[rnd.Intn(len(statuses))]
		if i%29 == 0 {
			status = nil
		}
		exec(`INSERT INTO orders VALUES ($1, $2, $3, $4, $5)`, i, status, rnd.Intn(200), start.Add(time.Duration(rnd.Int63n(int64(90*24*time.Hour)))), 1+rnd.Intn(5))
	}
	load := func(sql string) *cubes.Model {
		t.Helper()
		m, err := cubes.LoadFiles(map[string][]byte{"orders.yml": []byte(fmt.Sprintf(ctxDiffModel, sql))})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	plain := load("SELECT * FROM orders")
	pruned := load(`SELECT * FROM orders WHERE {FILTER_PARAMS.orders.created_at.filter('created_at')}
		AND {FILTER_GROUP(FILTER_PARAMS.orders.status.filter('status'), FILTER_PARAMS.orders.amount.filter('amount'))}
		AND {FILTER_PARAMS.orders.created_at.filter(lambda from, to: f'created_at BETWEEN {from} AND {to}')}
		AND {SECURITY_CONTEXT.customer_id.filter('customer_id')}`)
	run := func(m *cubes.Model, q cubes.Query, claims map[string]any) string {
		t.Helper()
		c, err := m.CompileWith(&q, cubes.DuckDB{}, cubes.Options{Now: start.AddDate(0, 2, 0), Security: claims})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, c.SQL, c.Args...)
		if err != nil {
			t.Fatalf("%s: %v", c.SQL, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		// The same rows, whatever the order among ties of Cube's default
		// ordering (the count, descending).
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	f := func(member, op string, vals ...string) cubes.Filter {
		return cubes.Filter{Member: member, Operator: op, Values: vals}
	}
	month := func(a, b string) []cubes.TimeDimension {
		return []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: "week", DateRange: cubes.DateRange{Pair: []string{a, b}}}}
	}
	queries := []cubes.Query{
		{Filters: []cubes.Filter{f("orders.status", "equals", "new")}},
		{Filters: []cubes.Filter{f("orders.status", "equals", "new", "shipped")}},
		{Filters: []cubes.Filter{f("orders.status", "notEquals", "new")}},
		{Filters: []cubes.Filter{f("orders.status", "notSet")}},
		{Filters: []cubes.Filter{f("orders.status", "contains", "ship")}},
		{Filters: []cubes.Filter{f("orders.amount", "gt", "100"), f("orders.amount", "lte", "150")}},
		{Filters: []cubes.Filter{{Or: []cubes.Filter{f("orders.status", "equals", "new"), f("orders.amount", "lt", "20")}}}},
		{Filters: []cubes.Filter{{Or: []cubes.Filter{f("orders.status", "equals", "new"), f("orders.customer_id", "equals", "2")}}}},
		{Filters: []cubes.Filter{f("orders.created_at", "inDateRange", "2024-01-15", "2024-02-10")}},
		{Filters: []cubes.Filter{f("orders.created_at", "notInDateRange", "2024-01-15", "2024-02-10")}},
		{Filters: []cubes.Filter{f("orders.created_at", "beforeDate", "2024-02-01")}},
		{Filters: []cubes.Filter{f("orders.created_at", "afterOrOnDate", "2024-02-01")}},
		{TimeDimensions: month("2024-01-08", "2024-02-04")},
		{TimeDimensions: []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: "day", DateRange: cubes.DateRange{Relative: "last 7 days"}}}},
		{Timezone: "Asia/Tokyo", TimeDimensions: month("2024-01-08", "2024-02-04"), Filters: []cubes.Filter{f("orders.status", "equals", "completed")}},
	}
	for i, q := range queries {
		q.Measures = []string{"orders.count", "orders.total"}
		if len(q.TimeDimensions) == 0 || q.TimeDimensions[0].Granularity == "" {
			q.Dimensions = []string{"orders.status"}
		}
		want, got := run(plain, q, nil), run(pruned, q, nil)
		if want == "" {
			t.Errorf("query %d: no rows: a test that proves nothing", i)
		}
		if got != want {
			t.Errorf("query %d (%+v): pruned\n%s\nplain\n%s", i, q, got, want)
		}
		// With a claim: the plain cube filtered by the customer.
		qc := q
		qc.Filters = append(append([]cubes.Filter{}, q.Filters...), f("orders.customer_id", "equals", "3"))
		if want, got := run(plain, qc, nil), run(pruned, q, map[string]any{"customer_id": int64(3)}); got != want {
			t.Errorf("query %d with customer 3: pruned\n%s\nplain\n%s", i, got, want)
		}
	}
	// An injection attempt is a value: at worst a conversion error (the
	// column is an integer), never a statement.
	q := cubes.Query{Measures: []string{"orders.count"}}
	c, err := pruned.CompileWith(&q, cubes.DuckDB{}, cubes.Options{Security: map[string]any{"customer_id": "x'; DROP TABLE orders; --"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.SQL, "DROP") {
		t.Fatalf("the claim is in the SQL: %s", c.SQL)
	}
	if rows, err := db.QueryContext(ctx, c.SQL, c.Args...); err == nil {
		rows.Close()
	}
	if got := run(plain, q, nil); got != "300" {
		t.Errorf("orders after the injection attempt: %s", got)
	}
}
