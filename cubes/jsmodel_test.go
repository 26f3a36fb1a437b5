package cubes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cubes/cubestest"
)

// The oracle and features models written in JavaScript compile every
// shared compiler query and every oracle query to exactly the SQL and
// arguments of their YAML twins.
func TestJSModelCompilesLikeYAML(t *testing.T) {
	oracleJS, err := LoadDir("../testdata/oracle/model_js")
	if err != nil {
		t.Fatal(err)
	}
	featuresJS, err := LoadDir("testdata/features_js")
	if err != nil {
		t.Fatal(err)
	}
	oracle, features := oracleModel(t), featuresModel(t)
	if a, b := strings.Join(oracleJS.CubeNames(), ","), strings.Join(oracle.CubeNames(), ","); a != b {
		t.Fatalf("cubes: js %s, yaml %s", a, b)
	}
	queries := append(append(append([]cubestest.Query{}, cubestest.Golden...), cubestest.Features...), cubestest.Times...)
	queries = append(queries, oracleQueries(t)...)
	n := 0
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		for _, q := range queries {
			yml, js := oracle, oracleJS
			if cubestest.UsesFeatures(q) {
				yml, js = features, featuresJS
			}
			t.Run(d.Name()+"/"+q.Name, func(t *testing.T) {
				var want, got Query
				if err := json.Unmarshal([]byte(q.JSON), &want); err != nil {
					t.Fatal(err)
				}
				json.Unmarshal([]byte(q.JSON), &got)
				cy, errY := yml.Compile(&want, d)
				cj, errJ := js.Compile(&got, d)
				if fmt.Sprint(errY) != fmt.Sprint(errJ) {
					t.Fatalf("errors differ: yaml %v, js %v", errY, errJ)
				}
				if errY != nil {
					return
				}
				n++
				if cy.SQL != cj.SQL || !reflect.DeepEqual(cy.Args, cj.Args) {
					t.Errorf("SQL differs:\nyaml: %s %v\n  js: %s %v", cy.SQL, cy.Args, cj.SQL, cj.Args)
				}
				if cy.TotalSQL != cj.TotalSQL || !reflect.DeepEqual(cy.TotalArgs, cj.TotalArgs) {
					t.Errorf("total SQL differs:\nyaml: %s\n  js: %s", cy.TotalSQL, cj.TotalSQL)
				}
			})
		}
	}
	if n < 2*len(cubestest.Golden) {
		t.Fatalf("only %d queries compiled", n)
	}
}

// oracleQueries are the REST query bodies of testdata/oracle/queries.jsonl.
func oracleQueries(t *testing.T) []cubestest.Query {
	t.Helper()
	b, err := os.ReadFile("../testdata/oracle/queries.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []cubestest.Query
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Name  string          `json:"name"`
			Query json.RawMessage `json:"query"`
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		out = append(out, cubestest.Query{Name: "oracle_" + line.Name, JSON: string(line.Query)})
	}
	if len(out) == 0 {
		t.Fatal("no oracle queries")
	}
	return out
}

