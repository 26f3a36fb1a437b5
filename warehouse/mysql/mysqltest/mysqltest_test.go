package mysqltest_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/mysql/mysqltest"
)

var demoTables = []string{"orders_raw", "customers_raw", "products_raw"}

// TestServer: a server with the demo data (1000 orders) copied from
// DuckDB answers as DuckDB does, row for row, as the cubegate user over
// TCP; CONVERT_TZ knows named zones; Stop and Restart keep the data.
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
	my := mysqltest.Start(t)
	t.Logf("mysqltest.Start: %v", time.Since(began))
	began = time.Now()
	for _, table := range demoTables {
		my.CopyTable(t, duck, "public."+table, "public."+table)
	}
	t.Logf("CopyTable of the demo data (1000 orders): %v", time.Since(began))

	u, err := url.Parse(my.DSN(mysqltest.Database))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); u.Scheme != "mysql" || u.User.Username() != "cubegate" || pw != my.Password ||
		u.Host != "127.0.0.1:"+strconv.Itoa(my.Port) || u.Path != "/public" {
		t.Errorf("DSN = %s", my.DSN(mysqltest.Database))
	}

	if got, want := my.GoDSN("public"), fmt.Sprintf("cubegate:%s@tcp(127.0.0.1:%d)/public?parseTime=true", my.Password, my.Port); got != want {
		t.Errorf("GoDSN = %s, want %s", got, want)
	}

	db := my.DB(t, mysqltest.Database)
	var wantN, n int
	var wantSum, sum string
	if err := duck.DB().QueryRowContext(ctx, `SELECT count(*), sum(amount)::VARCHAR FROM public.orders_raw`).Scan(&wantN, &wantSum); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*), sum(amount) FROM public.orders_raw`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || n != wantN || sum != wantSum {
		t.Errorf("count(*), sum(amount) = %d, %s; DuckDB: %d, %s", n, sum, wantN, wantSum)
	}

	var ny string
	if err := db.QueryRowContext(ctx, `SELECT CAST(CONVERT_TZ('2023-03-12 12:00:00','UTC','America/New_York') AS CHAR)`).Scan(&ny); err != nil {
		t.Fatal(err)
	}
	if ny != "2023-03-12 08:00:00" {
		t.Errorf("CONVERT_TZ('2023-03-12 12:00:00','UTC','America/New_York') = %s", ny)
	}

	// The declared types and keys.
	var types []string
	rows, err := db.QueryContext(ctx, `SELECT column_name, column_type, column_key FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'orders_raw' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c, ty, key string
		if err := rows.Scan(&c, &ty, &key); err != nil {
			t.Fatal(err)
		}
		types = append(types, strings.TrimSpace(c+" "+ty+" "+key))
	}
	rows.Close()
	want := "id int(11) PRI, status varchar(255), amount decimal(10,2), created_at datetime(6), customer_id int(11), product_id int(11), " +
		"quantity int(11), discount decimal(4,2), shipped_at datetime(6), is_gift tinyint(1), channel varchar(255)"
	if got := strings.Join(types, ", "); got != want {
		t.Errorf("orders_raw's columns:\n got %s\nwant %s", got, want)
	}

	// Every row of every table, alike.
	for _, table := range demoTables {
		want := duckRows(t, duck, table)
		got := myRows(t, db, table)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, DuckDB %d", table, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: row %d:\n got %s\nwant %s", table, i, got[i], want[i])
			}
		}
	}

	db.SetMaxIdleConns(0) // no connection of the pool is found broken after Restart
	my.Stop()
	if err := db.PingContext(ctx); err == nil {
		t.Error("a stopped server answers")
	}
	my.Restart()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM public.orders_raw`).Scan(&n); err != nil || n != 1000 {
		t.Errorf("after Restart: %d orders, %v", n, err)
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

func myRows(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM public." + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = v
			if cts[i].DatabaseTypeName() == "TINYINT" && v != nil { // BOOLEAN
				row[i] = v.(int64) != 0
			}
		}
		out = append(out, format(row))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func format(vals []any) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
			s[i] = "NULL"
		case []byte:
			s[i] = string(x)
		case time.Time:
			s[i] = x.UTC().Format(time.RFC3339Nano)
		case pgtype.Numeric:
			b, _ := x.MarshalJSON()
			s[i] = string(b)
		default:
			s[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(s, " | ")
}
