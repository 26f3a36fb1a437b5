package app_test

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// connectExtended connects pgx in its default mode: prepared statements,
// binary results where pgx knows the type.
func connectExtended(t *testing.T, connStr string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connStr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func checkExtended(t *testing.T, g *apptest.Gateway) {
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "ext")
	if err != nil {
		t.Fatal(err)
	}
	conn := connectExtended(t, connStr)

	t.Run("parameters, binary results", func(t *testing.T) {
		rows, err := conn.Query(ctx, `SELECT status, MEASURE(count), SUM(total_amount), MEASURE(last_order_at)
			FROM orders WHERE channel = $1 AND quantity >= $2 GROUP BY 1 ORDER BY 1 LIMIT $3`, "web", 2, 10)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			status string
			count  int64
			amount pgtype.Numeric
			last   time.Time
		}
		var got []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.status, &r.count, &r.amount, &r.last); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := direct(t, g, `SELECT status, count(*), sum(amount), max(created_at) FROM public.orders_raw
			WHERE channel = 'web' AND quantity >= 2 GROUP BY 1 ORDER BY 1`)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%d rows, want %d", len(got), len(want))
		}
		for i, r := range got {
			amount := cell(r.amount)
			if r.status != want[i][0] || big.NewInt(r.count).String() != want[i][1] || amount != want[i][2] ||
				r.last.UTC().Format("2006-01-02 15:04:05") != want[i][3] {
				t.Fatalf("row %d = %v %d %s %v, want %v", i, r.status, r.count, amount, r.last, want[i])
			}
		}
	})

	t.Run("describe infers parameter types", func(t *testing.T) {
		sd, err := conn.Prepare(ctx, "typed", `SELECT date_trunc('month', created_at), MEASURE(count) FROM orders
			WHERE status = $1 AND amount > $2 AND created_at >= $3 AND is_gift = $4 GROUP BY 1 LIMIT $5`)
		if err != nil {
			t.Fatal(err)
		}
		want := []uint32{pgtype.TextOID, pgtype.NumericOID, pgtype.TimestampOID, pgtype.BoolOID, pgtype.Int8OID}
		for i, oid := range want {
			if sd.ParamOIDs[i] != oid {
				t.Fatalf("param types %v, want %v", sd.ParamOIDs, want)
			}
		}
		if len(sd.Fields) != 2 || sd.Fields[0].DataTypeOID != pgtype.TimestampOID || sd.Fields[1].DataTypeOID != pgtype.Int8OID {
			t.Fatalf("fields %+v", sd.Fields)
		}
		var n int64
		if err := conn.QueryRow(ctx, "typed", "completed", 100.5, time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), false, 1).Scan(new(time.Time), &n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no orders")
		}
	})

	t.Run("batch pipelined before one Sync", func(t *testing.T) {
		b := &pgx.Batch{}
		for _, ch := range []string{"web", "mobile", "store", "partner"} {
			b.Queue(`SELECT MEASURE(count) FROM orders WHERE channel = $1`, ch)
		}
		br := conn.SendBatch(ctx, b)
		var total int64
		for range 4 {
			var n int64
			if err := br.QueryRow().Scan(&n); err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		if total != e2eOrders {
			t.Fatalf("total %d", total)
		}
	})

	t.Run("Execute with a row limit suspends and resumes", func(t *testing.T) {
		pc := conn.PgConn()
		if _, err := pc.Prepare(ctx, "months", `SELECT date_trunc('month', created_at), MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`, nil); err != nil {
			t.Fatal(err)
		}
		fe := pc.Frontend()
		fe.Send(&pgproto3.Bind{PreparedStatement: "months", DestinationPortal: "p"})
		fe.Send(&pgproto3.Execute{Portal: "p", MaxRows: 10})
		fe.Send(&pgproto3.Execute{Portal: "p", MaxRows: 10})
		fe.Send(&pgproto3.Execute{Portal: "p", MaxRows: 100})
		fe.Send(&pgproto3.Sync{})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var seq []string
		rows := 0
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch m := msg.(type) {
			case *pgproto3.DataRow:
				rows++
			case *pgproto3.PortalSuspended:
				seq = append(seq, "suspended")
			case *pgproto3.CommandComplete:
				seq = append(seq, string(m.CommandTag))
			case *pgproto3.ErrorResponse:
				t.Fatalf("error %+v", m)
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		if rows != 36 || len(seq) != 3 || seq[0] != "suspended" || seq[1] != "suspended" || seq[2] != "SELECT 16" {
			t.Fatalf("rows %d, sequence %v", rows, seq)
		}
	})

	t.Run("after an error everything until Sync is discarded", func(t *testing.T) {
		b := &pgx.Batch{}
		b.Queue(`SELECT MEASURE(count) FROM nope`)
		b.Queue(`SELECT MEASURE(count) FROM orders`)
		err := conn.SendBatch(ctx, b).Close()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42P01" {
			t.Fatalf("err = %v", err)
		}
		var n int64
		if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != e2eOrders {
			t.Fatalf("after error: %d %v", n, err)
		}
	})

	t.Run("failed transaction until ROLLBACK", func(t *testing.T) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT nope FROM orders`); err == nil {
			t.Fatal("no error")
		}
		_, err = tx.Exec(ctx, `SELECT MEASURE(count) FROM orders`)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25P02" {
			t.Fatalf("err = %v, want 25P02", err)
		}
		if conn.PgConn().TxStatus() != 'E' {
			t.Fatalf("status %c", conn.PgConn().TxStatus())
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if conn.PgConn().TxStatus() != 'I' {
			t.Fatalf("status %c after rollback", conn.PgConn().TxStatus())
		}
	})
}

func TestExtendedProtocolDuckDB(t *testing.T) {
	checkExtended(t, apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)}))
}

func TestExtendedProtocolPostgres(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(e2eOrders)})
	checkExtended(t, g)
}
