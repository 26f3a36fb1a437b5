package jsmodel

import (
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// mustEval evaluates files and fails on any error.
func mustEval(t *testing.T, files map[string]string) []Doc {
	t.Helper()
	docs, err := evalFiles(t, files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestConstructs(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"keys snake_cased, members become lists, scalars typed",
			map[string]string{"m.js": `
cube('orders', {
  sqlTable: 'public.orders',
  dataSource: 'default',
  refreshKey: { every: '1 hour' },
  measures: {
    count: { type: 'count', drillMembers: [id, createdAt] },
    totalAmount: { sql: 'amount', type: 'sum', rollingWindow: { trailing: '7 day' } },
    uniq: { sql: 'x', type: 'countDistinctApprox', shown: false },
  },
  dimensions: {
    id: { sql: 'id', type: 'number', primaryKey: true },
    createdAt: { sql: 'created_at', type: 'time', subQuery: false, propagateFiltersToSubQuery: true },
    ratio: { sql: 'r', type: 'number', meta: { someKey: 1.5, otherKey: [1, 'x', null] } },
  },
});
`},
			`# m.js
cubes:
    - name: orders
      sql_table: public.orders
      data_source: default
      refresh_key:
        every: 1 hour
      measures:
        - name: count
          type: count
          drill_members:
            - id
            - createdAt
        - name: totalAmount
          sql: amount
          type: sum
          rolling_window:
            trailing: 7 day
        - name: uniq
          sql: x
          type: count_distinct_approx
          shown: false
      dimensions:
        - name: id
          sql: id
          type: number
          primary_key: true
        - name: createdAt
          sql: created_at
          type: time
          sub_query: false
          propagate_filters_to_sub_query: true
        - name: ratio
          sql: r
          type: number
          meta:
            someKey: 1.5
            otherKey:
                - 1
                - x
                - null
`},
		{"references in SQL and where names are expected",
			map[string]string{"m.js": `
cube('orders', {
  sql: () => ` + "`SELECT * FROM ${TABLE_NAME}`" + `,
  joins: {
    users: { relationship: 'belongsTo', sql: ` + "`${CUBE}.user_id = ${users}.id AND ${TABLE}.x = ${users.id}`" + ` },
  },
  measures: {
    count: { type: 'count' },
    total: { sql: ` + "`${CUBE.amount}`" + `, type: 'sum' },
    ratio: { sql: (CUBE, users) => ` + "`${CUBE.total} / ${users.count}`" + `, type: 'number' },
    perUser: { sql: () => ` + "`${total} / ${count}`" + `, type: 'number', drillMembers: () => [CUBE.id, users.city] },
  },
  dimensions: {
    amount: { sql: 'amount', type: 'number' },
  },
  preAggregations: {
    main: {
      type: 'rollup',
      measures: [CUBE.count, total],
      dimensions: [users.city],
      segments: [CUBE.big],
      timeDimension: CUBE.createdAt,
      granularity: 'day',
      partitionGranularity: 'month',
      indexes: { byCity: { columns: [users.city] } },
      refreshKey: { every: '1 hour', incremental: true, updateWindow: '7 day' },
    },
    joined: { type: 'rollupJoin', rollups: [users.main, CUBE.main] },
  },
});
const TABLE_NAME = 'public.orders';
`},
			`# m.js
cubes:
    - name: orders
      sql: SELECT * FROM public.orders
      joins:
        - name: users
          relationship: belongs_to
          sql: '{CUBE}.user_id = {users}.id AND {CUBE}.x = {users.id}'
      measures:
        - name: count
          type: count
        - name: total
          sql: '{CUBE.amount}'
          type: sum
        - name: ratio
          sql: '{CUBE.total} / {users.count}'
          type: number
        - name: perUser
          sql: '{total} / {count}'
          type: number
          drill_members:
            - id
            - users.city
      dimensions:
        - name: amount
          sql: amount
          type: number
      pre_aggregations:
        - name: main
          type: rollup
          measures:
            - count
            - total
          dimensions:
            - users.city
          segments:
            - big
          time_dimension: createdAt
          granularity: day
          partition_granularity: month
          indexes:
            - name: byCity
              columns:
                - users.city
          refresh_key:
            every: 1 hour
            incremental: true
            update_window: 7 day
        - name: joined
          type: rollup_join
          rollups:
            - users.main
            - CUBE.main
`},
		{"extends, cube() as a value, views",
			map[string]string{"m.js": `
const base = cube('base', { sqlTable: 't', measures: { count: { type: 'count' } } });
cube('child', { extends: base });
cube('other', { extends: child });
view('v', {
  public: false,
  cubes: [
    { joinPath: child.users, prefix: true, includes: '*', excludes: [secret] },
    { joinPath: child, includes: [count, { name: CUBE.total, alias: 'sum', meta: { aB: 1 } }] },
  ],
  folders: [{ name: 'Main', includes: [count, { name: 'Sub', includes: ['users_city'] }] }],
});
`},
			`# m.js
cubes:
    - name: base
      sql_table: t
      measures:
        - name: count
          type: count
    - name: child
      extends: base
    - name: other
      extends: child
views:
    - name: v
      public: false
      cubes:
        - join_path: child.users
          prefix: true
          includes: '*'
          excludes:
            - secret
        - join_path: child
          includes:
            - count
            - name: total
              alias: sum
              meta:
                aB: 1
      folders:
        - name: Main
          includes:
            - count
            - name: Sub
              includes:
                - users_city
`},
		{"context variables",
			map[string]string{"m.js": bt(`
cube('orders', {
  sql: §SELECT * FROM t WHERE ${SECURITY_CONTEXT.tenant.id.filter('tenant_id')}§ +
    § AND ${USER_CONTEXT.region.requiredFilter('region')} AND x = ${SECURITY_CONTEXT.level.unsafeValue()}§ +
    § AND ${FILTER_PARAMS.orders.created_at.filter('created_at')}§ +
    § AND ${FILTER_PARAMS.orders.created_at.filter((from, to) => §ts >= ${from} AND ts < ${to} AND y = '{z}' AND p = 'a\\b'§)}§ +
    § AND ${FILTER_PARAMS.orders.status.filter(v => §lower(s) = ${v}§)}§ +
    § AND ${FILTER_GROUP(FILTER_PARAMS.orders.a.filter('a'), FILTER_PARAMS.orders.b.filter('b'))}§,
  dimensions: {
    local: { sql: §${SQL_UTILS.convertTz(§${CUBE}.at§)} + ${SQL_UTILS.convertTz("it's \\\\")}§, type: 'time' },
  },
});
`)},
			`# m.js
cubes:
    - name: orders
      sql: 'SELECT * FROM t WHERE {SECURITY_CONTEXT.tenant.id.filter(''tenant_id'')} AND {SECURITY_CONTEXT.region.requiredFilter(''region'')} AND x = {SECURITY_CONTEXT.level.unsafeValue()} AND {FILTER_PARAMS.orders.created_at.filter(''created_at'')} AND {FILTER_PARAMS.orders.created_at.filter(lambda from, to: f''ts >= {from} AND ts < {to} AND y = \''{{z}}\'' AND p = \''a\\b\'''')} AND {FILTER_PARAMS.orders.status.filter(lambda value: f''lower(s) = {value}'')} AND {FILTER_GROUP(FILTER_PARAMS.orders.a.filter(''a''), FILTER_PARAMS.orders.b.filter(''b''))}'
      dimensions:
        - name: local
          sql: '{SQL_UTILS.convertTz(''{CUBE}.at'')} + {SQL_UTILS.convertTz(''it\''s \\\\'')}'
          type: time
`},
		{"modules, JSON data, loops, asyncModule",
			map[string]string{
				"lib/names.js": `
let evaluated = (globalThis.__count = (globalThis.__count || 0) + 1);
module.exports = { prefix: 'public.', evaluated };
`,
				"lib/tables.json": `{"tables": ["a", "b"]}`,
				"cubes/gen.js": `
const { prefix } = require('../lib/names');
const names = require('../lib/names.js');
const { tables } = require('../lib/tables.json');
for (const t of tables) {
  cube(t, { sqlTable: prefix + t, measures: { count: { type: 'count' } } });
}
exports.ok = names.evaluated;
`,
				"cubes/async.js": `
asyncModule(async () => {
  const cfg = await Promise.resolve({ name: 'late', n: require('./gen').ok });
  cube(cfg.name, { sqlTable: 'evaluated_' + cfg.n });
});
`},
			`# cubes/async.js
cubes:
    - name: late
      sql_table: evaluated_1
# cubes/gen.js
cubes:
    - name: a
      sql_table: public.a
      measures:
        - name: count
          type: count
    - name: b
      sql_table: public.b
      measures:
        - name: count
          type: count
`},
		{"hierarchies, segments, case, granularities, this is exports",
			map[string]string{"m.js": `
this.shared = 'yes';
cube('geo', {
  sqlTable: 't',
  title: module.exports.shared,
  dimensions: {
    country: { sql: 'country', type: 'string' },
    city: { sql: 'city', type: 'string' },
    size: { type: 'string', case: { when: [{ sql: ` + "`${CUBE}.n < 10`" + `, label: 'small' }], else: { label: 'big' } } },
    at: { sql: 'at', type: 'time', granularities: { fiscalYear: { interval: '1 year', offset: '3 months' } } },
  },
  segments: { european: { sql: ` + "`${CUBE}.continent = 'EU'`" + ` } },
  hierarchies: { place: { title: 'Place', levels: [country, CUBE.city] } },
});
`},
			`# m.js
cubes:
    - name: geo
      sql_table: t
      title: yes
      dimensions:
        - name: country
          sql: country
          type: string
        - name: city
          sql: city
          type: string
        - name: size
          type: string
          case:
            when:
                - sql: '{CUBE}.n < 10'
                  label: small
            else:
                label: big
        - name: at
          sql: at
          type: time
          granularities:
            - name: fiscalYear
              interval: 1 year
              offset: 3 months
      segments:
        - name: european
          sql: '{CUBE}.continent = ''EU'''
      hierarchies:
        - name: place
          title: Place
          levels:
            - country
            - city
`},
		{"COMPILE_CONTEXT is frozen; var and function declarations are not references",
			map[string]string{"m.js": `
var table = COMPILE_CONTEXT.tenant ? 'tenant_' + COMPILE_CONTEXT.tenant.id : 'shared';
COMPILE_CONTEXT.tenant = 'changed';
function title() { return Object.isFrozen(COMPILE_CONTEXT) && Object.isFrozen(COMPILE_CONTEXT.tenant) ? 'frozen' : 'not frozen'; }
class K { static t() { return title(); } }
cube('c', { sqlTable: table, title: K.t(), shown: typeof Math === 'object' });
`},
			`# m.js
cubes:
    - name: c
      sql_table: tenant_7
      title: frozen
      shown: true
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, err := evalFiles(t, c.files, Options{CompileContext: map[string]any{"tenant": map[string]any{"id": 7}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := yamlOf(t, docs); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

// Every node carries the line of its definition in the .js file.
func TestLines(t *testing.T) {
	docs := mustEval(t, map[string]string{"m.js": `const common = { type: 'count' };
function dim(sql) { return { sql, type: 'string' }; }

cube(
  'orders', {
    sqlTable: 't',
    measures: {
      count: common,
      total: {
        sql: 'amount',
        type: 'sum',
      },
    },
    dimensions: {
      status: dim('status'),
    },
  });
for (const n of ['x', 'y']) cube(n, { sqlTable: n,
  measures: { count: { type: 'count' } } });
`})
	lines := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			name := ""
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "name" {
					name = n.Content[i+1].Value
				}
			}
			p := path
			if name != "" {
				p += "/" + name
				lines[p] = n.Line
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				lines[p+"."+k.Value] = k.Line
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		}
	}
	walk(docs[0].Root, "")
	want := map[string]int{
		"/orders":             4, // the cube( call
		"/orders.sql_table":   6,
		"/orders.measures":    7,
		"/orders/count":       8,
		"/orders/count.type":  8, // from a variable: the member's line
		"/orders/total":       9,
		"/orders/total.sql":   10,
		"/orders/total.type":  11,
		"/orders/status":      15,
		"/orders/status.sql":  15,
		"/x":                  18,
		"/x/count":            19,
		"/y/count.type":       19,
		"/orders.dimensions":  14,
		"/y.sql_table":        18,
		"/orders/status.type": 15,
		"/orders/count.name":  8,
		"/orders.name":        4,
		"/x.measures":         19,
		"/y":                  18,
		"/x/count.type":       19,
		"/y.measures":         19,
		"/x.sql_table":        18,
		"/y/count":            19,
		"/x.name":             18,
		"/y.name":             18,
		"/orders/total.name":  9,
		"/orders/status.name": 15,
		"/x/count.name":       19,
		"/y/count.name":       19,
		".cubes":              4,
	}
	for k, v := range want {
		if lines[k] != v {
			t.Errorf("%s at line %d, want %d", k, lines[k], v)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax error", map[string]string{"m.js": "const a = 1;\nconst b = ;\n"}, []string{"m.js:2: syntax error: "}},
		{"syntax error in a required file", map[string]string{"m.js": "\nrequire('./h');\n", "h.js": "\n\nfunction (\n"},
			[]string{"h.js:3: syntax error", "m.js:2: Error: require('./h'): h.js has errors"}},
		{"exception in a required file", map[string]string{"m.js": "require('./h');\n", "h.js": "\n\nnull.x;\n"}, []string{"h.js:3: TypeError: Cannot read property 'x'"}},
		{"thrown value", map[string]string{"m.js": "\nthrow 'boom';\n"}, []string{"m.js:2: threw boom"}},
		{"calling an unknown name", map[string]string{"m.js": "\n\nhelper(1);\n"}, []string{"m.js:3: ReferenceError: helper is not defined"}},
		{"assigning an undeclared name", map[string]string{"m.js": "\nx = 5;\n"}, []string{"m.js:2: ReferenceError: x is not declared"}},
		{"cube without a definition", map[string]string{"m.js": "\ncube('a');\n"}, []string{"m.js:2: TypeError: cube('a', …) needs the definition object second"}},
		{"sql function throws", map[string]string{"m.js": "cube('a', {\n  sql: () => {\n    throw new Error('no sql');\n  },\n});\n"}, []string{"m.js:3: Error: no sql"}},
		{"a function where a value is expected", map[string]string{"m.js": "cube('a', {\n  sqlTable: 't',\n  meta: { f: new Map() },\n});\n"}, []string{"m.js:3: cube \"a\": a Map cannot be written in a model"}},
		{"asyncModule rejects", map[string]string{"m.js": "asyncModule(async () => {\n  await null;\n  throw new TypeError('late');\n});\n"}, []string{"m.js:3: asyncModule(): TypeError: late"}},
		{"await never settles", map[string]string{"m.js": "\nasyncModule(async () => {\n  await new Promise(() => {});\n});\n"}, []string{"m.js:2: asyncModule(): the function never finished"}},
		{"invalid JSON", map[string]string{"m.js": "require('./d.json');\n", "d.json": "{\n\"a\": }\n"}, []string{"d.json:2: invalid JSON"}},
		{"missing file", map[string]string{"m.js": "\nrequire('./nope');\n"}, []string{"m.js:2: Error: require('./nope'): there is no file nope"}},
		{"ES module syntax", map[string]string{"m.js": "export const a = 1;\n"}, []string{"m.js:1: syntax error", "use require() and module.exports"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := evalFiles(t, c.files, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, ok := err.(Errors); !ok {
				t.Errorf("%T, want Errors", err)
			}
		})
	}
}

// A file required by others and a model file itself runs once; a
// require() cycle sees the partial exports, as in Node.
func TestModuleCacheAndCycles(t *testing.T) {
	docs := mustEval(t, map[string]string{
		"a.js": "exports.early = 'a';\nconst b = require('./b');\ncube('from_a', { sqlTable: b.seen });\n",
		"b.js": "const a = require('./a');\nexports.seen = 'saw_' + a.early;\ncube('from_b', { sqlTable: 'b' });\n",
	})
	got := yamlOf(t, docs)
	want := "# a.js\ncubes:\n    - name: from_a\n      sql_table: saw_a\n# b.js\ncubes:\n    - name: from_b\n      sql_table: b\n"
	if got != want {
		t.Fatalf("got:\n%s", got)
	}
}

func TestConsoleGoesToWarn(t *testing.T) {
	var got []string
	_, err := evalFiles(t, map[string]string{"m.js": "\nconsole.log('tables', 3);\n"},
		Options{Warn: func(f string, l int, m string) { got = append(got, f+":"+itoa(l)+": "+m) }})
	if err != nil || len(got) != 1 || got[0] != "m.js:2: console: tables 3" {
		t.Fatalf("%v %q", err, got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// bt writes § as a backquote, for JavaScript template strings in Go raw
// strings.
func bt(s string) string { return strings.ReplaceAll(s, "§", "`") }

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"sqlTable": "sql_table", "sql_table": "sql_table", "allowNonStrictDateRangeMatch": "allow_non_strict_date_range_match",
		"countDistinctApprox": "count_distinct_approx", "belongsTo": "belongs_to", "public": "public", "preAggregations": "pre_aggregations"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%s) = %s, want %s", in, got, want)
		}
	}
}

