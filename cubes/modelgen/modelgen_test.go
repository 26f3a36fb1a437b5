package modelgen

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cubes"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files (testdata/*/cubes/*.yml)")

func TestTypeOf(t *testing.T) {
	for declared, want := range map[string]Kind{
		// PostgreSQL (format_type)
		"integer": Number, "bigint": Number, "smallint": Number, "numeric(12,2)": Number, "numeric": Number,
		"double precision": Number, "real": Number, "text": String, "character varying(20)": String,
		"character(3)": String, "timestamp without time zone": Time, "timestamp(3) with time zone": Time,
		"date": Time, "boolean": Boolean, "uuid": Other, "jsonb": Other, "interval": Other,
		"time without time zone": Other, "integer[]": Other, "bytea": Other, "mood": Other, `"char"`: Other,
		// DuckDB
		"INTEGER": Number, "DECIMAL(10,2)": Number, "HUGEINT": Number, "UBIGINT": Number, "DOUBLE": Number,
		"VARCHAR": String, "TIMESTAMP": Time, "TIMESTAMP WITH TIME ZONE": Time, "TIMESTAMP_NS": Time,
		"BOOLEAN": Boolean, "INTEGER[]": Other, "STRUCT(a INTEGER)": Other, "BLOB": Other, "TIME": Other,
		// MySQL / MariaDB (COLUMN_TYPE)
		"int(11)": Number, "int(10) unsigned": Number, "bigint(20) unsigned zerofill": Number,
		"decimal(10,2)": Number, "tinyint(1)": Boolean, "tinyint(4)": Number, "varchar(255)": String,
		"enum('a','b')": String, "datetime": Time, "datetime(6)": Time, "longtext": String, "json": Other,
		"year(4)": Number, "bit(1)": Other,
		// ClickHouse
		"Int32": Number, "UInt64": Number, "Float64": Number, "Decimal(10, 2)": Number,
		"Nullable(Decimal(10, 2))": Number, "LowCardinality(String)": String,
		"LowCardinality(Nullable(String))": String, "DateTime64(3, 'UTC')": Time, "Nullable(DateTime)": Time,
		"Date32": Time, "Bool": Boolean, "Array(String)": Other, "Enum8('a' = 1)": Other, "UUID": Other,
		"FixedString(3)": String,
	} {
		if got := TypeOf(declared); got != want {
			t.Errorf("TypeOf(%q) = %s, want %s", declared, got, want)
		}
	}
}

func TestIdent(t *testing.T) {
	for in, want := range map[string]string{
		"orders":            "orders",
		"OrderDate":         "order_date",
		"orderDate":         "order_date",
		"HTTPStatus":        "http_status",
		"customerID":        "customer_id",
		"Order Lines":       "order_lines",
		"2nd address":       "column_2nd_address",
		"__weird__ name!!":  "weird_name",
		"café":              "caf",
		"":                  "column",
		"???":               "column",
		"dim10":             "dim10",
		"already_snake_123": "already_snake_123",
	} {
		if got := Ident(in, "column"); got != want {
			t.Errorf("Ident(%q) = %q, want %q", in, got, want)
		}
	}
}

// shop is a schema with what the generator must handle: keys, joins
// (composite, to itself, twice to one table, to a table not generated),
// names to normalize and to de-duplicate, types of every kind.
func shop() []Table {
	return []Table{
		{Schema: "shop", Name: "Customers", PrimaryKey: []string{"CustomerID"}, Columns: []Column{
			{"CustomerID", "integer"}, {"FirstName", "text"}, {"SignupDate", "timestamp without time zone"},
			{"LifetimeValue", "numeric(12,2)"}, {"is_active", "boolean"}, {"count", "integer"},
			{"total_lifetime_value", "numeric"}, {"first_name", "varchar(20)"}, {"prefs", "jsonb"},
		}},
		{Schema: "shop", Name: "order", PrimaryKey: []string{"id"}, Columns: []Column{
			{"id", "bigint"}, {"customer_id", "integer"}, {"billing_customer_id", "integer"}, {"amount", "numeric(10,2)"},
			{"quantity", "integer"}, {"status", "character varying(20)"}, {"created_at", "timestamp with time zone"},
			{"warehouse_id", "integer"}, {"ref", "uuid"},
		}, ForeignKeys: []ForeignKey{
			{Columns: []string{"customer_id"}, RefSchema: "shop", RefTable: "Customers", RefColumns: []string{"CustomerID"}},
			{Columns: []string{"billing_customer_id"}, RefSchema: "shop", RefTable: "Customers", RefColumns: []string{"CustomerID"}},
			{Columns: []string{"warehouse_id"}, RefSchema: "stock", RefTable: "warehouses", RefColumns: []string{"id"}},
		}},
		{Schema: "shop", Name: "order_lines", PrimaryKey: []string{"order_id", "line_no"}, Columns: []Column{
			{"order_id", "bigint"}, {"line_no", "integer"}, {"price", "numeric(10,2)"}, {"discount", "real"},
		}, ForeignKeys: []ForeignKey{
			{Columns: []string{"order_id"}, RefSchema: "shop", RefTable: "order", RefColumns: []string{"id"}},
		}},
		{Schema: "shop", Name: "line_notes", Columns: []Column{
			{"order_id", "bigint"}, {"line_no", "integer"}, {"note", "text"},
		}, ForeignKeys: []ForeignKey{
			{Columns: []string{"order_id", "line_no"}, RefSchema: "shop", RefTable: "order_lines", RefColumns: []string{"order_id", "line_no"}},
		}},
		{Schema: "shop", Name: "employees", PrimaryKey: []string{"id"}, Columns: []Column{
			{"id", "integer"}, {"manager_id", "integer"}, {"salary", "double precision"},
		}, ForeignKeys: []ForeignKey{
			{Columns: []string{"manager_id"}, RefSchema: "shop", RefTable: "employees", RefColumns: []string{"id"}},
		}},
		// The same table name in two schemas: both cubes get the schema.
		{Schema: "shop", Name: "events", Columns: []Column{{"at", "date"}}},
		{Schema: "archive", Name: "events", Columns: []Column{{"at", "date"}}},
	}
}

