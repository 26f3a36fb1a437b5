SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` ORDER BY 1 DESC
