package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// DECLARE / FETCH / MOVE / CLOSE over the simple protocol, as psqlODBC
// and psycopg use them: forward-only, streamed from the warehouse.
func TestCursors(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "cursors")
	if err != nil {
		t.Fatal(err)
	}
	conn := apptest.Connect(t, connStr)
	pc := conn.PgConn()
	exec := func(sql string) ([]*pgconn.Result, error) { return pc.Exec(ctx, sql).ReadAll() }
	mustTag := func(sql, tag string, rows int) {
		t.Helper()
		res, err := exec(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		last := res[len(res)-1]
		if last.CommandTag.String() != tag || len(last.Rows) != rows {
			t.Fatalf("%s: tag %q with %d rows, want %q with %d", sql, last.CommandTag, len(last.Rows), tag, rows)
		}
	}
	mustFail := func(sql, code string) {
		t.Helper()
		_, err := exec(sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("%s: err = %v, want %s", sql, err, code)
		}
	}
	const q = `SELECT date_trunc('month', created_at), MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`
	mustFail(`DECLARE c CURSOR FOR `+q, "25P01") // needs a transaction block without WITH HOLD
	mustTag(`BEGIN`, "BEGIN", 0)
	mustTag(`DECLARE c NO SCROLL CURSOR FOR `+q, "DECLARE CURSOR", 0)
	mustFail(`DECLARE c CURSOR FOR `+q, "42P03")
	mustFail(`SELECT 1`, "25P02") // the block failed above
	mustTag(`ROLLBACK`, "ROLLBACK", 0)
	mustTag(`BEGIN`, "BEGIN", 0)
	mustTag(`DECLARE c CURSOR WITHOUT HOLD FOR `+q, "DECLARE CURSOR", 0)
	mustTag(`FETCH NEXT FROM c`, "FETCH 1", 1)
	mustTag(`FETCH 5 IN c`, "FETCH 5", 5)
	mustTag(`MOVE FORWARD 10 IN c`, "MOVE 10", 0)
	res, err := exec(`FETCH FORWARD 2 FROM c`)
	if err != nil {
		t.Fatal(err)
	}
	want := direct(t, g, `SELECT date_trunc('month', created_at), count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1`)
	if got := string(res[0].Rows[0][1]); got != want[16][1] {
		t.Fatalf("row 17 count = %s, want %s", got, want[16][1])
	}
	mustTag(`FETCH ALL FROM c`, "FETCH 18", 18)
	mustTag(`FETCH ALL FROM c`, "FETCH 0", 0)
	mustFail(`FETCH BACKWARD 1 FROM c`, "55000")
	mustTag(`ROLLBACK`, "ROLLBACK", 0)
	mustTag(`DECLARE h CURSOR WITH HOLD FOR `+q, "DECLARE CURSOR", 0)
	mustTag(`FETCH 3 FROM h`, "FETCH 3", 3)
	mustFail(`FETCH 1 FROM c`, "34000") // ended with its transaction
	mustTag(`CLOSE h`, "CLOSE CURSOR", 0)
	mustFail(`FETCH 1 FROM h`, "34000")
	mustFail(`DECLARE s SCROLL CURSOR WITH HOLD FOR `+q, "0A000")
	mustTag(`DECLARE a CURSOR WITH HOLD FOR `+q+`; DECLARE b CURSOR WITH HOLD FOR `+q, "DECLARE CURSOR", 0)
	mustTag(`CLOSE ALL`, "CLOSE CURSOR ALL", 0)
	mustFail(`FETCH 1 FROM a`, "34000")
	// A binary cursor sends its rows in binary: the count is 8 bytes of int8.
	mustTag(`DECLARE bin BINARY CURSOR WITH HOLD FOR SELECT MEASURE(count) FROM orders`, "DECLARE CURSOR", 0)
	res, err = exec(`FETCH 1 FROM bin`)
	if err != nil {
		t.Fatal(err)
	}
	if v := res[0].Rows[0][0]; len(v) != 8 || res[0].FieldDescriptions[0].Format != 1 || fmt.Sprint(int64(v[4])<<24|int64(v[5])<<16|int64(v[6])<<8|int64(v[7])) != fmt.Sprint(e2eOrders) {
		t.Fatalf("binary cursor row %v (format %d)", v, res[0].FieldDescriptions[0].Format)
	}
}
