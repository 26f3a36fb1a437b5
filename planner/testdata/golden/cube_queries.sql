-- Golden cases for the planner, cube queries: one statement per line (see golden_test.go).
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
-- case-insensitive names, as Cube resolves them
SELECT Status, MEASURE(Count) FROM ORDERS GROUP BY 1
SELECT lower(STATUS), COUNT(*) FROM Orders GROUP BY 1
SELECT "ta_1"."status" FROM "db"."public"."orders" "ta_1" GROUP BY 1
-- cursors: the rows of their query, as they are fetched
SELECT unique_cities FROM customers LIMIT 3
-- joins written as users write them: the model's join condition on the columns of its SQL
SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1
SELECT c.tier, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1
SELECT upper(c.tier), count(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1
SELECT o.status, c.tier, p.category, MEASURE(c.count) FROM orders o CROSS JOIN customers c CROSS JOIN products p GROUP BY 1, 2, 3
SELECT c.tier, MEASURE(c.count) FROM orders o JOIN customers c ON true GROUP BY 1
