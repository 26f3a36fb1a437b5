// A view over orders and the cubes it joins (model/views/sales.yml).
view(`sales`, {
  cubes: [
    {
      joinPath: orders,
      includes: [count, total_amount, avg_amount, status, created_at],
    },
    {
      joinPath: orders.customers,
      prefix: true,
      includes: [name, city, tier],
    },
    {
      join_path: orders.products,
      prefix: true,
      includes: [`category`],
    },
  ],
});
