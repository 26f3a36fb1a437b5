SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE `orders`.status IN (@p1, @p2) AND (`orders`.channel <> @p3 OR `orders`.channel IS NULL) AND `orders`.amount >= @p4 AND `orders`.quantity < @p5 AND `orders`.discount IS NOT NULL AND (LOWER(`orders`.status) LIKE LOWER(CONCAT('%', @p6, '%'))) AND (NOT (LOWER(`orders`.channel) LIKE LOWER(CONCAT(@p7, '%'))) OR `orders`.channel IS NULL) AND (`orders`.is_gift = @p8 OR `orders`.created_at < @p9) ORDER BY 1 DESC NULLS FIRST
-- $1 = 'completed'
-- $2 = 'shipped'
-- $3 = 'web'
-- $4 = 100.5
-- $5 = 4
-- $6 = 'ship'
-- $7 = 'mo'
-- $8 = true
-- $9 = '2023-01-01T00:00:00.000Z'
