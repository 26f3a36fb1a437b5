SELECT `customers`.country `customers__country` FROM public.customers_raw AS `customers` GROUP BY 1 ORDER BY (`customers`.country) IS NULL, 1 ASC
