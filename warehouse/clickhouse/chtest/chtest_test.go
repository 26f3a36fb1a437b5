package chtest_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/clickhouse/chtest"
)

var demoTables = []string{"orders_raw", "customers_raw", "products_raw"}

// TestServer: a server with the demo data (1000 orders) copied from
// DuckDB answers as DuckDB does — count and sum(amount), and row for row —
// as the cubegate user over the native protocol, through the gateway's
// DSN too; a cancelled query is gone from the server; Stop and Restart
// keep the data.
func TestServer(t *testing.T) {
	ctx := context.Background()
	duck, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	if err := app.GenerateDemoData(ctx, duck, app.SizesFor(1000)); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	ch := chtest.Start(t)
	t.Logf("chtest.Start: %v", time.Since(began))
	began = time.Now()
	for _, table := range demoTables {
		ch.CopyTable(t, duck, "public."+table, "public."+table)
	}
	t.Logf("CopyTable of the demo data (1000 orders): %v", time.Since(began))

	u, err := url.Parse(ch.DSN(chtest.Database))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); u.Scheme != "clickhouse" || u.User.Username() != "cubegate" || pw != ch.Password ||
		u.Host != "127.0.0.1:"+strconv.Itoa(ch.Port) || u.Host != ch.Addr() || u.Path != "/public" {
		t.Errorf("DSN = %s", ch.DSN(chtest.Database))
	}

	conn := ch.Conn(t, chtest.Database)
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("ClickHouse %s", version)

	var wantN int
	var wantSum string
	if err := duck.DB().QueryRowContext(ctx, `SELECT count(*), sum(amount)::VARCHAR FROM public.orders_raw`).Scan(&wantN, &wantSum); err != nil {
		t.Fatal(err)
	}
	var n uint64
	var sum decimal.Decimal
	// Unqualified: the connection's database is public.
	if err := conn.QueryRow(ctx, `SELECT count(), sum(amount) FROM orders_raw`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || int(n) != wantN || sum.StringFixed(2) != wantSum {
		t.Errorf("count(), sum(amount) = %d, %s; DuckDB: %d, %s", n, sum.StringFixed(2), wantN, wantSum)
	}

	// The gateway's DSN, as clickhouse-go's database/sql driver reads it,
	// with a client-side bound parameter.
	db, err := sql.Open("clickhouse", ch.DSN(chtest.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var completed uint64
	if err := db.QueryRowContext(ctx, `SELECT count() FROM orders_raw WHERE status = $1`, "completed").Scan(&completed); err != nil {
		t.Fatal(err)
	}
	var wantCompleted int
	if err := duck.DB().QueryRowContext(ctx, `SELECT count(*) FROM public.orders_raw WHERE status = 'completed'`).Scan(&wantCompleted); err != nil {
		t.Fatal(err)
	}
	if int(completed) != wantCompleted || completed == 0 {
		t.Errorf("completed orders = %d, DuckDB %d", completed, wantCompleted)
	}

	// The declared types.
	// (18.16's system.columns has no position: its rows are in the
	// table's order.)
	rows, err := conn.Query(ctx, `SELECT name, type, is_in_sorting_key FROM system.columns
WHERE database = 'public' AND table = 'orders_raw'`)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for rows.Next() {
		var c, ty string
		var key uint8
		if err := rows.Scan(&c, &ty, &key); err != nil {
			t.Fatal(err)
		}
		s := c + " " + ty
		if key == 1 {
			s += " KEY"
		}
		types = append(types, s)
	}
	rows.Close()
	want := "id Int32 KEY, status Nullable(String), amount Nullable(Decimal(10, 2)), created_at Nullable(DateTime), " +
		"customer_id Nullable(Int32), product_id Nullable(Int32), quantity Nullable(Int32), discount Nullable(Decimal(4, 2)), " +
		"shipped_at Nullable(DateTime), is_gift Nullable(UInt8), channel Nullable(String)"
	if got := strings.Join(types, ", "); got != want {
		t.Errorf("orders_raw's columns:\n got %s\nwant %s", got, want)
	}

	// Every row of every table, alike.
	for _, table := range demoTables {
		want := duckRows(t, duck, table)
		got := chRows(t, conn, table)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, DuckDB %d", table, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: row %d:\n got %s\nwant %s", table, i, got[i], want[i])
			}
		}
	}

	// Cancelling the context cancels the query on the server.
	qctx, cancel := context.WithCancel(clickhouse.Context(ctx, clickhouse.WithQueryID("chtest-cancel")))
	done := make(chan error, 1)
	go func() {
		var x uint64
		done <- conn.QueryRow(qctx, `SELECT count() FROM system.numbers WHERE sipHash64(number) % 7 = 3`).Scan(&x)
	}()
	running := func() uint64 {
		var n uint64
		if err := ch.AdminConn().QueryRow(ctx, `SELECT count() FROM system.processes WHERE query_id = 'chtest-cancel'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); running() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the query to cancel did not start")
		}
	}
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a cancelled query answered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled query did not return within 5 s")
	}
	for running() != 0 {
		if time.Since(cancelled) > time.Second {
			t.Fatal("a cancelled query still runs on the server a second later")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a cancelled query was gone from system.processes %v after the cancel", time.Since(cancelled))

	began = time.Now()
	ch.Stop()
	t.Logf("Stop: %v", time.Since(began))
	if err := conn.Ping(ctx); err == nil {
		t.Error("a stopped server answers")
	}
	began = time.Now()
	ch.Restart()
	t.Logf("Restart: %v", time.Since(began))
	if err := conn.QueryRow(ctx, `SELECT count() FROM orders_raw`).Scan(&n); err != nil || n != 1000 {
		t.Errorf("after Restart: %d orders, %v", n, err)
	}
}

// TestCopyTableTypes: the types CopyTable maps, and the values 18.16
// cannot hold refused rather than changed.
func TestCopyTableTypes(t *testing.T) {
	ctx := context.Background()
	duck, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	ch := chtest.Start(t)
	for _, q := range []string{
		`CREATE TABLE t (id BIGINT, s SMALLINT, f REAL, d DOUBLE, n NUMERIC(20,10), b BOOLEAN, day DATE, u UUID, txt VARCHAR)`,
		`INSERT INTO t VALUES (1, -2, 1.5, 2.25, 12345.6789012345, true, DATE '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x'),
			(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		`CREATE TABLE frac (id INTEGER, ts TIMESTAMP)`,
		`INSERT INTO frac VALUES (1, TIMESTAMP '2024-01-02 03:04:05.5')`,
		`CREATE TABLE old (id INTEGER, ts TIMESTAMP)`,
		`INSERT INTO old VALUES (1, TIMESTAMP '1969-12-31 23:59:59')`,
	} {
		if _, err := duck.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	ch.CopyTable(t, duck, "t", "t")
	got := ch.Client(t, chtest.Database, "--query", "SELECT * FROM t ORDER BY id FORMAT TSV")
	want := "1\t-2\t1.5\t2.25\t12345.6789012345\t1\t2024-02-29\ta0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\tx\n" +
		"2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n"
	if got != want {
		t.Errorf("t:\n got %q\nwant %q", got, want)
	}
	types := ch.Client(t, chtest.Database, "--query", "SELECT groupArray(type) FROM system.columns WHERE database = 'public' AND table = 't'")
	if want := "['Int64','Nullable(Int16)','Nullable(Float32)','Nullable(Float64)','Nullable(Decimal(20, 10))','Nullable(UInt8)','Nullable(Date)','Nullable(UUID)','Nullable(String)']\n"; types != want {
		t.Errorf("t's types:\n got %s\nwant %s", types, want)
	}

	for table, wantErr := range map[string]string{"frac": "fraction of a second", "old": "outside ClickHouse's DateTime"} {
		err := chtest.CopyTable(ctx, ch.AdminConn(), duck, table, "public."+table)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("CopyTable of %s: %v, want an error with %q", table, err, wantErr)
		}
	}
}

func duckRows(t *testing.T, duck *warehouse.DuckDB, table string) []string {
	t.Helper()
	rows, err := duck.Query(context.Background(), "SELECT * FROM public."+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, format(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func chRows(t *testing.T, conn driver.Conn, table string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT * FROM public."+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts := rows.ColumnTypes()
	ptrs := make([]any, len(cts))
	for i, c := range cts {
		ptrs[i] = reflect.New(c.ScanType()).Interface()
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			v := reflect.ValueOf(p).Elem()
			if v.Kind() == reflect.Pointer { // Nullable
				if v.IsNil() {
					continue
				}
				v = v.Elem()
			}
			row[i] = v.Interface()
		}
		out = append(out, format(row))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// format writes a row alike from either side: a bool as UInt8 holds it,
// a decimal without trailing zeros, every integer as a decimal number.
func format(vals []any) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
			s[i] = "NULL"
		case bool:
			s[i] = "0"
			if x {
				s[i] = "1"
			}
		case time.Time:
			s[i] = x.UTC().Format(time.RFC3339Nano)
		case pgtype.Numeric:
			s[i] = decimal.NewFromBigInt(x.Int, x.Exp).String()
		case decimal.Decimal:
			s[i] = x.String()
		default:
			s[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(s, " | ")
}
