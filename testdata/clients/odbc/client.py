"""psqlODBC (through unixODBC and pyodbc) against cubegate, as Tableau and Excel
run it: server-side prepared statements (UseServerSidePrepare=1) and cursors
(UseDeclareFetch=1, Fetch=10). Run by cmd/cubegate/app/clients_test.go:

  /usr/bin/python3 client.py CONNSTR

Prints "key=value" lines the Go test compares with the warehouse."""
import sys

import pyodbc


def main(connstr):
    conn = pyodbc.connect(connstr, autocommit=False)
    cur = conn.cursor()
    # The same parameterized statement, again and again: psqlODBC names it
    # _PLAN0x… and prepares it on the server.
    for rnd in range(3):
        for channel in ("web", "store"):
            cur.execute("SELECT status, MEASURE(count) AS n FROM orders WHERE channel = ? GROUP BY 1 ORDER BY 1", channel)
            rows = cur.fetchall()
            print(f"round{rnd}.{channel}=" + " ".join(f"{r[0]}:{r[1]}" for r in rows))
    # Pushed down, with a parameter, fetched in blocks of 10 through a cursor.
    cur.execute("SELECT upper(status) AS s, count(*) AS n FROM (SELECT status FROM orders WHERE channel = ?) o GROUP BY 1 ORDER BY 1", "web")
    print("pushdown=" + " ".join(f"{r[0]}:{r[1]}" for r in cur.fetchall()))
    cur.execute("SELECT id FROM orders ORDER BY id LIMIT 25")
    ids = [r[0] for r in cur.fetchall()]
    print(f"rows={len(ids)} first={ids[0]} last={ids[-1]}")
    # An error, then the connection goes on.
    try:
        cur.execute("SELECT nope FROM orders")
    except pyodbc.Error as e:
        print("error_state=" + e.args[0])
    conn.rollback()
    cur.execute("SELECT count(*) FROM orders")
    print("after_error_count=" + str(cur.fetchone()[0]))
    conn.rollback()
    conn.close()
    # Autocommit, a fresh cursor for each execution, statements freed and
    # their names used again (psqlODBC names them by address).
    conn = pyodbc.connect(connstr, autocommit=True)
    total = 0
    for i in range(6):
        c = conn.cursor()
        c.execute("SELECT MEASURE(count) FROM orders WHERE channel = ? AND status <> ?", "web", "x" * (i + 1))
        total += c.fetchone()[0]
        c.close()
    print(f"autocommit_total={total}")
    c = conn.cursor()
    for q in ("SELECT count(*) FROM orders WHERE channel = ?", "SELECT count(*) FROM orders WHERE status = ?"):
        c.execute(q, "web")
        print("reuse=" + str(c.fetchone()[0]))
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
