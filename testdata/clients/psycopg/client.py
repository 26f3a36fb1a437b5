"""psycopg 3 (python3-psycopg) against cubegate: server-side (named) cursors,
which psycopg declares with DECLARE and then describes and fetches as
protocol portals, and prepared statements. Run by
cmd/cubegate/app/clients_test.go:

  /usr/bin/python3 client.py CONNSTR

Prints "key=value" lines the Go test compares with the warehouse."""
import sys

import psycopg


def main(connstr):
    with psycopg.connect(connstr) as conn:
        with conn.cursor(name="acc_srv") as cur:
            cur.itersize = 7
            cur.execute("SELECT status, MEASURE(count) AS n FROM orders GROUP BY 1 ORDER BY 1")
            print("named_columns=" + ",".join(d.name for d in cur.description))
            rows = cur.fetchall()
            print("named=" + " ".join(f"{r[0]}:{r[1]}" for r in rows))
        with conn.cursor(name="scroller") as cur:
            cur.execute("SELECT id FROM orders WHERE channel = %s ORDER BY id LIMIT 30", ("web",))
            first = cur.fetchmany(10)
            rest = list(cur)
            print(f"iterated={len(first) + len(rest)} first={first[0][0]}")
        # Prepared on the server after a few executions (prepare_threshold).
        total = 0
        for _ in range(8):
            total += conn.execute("SELECT MEASURE(count) FROM orders WHERE channel = %s", ("store",)).fetchone()[0]
        print(f"prepared_total={total}")
        try:
            conn.execute("SELECT nope FROM orders")
        except psycopg.Error as e:
            print("error_state=" + e.sqlstate)
        conn.rollback()
        print("after_error_count=" + str(conn.execute("SELECT count(*) FROM orders").fetchone()[0]))


if __name__ == "__main__":
    main(sys.argv[1])
