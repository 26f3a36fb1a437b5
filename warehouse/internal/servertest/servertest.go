// Package servertest holds what the throwaway test servers of other
// engines (mysqltest, chtest) share: free ports and what a copied
// table's numeric columns were declared as. (pgtest keeps its own free
// port: package warehouse's own tests import it.)
package servertest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/warehouse"
)

// FreePort is a TCP port of 127.0.0.1 free a moment ago.
func FreePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// DeclaredDecimals reads the precision and scale of srcTable's numeric
// columns from src's information_schema (DuckDB's and PostgreSQL's alike);
// nothing when it cannot.
func DeclaredDecimals(ctx context.Context, src warehouse.Warehouse, srcTable string) map[string][2]int {
	schema, table := "current_schema()", srcTable
	var args []any
	if i := strings.LastIndexByte(srcTable, '.'); i >= 0 {
		schema, table = "$2", srcTable[i+1:]
		args = append(args, table, srcTable[:i])
	} else {
		args = append(args, table)
	}
	out := map[string][2]int{}
	rows, err := src.Query(ctx, `SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns
WHERE table_name = $1 AND table_schema = `+schema+` AND numeric_precision_radix = 10`, args...)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return out
		}
		name, _ := v[0].(string)
		p, okP := toInt(v[1])
		sc, okS := toInt(v[2])
		if name != "" && okP && okS && p > 0 {
			out[name] = [2]int{p, sc}
		}
	}
	return out
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}
