SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY 1 ORDER BY 1 ASC, 2 DESC
