SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY `orders__status` ORDER BY `orders__count` DESC NULLS FIRST LIMIT $1 OFFSET $2
-- $1 = 2
-- $2 = 1
-- total: SELECT count(*) FROM (SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY `orders__status`) AS `q`
