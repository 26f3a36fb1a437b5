package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
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

// benchRender plans a statement that is pushed down, up to its warehouse
// SQL (EXPLAIN's path: no warehouse round trip).
func benchRender(b *testing.B, sql string) {
	s := testSession(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tree, err := pg_query.Parse(sql)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.explain(ctx, tree.Stmts[0].Stmt, false); err != nil {
			b.Fatal(err)
		}
	}
}

// Power BI's wrapper over a grouped subquery, pushed down.
func BenchmarkPlanPushdownPowerBI(b *testing.B) {
	benchRender(b, `select "_"."status", "_"."a0", "_"."a1" from (select "rows"."status" as "status", sum(cast("rows"."total_amount" as decimal)) as "a0", sum("rows"."count") as "a1"
		from (select "_"."status", "_"."channel", "_"."total_amount", "_"."count" from "public"."orders" "_" where "_"."created_at" >= timestamp '2023-01-01 00:00:00') "rows"
		group by "status") "_" where not "_"."a0" is null order by "_"."a0" desc limit 1000001`)
}

// ThoughtSpot's CTE with CASE over a measure, pushed down.
func BenchmarkPlanPushdownThoughtSpot(b *testing.B) {
	benchRender(b, `WITH "qt_1" AS (SELECT "ta_1"."channel" "ca_2", DATE_TRUNC('month', "ta_1"."created_at") "ca_3",
		CASE WHEN sum("ta_1"."total_amount") IS NOT NULL THEN sum("ta_1"."total_amount") ELSE 0 END "ca_4"
		FROM "db"."public"."orders" "ta_1" WHERE LOWER("ta_1"."status") IN ('completed', 'shipped') GROUP BY "ca_2", "ca_3")
		SELECT "qt_1"."ca_2" "ca_5", "qt_1"."ca_3" "ca_6", "qt_1"."ca_4" "ca_7" FROM "qt_1" WHERE TRUE = TRUE LIMIT 1000`)
}

// A 1,000-value IN list over an expression, pushed down.
func BenchmarkPlanPushdownInList1000(b *testing.B) {
	vals := make([]string, 1000)
	for i := range vals {
		vals[i] = fmt.Sprintf("'customer %d'", i)
	}
	benchRender(b, `SELECT lower(name), MEASURE(count) FROM customers WHERE lower(name) IN (`+strings.Join(vals, ", ")+`) GROUP BY 1`)
}

func BenchmarkPlanInList1000(b *testing.B) {
	vals := make([]string, 1000)
	for i := range vals {
		vals[i] = fmt.Sprintf("'customer %d'", i)
	}
	benchPlan(b, `SELECT name, MEASURE(count) FROM customers WHERE name IN (`+strings.Join(vals, ", ")+`) GROUP BY 1`)
}

// What a client sends on connect and to ping: constants and session
// functions, answered by cubegate itself.
func BenchmarkPlanConstants(b *testing.B) {
	benchPlan(b, `SELECT version(), current_user, current_database(), 1, 'a'::text AS t`)
}
