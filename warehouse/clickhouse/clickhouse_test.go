package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/clickhouse"
	"github.com/cubegate/cubegate/warehouse/clickhouse/chtest"
)

type env struct {
	ch   *chtest.Server
	duck *warehouse.DuckDB
	w    warehouse.Warehouse
}

func setup(t *testing.T) *env {
	ctx := context.Background()
	duck, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { duck.Close() })
	if err := app.GenerateDemoData(ctx, duck, app.SizesFor(1000)); err != nil {
		t.Fatal(err)
	}
	// The features model's tables: 40 accounts, 3000 events from
	// 2023-06 to 2024-05 (some on the same second, some NULL times;
	// whole seconds: 18.16's DateTime has no fraction).
	for _, q := range []string{
		`CREATE TABLE public.accounts AS SELECT i AS id, CASE WHEN i % 3 = 0 THEN 'free' WHEN i % 3 = 1 THEN 'pro' ELSE NULL END AS plan FROM range(1, 41) t(i)`,
		`CREATE TABLE public.events AS SELECT i AS id, 1 + (i * 7) % 45 AS account_id,
			CASE WHEN i % 97 = 0 THEN NULL ELSE TIMESTAMP '2023-06-01 00:00:00' + to_seconds(CAST(i AS BIGINT) * 10512 + (i % 7)) END AS at,
			CAST((i * 13) % 100 AS DECIMAL(10,2)) / 4 AS value FROM range(1, 3001) t(i)`,
	} {
		if _, err := duck.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	ch := chtest.Start(t)
	for _, table := range []string{"orders_raw", "customers_raw", "products_raw", "accounts", "events"} {
		ch.CopyTable(t, duck, "public."+table, "public."+table)
	}
	w, err := warehouse.Open(ctx, ch.DSN(chtest.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &env{ch: ch, duck: duck, w: w}
}

func TestClickHouse(t *testing.T) {
	e := setup(t)
	t.Run("Values", e.values)
	t.Run("Errors", e.errors)
	t.Run("Args", e.args)
	t.Run("Cancel", e.cancel)
	t.Run("Golden", e.golden)
	t.Run("PlannerGoldens", e.plannerGoldens)
	t.Run("Redact", e.redact)
}

func one(t *testing.T, w warehouse.Warehouse, q string, args ...any) ([]any, []uint32) {
	t.Helper()
	rows, err := w.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("%s: no row: %v", q, rows.Err())
	}
	v, err := rows.Values()
	if err != nil {
		t.Fatal(err)
	}
	return append([]any(nil), v...), rows.Types()
}

// values: the same table as warehouse_test's TestValuesNormalizeAlike,
// in ClickHouse's SQL (a boolean is UInt8 1), Nullable columns too.
func (e *env) values(t *testing.T) {
	q := `SELECT CAST(42 AS Int32), CAST(7 AS Int64), toDecimal64('12.50', 2), CAST(1.5 AS Float64),
		'x', CAST(1 AS UInt8), toDateTime('2023-02-01 10:20:30'), CAST(NULL AS Nullable(String)), toDate('2023-02-01'),
		CAST(9223372036854775807 AS UInt64), CAST(1.25 AS Float32), pi(),
		CAST(5 AS Nullable(Int64)), CAST(toDecimal64('1.5', 1) AS Nullable(Decimal(10, 1))), CAST(toDateTime('2023-02-01 10:20:30') AS Nullable(DateTime)),
		CAST('a' AS Enum8('a' = 1, 'b' = 2)), toUUID('6ba7b810-9dad-11d1-80b4-00c04fd430c8'), CAST(-3 AS Int8), CAST(300 AS UInt16), CAST(70000 AS UInt32)`
	want := []any{int64(42), int64(7), pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}, 1.5,
		"x", int64(1), time.Date(2023, 2, 1, 10, 20, 30, 0, time.UTC), nil, time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC),
		int64(math.MaxInt64), 1.25, math.Pi,
		int64(5), pgtype.Numeric{Int: big.NewInt(15), Exp: -1, Valid: true}, time.Date(2023, 2, 1, 10, 20, 30, 0, time.UTC),
		"a", [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, int64(-3), int64(300), int64(70000)}
	wantTypes := []uint32{23, 20, 1700, 701, 25, 21, 1114, 25, 1082, 20, 700, 701, 20, 1700, 1114, 25, 2950, 21, 23, 20}
	for _, args := range [][]any{nil, {int64(1)}} {
		qq := q
		if args != nil {
			qq += " FROM (SELECT 1 AS o) AS t WHERE o = $1"
		}
		got, types := one(t, e.w, qq, args...)
		for i := range want {
			if !equalValue(got[i], want[i]) {
				t.Errorf("args %v: column %d = %#v (%T), want %#v", args, i, got[i], got[i], want[i])
			}
			if types[i] != wantTypes[i] {
				t.Errorf("args %v: column %d type %d, want %d", args, i, types[i], wantTypes[i])
			}
		}
	}
}

