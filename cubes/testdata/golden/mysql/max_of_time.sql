SELECT max(`orders`.created_at) `orders__last_order_at` FROM public.orders_raw AS `orders` ORDER BY (max(`orders`.created_at)) IS NULL DESC, 1 DESC
