package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

const e2eOrders = 20000

// viaGateway runs sql through the gateway and returns the text cells.
func viaGateway(t *testing.T, conn *pgx.Conn, sql string) [][]string {
	t.Helper()
	res, err := conn.PgConn().Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]string
	for _, r := range res[0].Rows {
		row := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out
}

// direct runs sql on the warehouse itself.
func direct(t *testing.T, g *apptest.Gateway, sql string) [][]string {
	t.Helper()
	rows, err := g.Warehouse().Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("direct %s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = cell(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case pgtype.Numeric:
		r := new(big.Rat).SetInt(x.Int)
		if x.Exp < 0 {
			r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-x.Exp)), nil)))
		} else {
			r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Exp)), nil)))
		}
		return r.RatString()
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	case bool:
		if x {
			return "t" // as Postgres spells it in text
		}
		return "f"
	}
	return fmt.Sprint(v)
}

// sameCells compares results cell by cell, numbers numerically.
func sameCells(t *testing.T, what string, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		for j := range got[i] {
			a, b := got[i][j], want[i][j]
			ra, okA := new(big.Rat).SetString(a)
			rb, okB := new(big.Rat).SetString(b)
			if okA && okB {
				if ra.Cmp(rb) != 0 {
					t.Fatalf("%s: row %d col %d = %s, want %s", what, i, j, a, b)
				}
				continue
			}
			if a != b {
				t.Fatalf("%s: row %d col %d = %q, want %q", what, i, j, a, b)
			}
		}
	}
}

// comparisons pair a statement through the gateway with the same question
// asked of the warehouse directly.
var comparisons = []struct{ name, gateway, direct string }{
	{"count by status",
		`SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`,
		`SELECT status, count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1`},
	{"sums by channel",
		`SELECT channel, SUM(total_amount), MEASURE(total_quantity), MEASURE(unique_customers) FROM orders GROUP BY channel ORDER BY channel`,
		`SELECT channel, sum(amount), sum(quantity), count(DISTINCT customer_id) FROM public.orders_raw GROUP BY 1 ORDER BY 1`},
	{"filters",
		`SELECT status, COUNT(*) FROM orders WHERE amount >= 500 AND channel IN ('web', 'store') AND is_gift = false GROUP BY 1 ORDER BY 2 DESC, 1`,
		`SELECT status, count(*) FROM public.orders_raw WHERE amount >= 500 AND channel IN ('web', 'store') AND NOT is_gift GROUP BY 1 ORDER BY 2 DESC, 1`},
	{"month",
		`SELECT date_trunc('month', created_at), MEASURE(count) FROM orders WHERE created_at < '2022-07-01' GROUP BY 1 ORDER BY 1`,
		`SELECT date_trunc('month', created_at), count(*) FROM public.orders_raw WHERE created_at < TIMESTAMP '2022-07-01' GROUP BY 1 ORDER BY 1`},
	{"null filter and segment",
		`SELECT tier, MEASURE(count) FROM customers WHERE city IS NOT NULL AND vip GROUP BY 1 ORDER BY 1`,
		`SELECT tier, count(*) FROM public.customers_raw WHERE city IS NOT NULL AND tier IN ('gold', 'platinum') GROUP BY 1 ORDER BY 1`},
	{"null filter",
		`SELECT tier, MEASURE(count) FROM customers WHERE city IS NULL GROUP BY 1 ORDER BY 1`,
		`SELECT tier, count(*) FROM public.customers_raw WHERE city IS NULL GROUP BY 1 ORDER BY 1`},
	{"row-level rows",
		`SELECT id, status, amount, created_at, is_gift FROM orders WHERE amount > 900 ORDER BY id LIMIT 5`,
		`SELECT id, status, amount, created_at, is_gift FROM public.orders_raw WHERE amount > 900 ORDER BY id LIMIT 5`},
	{"select star",
		`SELECT * FROM products ORDER BY id LIMIT 3`,
		`SELECT 1, price, id, name, category, price, NULL, NULL FROM public.products_raw ORDER BY id LIMIT 3`},
	{"distinct dimension",
		`SELECT DISTINCT channel FROM orders ORDER BY 1`,
		`SELECT DISTINCT channel FROM public.orders_raw ORDER BY 1`},
	{"NOT pushed down with SQL's NULL semantics",
		`SELECT city, MEASURE(count) FROM customers WHERE NOT (city = 'Paris' OR tier IN ('gold', 'silver') OR id BETWEEN 10 AND 500) AND NOT city IS NULL GROUP BY 1 ORDER BY 1`,
		`SELECT city, count(*) FROM public.customers_raw WHERE NOT (city = 'Paris' OR tier IN ('gold', 'silver') OR id BETWEEN 10 AND 500) AND NOT city IS NULL GROUP BY 1 ORDER BY 1`},
	{"NOT keeps NULLs out as SQL does",
		`SELECT MEASURE(count) FROM customers WHERE NOT (city <> 'Paris')`,
		`SELECT count(*) FROM public.customers_raw WHERE NOT (city <> 'Paris')`},
	{"cubes joined in SQL",
		`SELECT c.tier, p.category, MEASURE(o.count), SUM(o.total_amount) FROM orders o
		   JOIN customers c ON o.__cubeJoinField = c.__cubeJoinField CROSS JOIN products p GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT c.tier, p.category, count(*), sum(o.amount) FROM public.orders_raw o LEFT JOIN public.customers_raw c ON o.customer_id = c.id
		   LEFT JOIN public.products_raw p ON o.product_id = p.id GROUP BY 1, 2 ORDER BY 1, 2`},
	{"view over a join",
		`SELECT customers_tier, MEASURE(count) FROM sales GROUP BY 1 ORDER BY 1`,
		`SELECT c.tier, count(*) FROM public.orders_raw o LEFT JOIN public.customers_raw c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`},
}

