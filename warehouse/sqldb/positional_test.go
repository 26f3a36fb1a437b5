package sqldb

import (
	"math/big"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestRescale(t *testing.T) {
	n := rescale(pgtype.Numeric{Int: big.NewInt(1664619), Exp: -1, Valid: true}, 2)
	if n.Int.Int64() != 16646190 || n.Exp != -2 {
		t.Fatalf("166461.9 at scale 2: %v e%d", n.Int, n.Exp)
	}
	if n := rescale(pgtype.Numeric{Int: big.NewInt(5), Exp: -3, Valid: true}, 2); n.Exp != -3 {
		t.Fatal("a value with more decimals than the scale was changed")
	}
}

func TestPositional(t *testing.T) {
	sql, args, err := Positional(`SELECT a FROM t WHERE x = $2 AND y = '$1 it''s' AND "c$1" = $1 -- $3
OR z IN ($1, $2) /* $9 */ AND w = $10`, []any{"a", 2, 3, 4, 5, 6, 7, 8, 9, "ten"})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT a FROM t WHERE x = ? AND y = '$1 it''s' AND "c$1" = ? -- $3
OR z IN (?, ?) /* $9 */ AND w = ?`
	if sql != want || !reflect.DeepEqual(args, []any{2, "a", "a", 2, "ten"}) {
		t.Fatalf("got %s %v", sql, args)
	}
	if _, _, err := Positional("SELECT $3", []any{1}); err == nil {
		t.Fatal("a placeholder without its argument was accepted")
	}
}
