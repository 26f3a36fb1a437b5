SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE (`orders`.status = 'completed') AND (`orders`.amount >= 500) ORDER BY (count(`orders`.id)) IS NULL DESC, 1 DESC
