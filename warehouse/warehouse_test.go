package warehouse_test

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Both engines normalize the same SQL results to the same Go values.
func TestValuesNormalizeAlike(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	pgw, err := warehouse.Open(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pgw.Close()
	duck, err := warehouse.Open(ctx, "duckdb::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	const q = `SELECT CAST(42 AS INTEGER), CAST(7 AS BIGINT), CAST(12.50 AS DECIMAL(10,2)), CAST(1.5 AS DOUBLE PRECISION),
		'x', true, CAST('2023-02-01 10:20:30' AS TIMESTAMP), CAST(NULL AS TEXT)`
	want := []any{int64(42), int64(7), pgtype.Numeric{Int: big.NewInt(1250), Exp: -2, Valid: true}, 1.5,
		"x", true, time.Date(2023, 2, 1, 10, 20, 30, 0, time.UTC), nil}
	for _, w := range []warehouse.Warehouse{pgw, duck} {
		rows, err := w.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", w.Dialect(), err)
		}
		if !rows.Next() {
			t.Fatalf("%s: no row: %v", w.Dialect(), rows.Err())
		}
		got, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !equalValue(got[i], want[i]) {
				t.Errorf("%s: column %d = %#v (%T), want %#v", w.Dialect(), i, got[i], got[i], want[i])
			}
		}
		rows.Close()
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
		return at.Equal(bt)
	}
	return a == b
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	_, err := warehouse.Open(context.Background(), "mysql://u:secret@h/db")
	if err == nil {
		t.Fatal("want an error")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Fatalf("error leaks the password: %s", got)
	}
}
