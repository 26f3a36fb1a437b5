// Shared pieces of the oracle model, required by orders.js and
// catalog.js.
const schema = COMPILE_CONTEXT.schema || 'public';

// rawTable names a fixture table: table('orders') → public.orders_raw.
const table = (name) => `${schema}.${name}_raw`;

// A numeric primary key that clients may see (Cube hides keys otherwise).
function primaryKey(column = 'id') {
  return { sql: column, type: 'number', primaryKey: true, public: true };
}

// Plain column dimensions: columns('string', ['name', 'city']).
function columns(type, names) {
  const out = {};
  for (const name of names) {
    out[name] = { sql: name, type };
  }
  return out;
}

module.exports = { table, primaryKey, columns };
