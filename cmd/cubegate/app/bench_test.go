package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// uncached turns the result cache off: the benchmarks against the
// warehouse measure what the gateway adds to each query, not how fast it
// repeats an answer (BenchmarkResultCache does).
func uncached(c *app.Config) { c.Cache.Enabled = false }

// BenchmarkGatewayVsDirect times the same cube query through the gateway
// (pgx over loopback, simple protocol) and directly on the warehouse, in
// one run, and reports the ratio. The dataset is the demo's million orders.
func BenchmarkGatewayVsDirect(b *testing.B) {
	ctx := context.Background()
	g := apptest.Start(b, apptest.Options{DuckDB: apptest.Demo(app.DefaultDemoSizes.Orders), Adjust: uncached})
	_, _, connStr, err := g.MintCredential(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	conn := apptest.Connect(b, connStr)
	queries := []struct{ name, gateway, direct string }{
		{"count_by_status",
			`SELECT status, MEASURE(count) FROM orders GROUP BY 1`,
			`SELECT "orders".status "orders__status", count("orders".id) "orders__count" FROM public.orders_raw AS "orders" GROUP BY 1`},
		{"month_by_channel_filtered",
			`SELECT date_trunc('month', created_at), channel, SUM(total_amount) FROM orders WHERE status = 'completed' GROUP BY 1, 2`,
			`SELECT CAST(date_trunc('month', "orders".created_at) AS TIMESTAMP) "m", "orders".channel "c", sum("orders".amount) "a" FROM public.orders_raw AS "orders" WHERE "orders".status = $1 GROUP BY 1, 2`},
		// Pushed down: a Power BI wrapper with an expression over a
		// dimension, against the same statement sent to the table.
		{"pushdown_powerbi_wrapper",
			`select "_"."s", "_"."a0" from (select lower("rows"."status") as "s", sum("rows"."total_amount") as "a0" from (select "_"."status", "_"."total_amount" from "public"."orders" "_") "rows" group by 1) "_" where not "_"."a0" is null limit 1000001`,
			`select "_"."s", "_"."a0" from (select lower("rows"."status") as "s", sum("rows"."amount") as "a0" from (select "_"."status", "_"."amount" from public.orders_raw "_") "rows" group by 1) "_" where not "_"."a0" is null limit 1000001`},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var viaGW, viaDirect time.Duration
			args := []any{}
			if q.name == "month_by_channel_filtered" {
				args = append(args, "completed")
			}
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				res, err := conn.PgConn().Exec(ctx, q.gateway).ReadAll()
				if err != nil || len(res[0].Rows) == 0 {
					b.Fatal(err)
				}
				t1 := time.Now()
				rows, err := g.Warehouse().Query(ctx, q.direct, args...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					if _, err := rows.Values(); err != nil {
						b.Fatal(err)
					}
					n++
				}
				rows.Close()
				if n != len(res[0].Rows) {
					b.Fatalf("direct %d rows, gateway %d", n, len(res[0].Rows))
				}
				viaGW += t1.Sub(t0)
				viaDirect += time.Since(t1)
			}
			b.ReportMetric(float64(viaGW.Microseconds())/float64(b.N), "gateway-µs/op")
			b.ReportMetric(float64(viaDirect.Microseconds())/float64(b.N), "direct-µs/op")
			b.ReportMetric(float64(viaGW)/float64(viaDirect), "gateway/direct")
		})
	}
}
