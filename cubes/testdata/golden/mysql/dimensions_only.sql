SELECT `customers`.country `customers__country` FROM public.customers_raw AS `customers` GROUP BY 1 ORDER BY 1 ASC
