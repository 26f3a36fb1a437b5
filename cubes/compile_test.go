package cubes

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cubes/cubestest"
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
	all := append(append([]cubestest.Query{}, cubestest.Golden...), cubestest.Features...)
	for _, d := range Dialects() { // each dialect file's golden files: testdata/golden/<dialect>
		for _, g := range all {
			m := oracle
			if cubestest.UsesFeatures(g) {
				m = features
			}
			t.Run(d.Name()+"/"+g.Name, func(t *testing.T) {
				var q Query
				if err := json.Unmarshal([]byte(g.JSON), &q); err != nil {
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
				path := filepath.Join("testdata", "golden", d.Name(), g.Name+".sql")
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