func (e *env) errors(t *testing.T) {
	for _, c := range []struct{ sql, code string }{
		{"SELECT CAST(18446744073709551615 AS UInt64)", "22003"}, // a UInt64 is a bigint: past it, an error
		{"SELECT * FROM public.nope", "42P01"},
		{"SELECT nope FROM public.orders_raw", "42703"},
		{"SELEC 1", "42601"},
		{"SELECT nosuchfunc(1)", "42883"},
		{"SELECT intDiv(1, 0)", "22012"},
		{"SELECT * FROM nodb.t", "3D000"},
	} {
		rows, err := e.w.Query(context.Background(), c.sql)
		if err == nil {
			for rows.Next() {
				if _, verr := rows.Values(); verr != nil {
					err = verr
					break
				}
			}
			if err == nil {
				err = rows.Err()
			}
			rows.Close()
		}
		var we *warehouse.Error
		if !errors.As(err, &we) || we.Code != c.code {
			t.Errorf("%s: %v (%T), want SQLSTATE %s", c.sql, err, err, c.code)
		}
	}
}

// args: $n bound by the driver (repeated, quoted), ISO timestamps as
// DateTime.
func (e *env) args(t *testing.T) {
	got, _ := one(t, e.w, "SELECT $2, $1, $2 + $1, concat($3, '$1', `x`), toDateTime('2023-03-10 05:00:00') >= $4, toDateTime('2023-03-15 03:59:59') <= $5 FROM (SELECT 'y' AS `x`) AS t",
		int64(1), int64(10), "a'\\", "2023-03-10T05:00:00.000Z", "2023-03-15T03:59:59.999Z")
	want := []any{int64(10), int64(1), int64(11), "a'\\$1y", int64(1), int64(1)}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("column %d = %#v, want %#v", i, got[i], want[i])
		}
	}
}

