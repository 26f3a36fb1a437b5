package app_test

import (
	"context"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// A credential's security context limits what it sees and reads over
// SQL: the catalog shows only the allowed cubes and members, a member
// outside the allow-list is 42501, and row filters apply to every query
// that reads their cube.
func TestSecurityContext(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	mint := func(sec auth.SecurityContext) string {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "limited", Database: g.Database, Security: sec})
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := app.ClientHost(g.SQLAddr().String())
		return app.ConnectionString(c.Username, pw, host, port, c.Database)
	}
	web := mint(auth.SecurityContext{
		Allow:      []string{"orders.count", "orders.status", "orders.total_amount"},
		RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}},
	})
	conn := apptest.Connect(t, web)
	sameCells(t, "visible tables", viaGateway(t, conn, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1`),
		[][]string{{"orders"}})
	sameCells(t, "visible columns", viaGateway(t, conn,
		`SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position`),
		[][]string{{"count"}, {"total_amount"}, {"status"}, {"__user"}, {"__cubeJoinField"}})
	sameCells(t, "row filter", viaGateway(t, conn, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`),
		direct(t, g, `SELECT status, count(*) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`))
	sameCells(t, "row filter with COUNT(*)", viaGateway(t, conn, `SELECT COUNT(*) FROM orders`),
		direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'web'`))
	if got := viaGateway(t, conn, `SELECT * FROM orders LIMIT 1`); len(got[0]) != 5 {
		t.Errorf("SELECT * shows %d columns, want the 3 allowed, __user and __cubeJoinField", len(got[0]))
	}
	// Pushed down, the row filter applies inside every subquery and CTE,
	// and a member outside the allow-list is refused wherever it stands.
	sameCells(t, "row filter in a wrapper", viaGateway(t, conn,
		`SELECT "_"."s", "_"."n" FROM (SELECT lower("rows"."status") AS "s", sum("rows"."count") AS "n" FROM (SELECT "_"."status", "_"."count" FROM "public"."orders" "_") "rows" GROUP BY 1) "_" ORDER BY 1`),
		direct(t, g, `SELECT lower(status), count(*) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`))
	sameCells(t, "row filter in a CTE and a UNION", viaGateway(t, conn,
		`WITH t AS (SELECT status, COUNT(*) AS n FROM orders GROUP BY 1) SELECT 'all', SUM(n) FROM t UNION ALL SELECT 'direct', COUNT(*) FROM orders`),
		direct(t, g, `SELECT 'all', count(*) FROM public.orders_raw WHERE channel = 'web' UNION ALL SELECT 'direct', count(*) FROM public.orders_raw WHERE channel = 'web'`))
	if got := viaGateway(t, conn, `SELECT * FROM (SELECT * FROM orders) s LIMIT 1`); len(got[0]) != 5 {
		t.Errorf("SELECT * over a subquery shows %d columns, want the 3 allowed, __user and __cubeJoinField", len(got[0]))
	}
	for sql, code := range map[string]string{
		`SELECT lower(channel), MEASURE(count) FROM orders GROUP BY 1`:                                            "42501",
		`SELECT s FROM (SELECT channel AS s FROM orders) q`:                                                       "42501",
		`WITH t AS (SELECT status FROM orders WHERE lower(channel) = 'store') SELECT count(*) FROM t`:             "42501",
		`SELECT count(*) FROM (SELECT 1 FROM customers) c`:                                                        "42501",
		`SELECT channel, MEASURE(count) FROM orders GROUP BY 1`:                                                   "42501",
		`SELECT MEASURE(count) FROM orders WHERE channel = 'store'`:                                               "42501",
		`SELECT MEASURE(count) FROM customers`:                                                                    "42501",
		`SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'tier'`: "",
	} {
		_, err := conn.Exec(ctx, sql)
		if got := pgCode(err); got != code {
			t.Errorf("%s: %v, want %q", sql, err, code)
		}
	}
	// A session without a context sees every cube.
	all := apptest.Connect(t, mint(auth.SecurityContext{}))
	if got := viaGateway(t, all, `SELECT count(*) FROM pg_class WHERE relnamespace = 2200 AND relkind = 'r'`); got[0][0] == "1" {
		t.Errorf("an unrestricted credential sees %s tables", got[0][0])
	}
}