func checkGateway(t *testing.T, g *apptest.Gateway) {
	ctx := context.Background()
	_, pw, connStr, err := g.MintCredential(ctx, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	conn := apptest.Connect(t, connStr)

	t.Run("pgx", func(t *testing.T) {
		for _, c := range comparisons {
			sameCells(t, c.name, viaGateway(t, conn, c.gateway), direct(t, g, c.direct))
		}
		var total int64
		for _, r := range viaGateway(t, conn, comparisons[0].gateway) {
			var n int64
			fmt.Sscan(r[1], &n)
			total += n
		}
		if total != e2eOrders {
			t.Fatalf("counts add up to %d, want %d", total, e2eOrders)
		}
	})

	t.Run("psql", func(t *testing.T) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Fatal("psql is not installed (make deps installs postgresql-client)")
		}
		for _, c := range comparisons {
			out, err := exec.Command(psql, connStr, "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", c.gateway).CombinedOutput()
			if err != nil {
				t.Fatalf("psql %s: %v\n%s", c.name, err, out)
			}
			var got [][]string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line == "" {
					continue
				}
				cells := strings.Split(line, "|")
				for i := range cells {
					if cells[i] == "" {
						cells[i] = "NULL"
					}
				}
				got = append(got, cells)
			}
			sameCells(t, "psql "+c.name, got, direct(t, g, c.direct))
		}
		// A wrong password is refused by psql too, with the Postgres message.
		wrong := "x"
		if strings.HasSuffix(pw, wrong) {
			wrong = "y"
		}
		bad := strings.Replace(connStr, pw, pw[:len(pw)-1]+wrong, 1)
		out, err := exec.Command(psql, bad, "-X", "-c", "SELECT 1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "password authentication failed") {
			t.Fatalf("wrong password: %v\n%s", err, out)
		}
	})

	t.Run("errors keep the session usable", func(t *testing.T) {
		cases := []struct {
			sql, code string
			pos       int32
		}{
			{"SELECT MEASURE(count) FROM nope", "42P01", 28},
			{"SELECT status MEASURE(count) FROM orders", "42601", 22},
			{"SELECT nope, MEASURE(count) FROM orders GROUP BY 1", "42703", 8},
			{"SELECT status, MEASURE(count) FROM orders", "42803", 8},
			{"DELETE FROM orders", "25006", 0},
		}
		for _, c := range cases {
			_, err := conn.Exec(ctx, c.sql)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != c.code || (c.pos != 0 && pe.Position != c.pos) {
				t.Fatalf("%s: err = %v (%+v), want %s at %d", c.sql, err, pe, c.code, c.pos)
			}
			if got := viaGateway(t, conn, "SELECT MEASURE(count) FROM orders"); got[0][0] != fmt.Sprint(e2eOrders) {
				t.Fatalf("after %s: %v", c.code, got)
			}
		}
	})

	t.Run("wrong password and unknown user", func(t *testing.T) {
		for _, cs := range []string{
			strings.Replace(connStr, pw, "wrong", 1),
			strings.Replace(connStr, "cg_", "cg_nobody", 1),
		} {
			cfg, _ := pgx.ParseConfig(cs)
			_, err := pgx.ConnectConfig(ctx, cfg)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "28P01" {
				t.Fatalf("err = %v, want 28P01", err)
			}
		}
	})

	t.Run("another database", func(t *testing.T) {
		cfg, _ := pgx.ParseConfig(strings.Replace(connStr, "/demo", "/other", 1))
		_, err := pgx.ConnectConfig(ctx, cfg)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "3D000" {
			t.Fatalf("err = %v, want 3D000", err)
		}
	})
}

