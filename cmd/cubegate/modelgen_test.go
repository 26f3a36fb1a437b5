package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

// shopSQL adds tables with declared keys to a warehouse (PostgreSQL and
// DuckDB read it alike): a primary key on a quoted, camelCase table, a
// foreign key, a composite primary key, types without a Cube
// counterpart.
const shopSQL = `
CREATE SCHEMA shop;
CREATE TABLE shop."Customers" ("CustomerID" INTEGER PRIMARY KEY, "FirstName" VARCHAR(20), signup_date DATE, "count" INTEGER);
CREATE TABLE shop.orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES shop."Customers" ("CustomerID"),
  amount DECIMAL(10,2), placed_at TIMESTAMP, gift BOOLEAN, ref UUID, wait INTERVAL, at_time TIME);
CREATE TABLE shop.order_lines (order_id INTEGER REFERENCES shop.orders (id), line_no INTEGER, price DECIMAL(10,2),
  PRIMARY KEY (order_id, line_no));
INSERT INTO shop."Customers" VALUES (1, 'Ann', DATE '2024-01-02', 3), (2, 'Bob', NULL, NULL), (3, 'Cy', DATE '2024-03-04', 1);
INSERT INTO shop.orders VALUES
  (1, 1, 10.50, TIMESTAMP '2024-01-05 10:00:00', true, '00000000-0000-0000-0000-000000000001', INTERVAL '1 day', TIME '10:00:00'),
  (2, 1, 20.00, TIMESTAMP '2024-02-05 11:00:00', false, NULL, NULL, NULL),
  (3, 2, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO shop.order_lines VALUES (1, 1, 5.25), (1, 2, 5.25), (2, 1, 20.00);
`

// generate runs `cubegate model generate` with args and returns its
// output.
func generate(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"model", "generate"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// serveGenerated starts a gateway on dsn with the model in dir and, for
// each cube, runs SELECT count(*), MEASURE(count), every dimension and
// SELECT * … LIMIT 1 through it: the count must be the table's, counted
// on the warehouse directly.
func serveGenerated(t *testing.T, dsn, dir string) (*apptest.Gateway, map[string]int64) {
	t.Helper()
	g := apptest.Start(t, apptest.Options{DSN: dsn, ModelDir: dir})
	conn := apptest.Connect(t, g.ConnString(t, "modelgen"))
	ctx := context.Background()
	counts := map[string]int64{}
	for _, c := range g.Model.Cubes {
		var direct int64
		rows, err := g.Warehouse().Query(ctx, "SELECT count(*) FROM "+c.SQLTable)
		if err != nil {
			t.Fatalf("%s: %v", c.SQLTable, err)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			direct = v[0].(int64)
		}
		rows.Close()

		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM "`+c.Name+`"`).Scan(&n); err != nil {
			t.Errorf("SELECT count(*) FROM %s: %v", c.Name, err)
		} else if n != direct {
			t.Errorf("SELECT count(*) FROM %s = %d through the gateway, %d on the warehouse", c.Name, n, direct)
		}
		var m int64
		if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM "`+c.Name+`"`).Scan(&m); err != nil || m != direct {
			t.Errorf("SELECT MEASURE(count) FROM %s = %d, %v; want %d", c.Name, m, err, direct)
		}
		counts[c.Name] = direct

		// Every dimension by name (each generated sql runs), then *.
		var dims []string
		for _, d := range c.Dimensions {
			if d.Public {
				dims = append(dims, `"`+d.Name+`"`)
			}
		}
		queries := []string{`SELECT ` + strings.Join(dims, ", ") + ` FROM "` + c.Name + `" LIMIT 1`}
		if g.Warehouse().Dialect() != "clickhouse" {
			// Not on ClickHouse: SELECT * is pushed down there and fails
			// (code 70) on the demo model too — not the generator's.
			queries = append(queries, `SELECT * FROM "`+c.Name+`" LIMIT 1`)
		}
		for _, q := range queries {
			rows, err := conn.Query(ctx, q)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			got := 0
			for rows.Next() {
				if _, err := rows.Values(); err != nil {
					t.Errorf("%s: %v", q, err)
				}
				got++
			}
			if err := rows.Err(); err != nil {
				t.Errorf("%s: %v", q, err)
			} else if want := min(direct, 1); int64(got) != want {
				t.Errorf("%s: %d rows, want %d", q, got, want)
			}
		}
	}
	return g, counts
}

