SELECT pg_catalog.date_trunc('month', "__rollup"."orders__created_at__month") "orders__created_at__month", CAST(coalesce(sum("__rollup"."orders__count"), 0) AS BIGINT) "orders__count" FROM "rollups"."orders_by_status_month" AS "__rollup" WHERE "__rollup"."orders__status" = $1 GROUP BY 1 ORDER BY 1 ASC
-- $1 = 'shipped'