// A promise rejected with nothing to handle it fails the load at the
// place of the failure: the cubes its callback would define would
// otherwise silently be missing.
func TestUnhandledRejections(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // "" : no error
	}{
		{"an error in a then callback", "cube(`a`, { sqlTable: `a` });\nconst tables = async () => ['b'];\ntables().then((ts) => ts.forEach((t) => {\n  cube(t, { sqlTable: t, x: `y`.z.w });\n}));\n",
			[]string{"m.js:4: a promise was rejected and nothing handled it", "TypeError: Cannot read property 'w' of undefined"}},
		{"forEach(async) inside asyncModule", "asyncModule(async () => {\n  ['b', 'c'].forEach(async (t) => {\n    await null;\n    cube(t, { sqlTable: t, sql: undefinedThing() });\n  });\n});\n",
			[]string{"m.js:4: a promise was rejected and nothing handled it", "ReferenceError: undefinedThing is not defined"}},
		{"a value rejected, not an Error", "\n\nPromise.reject('no tables');\n",
			[]string{"m.js:3: a promise was rejected and nothing handled it", "threw no tables"}},
		{"handled later", "const p = Promise.reject(new Error('x'));\np.catch(() => {});\ncube(`a`, { sqlTable: `a` });\n", nil},
		{"handled by await in asyncModule", "asyncModule(async () => {\n  try { await Promise.reject(new Error('x')); } catch (e) {}\n  cube(`a`, { sqlTable: `a` });\n});\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := evalFiles(t, map[string]string{"m.js": c.src}, Options{})
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if n := len(err.(Errors)); n != 1 {
				t.Errorf("%d errors, want 1", n)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A FILTER_PARAMS callback's text is written into the SQL as it is: a
// reference in it would reach the database unrendered, so it is refused
// where it is written.
func TestFilterParamsCallbackReference(t *testing.T) {
	src := "cube(`orders`, {\n  sql: `SELECT * FROM t WHERE ${FILTER_PARAMS.orders.status.filter((v) => `${CUBE}.status = ${v}`)}`,\n" +
		"  dimensions: { status: { sql: `status`, type: `string` } },\n});\n"
	_, err := evalFiles(t, map[string]string{"m.js": src}, Options{})
	if err == nil || !strings.Contains(err.Error(), "m.js:2: TypeError: FILTER_PARAMS.orders.status.filter(): the callback's SQL holds a reference or context variable ({CUBE}.status = value)") {
		t.Fatalf("error %v", err)
	}
	// Literal braces in a callback stay text ({{ }} in the f-string).
	src = "cube(`orders`, {\n  sql: `SELECT * FROM t WHERE ${FILTER_PARAMS.orders.status.filter((v) => `status = ${v} AND tags <> '{}'`)}`,\n" +
		"  dimensions: { status: { sql: `status`, type: `string` } },\n});\n"
	docs := mustEval(t, map[string]string{"m.js": src})
	if y := yamlOf(t, docs); !strings.Contains(y, "lambda value: f''status = {value} AND tags <> \\''{{}}\\") {
		t.Fatalf("yaml:\n%s", y)
	}
}