func TestGenerateGolden(t *testing.T) {
	for _, dialect := range []string{"postgres", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			files, err := Generate(shop(), Options{Dialect: dialect, Source: "postgres://me@db.example:5432/shop"})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", dialect)
			if *rewrite {
				os.RemoveAll(dir)
			}
			seen := map[string]bool{}
			for _, f := range files {
				if seen[f.Path] {
					t.Fatalf("two files at %s", f.Path)
				}
				seen[f.Path] = true
				p := filepath.Join(dir, filepath.FromSlash(f.Path))
				if *rewrite {
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%v (go test -rewrite writes it)", err)
				}
				if string(want) != string(f.Data) {
					t.Errorf("%s differs from the golden file (go test -rewrite rewrites it):\n%s", p, f.Data)
				}
			}
			// The golden model loads and validates as the gateway would
			// load it.
			m, err := cubes.LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Cubes) != len(shop()) {
				t.Fatalf("%d cubes: %v", len(m.Cubes), m.CubeNames())
			}
		})
	}
}

// What the golden files show, said as assertions.
func TestGenerateModel(t *testing.T) {
	files, err := Generate(shop(), Options{Dialect: "postgres", Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, f.Data, 0o644)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cube := func(name string) *cubes.Cube {
		c, ok := m.Cube(name)
		if !ok {
			t.Fatalf("no cube %s in %v", name, m.CubeNames())
		}
		return c
	}
	members := func(c *cubes.Cube) (dims, measures []string) {
		for _, d := range c.Dimensions {
			dims = append(dims, d.Name+":"+string(d.Type))
		}
		for _, ms := range c.Measures {
			measures = append(measures, ms.Name+":"+string(ms.Type))
		}
		return
	}

	customers := cube("customers")
	if c := cube("customers"); c.SQLTable != `shop."Customers"` {
		t.Errorf("sql_table %s", c.SQLTable)
	}
	dims, measures := members(customers)
	// Names are snake_case and unique: count is the measure's, a column
	// named like a generated name gives way.
	if got := strings.Join(dims, " "); got != "customer_id:number first_name:string signup_date:time lifetime_value:number is_active:boolean count_2:number total_lifetime_value:number first_name_2:string prefs:string" {
		t.Errorf("customers' dimensions: %s", got)
	}
	if got := strings.Join(measures, " "); got != "count:count total_lifetime_value_2:sum avg_lifetime_value:avg total_count:sum avg_count:avg total_total_lifetime_value:sum avg_total_lifetime_value:avg" {
		t.Errorf("customers' measures: %s", got)
	}
	if pk := customers.PrimaryKey(); pk == nil || pk.Name != "customer_id" {
		t.Errorf("customers' primary key: %v", pk)
	}

	order := cube("order")
	_, measures = members(order)
	// No sum of a key, a foreign key or an id-named column.
	if got := strings.Join(measures, " "); got != "count:count total_amount:sum avg_amount:avg total_quantity:sum avg_quantity:avg" {
		t.Errorf("order's measures: %s", got)
	}
	if len(order.Joins) != 1 || order.Joins[0].Name != "customers" || order.Joins[0].SQL != `{CUBE}.customer_id = {customers}."CustomerID"` {
		t.Errorf("order's joins: %+v", order.Joins)
	}

	lines := cube("order_lines")
	if pk := lines.PrimaryKey(); pk == nil || pk.Name != "composite_key" || pk.SQL != `CAST({CUBE}.order_id AS TEXT) || '|' || CAST({CUBE}.line_no AS TEXT)` {
		t.Errorf("order_lines' primary key: %+v", pk)
	}
	if notes := cube("line_notes"); len(notes.Joins) != 1 || notes.Joins[0].SQL != "{CUBE}.order_id = {order_lines}.order_id AND {CUBE}.line_no = {order_lines}.line_no" {
		t.Errorf("line_notes' joins: %+v", notes.Joins)
	}
	if e := cube("employees"); len(e.Joins) != 0 {
		t.Errorf("employees joins itself: %+v", e.Joins)
	}
	cube("shop_events")
	cube("archive_events")
}

func TestGenerateErrors(t *testing.T) {
	for name, c := range map[string]struct {
		tables  []Table
		dialect string
		want    string
	}{
		"dialect":    {shop(), "nosuch", "unknown dialect"},
		"no columns": {[]Table{{Schema: "s", Name: "t"}}, "postgres", "no columns"},
		"twice":      {[]Table{{Schema: "s", Name: "t", Columns: []Column{{"a", "int"}}}, {Schema: "s", Name: "t", Columns: []Column{{"a", "int"}}}}, "postgres", "given twice"},
		"bad key":    {[]Table{{Schema: "s", Name: "t", Columns: []Column{{"a", "int"}}, PrimaryKey: []string{"b"}}}, "postgres", "not a column"},
	} {
		_, err := Generate(c.tables, Options{Dialect: c.dialect})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestYAMLString(t *testing.T) {
	for in, want := range map[string]string{
		"public.orders":    "public.orders",
		"true":             `"true"`,
		"{CUBE}.id":        `"{CUBE}.id"`,
		`{CUBE}."Id"`:      `'{CUBE}."Id"'`,
		`it's "x"`:         `'it''s "x"'`,
		"a\nb":             `"a\nb"`,
		"shop.`Customers`": "\"shop.`Customers`\"",
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
}
