SELECT `customers`.country `customers__country` FROM public.customers_raw AS `customers` GROUP BY `customers__country` ORDER BY `customers__country` ASC NULLS LAST
