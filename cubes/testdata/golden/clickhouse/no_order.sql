SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY `orders__status`
