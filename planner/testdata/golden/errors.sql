-- Golden cases for the planner, errors: one statement per line (see golden_test.go).
-- errors
SELECT status, MEASURE(count) FROM orders GROUP BY
SELECT nope FROM orders
SELECT MEASURE(count) FROM nowhere
-- the closest name, as PostgreSQL's hint gives it
SELECT stauts, MEASURE(count) FROM orders GROUP BY 1
SELECT MEASURE(count) FROM ordres
SELECT upper(stauts) FROM (SELECT status FROM orders) o
SELECT upper(o.stats) FROM (SELECT * FROM orders) o
SELECT count(*) FROM (SELECT 1 FROM custmers) c
SELECT SUM(status) FROM orders
SELECT AVG(max_amount) FROM orders
SELECT MEASURE(status) FROM orders
SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 5
SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.tier GROUP BY 1
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
-- nothing outside the model reaches the warehouse
SELECT * FROM public.orders_raw
SELECT count(*) FROM orders o, orders_raw r
SELECT * FROM read_csv('/etc/passwd')
SELECT pg_read_file('/etc/passwd')
SELECT status FROM orders WHERE status IN (SELECT usename FROM pg_user)
SELECT lower(status) FROM orders UNION SELECT current_setting('data_directory')
WITH x AS (SELECT * FROM duckdb_settings()) SELECT count(*) FROM x, orders
SELECT status::regclass FROM orders
-- cubes the model does not join directly
SELECT c.tier, p.category, MEASURE(c.count) FROM customers c CROSS JOIN products p GROUP BY 1, 2
SELECT MEASURE(count) FROM orders WHERE __user = 'alice'
SELECT APPROX_DISTINCT(unique_customers) FROM orders
