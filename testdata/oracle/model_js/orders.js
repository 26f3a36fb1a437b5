// Orders fact cube, the JavaScript twin of model/cubes/orders.yml.
const { table, primaryKey, columns } = require('./helpers');

const completed = `${CUBE}.status = 'completed'`;

cube(`orders`, {
  sqlTable: table('orders'),
  title: 'Orders',

  joins: {
    customers: {
      sql: `${CUBE}.customer_id = ${customers}.id`,
      relationship: `belongsTo`,
    },
    products: {
      sql: `${CUBE}.product_id = ${products}.id`,
      relationship: 'many_to_one',
    },
  },

  measures: {
    count: {
      type: `count`,
      drillMembers: [id, status, created_at, customers.name],
    },
    total_amount: { sql: `amount`, type: `sum`, format: `currency` },
    avg_amount: { sql: `amount`, type: `avg` },
    min_amount: { sql: `amount`, type: `min` },
    max_amount: { sql: `amount`, type: `max` },
    total_quantity: { sql: `quantity`, type: `sum` },
    unique_customers: { sql: `customer_id`, type: `countDistinct` },
    completed_count: {
      type: `count`,
      filters: [{ sql: completed }],
    },
    completed_amount: {
      sql: `amount`,
      type: `sum`,
      filters: [{ sql: () => completed }],
    },
    gift_count: {
      type: `count`,
      filters: [{ sql: `${CUBE}.is_gift` }],
    },
    completed_ratio: {
      sql: `1.0 * ${completed_count} / NULLIF(${count}, 0)`,
      type: `number`,
      format: `percent`,
    },
    avg_order_value: {
      sql: (CUBE) => `${CUBE.total_amount} / NULLIF(${CUBE.count}, 0)`,
      type: `number`,
    },
    last_order_at: { sql: `created_at`, type: `max` },
  },

  dimensions: {
    id: primaryKey(),
    ...columns('string', ['status', 'channel']),
    ...columns('number', ['amount', 'quantity', 'discount']),
    is_gift: { sql: `is_gift`, type: `boolean` },
    amount_tier: {
      type: `string`,
      case: {
        when: [
          { sql: `${CUBE}.amount < 100`, label: `small` },
          { sql: `${CUBE}.amount < 500`, label: `medium` },
        ],
        else: { label: `large` },
      },
    },
    created_at: { sql: `created_at`, type: `time` },
    shipped_at: { sql: `shipped_at`, type: `time` },
  },

  segments: {
    completed: { sql: completed },
    large_orders: { sql: `${CUBE}.amount >= 500` },
  },
});
