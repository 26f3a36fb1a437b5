package jsmodel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cubes"
)

// In Cube's JavaScript only ${…} interpolates: braces a model writes in
// its SQL are text ('{status}', a Postgres array or JSON path), while
// ${CUBE}, ${member} and the context variables still render. A YAML
// model's {x} stays a reference.
func TestLiteralBracesInJavaScriptSQL(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("orders.js", "cube(`orders`, {\n"+
		"  sql: `SELECT * FROM public.orders WHERE tags <> '{}' AND ${SECURITY_CONTEXT.tenant.filter('tenant_id')} AND ${FILTER_PARAMS.orders.created_at.filter((from, to) => `created_at >= ${from} AND '{x}' = '{x}'`)}`,\n"+
		"  title: `Orders {all}`,\n"+
		"  measures: { count: { type: `count` }, tagged_count: { type: `count`, filters: [{ sql: `${CUBE}.tags @> '{a}'` }] } },\n"+
		"  dimensions: {\n"+
		"    id: { sql: `id`, type: `number`, primaryKey: true },\n"+
		"    status: { sql: `status`, type: `string` },\n"+
		"    created_at: { sql: `created_at`, type: `time` },\n"+
		"    tagged: { sql: `${CUBE}.tags @> '{status}' AND ${status} <> ''`, type: `boolean` },\n"+
		"    city: { sql: `${CUBE}.data #>> '{address,city}'`, type: `string` },\n"+
		"    local: { sql: `${SQL_UTILS.convertTz(`${CUBE}.created_at`)}`, type: `time` },\n"+
		"  },\n"+
		"});\n")
	write("items.yml", "cubes:\n  - name: items\n    sql_table: public.items\n    dimensions:\n"+
		"      - name: id\n        sql: id\n        type: number\n        primary_key: true\n"+
		"      - name: status\n        sql: status\n        type: string\n"+
		"      - name: same\n        sql: \"{CUBE}.x = '{status}'\"\n        type: boolean\n")
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	compile := func(q cubes.Query) string {
		t.Helper()
		c, err := m.CompileWith(&q, cubes.Postgres{}, cubes.Options{Security: map[string]any{"tenant": 7}})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(c.SQL)
		return c.SQL
	}
	sql := compile(cubes.Query{
		Dimensions: []string{"orders.tagged", "orders.city", "orders.local"},
		Measures:   []string{"orders.tagged_count"},
		Filters:    []cubes.Filter{{Member: "orders.created_at", Operator: "inDateRange", Values: []string{"2024-01-01", "2024-02-01"}}},
	})
	for _, want := range []string{
		`"orders".tags @> '{status}' AND "orders".status <> ''`,
		`"orders".data #>> '{address,city}'`,
		`"orders".tags @> '{a}'`,
		`tags <> '{}' AND (tenant_id = $`,
		`created_at >= $`, `AND '{x}' = '{x}'`,
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("SQL lacks %q", want)
		}
	}
	if strings.ContainsAny(sql, "\ue07b\ue07d\ue010\ue011") {
		t.Errorf("SQL holds a marker: %q", sql)
	}
	if c, _ := m.Cube("orders"); c == nil || c.Title != "Orders {all}" {
		t.Errorf("title %+v", c)
	}
	// YAML: {status} is a reference, as before.
	if sql := compile(cubes.Query{Dimensions: []string{"items.same"}}); !strings.Contains(sql, `"items".x = '"items".status'`) {
		t.Errorf("YAML {status} not a reference")
	}
}
