package cubes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOracleModel(t *testing.T) {
	m := oracleModel(t)
	if got := strings.Join(m.CubeNames(), ","); got != "customers,orders,products,sales" {
		t.Fatalf("cubes = %s", got)
	}
	orders, _ := m.Cube("orders")
	if pk := orders.PrimaryKey(); pk == nil || pk.Name != "id" || !pk.Public {
		t.Fatalf("primary key %+v", pk)
	}
	if c, ok := m.LookupCube("ORDERS"); !ok || c != orders {
		t.Fatal("case-insensitive lookup")
	}
	sales, _ := m.Cube("sales")
	if _, ok := sales.Member("customers_tier"); !ok {
		t.Fatal("view prefix")
	}
}

func TestValidationErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown key", "cubes:\n  - name: a\n    sql_table: t\n    colour: red\n", "m.yml:4: unknown key \"colour\" in cube"},
		{"no table", "cubes:\n  - name: a\n", "m.yml:2: cube \"a\" needs sql_table or sql"},
		{"bad measure type", "cubes:\n  - name: a\n    sql_table: t\n    measures:\n      - name: x\n        type: median\n        sql: v\n", "m.yml:5: measure a.x: unknown type \"median\""},
		{"unknown reference", "cubes:\n  - name: a\n    sql_table: t\n    dimensions:\n      - name: x\n        type: string\n        sql: \"{nope}\"\n", "m.yml:5: unknown reference {nope}"},
		{"cycle", "cubes:\n  - name: a\n    sql_table: t\n    measures:\n      - name: x\n        type: number\n        sql: \"{y} + 1\"\n      - name: y\n        type: number\n        sql: \"{x} + 1\"\n", "reference cycle: a.x → a.y → a.x"},
		{"join target", "cubes:\n  - name: a\n    sql_table: t\n    joins:\n      - name: b\n        sql: \"{CUBE}.b_id = {b}.id\"\n        relationship: many_to_one\n", "m.yml:5: join from \"a\" names cube \"b\", which does not exist"},
		{"duplicate member", "cubes:\n  - name: a\n    sql_table: t\n    measures:\n      - name: x\n        type: count\n      - name: x\n        type: count\n", "m.yml:7: member a.x is defined twice (first at m.yml:5)"},
		{"jinja syntax", "cubes:\n  - name: a\n    sql_table: {{ table }\n", "m.yml:3: Jinja syntax"},
		{"bad yaml", "cubes:\n  - name: [\n", "m.yml:"},
		{"view path", "cubes:\n  - name: a\n    sql_table: t\nviews:\n  - name: v\n    cubes:\n      - join_path: a.zz\n        includes: \"*\"\n", "m.yml:7: view \"v\": join_path names \"zz\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFiles(map[string][]byte{"m.yml": []byte(c.src)})
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestExtends(t *testing.T) {
	m, err := LoadFiles(map[string][]byte{"m.yml": []byte(`
cubes:
  - name: base_orders
    sql_table: public.orders_raw
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
  - name: web_orders
    extends: base_orders
    sql: "SELECT * FROM public.orders_raw WHERE channel = 'web'"
    measures:
      - name: total
        sql: "amount * 2"
        type: sum
    segments:
      - name: big
        sql: "{CUBE}.amount > 500"
`)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compile(&Query{Measures: []string{"web_orders.count", "web_orders.total"}, Dimensions: []string{"web_orders.status"}, Segments: []string{"web_orders.big"}, Order: Order{}}, Postgres{})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT "web_orders".status "web_orders__status", count("web_orders".id) "web_orders__count", sum(amount * 2) "web_orders__total" FROM (SELECT * FROM public.orders_raw WHERE channel = 'web') AS "web_orders" WHERE ("web_orders".amount > 500) GROUP BY 1`
	if c.SQL != want {
		t.Fatalf("got  %s\nwant %s", c.SQL, want)
	}
	for _, bad := range []struct{ src, msg string }{
		{"cubes:\n  - name: a\n    extends: nope\n", `cube "a" extends "nope", which is not a cube`},
		{"cubes:\n  - name: a\n    extends: b\n  - name: b\n    extends: a\n", "extends cycle"},
	} {
		if _, err := LoadFiles(map[string][]byte{"m.yml": []byte(bad.src)}); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: %v", bad.src, err)
		}
	}
}

// Files a model reads but that are not model files of their own — a
// Jinja macro file, JSON a JavaScript model requires — are not warned
// about; any other file is named in a warning.
func TestLoadWarnsOfOtherFilesOnly(t *testing.T) {
	var warnings []string
	_, err := LoadFilesWith(map[string][]byte{
		"macros/m.jinja": []byte("{% macro tbl(x) %}{{ x }}{% endmacro %}"),
		"data.json":      []byte(`{"tables": ["a"]}`),
		"notes.txt":      []byte("hello"),
		"cubes/a.yml":    []byte("{% import 'macros/m.jinja' as m %}cubes:\n  - name: a\n    sql_table: {{ m.tbl('a') }}\n    measures:\n      - name: count\n        type: count\n"),
	}, LoadOptions{Warn: func(p Pos, msg string) { warnings = append(warnings, p.File+": "+msg) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "notes.txt: not a model file") {
		t.Errorf("warnings: %q", warnings)
	}
}

// A link in the model folder is read only when its target is inside the
// folder.
func TestReadDirLinks(t *testing.T) {
	outside, dir := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret.json"), `{"private_key": "k"}`)
	write(filepath.Join(dir, "m.yml"), "cubes:\n  - name: a\n    sql_table: a\n    measures:\n      - name: count\n        type: count\n")
	if err := os.Symlink(filepath.Join(dir, "m.yml"), filepath.Join(dir, "same.yml.txt")); err != nil {
		t.Fatal(err)
	}
	files, err := ReadDir(dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("a link inside the folder: %v %v", err, len(files))
	}
	if err := os.Symlink(filepath.Join(outside, "secret.json"), filepath.Join(dir, "sa.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "sa.json: a link to a file outside the model folder is not read") {
		t.Fatalf("a link outside the folder: %v", err)
	}
}
