package cubes

import (
	"fmt"
	"strings"
	"testing"
)

// benchModel is four cubes in a star (three joins) with plenty of members.
func benchModel(b *testing.B) *Model {
	b.Helper()
	var y strings.Builder
	y.WriteString("cubes:\n")
	for _, c := range []string{"facts", "dim_a", "dim_b", "dim_c"} {
		fmt.Fprintf(&y, "  - name: %s\n    sql_table: public.%s\n", c, c)
		if c == "facts" {
			y.WriteString("    joins:\n")
			for _, d := range []string{"dim_a", "dim_b", "dim_c"} {
				fmt.Fprintf(&y, "      - name: %s\n        sql: \"{CUBE}.%s_id = {%s}.id\"\n        relationship: many_to_one\n", d, d, d)
			}
			y.WriteString("    measures:\n      - name: count\n        type: count\n")
			for i := range 8 {
				fmt.Fprintf(&y, "      - name: m%d\n        sql: v%d\n        type: sum\n", i, i)
			}
			y.WriteString("      - name: ratio\n        sql: \"{m0} / NULLIF({count}, 0)\"\n        type: number\n")
		}
		y.WriteString("    dimensions:\n      - name: id\n        sql: id\n        type: number\n        primary_key: true\n")
		for i := range 5 {
			fmt.Fprintf(&y, "      - name: d%d\n        sql: d%d\n        type: string\n", i, i)
		}
		y.WriteString("      - name: t\n        sql: t\n        type: time\n")
	}
	m, err := LoadFiles(map[string][]byte{"bench.yml": []byte(y.String())})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// 20 members across 3 joins: 8 measures, 11 dimensions, a time dimension.
func BenchmarkCompile20MembersThreeJoins(b *testing.B) {
	m := benchModel(b)
	q := Query{
		Measures:       []string{"facts.count", "facts.m0", "facts.m1", "facts.m2", "facts.m3", "facts.m4", "facts.m5", "facts.ratio"},
		Dimensions:     []string{"facts.d0", "facts.d1", "dim_a.d0", "dim_a.d1", "dim_a.d2", "dim_b.d0", "dim_b.d1", "dim_b.d2", "dim_c.d0", "dim_c.d1", "dim_c.d2"},
		TimeDimensions: []TimeDimension{{Dimension: "facts.t", Granularity: "month"}},
		Filters:        []Filter{{Member: "dim_a.d3", Operator: "equals", Values: []string{"x"}}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Compile(&q, Postgres{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileFilter1000Values(b *testing.B) {
	m := benchModel(b)
	vals := make([]string, 1000)
	for i := range vals {
		vals[i] = fmt.Sprintf("value-%d", i)
	}
	q := Query{Measures: []string{"facts.count"}, Dimensions: []string{"facts.d0"},
		Filters: []Filter{{Member: "facts.d1", Operator: "equals", Values: vals}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Compile(&q, Postgres{}); err != nil {
			b.Fatal(err)
		}
	}
}
