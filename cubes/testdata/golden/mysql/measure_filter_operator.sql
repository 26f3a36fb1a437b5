SELECT `orders`.channel `orders__channel`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE ((`orders`.status = 'completed')) GROUP BY 1 ORDER BY 2 DESC
