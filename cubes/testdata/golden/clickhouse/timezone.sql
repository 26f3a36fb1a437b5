SELECT toStartOfDay(toDateTime(toString(toTimeZone(`orders`.created_at, $1)), 'UTC')) `orders__created_at__day`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE (`orders`.created_at >= $2 AND `orders`.created_at <= $3) GROUP BY `orders__created_at__day` ORDER BY `orders__created_at__day` ASC NULLS LAST
-- $1 = 'America/New_York'
-- $2 = '2023-03-10T05:00:00.000Z'
-- $3 = '2023-03-15T03:59:59.999Z'
