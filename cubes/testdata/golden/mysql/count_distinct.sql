SELECT `orders`.channel `orders__channel`, count(DISTINCT `orders`.customer_id) `orders__unique_customers` FROM public.orders_raw AS `orders` GROUP BY 1 ORDER BY 2 DESC
