-- Golden cases for the planner, pushdown aggregates: one statement per line (see golden_test.go).
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
