package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func benchPlan(b *testing.B, sql string) {
	s := testSession(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		stmts, err := s.Parse(ctx, sql)
		if err != nil {
			b.Fatal(err)
		}
		p, err := stmts[0].Bind(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// A Tableau-style statement: parse, bind and compile (no warehouse round trip).
func BenchmarkPlanTypicalBIQuery(b *testing.B) {
	benchPlan(b, `SELECT "orders"."status" AS "status", "orders"."channel" AS "channel",
		DATE_TRUNC('MONTH', CAST("orders"."created_at" AS TIMESTAMP)) AS "tmn:created_at:ok",
		SUM("orders"."count") AS "sum:count:ok", SUM("orders"."total_amount") AS "sum:total_amount:ok"
		FROM "public"."orders" "orders"
		WHERE ("orders"."created_at" >= '2023-01-01' AND "orders"."created_at" < '2024-01-01' AND "orders"."status" IN ('completed', 'shipped'))
		GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 100`)
}

func BenchmarkPlanInList1000(b *testing.B) {
	vals := make([]string, 1000)
	for i := range vals {
		vals[i] = fmt.Sprintf("'customer %d'", i)
	}
	benchPlan(b, `SELECT name, MEASURE(count) FROM customers WHERE name IN (`+strings.Join(vals, ", ")+`) GROUP BY 1`)
}
