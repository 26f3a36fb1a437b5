SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` ORDER BY (count(`orders`.id)) IS NULL DESC, 1 DESC
