package app

import (
	"context"
	"testing"

	"github.com/cubegate/cubegate/auth"
)

// A credential's security context limits what it sees and reads over
// SQL: the catalog shows only the allowed cubes and members, a member
// outside the allow-list is 42501, and row filters apply to every query
// that reads their cube.
func TestSecurityContext(t *testing.T) {
	g := startDuckDB(t, e2eOrders)
	ctx := context.Background()
	mint := func(sec auth.SecurityContext) string {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "limited", Database: g.Database, Security: sec})
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := ClientHost(g.SQLAddr().String())
		return ConnectionString(c.Username, pw, host, port, c.Database)
	}
	web := mint(auth.SecurityContext{
		Allow:      []string{"orders.count", "orders.status", "orders.total_amount"},
		RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}},
	})
	conn := connect(t, web)
	sameCells(t, "visible tables", viaGateway(t, conn, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1`),
		[][]string{{"orders"}})
	sameCells(t, "visible columns", viaGateway(t, conn,
		`SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position`),
		[][]string{{"count"}, {"total_amount"}, {"status"}, {"__user"}, {"__cubeJoinField"}})
	sameCells(t, "row filter", viaGateway(t, conn, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`),
		direct(t, g, `SELECT status, count(*) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`))
	sameCells(t, "row filter with COUNT(*)", viaGateway(t, conn, `SELECT COUNT(*) FROM orders`),
		direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'web'`))
	if got := viaGateway(t, conn, `SELECT * FROM orders LIMIT 1`); len(got[0]) != 3 {
		t.Errorf("SELECT * shows %d columns, want the 3 allowed", len(got[0]))
	}
	for sql, code := range map[string]string{
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
	all := connect(t, mint(auth.SecurityContext{}))
	if got := viaGateway(t, all, `SELECT count(*) FROM pg_class WHERE relnamespace = 2200 AND relkind = 'r'`); got[0][0] == "1" {
		t.Errorf("an unrestricted credential sees %s tables", got[0][0])
	}
}