// checkShop checks the shop schema's cubes: keys, the join and a query
// across it.
func checkShop(t *testing.T, g *apptest.Gateway) {
	t.Helper()
	m := g.Model
	customers, ok := m.Cube("customers")
	if !ok {
		t.Fatalf("no cube customers: %v", m.CubeNames())
	}
	if pk := customers.PrimaryKey(); pk == nil || pk.Name != "customer_id" {
		t.Errorf("customers' primary key: %+v", pk)
	}
	orders, _ := m.Cube("orders")
	if orders == nil || len(orders.Joins) != 1 || orders.Joins[0].Name != "customers" || orders.Joins[0].Relationship != "many_to_one" {
		t.Fatalf("orders' joins: %+v", orders)
	}
	lines, _ := m.Cube("order_lines")
	if pk := lines.PrimaryKey(); lines == nil || pk == nil || pk.Name != "composite_key" {
		t.Errorf("order_lines' primary key: %+v", pk)
	}
	conn := apptest.Connect(t, g.ConnString(t, "shop"))
	rows, err := conn.Query(context.Background(), `SELECT c.first_name, MEASURE(o.count), MEASURE(o.total_amount)
FROM orders o JOIN customers c ON o.__cubeJoinField = c.__cubeJoinField GROUP BY 1 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name string
		var n int64
		var total *float64
		if err := rows.Scan(&name, &n, &total); err != nil {
			t.Fatal(err)
		}
		if total == nil {
			got = append(got, fmt.Sprintf("%s %d NULL", name, n))
		} else {
			got = append(got, fmt.Sprintf("%s %d %g", name, n, *total))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, "; "); s != "Ann 2 30.5; Bob 1 NULL" {
		t.Errorf("orders by customer: %s", s)
	}
	// A measure over the composite-keyed cube joined to orders.
	var sum float64
	if err := conn.QueryRow(context.Background(), `SELECT MEASURE(l.total_price) FROM order_lines l JOIN orders o ON l.__cubeJoinField = o.__cubeJoinField WHERE o.id = 1`).Scan(&sum); err != nil || sum != 10.5 {
		t.Errorf("lines of order 1: %v, %v", sum, err)
	}
}

// TestModelGenerateDuckDB (issue #19): on the demo warehouse plus tables
// with declared keys, the command writes a file per table that loads,
// validates and answers every cube's SELECT * and count(*) through a
// gateway; it refuses to overwrite without --force.
func TestModelGenerateDuckDB(t *testing.T) {
	dsn := apptest.DuckDB(t, apptest.Demo(1000))
	ctx := context.Background()
	w, err := warehouse.OpenDuckDB(ctx, strings.TrimPrefix(dsn, "duckdb://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().ExecContext(ctx, shopSQL); err != nil {
		t.Fatal(err)
	}
	w.Close()

	dir := filepath.Join(t.TempDir(), "my-model")
	out, errOut, err := generate(t, "--dsn", dsn, "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	want := []string{"customers.yml", "customers_raw.yml", "order_lines.yml", "orders.yml", "orders_raw.yml", "products_raw.yml"}
	entries, _ := os.ReadDir(filepath.Join(dir, "cubes"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v\n%s", names, want, out)
	}
	for _, n := range want {
		if !strings.Contains(out, filepath.Join(dir, "cubes", n)) {
			t.Errorf("the output does not name %s:\n%s", n, out)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "cubes", "orders_raw.yml"))
	for _, s := range []string{"# Generated by `cubegate model generate` from " + dsn, "sql_table: public.orders_raw",
		"- name: created_at\n        sql: \"{CUBE}.created_at\"\n        type: time", "- name: total_amount", "- name: avg_quantity"} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("orders_raw.yml lacks %q:\n%s", s, raw)
		}
	}
	// Key columns are not summed, by name when no key is declared.
	for _, s := range []string{"total_customer_id", "total_id", "avg_product_id"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("orders_raw.yml has %s", s)
		}
	}
	if _, err := cubes.LoadDir(dir); err != nil {
		t.Fatal(err)
	}

	// Again: nothing is overwritten, nothing written.
	edited := filepath.Join(dir, "cubes", "orders_raw.yml")
	os.WriteFile(edited, []byte("# mine\n"+string(raw)), 0o644)
	os.Remove(filepath.Join(dir, "cubes", "products_raw.yml"))
	_, _, err = generate(t, "--dsn", dsn, "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "not overwriting") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second run: %v", err)
	}
	if b, _ := os.ReadFile(edited); !strings.HasPrefix(string(b), "# mine\n") {
		t.Error("an existing file was overwritten without --force")
	}
	if _, err := os.Stat(filepath.Join(dir, "cubes", "products_raw.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused run wrote a file")
	}
	// --tables and --schema choose; --force overwrites.
	out, _, err = generate(t, "--dsn", dsn, "--out", dir, "--schema", "public", "--tables", "orders_raw,public.products_raw", "--force")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "wrote ") != 2 {
		t.Errorf("--tables orders_raw,public.products_raw:\n%s", out)
	}
	if b, _ := os.ReadFile(edited); string(b) != string(raw) {
		t.Error("--force did not overwrite")
	}
	if _, _, err := generate(t, "--dsn", dsn, "--out", dir, "--tables", "nosuch"); err == nil || !strings.Contains(err.Error(), `"nosuch" not found`) {
		t.Errorf("--tables nosuch: %v", err)
	}

	g, counts := serveGenerated(t, dsn, dir)
	if counts["orders_raw"] != 1000 || counts["orders"] != 3 || counts["order_lines"] != 3 {
		t.Errorf("counts %v", counts)
	}
	checkShop(t, g)
}

// A DuckDB file that is not there is an error, and is not created.
func TestModelGenerateMissingDuckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nosuch.duckdb")
	_, _, err := generate(t, "--dsn", "duckdb://"+path, "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no DuckDB database") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the command created the DuckDB file")
	}
}

// TestModelGeneratePostgres (issue #19): on the corpus kit's warehouse
// plus tables with declared keys, read through pg_catalog; the DSN's
// password is in no output and no file.
func TestModelGeneratePostgres(t *testing.T) {
	pg, dsn := apptest.Postgres(t, apptest.Corpus)
	pg.Psql("wh", "-c", shopSQL)
	const secret = "s3cret-Pa55"
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword(u.User.Username(), secret) // trust: accepted, unused
	withPassword := u.String()

	dir := t.TempDir()
	out, errOut, err := generate(t, "--dsn", withPassword, "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("the password is printed:\n%s%s", out, errOut)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); d != nil && !d.IsDir() && bytes.Contains(b, []byte(secret)) {
			t.Errorf("the password is in %s", p)
		}
		return nil
	})
	// An unreachable warehouse's error names no password either.
	bad := *u
	bad.Host = "127.0.0.1:1"
	if _, _, err := generate(t, "--dsn", bad.String(), "--out", t.TempDir()); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("unreachable: %v", err)
	}

	g, counts := serveGenerated(t, dsn, dir)
	// The corpus kit's tables (schema warehouse) and the shop's.
	if counts["kibana_sample_data_ecommerce"] != 500 || counts["logs"] != 200 || counts["orders"] != 3 {
		t.Errorf("counts %v", counts)
	}
	if len(counts) < 8 {
		t.Errorf("%d cubes: %v", len(counts), g.Model.CubeNames())
	}
	checkShop(t, g)
}

// TestModelGenerateMariaDB: the demo data on MariaDB plus tables with
// declared keys, read through information_schema; the password comes
// from $CUBEGATE_WAREHOUSE_PASSWORD and is printed nowhere.
func TestModelGenerateMariaDB(t *testing.T) {
	srv, dsn := apptest.MariaDB(t, apptest.Demo(500))
	srv.Exec(t,
		"CREATE TABLE public.`Customers` (`CustomerID` INT PRIMARY KEY, `FirstName` VARCHAR(20), signup_date DATE, `count` INT) ENGINE=InnoDB",
		"CREATE TABLE public.orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2), placed_at DATETIME, gift BOOLEAN,"+
			" FOREIGN KEY (customer_id) REFERENCES public.`Customers` (`CustomerID`)) ENGINE=InnoDB",
		"CREATE TABLE public.order_lines (order_id INT, line_no INT, price DECIMAL(10,2), PRIMARY KEY (order_id, line_no),"+
			" FOREIGN KEY (order_id) REFERENCES public.orders (id)) ENGINE=InnoDB",
		"INSERT INTO public.`Customers` VALUES (1, 'Ann', '2024-01-02', 3), (2, 'Bob', NULL, NULL), (3, 'Cy', '2024-03-04', 1)",
		"INSERT INTO public.orders VALUES (1, 1, 10.50, '2024-01-05 10:00:00', true), (2, 1, 20.00, '2024-02-05 11:00:00', false), (3, 2, NULL, NULL, NULL)",
		"INSERT INTO public.order_lines VALUES (1, 1, 5.25), (1, 2, 5.25), (2, 1, 20.00)",
	)
	u, _ := url.Parse(dsn)
	password, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	t.Setenv(warehouse.PasswordEnv, password)

	dir := t.TempDir()
	out, errOut, err := generate(t, "--dsn", u.String(), "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Fatalf("the password is printed:\n%s%s", out, errOut)
	}
	g, counts := serveGenerated(t, dsn, dir)
	if counts["orders_raw"] != 500 || counts["orders"] != 3 {
		t.Errorf("counts %v", counts)
	}
	checkShop(t, g)
}

// TestModelGenerateClickHouse: the demo data on ClickHouse, read through
// system.columns (no keys: ClickHouse's primary key is a sorting key).
func TestModelGenerateClickHouse(t *testing.T) {
	_, dsn := apptest.ClickHouse(t, apptest.Demo(500))
	dir := t.TempDir()
	out, errOut, err := generate(t, "--dsn", dsn, "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if strings.Count(out, "wrote ") != 3 {
		t.Errorf("output:\n%s", out)
	}
	_, counts := serveGenerated(t, dsn, dir)
	if counts["orders_raw"] != 500 || len(counts) != 3 {
		t.Errorf("counts %v", counts)
	}
}

// The files' header and the output name the warehouse without any
// password, wherever the DSN holds it.
func TestDescribeWarehouse(t *testing.T) {
	for dsn, want := range map[string]string{
		"duckdb:///data/w.duckdb":                       "duckdb:///data/w.duckdb",
		"duckdb::memory:":                               "duckdb::memory:",
		"postgres://me:pw@db:5432/shop?sslmode=disable": "postgres://me@db:5432/shop?sslmode=disable",
		"postgres://me:12/pw@db/shop":                   "postgres://me@db/shop",
		"postgres://me:p#w @db/shop":                    "postgres://me@db/shop",
		"mysql://me@db:3306/shop?password=pw&tls=true":  "mysql://me@db:3306/shop?tls=true",
		"host=db user=me password=pw dbname=shop":       "host=db user=me password=*** dbname=shop",
	} {
		if got := describeWarehouse(dsn); got != want {
			t.Errorf("describeWarehouse(%q) = %q, want %q", dsn, got, want)
		}
	}
}