func TestEndToEndDuckDB(t *testing.T) {
	checkGateway(t, apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)}))
}

func TestEndToEndPostgres(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	checkGateway(t, g)
}

// The DuckDB demo generator and fixture.sql make the same rows.
func TestDemoDataMatchesFixture(t *testing.T) {
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	for _, q := range []string{
		`SELECT count(*), sum(amount), sum(quantity), count(discount), sum(discount), count(shipped_at), sum(CASE WHEN is_gift THEN 1 ELSE 0 END), min(created_at), max(created_at), sum(customer_id), sum(product_id) FROM public.orders_raw`,
		`SELECT channel, status, count(*) FROM public.orders_raw GROUP BY 1, 2 ORDER BY 1, 2`,
		`SELECT count(*), count(city), sum(CASE WHEN is_active THEN 1 ELSE 0 END), min(signed_up_at), max(signed_up_at), min(name), max(name) FROM public.customers_raw`,
		`SELECT count(*), sum(price), min(category), max(name) FROM public.products_raw`,
	} {
		sameCells(t, q, direct(t, duck, q), direct(t, pg, q))
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// compileAndRun compiles q against model m (nil: the gateway's) for g's
// warehouse, runs it and returns the compiled query and the visible
// cells of its rows.
func compileAndRun(t *testing.T, g *apptest.Gateway, m *cubes.Model, q cubes.Query) (*cubes.Compiled, [][]string) {
	t.Helper()
	if m == nil {
		m = g.Model
	}
	d, _ := cubes.DialectByName(g.Warehouse().Dialect())
	c, err := m.Compile(&q, d)
	if err != nil {
		t.Fatalf("compile for %s: %v", g.Warehouse().Dialect(), err)
	}
	rows, err := g.Warehouse().Query(context.Background(), c.SQL, c.Args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", g.Warehouse().Dialect(), err, c.SQL)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, 0, len(vals))
		for i, v := range vals {
			if !c.Columns[i].Hidden {
				row = append(row, cell(v))
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v\n%s", g.Warehouse().Dialect(), err, c.SQL)
	}
	return c, out
}
