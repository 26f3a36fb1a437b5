package cubes_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

// TestRollupDifferential builds every rollup of testdata/preagg in an
// embedded DuckDB and checks that queries the matcher sends to a rollup
// answer from it exactly as from the cubes' tables.
func TestRollupDifferential(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	db := w.DB()
	m, err := cubes.LoadDir("testdata/preagg")
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewSource(17))
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE customers (id INTEGER, city VARCHAR)`)
	exec(`CREATE TABLE orders (id INTEGER, status VARCHAR, amount DECIMAL(10,2), created_at TIMESTAMP, customer_id INTEGER)`)
	cities := []string{"Paris", "Lyon", "Porto", "Oslo", "Pune"}
	for i := 1; i <= 20; i++ {
		var city any = cities[i%len(cities)]
		if i%9 == 0 {
			city = nil
		}
		exec(`INSERT INTO customers VALUES ($1, $2)`, i, city)
	}
	statuses := []string{"completed", "shipped", "cancelled", "new"}
	start := time.Date(2023, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 400; i++ {
		var status any = statuses[rnd.Intn(len(statuses))]
		if i%37 == 0 {
			status = nil
		}
		var cust any = 1 + rnd.Intn(22) // 21 and 22 have no customer row
		if i%41 == 0 {
			cust = nil
		}
		at := start.Add(time.Duration(rnd.Int63n(int64(420 * 24 * time.Hour))))
		exec(`INSERT INTO orders VALUES ($1, $2, $3, $4, $5)`, i, status, fmt.Sprintf("%d.%02d", rnd.Intn(300), rnd.Intn(100)), at, cust)
	}
	tables := map[*cubes.PreAggregation]string{}
	for _, c := range m.Cubes {
		for _, pa := range c.PreAggregations {
			if pa.Type != cubes.PreAggRollup {
				continue
			}
			b, err := m.CompileRollup(pa, cubes.DuckDB{})
			if err != nil {
				t.Fatal(err)
			}
			name := "rollup_" + c.Name + "_" + pa.Name
			exec("CREATE TABLE "+name+" AS "+b.SQL, b.Args...)
			tables[pa] = name
		}
	}

	pick := func(xs []string, n int) []string {
		p := rnd.Perm(len(xs))
		var out []string
		for _, i := range p[:n] {
			out = append(out, xs[i])
		}
		return out
	}
	measures := []string{"orders.count", "orders.total_amount", "orders.min_amount", "orders.max_amount", "orders.avg_order",
		"orders.completed_share", "orders.unique_customers", "orders.completed_count", "sales.count", "sales.total_amount"}
	dims := []string{"orders.status", "customers.city", "sales.status"}
	grans := []string{"", "", "day", "week", "month", "quarter", "year", "fiscal_year", "two_weeks"}
	policy, err := m.NewPolicy(nil, []cubes.Filter{{Member: "orders.status", Operator: "notEquals", Values: []string{"new"}}})
	if err != nil {
		t.Fatal(err)
	}
	matched, tried := 0, 0
	used := map[string]int{}
	for matched < 60 && tried < 5000 {
		tried++
		q := &cubes.Query{Order: cubes.Order{}}
		q.Measures = pick(measures, 1+rnd.Intn(3))
		q.Dimensions = pick(dims, rnd.Intn(3))
		if g := grans[rnd.Intn(len(grans))]; g != "" || rnd.Intn(3) == 0 {
			td := cubes.TimeDimension{Dimension: "orders.created_at", Granularity: g}
			if rnd.Intn(2) == 0 {
				from := time.Date(2024, time.Month(1+rnd.Intn(6)), 1, 0, 0, 0, 0, time.UTC)
				if rnd.Intn(2) == 0 {
					from = from.AddDate(0, 0, rnd.Intn(20))
				}
				to := from.AddDate(0, 1+rnd.Intn(5), 0).AddDate(0, 0, -1)
				td.DateRange = cubes.DateRange{Pair: []string{from.Format("2006-01-02"), to.Format("2006-01-02")}}
			}
			q.TimeDimensions = []cubes.TimeDimension{td}
		}
		if rnd.Intn(3) == 0 {
			q.Segments = []string{"orders.completed"}
		}
		switch rnd.Intn(5) {
		case 0:
			q.Filters = []cubes.Filter{{Member: "orders.status", Operator: "equals", Values: []string{"completed", "shipped"}}}
		case 1:
			q.Filters = []cubes.Filter{{Or: []cubes.Filter{{Member: "customers.city", Operator: "startsWith", Values: []string{"P"}}, {Member: "orders.status", Operator: "notEquals", Values: []string{"new"}}}}}
		case 2:
			q.Filters = []cubes.Filter{{Member: "orders.count", Operator: "gt", Values: []string{"3"}}}
		}
		o := cubes.Options{Now: time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)}
		if rnd.Intn(4) == 0 {
			o.Policy = policy
		}
		pa, _ := m.MatchRollup(q, o)
		if pa == nil {
			continue
		}
		matched++
		used[pa.FullName()]++
		ref, err := m.CompileWith(q, cubes.DuckDB{}, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.CompileFromRollup(q, pa, tables[pa], cubes.DuckDB{}, o)
		if err != nil {
			t.Fatalf("%+v from %s: %v", q, pa.FullName(), err)
		}
		want, have := rows(t, db, ref), rows(t, db, got)
		if strings.Join(want, "\n") != strings.Join(have, "\n") {
			t.Errorf("query %+v from %s:\ncubes  (%d rows): %s\nrollup (%d rows): %s\nSQL: %s", *q, pa.FullName(), len(want), head(want), len(have), head(have), got.SQL)
		}
	}
	if matched < 50 {
		t.Fatalf("only %d of %d random queries matched a rollup", matched, tried)
	}
	t.Logf("%d queries matched (of %d): %v", matched, tried, used)
}

func head(rs []string) string {
	if len(rs) > 5 {
		rs = rs[:5]
	}
	return strings.Join(rs, " | ")
}

// rows runs a compiled query and returns its rows as sorted text, numbers
// compared to 9 significant digits.
func rows(t *testing.T, db *sql.DB, c *cubes.Compiled) []string {
	t.Helper()
	rs, err := db.Query(c.SQL, c.Args...)
	if err != nil {
		t.Fatalf("%s: %v", c.SQL, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = norm(v)
		}
		out = append(out, strings.Join(parts, ","))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func norm(v any) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 9, 64) }
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return f(float64(x))
	case int32:
		return f(float64(x))
	case float64:
		return f(x)
	case *big.Int:
		fl, _ := new(big.Float).SetInt(x).Float64()
		return f(fl)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case interface{ Float64() float64 }:
		return f(x.Float64())
	}
	return fmt.Sprint(v)
}
