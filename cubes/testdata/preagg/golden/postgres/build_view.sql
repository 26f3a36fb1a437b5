SELECT "orders".status "sales__status", count("orders".id) "sales__count" FROM orders AS "orders" GROUP BY 1
