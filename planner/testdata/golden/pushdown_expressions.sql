-- Golden cases for the planner, pushdown expressions: one statement per line (see golden_test.go).
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
