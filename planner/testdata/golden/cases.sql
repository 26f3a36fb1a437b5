-- Golden cases for the planner: one statement per line (see golden_test.go).
-- Cube queries: measures, dimensions, aggregates that agree with measures
SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1
SELECT SUM("orders"."count") AS n, orders.channel FROM public.orders GROUP BY channel
SELECT count(*) FROM orders
SELECT COUNT(*) FROM Orders
SELECT o.status, sum(o.total_amount), avg(o.avg_amount), max(o.last_order_at), count(distinct o.unique_customers) FROM orders o GROUP BY o.status ORDER BY 2 DESC LIMIT 3 OFFSET 1
SELECT min(min_amount), max(max_amount) FROM orders
SELECT MEASURE(completed_ratio) FROM orders
SELECT channel, MEASURE(avg_order_value) FROM orders GROUP BY 1
SELECT status, channel, MEASURE(count), MEASURE(total_amount) FROM orders GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10
SELECT DISTINCT channel FROM orders
SELECT DISTINCT status, channel FROM orders ORDER BY 1, 2
SELECT status FROM orders GROUP BY status
SELECT status, amount FROM orders WHERE id <= 3 ORDER BY id LIMIT 3
SELECT * FROM products
SELECT * FROM customers LIMIT 5
SELECT name, price FROM products ORDER BY price DESC LIMIT 5
-- time dimensions and granularities
SELECT date_trunc('month', created_at) AS m, MEASURE(count) FROM orders GROUP BY 1
SELECT date_trunc('month', CAST(created_at AS timestamp)) AS m, MEASURE(count) FROM orders GROUP BY 1
SELECT date_trunc('year', created_at), date_trunc('quarter', created_at), MEASURE(count) FROM orders GROUP BY 1, 2
SELECT date_trunc('week', created_at) w, SUM(total_amount) FROM orders GROUP BY 1 ORDER BY 1
SELECT date_trunc('day', shipped_at) d, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1 DESC LIMIT 7
SELECT date_trunc('qtr', created_at) q, MEASURE(count) FROM orders GROUP BY 1
SELECT date_trunc('hour', created_at) h, MEASURE(count) FROM orders WHERE created_at >= '2024-01-01' GROUP BY 1
-- filters
SELECT status, MEASURE(count) FROM orders WHERE channel = 'web' AND amount > 10.5 AND status IN ('a', 'b') AND is_gift IS NOT NULL AND completed GROUP BY 1
SELECT status, MEASURE(count) FROM orders WHERE 5 <= quantity OR channel <> 'web' GROUP BY 1
SELECT channel, MEASURE(count) FROM orders WHERE created_at BETWEEN '2023-01-01' AND '2023-12-31' AND status ILIKE '%ship%' GROUP BY 1 HAVING MEASURE(count) > 100
SELECT MEASURE(count) FROM orders WHERE status NOT IN ('cancelled', 'returned')
SELECT MEASURE(count) FROM orders WHERE status IS NULL
SELECT MEASURE(count) FROM orders WHERE NOT (channel = 'web')
SELECT MEASURE(count) FROM orders WHERE is_gift
SELECT MEASURE(count) FROM orders WHERE is_gift = false
SELECT MEASURE(count) FROM orders WHERE created_at > '2024-03-01 10:00:00' AND created_at < '2024-04-01'
SELECT MEASURE(count) FROM orders WHERE amount BETWEEN 10 AND 20
SELECT MEASURE(count) FROM orders WHERE status ILIKE 'ship%'
SELECT MEASURE(count) FROM orders WHERE status NOT ILIKE '%cancel%'
SELECT MEASURE(count) FROM orders WHERE large_orders
SELECT channel, MEASURE(total_amount) FROM orders GROUP BY 1 HAVING SUM(total_amount) > 1000 AND MEASURE(count) > 10
SELECT MEASURE(count) FROM orders WHERE status IN ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
-- joins along the model
SELECT c.tier, MEASURE(o.count) FROM orders o CROSS JOIN customers c GROUP BY 1
SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.__cubeJoinField = c.__cubeJoinField GROUP BY 1
SELECT p.category, SUM(o.total_amount) FROM orders o LEFT JOIN products p ON o.__cubeJoinField = p.__cubeJoinField GROUP BY 1
SELECT c.country, p.category, MEASURE(o.count) FROM orders o, customers c, products p GROUP BY 1, 2
SELECT c.tier, MEASURE(c.count), MEASURE(o.count) FROM customers c CROSS JOIN orders o GROUP BY 1
-- views
SELECT customers_tier, MEASURE(total_amount) FROM sales GROUP BY 1
SELECT * FROM sales LIMIT 3
-- push-down: expressions over dimensions
SELECT lower(status) s, MEASURE(count) FROM orders GROUP BY 1
SELECT upper(channel) || '-' || status AS k, SUM(count) FROM orders GROUP BY 1 ORDER BY 2 DESC
SELECT CASE WHEN amount > 100 THEN 'big' ELSE 'small' END AS size, MEASURE(count) FROM orders GROUP BY 1
SELECT CASE status WHEN 'completed' THEN 1 ELSE 0 END, COUNT(*) FROM orders GROUP BY 1
SELECT substring(status, 1, 3), COUNT(*) FROM orders GROUP BY 1
SELECT length(status) AS l, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT coalesce(channel, 'none'), MEASURE(count) FROM orders GROUP BY 1
SELECT nullif(channel, ''), MEASURE(count) FROM orders GROUP BY 1
SELECT trim(status), COUNT(*) FROM orders GROUP BY 1
SELECT position('ship' IN status) > 0 AS shipping, COUNT(*) FROM orders GROUP BY 1
SELECT left(status, 2), right(status, 2), COUNT(*) FROM orders GROUP BY 1, 2
SELECT replace(status, '_', ' '), COUNT(*) FROM orders GROUP BY 1
SELECT split_part(status, '_', 1), COUNT(*) FROM orders GROUP BY 1
SELECT concat(channel, '/', status), COUNT(*) FROM orders GROUP BY 1
SELECT round(amount), MEASURE(count) FROM orders GROUP BY 1
SELECT floor(amount / 10) * 10 AS bucket, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1
SELECT abs(discount), COUNT(*) FROM orders GROUP BY 1
SELECT amount * quantity AS gross, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1 DESC LIMIT 5
SELECT greatest(amount, 10), least(quantity, 3), COUNT(*) FROM orders GROUP BY 1, 2
SELECT ((floor(((amount - 1.1) / 0.025)) * 0.025) + 1.1) AS price, count(*) AS count FROM orders GROUP BY 1 ORDER BY 1
-- push-down: dates
SELECT EXTRACT(YEAR FROM created_at) y, MEASURE(count) FROM orders GROUP BY 1
SELECT EXTRACT(MONTH FROM created_at) AS m, EXTRACT(DOW FROM created_at) AS d, COUNT(*) FROM orders GROUP BY 1, 2
SELECT date_part('quarter', created_at), COUNT(*) FROM orders GROUP BY 1
SELECT CAST(created_at AS date) AS day, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT date(created_at), COUNT(*) FROM orders GROUP BY 1
SELECT date_trunc('month', created_at) + INTERVAL '1 month' AS next_month, COUNT(*) FROM orders GROUP BY 1
SELECT (CAST(extract(dow from created_at) AS integer) + 1) AS dow, count(*) AS count FROM orders GROUP BY 1 ORDER BY 1
SELECT DATE_TRUNC('week', (created_at::timestamptz + cast(1 || ' day' as interval))) + cast(-1 || ' day' as interval) AS w, SUM(count) FROM orders GROUP BY 1
SELECT MEASURE(count) FROM orders WHERE date_trunc('month', created_at) = '2024-01-01'
SELECT MEASURE(count) FROM orders WHERE EXTRACT(YEAR FROM created_at) = 2024
SELECT MEASURE(count) FROM orders WHERE created_at >= TO_TIMESTAMP('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')
SELECT MEASURE(count) FROM orders WHERE created_at >= date_trunc('day', LOCALTIMESTAMP + -5 * interval '1 DAY')
SELECT DATEADD(day, 7, created_at) AS later, COUNT(*) FROM orders GROUP BY 1 LIMIT 3
SELECT DATEDIFF(day, created_at, shipped_at) AS lag, COUNT(*) FROM orders GROUP BY 1 ORDER BY 1
SELECT DATEDIFF(month, created_at, shipped_at), COUNT(*) FROM orders GROUP BY 1
SELECT DATEDIFF(hour, created_at, shipped_at), COUNT(*) FROM orders GROUP BY 1
SELECT to_char(created_at, 'YYYY-MM') AS ym, COUNT(*) FROM orders GROUP BY 1
SELECT created_at AT TIME ZONE 'UTC', COUNT(*) FROM orders GROUP BY 1 LIMIT 2
-- push-down: filters one cube query cannot express
SELECT MEASURE(count) FROM orders WHERE status LIKE 'ship%'
SELECT MEASURE(count) FROM orders WHERE status NOT LIKE '%X%'
SELECT MEASURE(count) FROM orders WHERE lower(status) = 'completed'
SELECT MEASURE(count) FROM orders WHERE amount * quantity > 100
SELECT MEASURE(count) FROM orders WHERE status = channel
SELECT MEASURE(count) FROM orders WHERE status ~ '^c'
SELECT MEASURE(count) FROM orders WHERE status LIKE 'a!%%' ESCAPE '!'
SELECT MEASURE(count) FROM orders WHERE status IS DISTINCT FROM 'x'
SELECT MEASURE(count) FROM orders WHERE amount > (SELECT avg(amount) FROM orders)
SELECT MEASURE(count) FROM orders WHERE status IN (SELECT status FROM orders WHERE channel = 'web')
SELECT MEASURE(count) FROM orders WHERE EXISTS (SELECT 1 FROM products WHERE price > 100)
-- push-down: aggregates the cube query does not have
SELECT COUNT(DISTINCT status) FROM orders
SELECT MAX(created_at), MIN(created_at) FROM orders
SELECT customers_tier, COUNT(DISTINCT products_category) FROM sales GROUP BY 1
SELECT SUM(amount) FROM orders
SELECT AVG(amount), STDDEV(amount) FROM orders
SELECT string_agg(DISTINCT channel, ',' ORDER BY channel) FROM orders
SELECT channel, COUNT(*) FILTER (WHERE is_gift) FROM orders GROUP BY 1
SELECT status, channel, MEASURE(count) FROM orders GROUP BY ROLLUP (1, 2)
SELECT status, channel, MEASURE(count) FROM orders GROUP BY CUBE (status, channel)
SELECT status, channel, MEASURE(count) FROM orders GROUP BY GROUPING SETS ((status), (channel), ())
-- push-down: arithmetic and CASE over measures
SELECT channel, MEASURE(total_amount) / NULLIF(MEASURE(count), 0) AS aov FROM orders GROUP BY 1
SELECT CASE WHEN SUM(count) IS NOT NULL THEN SUM(count) ELSE 0 END FROM orders
SELECT status, CASE WHEN MEASURE(count) > 100 THEN 'many' ELSE 'few' END FROM orders GROUP BY 1
SELECT channel, 100.0 * SUM(completed_count) / SUM(count) AS pct FROM orders GROUP BY 1
SELECT CAST(SUM(count) AS FLOAT8) FROM orders
SELECT COALESCE(SUM(total_amount), 0) FROM orders WHERE status = 'none'
-- push-down: windows over results
SELECT status, MEASURE(count), rank() OVER (ORDER BY MEASURE(count) DESC) FROM orders GROUP BY 1
SELECT channel, SUM(total_amount), SUM(SUM(total_amount)) OVER () AS total FROM orders GROUP BY 1
SELECT date_trunc('month', created_at) m, MEASURE(count), SUM(MEASURE(count)) OVER (ORDER BY date_trunc('month', created_at) ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders GROUP BY 1
SELECT status, row_number() OVER (PARTITION BY channel ORDER BY amount DESC) FROM orders LIMIT 5
SELECT status, lag(MEASURE(count)) OVER (ORDER BY status) FROM orders GROUP BY 1
SELECT status, lead(amount, -9223372036854775808) OVER (ORDER BY id), ntile(4) OVER () FROM orders
SELECT rpad(status, 100000000, 'ab'), repeat(status, 3), lpad(status, 5) FROM orders LIMIT 1
SELECT dense_rank() OVER w, status FROM orders GROUP BY status WINDOW w AS (ORDER BY status)
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
-- case-insensitive names, as Cube resolves them
SELECT Status, MEASURE(Count) FROM ORDERS GROUP BY 1
SELECT lower(STATUS), COUNT(*) FROM Orders GROUP BY 1
SELECT "ta_1"."status" FROM "db"."public"."orders" "ta_1" GROUP BY 1
-- statements without relations
SELECT 1
SELECT 1 + 2 AS three, 'x' AS s
SELECT version()
SELECT current_setting('TimeZone')
-- errors
SELECT status, MEASURE(count) FROM orders GROUP BY
SELECT nope FROM orders
SELECT MEASURE(count) FROM nowhere
SELECT SUM(status) FROM orders
SELECT AVG(max_amount) FROM orders
SELECT MEASURE(status) FROM orders
SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 5
SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1
SELECT 1 FROM orders o FULL JOIN customers c ON true
SELECT MEASURE(count) FROM orders, pg_class
SELECT date_trunc('fortnight', created_at), MEASURE(count) FROM orders GROUP BY 1
SELECT md5(status) FROM orders WHERE pg_sleep(1) IS NULL
SELECT secret_function(status) FROM orders
SELECT status FROM orders FOR UPDATE
SELECT x.* FROM orders
SELECT orders.__cubeJoinField = 'x' FROM orders
SELECT MEASURE(count) FROM orders o, orders p
SELECT * FROM orders, LATERAL (SELECT 1) x
SELECT status FROM orders UNION SELECT status, channel FROM orders
SELECT CAST(status AS regclass) FROM orders
SELECT count(*) OVER () FROM orders o JOIN customers c ON o.id = c.id
SELECT status FROM orders WHERE status = 1 +
SELECT MEASURE(count) FROM orders LIMIT -1
SELECT row_number() FROM orders
SELECT lower(status) FROM orders GROUP BY status HAVING ntile(2) > 1
SELECT ambiguous.status FROM orders ambiguous, customers ambiguous
-- __cubeJoinField passed through subqueries joins their cubes along the model
SELECT c.tier, MEASURE(o.count) FROM (SELECT * FROM orders WHERE status IS NOT NULL) o LEFT JOIN (SELECT tier, __cubeJoinField FROM customers) c ON (o.__cubeJoinField = c.__cubeJoinField) GROUP BY 1
SELECT "_"."c30", count(distinct "_"."a0") FROM (SELECT "$Outer"."a0", "$Inner"."c30" FROM (SELECT "__cubeJoinField" AS "c22", "price" AS "a0" FROM "public"."products") AS "$Outer" JOIN (SELECT "rows"."status" AS "c30", "rows"."__cubeJoinField" AS "c22" FROM (SELECT "status", "__cubeJoinField" FROM "public"."orders") AS "rows" GROUP BY "status", "__cubeJoinField") AS "$Inner" ON ("$Outer"."c22" = "$Inner"."c22" OR "$Outer"."c22" IS NULL AND "$Inner"."c22" IS NULL)) AS "_" GROUP BY 1
SELECT o.__cubeJoinField, c.__cubeJoinField FROM (SELECT __cubeJoinField FROM orders) o, (SELECT __cubeJoinField FROM products) c WHERE o.__cubeJoinField = c.__cubeJoinField LIMIT 1
SELECT * FROM (SELECT __cubeJoinField FROM customers) c JOIN (SELECT __cubeJoinField FROM products) p ON c.__cubeJoinField = p.__cubeJoinField
-- nothing outside the model reaches the warehouse
SELECT * FROM public.orders_raw
SELECT count(*) FROM orders o, orders_raw r
SELECT * FROM read_csv('/etc/passwd')
SELECT pg_read_file('/etc/passwd')
SELECT status FROM orders WHERE status IN (SELECT usename FROM pg_user)
SELECT lower(status) FROM orders UNION SELECT current_setting('data_directory')
WITH x AS (SELECT * FROM duckdb_settings()) SELECT count(*) FROM x, orders
SELECT status::regclass FROM orders
