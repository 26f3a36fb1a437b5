package cubes

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func viewPolicyModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadDir("../testdata/viewpolicy")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustMember(t *testing.T, m *Model, name string) Member {
	t.Helper()
	mem, err := m.Member(name)
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

func pgCode(err error) string {
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// A view of a view includes the other view's members: each stands for
// the cube member at the end of the chain, and Source walks the chain.
func TestViewOfViewMembers(t *testing.T) {
	m := viewPolicyModel(t)
	tier := mustMember(t, m, "order_summary_all.tier")
	var chain []string
	for x := tier; x != nil; x = Source(x) {
		chain = append(chain, FullName(x))
	}
	want := []string{"order_summary_all.tier", "order_summary.tier", "order_facts.customers_tier", "customers.tier"}
	if !reflect.DeepEqual(chain, want) {
		t.Fatalf("chain %v, want %v", chain, want)
	}
	if o := Origin(tier); o == nil || FullName(o) != "customers.tier" {
		t.Fatalf("origin %v", o)
	}
	c, _ := m.Cube("order_summary_all")
	var names []string
	for _, u := range Underlying(c) {
		names = append(names, u.Name)
	}
	if !reflect.DeepEqual(names, []string{"orders", "customers"}) {
		t.Fatalf("underlying %v", names)
	}
}

func TestViewCycleIsAnError(t *testing.T) {
	_, err := LoadFiles(map[string][]byte{"m.yml": []byte(`
cubes:
  - name: a
    sql_table: t
    measures: [{name: count, type: count}]
views:
  - name: v1
    cubes: [{join_path: v2, includes: "*"}]
  - name: v2
    cubes: [{join_path: v1, includes: "*"}]
`)})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("err = %v, want a cycle", err)
	}
}

// CubesRead maps a query to the cubes whose rows it reads: a view's
// members are their cubes', and a join path's middle cubes are read too.
func TestCubesRead(t *testing.T) {
	m := viewPolicyModel(t)
	for _, tc := range []struct {
		q    Query
		want []string
	}{
		{Query{Measures: []string{"order_facts.count"}}, []string{"orders"}},
		{Query{Dimensions: []string{"order_facts.customers_tier"}}, []string{"customers"}},
		{Query{Measures: []string{"order_summary_all.count"}, Dimensions: []string{"order_summary_all.tier"}}, []string{"orders", "customers"}},
		{Query{Measures: []string{"order_geo.count"}, Dimensions: []string{"order_geo.country"}}, []string{"orders", "customers", "countries"}},
		{Query{Dimensions: []string{"customer_view.tier"}, Filters: []Filter{{Member: "order_facts.status", Operator: "set"}}}, []string{"orders", "customers"}},
		{Query{Measures: []string{"orders.count"}, Segments: []string{"order_facts.big"}}, []string{"orders"}},
		{Query{Dimensions: []string{"order_facts.status"}, Order: Order{{ID: "order_summary.revenue", Desc: true}}}, []string{"orders"}},
		{Query{Dimensions: []string{"customer_view.order_count"}}, []string{"customers", "orders"}},
	} {
		cs, err := m.CubesRead(&tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.Name)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v reads %v, want %v", tc.q, got, tc.want)
		}
	}
}

