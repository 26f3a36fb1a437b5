SELECT CAST(DATE_FORMAT(`orders`.created_at, '%Y-%m-01') AS DATETIME) `orders__created_at__month`, count(`orders`.id) `orders__count` FROM public.orders_raw AS `orders` GROUP BY 1 ORDER BY 1 ASC
