package cubes

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files (testdata/golden)")

func oracleModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadDir("../testdata/oracle/model")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenQueries cover the compiler's features; each is compiled for every
// dialect and compared with testdata/golden/<dialect>/<name>.sql.
var goldenQueries = []struct{ name, query string }{
	{"count_all", `{"measures":["orders.count"]}`},
	{"by_status_default_order", `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"]}`},
	{"order_object_form", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":{"orders.count":"desc","orders.status":"asc"}}`},
	{"no_order", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[]}`},
	{"order_repeated", `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[["orders.status","asc"],["orders.count","desc"],["orders.status","desc"],["orders.count","asc"]]}`},
	{"case_dimension", `{"measures":["orders.count","orders.min_amount","orders.max_amount"],"dimensions":["orders.amount_tier"]}`},
	{"filtered_and_calculated", `{"measures":["orders.completed_count","orders.completed_amount","orders.completed_ratio","orders.avg_order_value"],"dimensions":["orders.channel"]}`},
	{"count_distinct", `{"measures":["orders.unique_customers"],"dimensions":["orders.channel"]}`},
	{"time_month", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`},
	{"date_range", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","dateRange":["2023-01-01","2023-03-31"]}]}`},
	{"filters_all_kinds", `{"measures":["orders.count"],"filters":[
		{"member":"orders.status","operator":"equals","values":["completed","shipped"]},
		{"member":"orders.channel","operator":"notEquals","values":["web"]},
		{"member":"orders.amount","operator":"gte","values":["100.5"]},
		{"member":"orders.quantity","operator":"lt","values":["4"]},
		{"member":"orders.discount","operator":"set"},
		{"member":"orders.status","operator":"contains","values":["ship"]},
		{"member":"orders.channel","operator":"notStartsWith","values":["mo"]},
		{"or":[{"member":"orders.is_gift","operator":"equals","values":["true"]},{"member":"orders.created_at","operator":"beforeDate","values":["2023-01-01"]}]}]}`},
	{"measure_filter_having", `{"measures":["orders.count"],"dimensions":["orders.channel"],"filters":[{"member":"orders.count","operator":"gt","values":["1000"]}]}`},
	{"segments", `{"measures":["orders.count"],"segments":["orders.completed","orders.large_orders"]}`},
	{"limit_offset", `{"measures":["orders.count"],"dimensions":["orders.status"],"limit":2,"offset":1}`},
	{"join_many_to_one", `{"measures":["orders.count"],"dimensions":["customers.tier","products.category"]}`},
	{"view", `{"measures":["sales.count","sales.total_amount"],"dimensions":["sales.customers_tier"]}`},
	{"dimensions_only", `{"dimensions":["customers.country"]}`},
	{"max_of_time", `{"measures":["orders.last_order_at"]}`},
	{"ungrouped", `{"ungrouped":true,"measures":["orders.total_amount","orders.count","orders.completed_count","orders.avg_order_value"],"dimensions":["orders.id"],"filters":[{"member":"orders.count","operator":"gt","values":["0"]}],"order":{"orders.id":"asc"},"limit":3}`},
	{"order_by_unselected_measure", `{"dimensions":["products.category"],"measures":["products.count"],"order":[["products.avg_price","desc"]]}`},
	{"total", `{"measures":["orders.count"],"dimensions":["orders.status"],"limit":2,"offset":1,"total":true}`},
	{"measure_filter_operator", `{"measures":["orders.count"],"dimensions":["orders.channel"],"filters":[{"member":"orders.completed_amount","operator":"measureFilter"}]}`},
	{"fanout_dedup", `{"measures":["customers.count"],"dimensions":["orders.status"]}`},
	{"fanout_mixed_with_filter", `{"measures":["orders.count","customers.count","customers.unique_cities"],"dimensions":["customers.tier"],"filters":[{"member":"customers.count","operator":"gt","values":["10"]},{"member":"orders.channel","operator":"equals","values":["web"]}],"order":{"customers.count":"desc"},"limit":3}`},
}

// featureQueries use testdata/features (extends, custom granularities,
// sub_query, rolling windows) and the query time zone.
var featureQueries = []struct{ name, query string }{
	{"timezone", `{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["2023-03-10","2023-03-14"]}],"timezone":"America/New_York"}`},
	{"custom_granularity_offset", `{"measures":["events.count"],"timeDimensions":[{"dimension":"events.at","granularity":"fiscal_year"}]}`},
	{"custom_granularity_origin", `{"measures":["events.value"],"timeDimensions":[{"dimension":"events.at","granularity":"two_weeks"}]}`},
	{"extends_with_join", `{"measures":["events.count","events.value"],"dimensions":["accounts.plan"]}`},
	{"sub_query", `{"measures":["accounts.count"],"dimensions":["accounts.lifetime_events"],"filters":[{"member":"accounts.lifetime_events","operator":"gt","values":["10"]}]}`},
	{"rolling_window", `{"measures":["events.value","events.rolling_value","events.running_count"],"timeDimensions":[{"dimension":"events.at","granularity":"day","dateRange":["2024-01-01","2024-01-31"]}]}`},
}

func featuresModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadDir("testdata/features")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompileGolden(t *testing.T) {
	oracle, features := oracleModel(t), featuresModel(t)
	all := append([]struct{ name, query string }{}, goldenQueries...)
	all = append(all, featureQueries...)
	for _, d := range Dialects() { // each dialect file's golden files: testdata/golden/<dialect>
		for _, g := range all {
			m := oracle
			if strings.Contains(g.query, "events.") || strings.Contains(g.query, "accounts.") {
				m = features
			}
			t.Run(d.Name()+"/"+g.name, func(t *testing.T) {
				var q Query
				if err := json.Unmarshal([]byte(g.query), &q); err != nil {
					t.Fatal(err)
				}
				c, err := m.Compile(&q, d)
				if err != nil {
					t.Fatal(err)
				}
				got := c.String() + "\n"
				if c.TotalSQL != "" {
					got += "-- total: " + c.TotalSQL + "\n"
				}
				path := filepath.Join("testdata", "golden", d.Name(), g.name+".sql")
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

// No value from a query ever reaches the SQL text: each is a bound argument.
func TestValuesAreBound(t *testing.T) {
	m := oracleModel(t)
	evil := `x'; DROP TABLE orders_raw; --`
	q := Query{Measures: []string{"orders.count"}, Filters: []Filter{
		{Member: "orders.status", Operator: "equals", Values: []string{evil}},
		{Member: "orders.status", Operator: "contains", Values: []string{evil}},
	}}
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		c, err := m.Compile(&q, d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(c.SQL, "DROP") {
			t.Fatalf("%s: value in SQL text: %s", d.Name(), c.SQL)
		}
		if len(c.Args) != 2 || c.Args[0] != evil {
			t.Fatalf("%s: args = %v", d.Name(), c.Args)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	m := oracleModel(t)
	cases := []struct {
		query, code, msg string
	}{
		{`{"measures":["orders.nope"]}`, "42703", `member "nope" not found in cube "orders"`},
		{`{"measures":["nocube.count"]}`, "42703", `cube "nocube" not found`},
		{`{"measures":["orders.status"]}`, "22023", "is not a measure"},
		{`{"measures":["orders.count"],"filters":[{"member":"orders.amount","operator":"gt","values":["abc"]}]}`, "22P02", "invalid value"},
		{`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"like","values":["a"]}]}`, "22023", "unknown filter operator"},
		{`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"fortnight"}]}`, "22023", "unknown granularity"},
		{`{"measures":["orders.count"],"order":{"orders.status":"asc"}}`, "42P10", "not in the query"},
		{`{"measures":["customers.count"],"dimensions":["products.category"]}`, "0A000", "no join path"},
		{`{}`, "22023", "at least one measure or dimension"},
		{`{"ungrouped":true,"dimensions":["orders.id","customers.name"]}`, "22023", "add customers.id"},
		{`{"measures":["orders.count"],"order":{"orders.status":"asc"}}`, "42P10", "not in the query"},
	}
	for _, c := range cases {
		var q Query
		if err := json.Unmarshal([]byte(c.query), &q); err != nil {
			t.Fatal(err)
		}
		_, err := m.Compile(&q, Postgres{})
		if err == nil {
			t.Errorf("%s: compiled", c.query)
			continue
		}
		if code := pgerr.Code(err); code != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.query, code, err, c.code, c.msg)
		}
	}
}

func TestOrderForms(t *testing.T) {
	for _, src := range []string{
		`{"order":{"a.x":"desc","a.y":"asc"}}`,
		`{"order":[["a.x","desc"],["a.y","asc"]]}`,
		`{"order":[{"id":"a.x","desc":true},{"id":"a.y"}]}`,
	} {
		var q Query
		if err := json.Unmarshal([]byte(src), &q); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if len(q.Order) != 2 || q.Order[0] != (OrderItem{"a.x", true}) || q.Order[1] != (OrderItem{"a.y", false}) {
			t.Errorf("%s: %+v", src, q.Order)
		}
	}
	var q Query
	json.Unmarshal([]byte(`{}`), &q)
	if q.Order != nil {
		t.Error("absent order must stay nil (Cube's default ordering)")
	}
}

func TestCompareQueries(t *testing.T) {
	var q Query
	if err := json.Unmarshal([]byte(`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","compareDateRange":[["2023-01-01","2023-03-31"],"last year"]}]}`), &q); err != nil {
		t.Fatal(err)
	}
	qs, err := q.CompareQueries()
	if err != nil || len(qs) != 2 {
		t.Fatalf("%v %v", qs, err)
	}
	if qs[0].TimeDimensions[0].DateRange.Pair[1] != "2023-03-31" || qs[1].TimeDimensions[0].DateRange.Relative != "last year" ||
		qs[0].TimeDimensions[0].CompareDateRange != nil || q.TimeDimensions[0].CompareDateRange == nil {
		t.Fatalf("%+v", qs)
	}
	m := oracleModel(t)
	for _, cq := range qs {
		if _, err := m.Compile(&cq, Postgres{}); err != nil {
			t.Fatal(err)
		}
	}
}

// FirstArg numbers a compiled query's arguments after a statement's own,
// for a subquery of it; Args hold the query's own only.
func TestCompileFirstArg(t *testing.T) {
	m := oracleModel(t)
	var q Query
	if err := json.Unmarshal([]byte(`{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["shipped"]}],"limit":5,"total":true}`), &q); err != nil {
		t.Fatal(err)
	}
	plain, err := m.CompileWith(&q, Postgres{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	shifted, err := m.CompileWith(&q, Postgres{}, Options{FirstArg: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(shifted.Args) != len(plain.Args) || !strings.Contains(shifted.SQL, "$4") || strings.Contains(shifted.SQL, "$1 ") || len(shifted.TotalArgs) != len(plain.TotalArgs) {
		t.Fatalf("FirstArg 3:\n%s\n%v\nwithout:\n%s\n%v", shifted.SQL, shifted.Args, plain.SQL, plain.Args)
	}
}
