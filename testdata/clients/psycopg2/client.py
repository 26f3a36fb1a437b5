"""psycopg2 against cubegate, run by cmd/cubegate/app/clients_test.go with
/usr/bin/python3: client.py DSN. Prints key=value lines."""
import sys

import psycopg2

conn = psycopg2.connect(sys.argv[1])
# A named cursor: DECLARE … CURSOR WITHOUT HOLD / FETCH FORWARD n inside a transaction.
with conn.cursor(name="months") as cur:
    cur.itersize = 7
    cur.execute(
        "SELECT date_trunc('month', created_at) AS m, MEASURE(count) FROM orders "
        "WHERE status = %s GROUP BY 1 ORDER BY 1",
        ("completed",),
    )
    rows = list(cur)
print("named_rows=%d" % len(rows))
print("named_sum=%d" % sum(r[1] for r in rows))
print("first_month=%s" % rows[0][0].isoformat())
conn.commit()

cur = conn.cursor()
try:
    cur.execute("SELECT MEASURE(count) FROM nope")
except psycopg2.Error as e:
    print("error_state=%s" % e.pgcode)
conn.rollback()
cur.execute("SELECT channel, SUM(total_amount) FROM orders WHERE amount > %s GROUP BY 1 ORDER BY 1", (500,))
for channel, amount in cur.fetchall():
    print("amount.%s=%s" % (channel, amount))
conn.close()
