package sqldb

import (
	"reflect"
	"testing"
)

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