// An allow-list follows members: a member hidden on its cube is hidden
// under every view that includes it, however deep.
func TestPolicyAllowsFollowMembers(t *testing.T) {
	m := viewPolicyModel(t)
	allow := map[string]bool{"orders.count": true, "orders.status": true, "customers.tier": true,
		"order_facts": true, "order_summary": true, "order_summary_all": true}
	p, err := m.NewPolicy(func(cube, member string) bool { return allow[cube] || allow[cube+"."+member] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"orders.count": true, "orders.revenue": false,
		"order_facts.count": true, "order_facts.revenue": false, "order_facts.customers_tier": true, "order_facts.customers_city": false,
		"order_summary.revenue": false, "order_summary.tier": true,
		"order_summary_all.count": true, "order_summary_all.revenue": false, "order_summary_all.tier": true,
		"order_geo.count": false, // the view itself is not allowed
	} {
		if got := p.Allows(mustMember(t, m, name)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", name, got, want)
		}
	}
	geo, _ := m.Cube("order_geo")
	if p.AllowsCube(geo) {
		t.Error("order_geo is readable")
	}
	// The compiler refuses a hidden member by the name the query used,
	// never by the cube member it stands for.
	_, err = m.CompileWith(&Query{Measures: []string{"order_summary_all.revenue"}}, Postgres{}, Options{Policy: p})
	if pgCode(err) != pgerrcode.InsufficientPrivilege || strings.Contains(err.Error(), "orders") {
		t.Fatalf("hidden member through a view of views: %v", err)
	}
	_, err = m.CompileWith(&Query{Measures: []string{"order_facts.count"}, Order: Order{{ID: "order_facts.revenue"}}}, Postgres{}, Options{Policy: p})
	if pgCode(err) != pgerrcode.InsufficientPrivilege {
		t.Fatalf("ordering by a hidden measure: %v", err)
	}
	_, err = m.CompileWith(&Query{Measures: []string{"order_facts.count"}, Filters: []Filter{{Member: "order_facts.customers_city", Operator: "equals", Values: []string{"Paris"}}}}, Postgres{}, Options{Policy: p})
	if pgCode(err) != pgerrcode.InsufficientPrivilege || strings.Contains(err.Error(), "Paris") {
		t.Fatalf("filtering on a hidden member: %v", err)
	}
	src, err := m.RowSource([]string{"order_summary_all"}, Postgres{}, RowSourceOptions{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Columns["order_summary_all"]; !reflect.DeepEqual(got, []string{"count", "status", "tier", "__user", "__cubeJoinField"}) {
		t.Fatalf("row source columns %v", got)
	}
}

func TestPolicyRowFilters(t *testing.T) {
	m := viewPolicyModel(t)
	// A filter named through a view is its cube's filter.
	p, err := m.NewPolicy(nil, []Filter{{Member: "order_facts.status", Operator: "equals", Values: []string{"completed"}}})
	if err != nil {
		t.Fatal(err)
	}
	orders, _ := m.Cube("orders")
	if got := p.RowFilters(orders); len(got) != 1 || got[0].Member != "orders.status" {
		t.Fatalf("row filters on orders: %+v", got)
	}
	for _, bad := range []Filter{
		{Member: "orders.count", Operator: "gt", Values: []string{"1"}},          // a measure
		{Member: "orders.big", Operator: "equals", Values: []string{"true"}},     // a segment
		{Member: "customers.order_count", Operator: "gt", Values: []string{"1"}}, // a sub_query dimension
		{Member: "orders.nope", Operator: "equals", Values: []string{"x"}},
		{Or: []Filter{{Member: "orders.status", Operator: "set"}, {Member: "customers.tier", Operator: "set"}}},
	} {
		if _, err := m.NewPolicy(nil, []Filter{bad}); pgCode(err) != pgerrcode.InsufficientPrivilege {
			t.Errorf("%+v: %v, want 42501", bad, err)
		}
	}
}

// With a policy, every query compiles to the SQL of the same query with
// the row filter written by hand when it reads the filtered cube, and to
// the query's own SQL otherwise: for every member of every cube and view
// of the model, through views of views and joins.
func TestPolicyEqualsHandWrittenFilter(t *testing.T) {
	m := viewPolicyModel(t)
	for _, f := range []Filter{
		{Member: "orders.channel", Operator: "equals", Values: []string{"web"}},
		{Member: "customers.tier", Operator: "equals", Values: []string{"gold"}},
	} {
		p, err := m.NewPolicy(nil, []Filter{f})
		if err != nil {
			t.Fatal(err)
		}
		filtered, _ := m.Cube(strings.Split(f.Member, ".")[0])
		for _, c := range m.Cubes {
			var queries []Query
			var count string
			if cm := c.CountMeasure(); cm != nil {
				count = FullName(cm)
			}
			for _, ms := range c.Measures {
				queries = append(queries, Query{Measures: []string{FullName(ms)}})
			}
			for _, d := range c.Dimensions {
				q := Query{Dimensions: []string{FullName(d)}}
				if count != "" {
					q.Measures = []string{count}
				}
				queries = append(queries, q, Query{Dimensions: []string{FullName(d)}, Ungrouped: true})
			}
			for _, q := range queries {
				read, err := m.CubesRead(&q)
				if err != nil {
					t.Fatal(err)
				}
				reads := false
				for _, r := range read {
					reads = reads || r == filtered
				}
				got, err := m.CompileWith(&q, Postgres{}, Options{Policy: p, UngroupedWithoutPrimaryKey: true})
				if err != nil {
					t.Fatalf("%+v: %v", q, err)
				}
				if sq := subQueryOf(t, m, q); sq != nil && sq == filtered {
					// Only the sub_query reads the cube: its subquery
					// carries the filter.
					if !strings.Contains(got.SQL, `AND "orders".channel = $1)`) || len(got.RowFilters) != 1 {
						t.Errorf("%s, %+v: the sub_query does not apply the row filter:\n%s", f.Member, q, got)
					}
					continue
				}
				hand := q
				if reads {
					hand.Filters = []Filter{f}
				}
				want, err := m.CompileWith(&hand, Postgres{}, Options{UngroupedWithoutPrimaryKey: true})
				if err != nil {
					t.Fatalf("%+v: %v", hand, err)
				}
				if got.String() != want.String() {
					t.Errorf("%s, %+v:\n got %s\nwant %s", f.Member, q, got, want)
				}
				if (len(got.RowFilters) > 0) != reads {
					t.Errorf("%s, %+v: RowFilters %+v, reads the cube: %v", f.Member, q, got.RowFilters, reads)
				}
			}
		}
	}
}

// subQueryOf is the cube a query's sub_query dimension aggregates.
func subQueryOf(t *testing.T, m *Model, q Query) *Cube {
	for _, name := range q.Dimensions {
		if d, ok := resolveMember(mustMember(t, m, name)).(*Dimension); ok && d.SubQuery {
			c, err := m.subQueryCube(d)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	return nil
}

// A sub_query dimension aggregates another cube's rows: that cube's row
// filters apply inside it. A row source over a view applies the filters
// of the view's cubes, fenced (OFFSET 0) from the statement around it.
func TestPolicyReachesSubQueriesAndRowSources(t *testing.T) {
	m := viewPolicyModel(t)
	p, err := m.NewPolicy(nil, []Filter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.CompileWith(&Query{Dimensions: []string{"customer_view.order_count"}, Measures: []string{"customer_view.count"}}, Postgres{}, Options{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.SQL, `FROM public.orders_raw AS "orders" WHERE ("orders".customer_id = "customers".id) AND "orders".channel = $1)`) || len(c.RowFilters) != 1 {
		t.Fatalf("sub_query dimension without the row filter:\n%s", c)
	}
	for _, view := range []string{"order_facts", "order_summary", "order_summary_all", "order_geo"} {
		src, err := m.RowSource([]string{view}, DuckDB{}, RowSourceOptions{Policy: p, FirstArg: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(src.SQL, `"orders".channel = $3`) || !strings.HasSuffix(src.SQL, " OFFSET 0") ||
			!reflect.DeepEqual(src.Args, []any{"web"}) || len(src.RowFilters) != 1 {
			t.Errorf("row source of %s without the row filter: %s %v", view, src.SQL, src.Args)
		}
	}
	// A source that does not read orders has no filter and no fence.
	src, err := m.RowSource([]string{"products"}, DuckDB{}, RowSourceOptions{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src.SQL, "OFFSET") || len(src.Args) != 0 {
		t.Errorf("products' row source: %s", src.SQL)
	}
}
