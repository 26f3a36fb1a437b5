SELECT "orders".status "orders__status", count("orders".id) "orders__count" FROM public.orders_raw AS "orders" GROUP BY 1 ORDER BY 2 DESC NULLS FIRST OFFSET $2 LIMIT $1
-- $1 = 2
-- $2 = 1
