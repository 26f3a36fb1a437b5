package planner

import (
	"context"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
)

// thirdDialect is a warehouse neither built in: PostgreSQL's SQL but for
// its own spelling of lower(), integer division, DOUBLE PRECISION and
// generate_series — all in this one type, as a new dialect file would
// have it. Nothing outside it changes for the compiler and the push-down
// to write its SQL.
type thirdDialect struct{ cubes.Postgres }

func (thirdDialect) Name() string { return "third" }
func (thirdDialect) FunctionName(name string) string {
	if name == "lower" {
		return "lcase"
	}
	return name
}
func (thirdDialect) Operator(op string) string {
	if op == "/" {
		return "DIV"
	}
	return op
}
func (thirdDialect) CastType(name string, mods []string) (string, []string) {
	if name == "DOUBLE PRECISION" {
		return "FLOAT64", mods
	}
	return name, mods
}
func (thirdDialect) Function(c cubes.Call) (string, bool, error) {
	if c.Name == "generate_series" {
		args, err := c.Args()
		return "range(" + strings.Join(args, ", ") + ")", true, err
	}
	return "", false, nil
}

func init() { cubes.RegisterDialect(thirdDialect{}) }

func TestThirdDialect(t *testing.T) {
	if d, ok := cubes.DialectByName("third"); !ok || d.Name() != "third" {
		t.Fatal("a dialect registered in its own file is not found by name")
	}
	s := testSession(t)
	s.h.dialect = thirdDialect{}
	explain := func(sql string) string {
		t.Helper()
		tree, err := pg_query.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := s.explain(context.Background(), tree.Stmts[0].Stmt, false)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return strings.Join(lines, "\n")
	}
	for _, c := range []struct{ sql, want string }{
		{`SELECT lower(status) AS s, MEASURE(count) FROM orders GROUP BY 1`, `lcase("__q1"."orders.status")`},
		{`SELECT status, SUM(count) / 2 AS half FROM orders GROUP BY 1`, `DIV`},
		{`SELECT CAST(amount AS double precision) AS a FROM orders`, `AS FLOAT64)`},
		{`SELECT MEASURE(count) AS n FROM orders`, `Warehouse SQL (third):`},
		{`SELECT status, generate_series(1, 3) AS g FROM orders`, `range(`},
	} {
		if got := explain(c.sql); !strings.Contains(got, c.want) {
			t.Errorf("%s: want %q in\n%s", c.sql, c.want, got)
		}
	}
}
