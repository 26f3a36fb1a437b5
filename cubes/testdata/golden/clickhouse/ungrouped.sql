SELECT `orders`.id `orders__id`, `orders`.amount `orders__total_amount`, 1 `orders__count`, CASE WHEN (`orders`.status = 'completed') THEN 1 END `orders__completed_count`, `orders`.amount / NULLIF(1, 0) `orders__avg_order_value` FROM public.orders_raw AS `orders` WHERE 1 > $1 ORDER BY `orders__id` ASC NULLS LAST LIMIT $2
-- $1 = 0
-- $2 = 3
