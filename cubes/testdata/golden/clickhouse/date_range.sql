SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE (`orders`.created_at >= $1 AND `orders`.created_at <= $2) ORDER BY `orders__count` DESC NULLS FIRST
-- $1 = '2023-01-01T00:00:00.000Z'
-- $2 = '2023-03-31T23:59:59.999Z'
