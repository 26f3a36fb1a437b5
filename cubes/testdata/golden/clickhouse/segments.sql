SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE (`orders`.status = 'completed') AND (`orders`.amount >= 500) ORDER BY `orders__count` DESC NULLS FIRST
