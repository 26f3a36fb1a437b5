SELECT `products`.category `products__category`, count(`products`.id) `products__count`, avg(`products`.price) `products__avg_price` FROM public.products_raw AS `products` GROUP BY 1 ORDER BY 3 DESC