// cancel: a cancelled statement and one past its deadline are gone from
// the server's system.processes within a second.
func (e *env) cancel(t *testing.T) {
	admin := e.ch.AdminConn()
	running := func() int {
		var n uint64
		if err := admin.QueryRow(context.Background(), "SELECT count() FROM system.processes WHERE query LIKE 'SELECT count() FROM numbers(%' AND query NOT LIKE '%system.processes%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	for _, how := range []string{"cancel", "deadline"} {
		ctx, cancel := context.WithCancel(context.Background())
		if how == "deadline" {
			ctx, cancel = context.WithTimeout(context.Background(), 700*time.Millisecond)
		}
		done := make(chan error, 1)
		go func() {
			rows, err := e.w.Query(ctx, "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 0")
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for running() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the statement never ran")
			}
			time.Sleep(20 * time.Millisecond)
		}
		began := time.Now()
		if how == "cancel" {
			cancel()
		}
		err := <-done
		returned := time.Since(began)
		var took time.Duration
		for {
			if running() == 0 {
				took = time.Since(began)
				break
			}
			if time.Since(began) > 5*time.Second {
				t.Fatalf("%s: the statement still runs on the server after 5 s", how)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: returned %v after %v; gone from system.processes %v after it was seen running", how, err, returned, took)
		if how == "cancel" && took > time.Second {
			t.Errorf("%s: the server's statement ended %v later", how, took)
		}
		if how == "deadline" && took > 1700*time.Millisecond {
			t.Errorf("%s: the server's statement ended %v after it was seen running (deadline 700 ms)", how, took)
		}
		if err == nil {
			t.Errorf("%s: no error", how)
		}
		cancel()
	}
	if got, _ := one(t, e.w, "SELECT 1"); fmt.Sprint(got[0]) != "1" {
		t.Errorf("after the cancels: SELECT 1 = %v", got[0])
	}
}

func (e *env) redact(t *testing.T) {
	_, err := warehouse.Open(context.Background(), "clickhouse://cubegate:sekret@127.0.0.1:1/public?timeout=1s")
	if err == nil || strings.Contains(err.Error(), "sekret") {
		t.Errorf("open of a closed port: %v", err)
	}
	_, err = warehouse.Open(context.Background(), "clickhouse://cubegate:sekret@127.0.0.1:1/public?bogus=1")
	if err == nil || strings.Contains(err.Error(), "sekret") {
		t.Errorf("unknown parameter: %v", err)
	}
	_, err = warehouse.Open(context.Background(), strings.Replace(e.ch.DSN("public"), e.ch.Password, "wrong", 1))
	if err == nil || strings.Contains(err.Error(), e.ch.Password) || !strings.Contains(err.Error(), "28P01") {
		t.Errorf("wrong password: %v", err)
	}
	t.Logf("wrong password: %v", err)
	// password_file=
	pf := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pf, []byte(e.ch.Password+"\n"), 0o600)
	dsn := strings.Replace(e.ch.DSN("public"), ":"+e.ch.Password+"@", "@", 1) + "?password_file=" + pf
	w, err := warehouse.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("password_file: %v", err)
	}
	w.Close()
	// $CUBEGATE_WAREHOUSE_PASSWORD
	t.Setenv(warehouse.PasswordEnv, e.ch.Password)
	w, err = warehouse.Open(context.Background(), strings.Replace(e.ch.DSN("public"), ":"+e.ch.Password+"@", "@", 1))
	if err != nil {
		t.Fatalf("%s: %v", warehouse.PasswordEnv, err)
	}
	w.Close()
}

func TestOptions(t *testing.T) {
	o, n, err := clickhouse.Options("clickhouses://u:p@h/db?max_conns=3&skip_verify=true")
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr[0] != "h:9440" || o.TLS == nil || !o.TLS.InsecureSkipVerify || n != 3 || o.Auth.Database != "db" || o.Auth.Password != "p" || o.Settings["join_use_nulls"] != 1 {
		t.Errorf("%+v %d", o, n)
	}
	o, _, err = clickhouse.Options("clickhouse://u@h:9001/db?secure=true")
	if err != nil || o.Addr[0] != "h:9001" || o.TLS == nil {
		t.Errorf("%+v %v", o, err)
	}
	if _, _, err := clickhouse.Options("clickhouse://u:sekret@h/db?secure=maybe"); err == nil || strings.Contains(err.Error(), "sekret") {
		t.Errorf("bad secure: %v", err)
	}
}

func equalValue(a, b any) bool {
	an, aok := a.(pgtype.Numeric)
	bn, bok := b.(pgtype.Numeric)
	if aok && bok {
		x := new(big.Rat).SetFrac(an.Int, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-an.Exp)), nil))
		y := new(big.Rat).SetFrac(bn.Int, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-bn.Exp)), nil))
		return x.Cmp(y) == 0
	}
	at, aok := a.(time.Time)
	bt, bok := b.(time.Time)
	if aok && bok {
		return at.Equal(bt) && bt.Location() == at.Location()
	}
	return a == b
}
