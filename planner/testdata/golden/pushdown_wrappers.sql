-- Golden cases for the planner, pushdown wrappers: one statement per line (see golden_test.go).
-- push-down: subqueries, CTEs and the wrappers BI tools send
SELECT "_"."status", "_"."a0" FROM (SELECT "rows"."status" AS "status", sum("rows"."count") AS "a0" FROM (SELECT "_"."status", "_"."count" FROM "public"."orders" "_") "rows" GROUP BY "status") "_" WHERE NOT "_"."a0" IS NULL LIMIT 1000001
SELECT "source"."channel" AS "channel", "source"."count" AS "count" FROM (SELECT "public"."orders"."channel" AS "channel", count(*) AS "count" FROM "public"."orders" GROUP BY "public"."orders"."channel") AS "source" ORDER BY "source"."count" DESC
WITH t AS (SELECT status, MEASURE(count) AS n FROM orders GROUP BY 1) SELECT status, n FROM t WHERE n > 10 ORDER BY n DESC
WITH "qt_1" AS (SELECT "ta_1"."status" "ca_2", CASE WHEN sum("ta_1"."count") IS NOT NULL THEN sum("ta_1"."count") ELSE 0 END "ca_3" FROM "db"."public"."orders" "ta_1" GROUP BY "ca_2") SELECT "qt_1"."ca_2" "ca_4", "qt_1"."ca_3" "ca_5" FROM "qt_1" WHERE TRUE = TRUE LIMIT 1000
WITH a AS (SELECT channel FROM orders GROUP BY 1), b AS (SELECT count(*) n FROM a) SELECT n FROM b
SELECT q.s, q.n FROM (SELECT status s, COUNT(*) n FROM orders GROUP BY 1) q ORDER BY q.n DESC LIMIT 3
SELECT datetrunc_12 AS "Day", sum_14 AS "Sum" FROM (SELECT DATE_TRUNC('day', CAST(created_at AS TIMESTAMP)) AS datetrunc_12, SUM(count) AS sum_14 FROM orders GROUP BY DATE_TRUNC('day', CAST(created_at AS TIMESTAMP))) AS q1 ORDER BY datetrunc_12 ASC LIMIT 25000
SELECT x.status FROM (SELECT DISTINCT status FROM orders) x(status) ORDER BY 1
SELECT * FROM (SELECT channel, COUNT(*) FROM orders GROUP BY 1) s
SELECT o.status, p.n FROM (SELECT status FROM orders GROUP BY 1) o CROSS JOIN (SELECT COUNT(*) n FROM products) p
SELECT a.channel, a.n, b.n FROM (SELECT channel, COUNT(*) n FROM orders GROUP BY 1) a LEFT JOIN (SELECT channel, COUNT(*) n FROM orders WHERE is_gift GROUP BY 1) b ON a.channel = b.channel
-- push-down: set operations and VALUES
SELECT status FROM orders UNION SELECT channel FROM orders
SELECT status, COUNT(*) FROM orders GROUP BY 1 UNION ALL SELECT 'total', COUNT(*) FROM orders ORDER BY 2 DESC
SELECT category FROM products INTERSECT SELECT category FROM products WHERE price > 10
SELECT status FROM orders EXCEPT SELECT 'cancelled'
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(n, s) CROSS JOIN (SELECT COUNT(*) c FROM orders) o
-- push-down: ordering, limits, distinct on
SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 2 DESC NULLS LAST
SELECT status, channel FROM orders GROUP BY 1, 2 ORDER BY status NULLS FIRST, channel DESC
SELECT DISTINCT ON (channel) channel, status FROM orders ORDER BY channel, status
SELECT status FROM orders GROUP BY 1 ORDER BY lower(status) LIMIT 2 OFFSET 1
SELECT status FROM orders GROUP BY 1 LIMIT ALL
-- __cubeJoinField passed through subqueries joins their cubes along the model
SELECT c.tier, MEASURE(o.count) FROM (SELECT * FROM orders WHERE status IS NOT NULL) o LEFT JOIN (SELECT tier, __cubeJoinField FROM customers) c ON (o.__cubeJoinField = c.__cubeJoinField) GROUP BY 1
SELECT "_"."c30", count(distinct "_"."a0") FROM (SELECT "$Outer"."a0", "$Inner"."c30" FROM (SELECT "__cubeJoinField" AS "c22", "price" AS "a0" FROM "public"."products") AS "$Outer" JOIN (SELECT "rows"."status" AS "c30", "rows"."__cubeJoinField" AS "c22" FROM (SELECT "status", "__cubeJoinField" FROM "public"."orders") AS "rows" GROUP BY "status", "__cubeJoinField") AS "$Inner" ON ("$Outer"."c22" = "$Inner"."c22" OR "$Outer"."c22" IS NULL AND "$Inner"."c22" IS NULL)) AS "_" GROUP BY 1
SELECT o.__cubeJoinField, c.__cubeJoinField FROM (SELECT __cubeJoinField FROM orders) o, (SELECT __cubeJoinField FROM products) c WHERE o.__cubeJoinField = c.__cubeJoinField LIMIT 1
SELECT * FROM (SELECT __cubeJoinField FROM customers) c JOIN (SELECT __cubeJoinField FROM products) p ON c.__cubeJoinField = p.__cubeJoinField
SELECT (SELECT MEASURE(count) FROM orders) AS n, 1 AS one