// A few statements compiled from the JavaScript oracle model, as a golden
// file (go test ./cubes -run JSModelGolden -rewrite writes it).
func TestJSModelGolden(t *testing.T) {
	m, err := LoadDir("../testdata/oracle/model_js")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, name := range []string{"filtered_and_calculated", "case_dimension", "segments", "view", "fanout_dedup"} {
		var q Query
		for _, g := range cubestest.Golden {
			if g.Name == name {
				json.Unmarshal([]byte(g.JSON), &q)
			}
		}
		c, err := m.Compile(&q, Postgres{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&b, "-- %s\n%s\n\n", name, c.String())
	}
	path := filepath.Join("testdata", "jsmodel", "oracle_js.sql")
	if *rewrite {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cubes -run JSModelGolden -rewrite writes it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("SQL differs from %s:\n got: %s\nwant: %s", path, b.String(), want)
	}
}

// What the JavaScript model declares beyond SQL: drill members given as
// bare identifiers, formats, titles, visibility of the primary key.
func TestJSModelDeclarations(t *testing.T) {
	m, err := LoadDir("../testdata/oracle/model_js")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := m.Member("orders.count")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(mem.(*Measure).DrillMembers, ","); got != "orders.id,orders.status,orders.created_at,customers.name" {
		t.Errorf("drill members %s", got)
	}
	orders, _ := m.Cube("orders")
	if orders.Title != "Orders" || orders.SQLTable != "public.orders_raw" {
		t.Errorf("orders: %q %q", orders.Title, orders.SQLTable)
	}
	if pk := orders.PrimaryKey(); pk == nil || !pk.Public {
		t.Errorf("primary key %+v", pk)
	}
	if mem, _ := m.Member("orders.total_amount"); mem.(*Measure).Format != "currency" {
		t.Errorf("format %q", mem.(*Measure).Format)
	}
	if mem, _ := m.Member("orders.unique_customers"); mem.(*Measure).Type != TypeCountDistinct {
		t.Errorf("countDistinct read as %q", mem.(*Measure).Type)
	}
	if c, _ := m.Cube("customers"); c.Title != "Customers" || c.SQLTable != "public.customers_raw" {
		t.Errorf("customers from the loop: %q %q", c.Title, c.SQLTable)
	}
	if mem, _ := m.Member("orders.count"); mem.(*Measure).Pos.String() != "orders.js:22" {
		t.Errorf("orders.count at %s, want orders.js:22 (its key)", mem.(*Measure).Pos)
	}
}

// COMPILE_CONTEXT reaches the model at load time.
func TestJSModelCompileContext(t *testing.T) {
	files := map[string][]byte{}
	for _, f := range []string{"helpers.js", "orders.js", "catalog.js"} {
		b, err := os.ReadFile(filepath.Join("../testdata/oracle/model_js", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	m, err := LoadFilesWith(files, LoadOptions{CompileContext: map[string]any{"schema": "tenant_7"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.Cube("orders")
	if c.SQLTable != "tenant_7.orders_raw" {
		t.Fatalf("sql_table %q", c.SQLTable)
	}
}

// Member names written in camelCase stay as written and compile.
func TestJSModelCamelCaseMembers(t *testing.T) {
	m, err := LoadFiles(map[string][]byte{"shop.js": []byte(`
cube('Orders', {
  sqlTable: 'public.orders',
  measures: {
    count: { type: 'count', drillMembers: [orderId, createdAt] },
    totalAmount: { sql: 'amount', type: 'sum' },
    avgOrderValue: { sql: ` + "`${totalAmount} / NULLIF(${count}, 0)`" + `, type: 'number' },
  },
  dimensions: {
    orderId: { sql: 'id', type: 'number', primaryKey: true, shown: true },
    createdAt: { sql: 'created_at', type: 'time' },
    isGift: { sql: ` + "`${CUBE}.is_gift`" + `, type: 'boolean' },
  },
  preAggregations: {
    byDay: { measures: [CUBE.count, totalAmount], dimensions: [isGift], timeDimension: CUBE.createdAt, granularity: 'day' },
  },
});
`)})
	if err != nil {
		t.Fatal(err)
	}
	var q Query
	json.Unmarshal([]byte(`{"measures":["Orders.totalAmount","Orders.avgOrderValue"],"dimensions":["Orders.isGift"],"timeDimensions":[{"dimension":"Orders.createdAt","granularity":"month"}]}`), &q)
	c, err := m.Compile(&q, Postgres{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Orders__totalAmount"`, `"Orders".is_gift`, "created_at"} {
		if !strings.Contains(c.SQL, want) {
			t.Errorf("SQL lacks %s:\n%s", want, c.SQL)
		}
	}
	cube, _ := m.Cube("Orders")
	if len(cube.PreAggregations) != 1 || cube.PreAggregations[0].Name != "byDay" || cube.PreAggregations[0].TimeDimension.Name != "createdAt" {
		t.Fatalf("pre-aggregations %+v", cube.PreAggregations)
	}
	if mem, _ := m.Member("Orders.count"); strings.Join(mem.(*Measure).DrillMembers, ",") != "Orders.orderId,Orders.createdAt" {
		t.Errorf("drill members %v", mem.(*Measure).DrillMembers)
	}
}

// .js cubes join .yml cubes, a .yml view reads a .js cube, and a file of
// another kind is a warning.
func TestJSModelMixedFolder(t *testing.T) {
	files := map[string][]byte{
		"cubes/orders.js": []byte(`
cube('orders', {
  sqlTable: 'public.orders',
  joins: { users: { relationship: 'many_to_one', sql: ` + "`${CUBE}.user_id = ${users.id}`" + ` } },
  measures: { count: { type: 'count' } },
  dimensions: { id: { sql: 'id', type: 'number', primaryKey: true }, status: { sql: 'status', type: 'string' } },
});
`),
		"cubes/users.yml": []byte(`cubes:
  - name: users
    sql_table: public.users
    joins:
      - name: orders
        sql: "{CUBE}.id = {orders}.user_id"
        relationship: one_to_many
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: city
        sql: city
        type: string
`),
		"views/overview.yml": []byte(`views:
  - name: overview
    cubes:
      - join_path: orders
        includes: [count, status]
      - join_path: orders.users
        prefix: true
        includes: [city]
`),
		"README.md": []byte("# notes\n"),
	}
	var warnings []string
	m, err := LoadFilesWith(files, LoadOptions{Warn: func(p Pos, msg string) { warnings = append(warnings, p.String()+": "+msg) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "README.md") || !strings.Contains(warnings[0], "not a model file") {
		t.Errorf("warnings %q", warnings)
	}
	for _, src := range []string{
		`{"measures":["orders.count"],"dimensions":["users.city"]}`,
		`{"measures":["users.count"],"dimensions":["orders.status"]}`,
		`{"measures":["overview.count"],"dimensions":["overview.users_city","overview.status"]}`,
	} {
		var q Query
		json.Unmarshal([]byte(src), &q)
		c, err := m.Compile(&q, DuckDB{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !strings.Contains(c.SQL, "public.users") || !strings.Contains(c.SQL, "public.orders") {
			t.Errorf("%s: %s", src, c.SQL)
		}
	}
	c, _ := m.Cube("orders")
	if c.Pos.File != "cubes/orders.js" || c.Pos.Line != 2 {
		t.Errorf("orders at %s", c.Pos)
	}
}

// Problems of a JavaScript model name the .js file and line, whether the
// JavaScript fails or what it defines does not validate.
func TestJSModelErrorsNameFileAndLine(t *testing.T) {
	cube := func(body string) string {
		return "cube('a', {\n  sqlTable: 't',\n" + body + "});\n"
	}
	cases := []struct {
		name, src, want string
	}{
		{"syntax", "cube('a', {\n  sqlTable: 't',\n  measures: { count: { type: 'count' } \n});\n", "m.js:4: syntax error"},
		{"exception", "const x = 1;\nnope();\n", "m.js:2: ReferenceError: nope is not defined"},
		{"unknown key", cube("  measures: {\n    count: { type: 'count', colour: 'red' },\n  },\n"), "m.js:4: unknown key \"colour\" in measure"},
		{"bad measure type", cube("  measures: {\n    x: {\n      type: 'median',\n      sql: 'v',\n    },\n  },\n"), "m.js:4: measure a.x: unknown type \"median\""},
		{"unknown reference", cube("  dimensions: {\n    x: { type: 'string', sql: `${nope}` },\n  },\n"), "m.js:4: unknown reference {nope}"},
		{"join target", cube("  joins: {\n    b: { sql: `${CUBE}.b_id = ${b}.id`, relationship: 'belongsTo' },\n  },\n"), "m.js:4: join from \"a\" names cube \"b\", which does not exist"},
		{"drill member", cube("  measures: {\n    count: {\n      type: 'count',\n      drillMembers: [\n        id,\n        missing,\n      ],\n    },\n  },\n  dimensions: { id: { sql: 'id', type: 'number', primaryKey: true } },\n"), "m.js:8: drill member \"missing\""},
		{"no table", "\n\ncube('a', {});\n", "m.js:3: cube \"a\" needs sql_table or sql"},
		{"require out", "\nrequire('../../etc/passwd');\n", "m.js:2: Error: require('../../etc/passwd'): the path leads out of the model folder"},
		{"require module", "const http = require('http');\n", "m.js:1: Error: require('http'): Node modules are not available"},
		{"fetch", "asyncModule(async () => {\n  const r = await fetch('https://example.com');\n});\n", "m.js:2: asyncModule(): Error: models cannot use fetch (network/process access is not available to models)"},
		{"import", "import x from './y';\n", "m.js:1: syntax error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadFiles(map[string][]byte{"m.js": []byte(c.src)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			var ves ValidationErrors
			if !asValidationErrors(err, &ves) || len(ves) == 0 || ves[0].Pos.File != "m.js" {
				t.Fatalf("not ValidationErrors with the file: %#v", err)
			}
		})
	}
}

func asValidationErrors(err error, out *ValidationErrors) bool {
	ves, ok := err.(ValidationErrors)
	*out = ves
	return ok
}

// Context variables written in JavaScript load as the YAML syntax the
// renderer reads, and compile as their YAML twin does.
func TestJSModelContextVariables(t *testing.T) {
	js := "cube('orders', {\n" +
		"  sql: `SELECT * FROM orders WHERE ${SECURITY_CONTEXT.tenant.filter('tenant_id')}` +\n" +
		"    ` AND tier = ${USER_CONTEXT.tier.unsafeValue()}` +\n" +
		"    ` AND ${FILTER_PARAMS.orders.created_at.filter((from, to) => `created_at BETWEEN ${from} AND ${to}`)}` +\n" +
		"    ` AND ${FILTER_GROUP(FILTER_PARAMS.orders.status.filter('status'), FILTER_PARAMS.orders.amount.filter('amount'))}` +\n" +
		"    ` AND ${FILTER_PARAMS.orders.status.filter(value => `status = ${value} AND note <> 'x\\\\'`)}`,\n" +
		"  measures: { count: { type: 'count' } },\n" +
		"  dimensions: {\n" +
		"    id: { sql: 'id', type: 'number', primaryKey: true },\n" +
		"    status: { sql: 'status', type: 'string' },\n" +
		"    amount: { sql: 'amount', type: 'number' },\n" +
		"    created_at: { sql: SQL_UTILS.convertTz('created_at'), type: 'time' },\n" +
		"  },\n" +
		"});\n"
	yml := `cubes:
  - name: orders
    sql: "SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant.filter('tenant_id')} AND tier = {SECURITY_CONTEXT.tier.unsafeValue()} AND {FILTER_PARAMS.orders.created_at.filter(lambda from, to: f'created_at BETWEEN {from} AND {to}')} AND {FILTER_GROUP(FILTER_PARAMS.orders.status.filter('status'), FILTER_PARAMS.orders.amount.filter('amount'))} AND {FILTER_PARAMS.orders.status.filter(lambda value: f'status = {value} AND note <> \\'x\\\\\\'')}"
    measures:
      - name: count
        type: count
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
      - name: created_at
        sql: "{SQL_UTILS.convertTz('created_at')}"
        type: time
`
	mj, err := LoadFiles(map[string][]byte{"orders.js": []byte(js)})
	if err != nil {
		t.Fatal(err)
	}
	my, err := LoadFiles(map[string][]byte{"orders.yml": []byte(yml)})
	if err != nil {
		t.Fatal(err)
	}
	cj, _ := mj.Cube("orders")
	cy, _ := my.Cube("orders")
	if cj.SQL != cy.SQL {
		t.Fatalf("cube sql:\n  js: %s\nyaml: %s", cj.SQL, cy.SQL)
	}
	var q Query
	json.Unmarshal([]byte(`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day","dateRange":["2024-01-01","2024-01-31"]}],
		"filters":[{"member":"orders.status","operator":"equals","values":["new"]},{"member":"orders.amount","operator":"gt","values":["10"]}],"timezone":"Europe/Paris"}`), &q)
	for _, d := range []Dialect{Postgres{}, DuckDB{}} {
		o := Options{Security: map[string]any{"tenant": 7, "tier": "gold"}}
		a, errA := mj.CompileWith(&q, d, o)
		b, errB := my.CompileWith(&q, d, o)
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v / %v", d.Name(), errA, errB)
		}
		if a.SQL != b.SQL || !reflect.DeepEqual(a.Args, b.Args) {
			t.Errorf("%s:\n  js: %s %v\nyaml: %s %v", d.Name(), a.SQL, a.Args, b.SQL, b.Args)
		}
	}
}
