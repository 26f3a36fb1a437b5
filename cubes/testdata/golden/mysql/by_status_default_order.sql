SELECT `orders`.status `orders__status`, count(`orders`.id) `orders__count`, sum(`orders`.amount) `orders__total_amount` FROM public.orders_raw AS `orders` GROUP BY 1 ORDER BY 2 DESC
