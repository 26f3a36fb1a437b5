SELECT TIMESTAMP_TRUNC(CAST(TIMESTAMP(DATETIME(CAST(`orders`.created_at AS TIMESTAMP), @p1), 'UTC') AS TIMESTAMP), DAY, 'UTC') `orders__created_at__day`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE (`orders`.created_at >= @p2 AND `orders`.created_at <= @p3) GROUP BY 1 ORDER BY 1 ASC NULLS LAST
-- $1 = 'America/New_York'
-- $2 = '2023-03-10T05:00:00.000Z'
-- $3 = '2023-03-15T03:59:59.999Z'
