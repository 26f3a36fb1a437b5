SELECT `orders`.channel `orders__channel`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY 1 HAVING count(`orders`.id) > $1 ORDER BY (count(`orders`.id)) IS NULL DESC, 2 DESC
-- $1 = 1000
