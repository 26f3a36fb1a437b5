SELECT DATE_TRUNC('month', "orders".created_at) "orders__created_at__month", count("orders".id) "orders__count" FROM public.orders_raw AS "orders" GROUP BY 1 ORDER BY 1 ASC
