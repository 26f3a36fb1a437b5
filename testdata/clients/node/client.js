// node-postgres against cubegate, run by cmd/cubegate/app/clients_test.go:
// node client.js CONNECTION_STRING. Prints key=value lines.
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.argv[2] });
  await client.connect();
  const r1 = await client.query('SELECT status, MEASURE(count) AS n FROM orders WHERE channel = $1 AND quantity > $2 GROUP BY 1 ORDER BY 1', ['store', 1]);
  console.log('param_rows=' + r1.rows.length);
  console.log('param_sum=' + r1.rows.reduce((a, r) => a + Number(r.n), 0));
  for (let i = 0; i < 3; i++) {
    const r = await client.query({ name: 'by-tier', text: 'SELECT tier, MEASURE(count) AS n FROM customers WHERE tier = $1 GROUP BY 1', values: ['gold'] });
    console.log('named' + i + '=' + r.rows[0].n);
  }
  try {
    await client.query('SELECT MEASURE(count) FROM orders WHERE amount > $1', ['not a number']);
  } catch (e) {
    console.log('error_state=' + e.code);
  }
  const r3 = await client.query('SELECT MEASURE(count) AS n FROM orders');
  console.log('after_error_count=' + r3.rows[0].n);
  await client.end();
}

main().catch((e) => { console.error(e); process.exit(1); });
