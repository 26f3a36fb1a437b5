// The two dimension cubes of the oracle model, generated from one
// description each (the twins of model/cubes/customers.yml and
// products.yml).
const { table, primaryKey, columns } = require('./helpers.js');

const catalog = {
  customers: {
    title: 'Customers',
    measures: {
      active_count: { type: 'count', filters: [{ sql: `${CUBE}.is_active` }] },
      unique_cities: { sql: 'city', type: 'countDistinct' },
    },
    dimensions: {
      ...columns('string', ['name', 'city', 'country', 'tier']),
      is_active: { sql: 'is_active', type: 'boolean' },
      signed_up_at: { sql: 'signed_up_at', type: 'time' },
    },
    segments: {
      vip: { sql: `${CUBE}.tier IN ('gold', 'platinum')` },
    },
  },
  products: {
    title: 'Products',
    measures: {
      avg_price: { sql: 'price', type: 'avg' },
    },
    dimensions: {
      ...columns('string', ['name', 'category']),
      price: { sql: 'price', type: 'number' },
    },
  },
};

for (const [name, spec] of Object.entries(catalog)) {
  cube(name, {
    sqlTable: table(name),
    title: spec.title,
    measures: { count: { type: 'count' }, ...spec.measures },
    dimensions: { id: primaryKey(), ...spec.dimensions },
    segments: spec.segments,
  });
}
