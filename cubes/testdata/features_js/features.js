// The features model (../features/features.yml) in JavaScript: extends,
// custom granularities, rolling windows and a sub-query dimension.
const base_events = cube(`base_events`, {
  sqlTable: `public.events`,
  measures: {
    count: { type: `count` },
  },
  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    at: {
      sql: `at`,
      type: `time`,
      granularities: {
        fiscal_year: { interval: `1 year`, offset: `3 months` },
        two_weeks: { interval: `2 weeks`, origin: `2024-01-01` },
      },
    },
  },
});

cube(`events`, {
  extends: base_events,
  joins: {
    accounts: {
      sql: `${CUBE}.account_id = ${accounts}.id`,
      relationship: `many_to_one`,
    },
  },
  measures: {
    value: { sql: `value`, type: `sum` },
    rolling_value: { sql: `value`, type: `sum`, rollingWindow: { trailing: `7 day` } },
    running_count: { type: `count`, rollingWindow: { trailing: `unbounded` } },
  },
});

cube(`accounts`, {
  sqlTable: `public.accounts`,
  measures: {
    count: { type: `count` },
  },
  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    plan: { sql: `plan`, type: `string` },
    lifetime_events: { sql: `${events.count}`, type: `number`, subQuery: true },
  },
});
