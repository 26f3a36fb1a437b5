SELECT count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` WHERE `orders`.status IN ($1, $2) AND (`orders`.channel <> $3 OR `orders`.channel IS NULL) AND `orders`.amount >= $4 AND `orders`.quantity < $5 AND `orders`.discount IS NOT NULL AND (lowerUTF8(`orders`.status) LIKE lowerUTF8(concat('%', $6, '%'))) AND (NOT (lowerUTF8(`orders`.channel) LIKE lowerUTF8(concat($7, '%'))) OR `orders`.channel IS NULL) AND (`orders`.is_gift = $8 OR `orders`.created_at < $9) ORDER BY `orders__count` DESC NULLS FIRST
-- $1 = 'completed'
-- $2 = 'shipped'
-- $3 = 'web'
-- $4 = 100.5
-- $5 = 4
-- $6 = 'ship'
-- $7 = 'mo'
-- $8 = true
-- $9 = '2023-01-01T00:00:00.000Z'
