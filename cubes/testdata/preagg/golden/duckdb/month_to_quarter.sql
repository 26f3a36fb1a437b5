SELECT "__rollup"."orders__status" "orders__status", CAST(date_trunc('quarter', "__rollup"."orders__created_at__month") AS TIMESTAMP) "orders__created_at__quarter", CAST(coalesce(sum("__rollup"."orders__count"), 0) AS BIGINT) "orders__count", sum("__rollup"."orders__total_amount") "orders__total_amount", min("__rollup"."orders__min_amount") "orders__min_amount" FROM "rollups"."orders_by_status_month" AS "__rollup" WHERE ("__rollup"."orders__created_at__month" >= $1 AND "__rollup"."orders__created_at__month" <= $2) GROUP BY 1, 2 ORDER BY 2 ASC LIMIT $3 OFFSET $4
-- $1 = '2024-01-01T00:00:00.000Z'
-- $2 = '2024-06-30T23:59:59.999Z'
-- $3 = 10
-- $4 = 5
