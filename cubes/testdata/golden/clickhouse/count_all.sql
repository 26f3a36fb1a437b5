SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` ORDER BY `orders__count` DESC NULLS FIRST
