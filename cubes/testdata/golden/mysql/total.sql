SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY 1 ORDER BY (count(`orders`.id)) IS NULL DESC, 2 DESC LIMIT $1 OFFSET $2
-- $1 = 2
-- $2 = 1
-- total: SELECT count(*) FROM (SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY 1) AS `q`
