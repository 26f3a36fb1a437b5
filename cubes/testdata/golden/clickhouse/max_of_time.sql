SELECT max(`orders`.created_at) `orders__last_order_at` FROM public.orders_raw AS `orders` ORDER BY `orders__last_order_at` DESC NULLS FIRST
