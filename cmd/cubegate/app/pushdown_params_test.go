package app_test

import (
	"context"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Parameters of the extended protocol in pushed-down statements: bound,
// typed by where they stand, and answering as the cube query does.
func TestPushdownParameters(t *testing.T) {
	ctx := context.Background()
	pg := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	for _, g := range []*apptest.Gateway{apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)}), pg} {
		_, _, connStr, _ := g.MintCredential(ctx, "params")
		conn := apptest.Connect(t, connStr)
		count := func(sql string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %s: %v", g.Warehouse().Dialect(), sql, err)
			}
			return n
		}
		for _, c := range []struct {
			pushed, cube string
			args         []any
		}{
			{`SELECT COUNT(*) FROM (SELECT lower(status) s FROM orders WHERE amount > $1) q`, `SELECT COUNT(*) FROM orders WHERE amount > $1`, []any{900}},
			{`SELECT COUNT(*) FROM (SELECT lower(status) s FROM orders WHERE created_at > $1 AND status = $2) q`,
				`SELECT COUNT(*) FROM orders WHERE created_at > $1 AND status = $2`, []any{"2023-01-01", "completed"}},
			{`SELECT COUNT(*) FROM (SELECT status FROM orders WHERE channel IN ($1, $2) AND quantity >= $3) q`,
				`SELECT COUNT(*) FROM orders WHERE channel IN ($1, $2) AND quantity >= $3`, []any{"web", "mobile", 2}},
		} {
			got, want := count(c.pushed, c.args...), count(c.cube, c.args...)
			if got != want || want == 0 {
				t.Errorf("%s: %s = %d, the cube query says %d", g.Warehouse().Dialect(), c.pushed, got, want)
			}
		}
	}
}
