SELECT `orders`.channel `orders__channel`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY `orders__channel` HAVING count(`orders`.id) > $1 ORDER BY `orders__count` DESC NULLS FIRST
-- $1 = 1000
