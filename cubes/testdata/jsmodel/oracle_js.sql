-- filtered_and_calculated
SELECT "orders".channel "orders__channel", count(CASE WHEN ("orders".status = 'completed') THEN "orders".id END) "orders__completed_count", sum(CASE WHEN ("orders".status = 'completed') THEN "orders".amount END) "orders__completed_amount", 1.0 * count(CASE WHEN ("orders".status = 'completed') THEN "orders".id END) / NULLIF(count("orders".id), 0) "orders__completed_ratio", sum("orders".amount) / NULLIF(count("orders".id), 0) "orders__avg_order_value" FROM public.orders_raw AS "orders" GROUP BY 1 ORDER BY 2 DESC

-- case_dimension
SELECT CASE WHEN "orders".amount < 100 THEN 'small' WHEN "orders".amount < 500 THEN 'medium' ELSE 'large' END "orders__amount_tier", count("orders".id) "orders__count", min("orders".amount) "orders__min_amount", max("orders".amount) "orders__max_amount" FROM public.orders_raw AS "orders" GROUP BY 1 ORDER BY 2 DESC

-- segments
SELECT count("orders".id) "orders__count" FROM public.orders_raw AS "orders" WHERE ("orders".status = 'completed') AND ("orders".amount >= 500) ORDER BY 1 DESC

-- view
SELECT "customers".tier "sales__customers_tier", count("orders".id) "sales__count", sum("orders".amount) "sales__total_amount" FROM public.orders_raw AS "orders" LEFT JOIN public.customers_raw AS "customers" ON "orders".customer_id = "customers".id GROUP BY 1 ORDER BY 2 DESC

-- fanout_dedup
SELECT * FROM (SELECT "__keys"."orders__status", count("customers".id) "customers__count" FROM (SELECT DISTINCT "orders".status "orders__status", "customers".id "__pk" FROM public.orders_raw AS "orders" LEFT JOIN public.customers_raw AS "customers" ON "orders".customer_id = "customers".id) AS "__keys" LEFT JOIN public.customers_raw AS "customers" ON "__keys"."__pk" = "customers".id GROUP BY 1) AS "__r" ORDER BY 2 DESC

