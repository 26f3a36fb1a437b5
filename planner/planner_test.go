package planner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/warehouse"
)

func testSession(t testing.TB) *Session {
	t.Helper()
	// Scope sql: EXPLAIN (and the golden plans) print the warehouse SQL.
	s, _ := newTestSession(t, "../testdata/oracle/model", Options{}, auth.Principal{Database: "db", Scopes: []string{"sql"}})
	return s
}

// newTestSession is a session over the model in dir on an empty
// in-memory DuckDB, with opts and principal.
func newTestSession(t testing.TB, dir string, opts Options, principal any) (*Session, *cubes.Model) {
	t.Helper()
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := warehouse.Open(context.Background(), "duckdb::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	h, err := NewHandler(m, wh, zerolog.Nop(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.NewSession(context.Background(), pgwire.SessionInfo{User: "cg_test", Database: "db", Principal: principal})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Session), m
}

func bind(t testing.TB, s *Session, sql string) (pgwire.Portal, error) {
	t.Helper()
	stmts, err := s.Parse(context.Background(), sql)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		t.Fatalf("%d statements", len(stmts))
	}
	return stmts[0].Bind(context.Background())
}

// Each statement binds to the semantic query Cube's SQL API would send,
// with output columns named and typed as Postgres would show them.
func TestBinding(t *testing.T) {
	s := testSession(t)
	cases := []struct {
		sql, query, cols string
	}{
		{`SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`,
			`{"measures":["orders.count"],"dimensions":["orders.status"],"order":[{"id":"orders.status","desc":false}]}`,
			"status:25 measure:20"},
		{`SELECT SUM("orders"."count") AS n, orders.channel FROM public.orders GROUP BY channel`,
			`{"measures":["orders.count"],"dimensions":["orders.channel"],"order":[]}`,
			"n:20 channel:25"},
		{`SELECT count(*) FROM Orders`,
			`{"measures":["orders.count"],"order":[]}`, "count:20"},
		{`SELECT o.status, sum(o.total_amount), avg(o.avg_amount), max(o.last_order_at), count(distinct o.unique_customers) FROM orders o GROUP BY o.status ORDER BY 2 DESC LIMIT 3 OFFSET 1`,
			`{"measures":["orders.total_amount","orders.avg_amount","orders.last_order_at","orders.unique_customers"],"dimensions":["orders.status"],"order":[{"id":"orders.total_amount","desc":true}],"limit":3,"offset":1}`,
			"status:25 sum:1700 avg:1700 max:1114 count:20"},
		{`SELECT date_trunc('month', CAST(created_at AS timestamp)) AS m, MEASURE(count) FROM orders GROUP BY 1`,
			`{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}],"order":[]}`,
			"m:1114 measure:20"},
		{`SELECT status, MEASURE(count) FROM orders WHERE channel = 'web' AND amount > 10.5 AND status IN ('a', 'b') AND is_gift IS NOT NULL AND completed GROUP BY 1`,
			`{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.channel","operator":"equals","values":["web"]},{"member":"orders.amount","operator":"gt","values":["10.5"]},{"member":"orders.status","operator":"equals","values":["a","b"]},{"member":"orders.is_gift","operator":"set"}],"segments":["orders.completed"],"order":[]}`,
			"status:25 measure:20"},
		{`SELECT status, MEASURE(count) FROM orders WHERE 5 <= quantity OR channel <> 'web' GROUP BY 1`,
			`{"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"or":[{"member":"orders.quantity","operator":"gte","values":["5"]},{"and":[{"member":"orders.channel","operator":"notEquals","values":["web"]},{"member":"orders.channel","operator":"set"}]}]}],"order":[]}`,
			"status:25 measure:20"},
		{`SELECT channel, MEASURE(count) FROM orders WHERE created_at BETWEEN '2023-01-01' AND '2023-12-31' AND status ILIKE '%ship%' GROUP BY 1 HAVING MEASURE(count) > 100`,
			`{"measures":["orders.count"],"dimensions":["orders.channel"],"filters":[{"and":[{"member":"orders.created_at","operator":"gte","values":["2023-01-01"]},{"member":"orders.created_at","operator":"lte","values":["2023-12-31"]}]},{"member":"orders.status","operator":"contains","values":["ship"]},{"member":"orders.count","operator":"gt","values":["100"]}],"order":[]}`,
			"channel:25 measure:20"},
		{`SELECT customers_tier, MEASURE(total_amount) FROM sales GROUP BY 1`,
			`{"measures":["sales.total_amount"],"dimensions":["sales.customers_tier"],"order":[]}`,
			"customers_tier:25 measure:1700"},
		{`SELECT status, amount FROM orders WHERE id <= 3 ORDER BY id LIMIT 3`,
			`{"dimensions":["orders.status","orders.amount","orders.id"],"filters":[{"member":"orders.id","operator":"lte","values":["3"]}],"order":[{"id":"orders.id","desc":false}],"limit":3,"ungrouped":true}`,
			"status:25 amount:1700"},
		{`SELECT DISTINCT channel FROM orders`,
			`{"dimensions":["orders.channel"],"order":[]}`,
			"channel:25"},
		{`SELECT c.tier, MEASURE(o.count) FROM orders o CROSS JOIN customers c GROUP BY 1`,
			`{"measures":["orders.count"],"dimensions":["customers.tier"],"order":[]}`,
			"tier:25 measure:20"},
		{`SELECT p.category, SUM(o.total_amount) FROM orders o LEFT JOIN products p ON o.__cubeJoinField = p.__cubeJoinField GROUP BY 1`,
			`{"measures":["orders.total_amount"],"dimensions":["products.category"],"order":[]}`,
			"category:25 sum:1700"},
		{`SELECT tier, MEASURE(total_amount) FROM orders, customers GROUP BY 1`,
			`{"measures":["orders.total_amount"],"dimensions":["customers.tier"],"order":[]}`,
			"tier:25 measure:1700"},
		{`SELECT country FROM customers GROUP BY 1 ORDER BY country DESC`,
			`{"dimensions":["customers.country"],"order":[{"id":"customers.country","desc":true}]}`,
			"country:25"},
	}
	for _, c := range cases {
		p, err := bind(t, s, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		cp := p.(*cubePortal)
		got, _ := json.Marshal(cp.query)
		if string(got) != c.query {
			t.Errorf("%s\n got: %s\nwant: %s", c.sql, got, c.query)
		}
		var cols []string
		for _, col := range p.Columns() {
			cols = append(cols, col.Name+":"+itoa(col.TypeOID))
		}
		if strings.Join(cols, " ") != c.cols {
			t.Errorf("%s: columns %v, want %s", c.sql, cols, c.cols)
		}
	}
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Every rejection carries the right SQLSTATE and points at the construct.
func TestBindingErrors(t *testing.T) {
	s := testSession(t)
	cases := []struct {
		sql, code string
		pos       int32
		msg       string
	}{
		{`SELEC 1`, "42601", 1, `syntax error at or near "SELEC"`},
		{`SELECT status FROM orders WHERE`, "42601", 32, "syntax error at end of input"},
		{`SELECT x FROM nope`, "42P01", 15, `relation "nope" does not exist`},
		{`SELECT nope, MEASURE(count) FROM orders GROUP BY 1`, "42703", 8, `column "nope" does not exist`},
		{`SELECT status, MEASURE(count) FROM orders`, "42803", 8, `column "status" must appear in the GROUP BY clause`},
		{`SELECT status, count FROM orders GROUP BY 1`, "42803", 16, `column "count" must appear in the GROUP BY clause`},
		{`SELECT AVG(count) FROM orders`, "42803", 8, `measure "count" is of type count and cannot be aggregated with AVG()`},
		{`SELECT SUM(status) FROM orders`, "42803", 8, "is a dimension"},
		{`SELECT MEASURE(count) FROM orders o JOIN customers c ON true`, "42702", 16, `column reference "count" is ambiguous`},
		{`SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.tier GROUP BY 1`, "0A000", 0, "__cubeJoinField"},
		{`SELECT x.tier FROM orders o CROSS JOIN customers c`, "42P01", 8, `missing FROM-clause entry for table "x"`},
		{`SELECT 1 FROM orders o FULL JOIN customers c ON true`, "0A000", 0, "only INNER, LEFT and CROSS"},
		{`SELECT MEASURE(count) FROM orders LIMIT -1`, "2201W", 0, "LIMIT must not be negative"},
		{`SELECT MEASURE(count) FROM orders WHERE amount > 'abc'`, "22P02", 0, "invalid value"},
		{`SELECT date_trunc('fortnight', created_at), MEASURE(count) FROM orders GROUP BY 1`, "22023", 19, "not recognized"},
		{`CREATE TABLE t (a int)`, "25006", 0, "CREATE TABLE in a read-only transaction"},
		{`SELECT MEASURE(count) FROM pg_catalog.pg_class`, "42883", 8, "measure"},
		{`SELECT count(*) FROM pg_class JOIN orders ON true`, "0A000", 0, "catalog relations"},
		{`SHOW nonsense`, "42704", 0, "unrecognized configuration parameter"},
	}
	for _, c := range cases {
		_, err := bind(t, s, c.sql)
		if err == nil {
			t.Errorf("%s: bound", c.sql)
			continue
		}
		pe := pgerr.From(err)
		if pe.Code != c.code || !strings.Contains(pe.Message, c.msg) || (c.pos != 0 && pe.Position != c.pos) {
			t.Errorf("%s:\n got %s at %d: %s\nwant %s at %d: …%s…", c.sql, pe.Code, pe.Position, pe.Message, c.code, c.pos, c.msg)
		}
	}
}

func TestSessionStatements(t *testing.T) {
	s := testSession(t)
	ctx := context.Background()
	rows := func(sql string) ([]pgwire.Column, [][]any) {
		t.Helper()
		p, err := bind(t, s, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var out [][]any
		for {
			r, err := p.Next(ctx)
			if err != nil {
				break
			}
			out = append(out, append([]any(nil), r...))
		}
		return p.Columns(), out
	}
	cols, r := rows(`SELECT version(), current_user, current_database(), 1, 'a'::text AS t`)
	if len(r) != 1 || !strings.HasPrefix(r[0][0].(string), "PostgreSQL 15") || r[0][1] != "cg_test" || r[0][2] != "db" || fmt.Sprint(r[0][3]) != "1" || cols[3].TypeOID != 23 {
		t.Fatalf("constants: %v", r)
	}
	if cols[0].Name != "version" || cols[1].Name != "current_user" || cols[3].Name != "?column?" || cols[4].Name != "t" {
		t.Fatalf("names: %+v", cols)
	}
	// Unnamed columns are named as PostgreSQL's FigureColname does.
	if cols, _ := rows(`SELECT user, current_role, session_user, current_catalog, 1::int8, $$x$$::text`); cols[0].Name != "user" || cols[1].Name != "current_role" ||
		cols[2].Name != "session_user" || cols[3].Name != "current_catalog" || cols[4].Name != "int8" || cols[5].Name != "text" {
		t.Fatalf("names: %+v", cols)
	}
	rows(`SET application_name = 'x'`)
	if _, r := rows(`SHOW application_name`); r[0][0] != "x" {
		t.Fatalf("SHOW after SET: %v", r)
	}
	rows(`BEGIN`)
	if s.TxStatus() != 'T' {
		t.Fatal("BEGIN")
	}
	rows(`COMMIT`)
	if s.TxStatus() != 'I' {
		t.Fatal("COMMIT")
	}
	stmts, err := s.Parse(ctx, `SELECT 1; SELECT 2;`)
	if err != nil || len(stmts) != 2 {
		t.Fatalf("multi-statement: %d %v", len(stmts), err)
	}
}

func TestExplain(t *testing.T) {
	s := testSession(t)
	ctx := context.Background()
	p, err := bind(t, s, `EXPLAIN VERBOSE SELECT status, MEASURE(count) AS n FROM orders WHERE channel = 'web' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		r, err := p.Next(ctx)
		if err != nil {
			break
		}
		lines = append(lines, r[0].(string))
	}
	got := strings.Join(lines, "\n")
	want := `Route: cube query (one cube query over orders)
Cube query: {"measures":["orders.count"],"dimensions":["orders.status"],"filters":[{"member":"orders.channel","operator":"equals","values":["web"]}],"order":[]}
Warehouse SQL (duckdb):
  SELECT "orders".status "orders__status", count("orders".id) "orders__count" FROM public.orders_raw AS "orders" WHERE "orders".channel = $1 GROUP BY 1
  parameter $1 = 'web'
Output columns:
  status ← orders.status
  n ← orders.count`
	if got != want || p.Columns()[0].Name != "QUERY PLAN" {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := bind(t, s, `EXPLAIN ANALYZE SELECT MEASURE(count) FROM orders`); pgerr.Code(err) != "0A000" {
		t.Fatalf("EXPLAIN ANALYZE: %v", err)
	}
	// EXPLAIN EXECUTE explains the prepared statement with its values.
	prep, err := bind(t, s, `PREPARE ex(text) AS SELECT status, MEASURE(count) FROM orders WHERE channel = $1 GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	prep.Next(ctx)
	prep.Close()
	p, err = bind(t, s, `EXPLAIN EXECUTE ex('shop')`)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for {
		r, err := p.Next(ctx)
		if err != nil {
			break
		}
		text = append(text, r[0].(string))
	}
	if len(text) < 2 || text[0] != "Route: cube query (one cube query over orders)" || !strings.Contains(strings.Join(text, "\n"), "parameter $1 = 'shop'") {
		t.Fatalf("EXPLAIN EXECUTE:\n%s", strings.Join(text, "\n"))
	}
	// EXPLAIN DECLARE explains the cursor's query; nothing is declared.
	p, err = bind(t, s, `EXPLAIN DECLARE c CURSOR FOR SELECT status, MEASURE(count) FROM orders GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	text = nil
	for {
		r, err := p.Next(ctx)
		if err != nil {
			break
		}
		text = append(text, r[0].(string))
	}
	if len(text) < 4 || text[0] != "Route: cursor (DECLARE c)" || !strings.HasPrefix(text[1], "Cursor c:") || text[2] != "  Route: cube query (one cube query over orders)" {
		t.Fatalf("EXPLAIN DECLARE:\n%s", strings.Join(text, "\n"))
	}
	if _, err := bind(t, s, `FETCH 1 FROM c`); pgerr.Code(err) != "34000" {
		t.Fatalf("EXPLAIN DECLARE declared the cursor: %v", err)
	}
	if _, err := bind(t, s, `EXPLAIN CREATE TABLE x AS SELECT 1`); pgerr.Code(err) != "0A000" {
		t.Fatalf("EXPLAIN CREATE TABLE AS: %v, want 0A000", err)
	}
}
