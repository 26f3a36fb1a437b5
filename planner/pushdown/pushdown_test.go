package pushdown

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// The push-down in its own room: statements rendered for each dialect
// from a session that is only what the push-down reads of one (the
// planner's golden files show the same renderings chosen by the route).

// testSession answers as a session over the oracle's model would.
type testSession struct {
	params   []*string // $n values; nil: only described
	security auth.SecurityContext
}

func (s testSession) Const(n *pg_query.Node) (Value, bool) {
	if c := n.GetAConst(); c != nil {
		switch {
		case c.GetSval() != nil:
			return Value{Text: c.GetSval().GetSval(), Loc: c.GetLocation()}, true
		case c.GetIval() != nil:
			return Value{Text: strconv.Itoa(int(c.GetIval().GetIval())), Loc: c.GetLocation()}, true
		case c.GetBoolval() != nil:
			if c.GetBoolval().GetBoolval() {
				return Value{Text: "true"}, true
			}
			return Value{Text: "false"}, true
		}
	}
	return Value{}, false
}

func (s testSession) Param(pr *pg_query.ParamRef) (Value, error) {
	n := int(pr.GetNumber())
	if s.params == nil {
		return Value{Text: "0", OID: 23, Unbound: true, Loc: pr.GetLocation()}, nil
	}
	if n > len(s.params) {
		return Value{}, pgerr.New(pgerrcode.UndefinedParameter, "there is no parameter $%d", n)
	}
	if s.params[n-1] == nil {
		return Value{OID: 23, Null: true}, nil
	}
	return Value{Text: *s.params[n-1], OID: 23}, nil
}

func (s testSession) Policy(m *cubes.Model) (*cubes.Policy, error)        { return s.security.Policy(m) }
func (s testSession) VisibleCubes(*cubes.Model) []string                  { return []string{"orders", "customers"} }
func (s testSession) TimeZone() string                                    { return "UTC" }
func (s testSession) Tables(*cubes.Model) map[string]string               { return nil }
func (s testSession) CubeQuery(*pg_query.SelectStmt, int) (CubeSQL, bool) { return CubeSQL{}, false }
func (s testSession) RowSources() bool                                    { return true }
func (s testSession) User() string                                        { return "cg_test" }
func (s testSession) Database() string                                    { return "db" }

func model(t *testing.T) *cubes.Model {
	t.Helper()
	m, err := cubes.LoadDir("../../testdata/oracle/model")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func render(t *testing.T, s Session, dialect, sql string) (*Statement, error) {
	t.Helper()
	tree, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := cubes.DialectByName(dialect)
	if !ok {
		t.Fatalf("no dialect %s", dialect)
	}
	return Render(s, model(t), d, tree.GetStmts()[0].GetStmt().GetSelectStmt())
}

// Every literal becomes a bound argument, equal values one argument; the
// result's columns are named as PostgreSQL names them; the row source is
// described; what differs by engine is the dialect's.
func TestRender(t *testing.T) {
	const sql = `SELECT status, SUM(total_amount) / 2 AS half, upper('x'), count(*) FROM orders WHERE status <> 'void' AND status <> 'void' GROUP BY 1`
	for _, dialect := range []string{"postgres", "duckdb"} {
		st, err := render(t, testSession{}, dialect, sql)
		if err != nil {
			t.Fatalf("%s: %v", dialect, err)
		}
		if strings.Contains(st.SQL, "'void'") || strings.Contains(st.SQL, "'x'") {
			t.Errorf("%s: a literal reached the SQL as written: %s", dialect, st.SQL)
		}
		if got := strings.Join(st.Names, ","); got != "status,half,upper,count" {
			t.Errorf("%s: names %s", dialect, got)
		}
		var args []string
		for _, a := range st.Args {
			args = append(args, cubes.FormatArg(a))
		}
		if strings.Count(strings.Join(args, ","), "void") != 1 || len(st.Sources) != 1 || !strings.Contains(st.Sources[0].Describe(true), "orders") {
			t.Errorf("%s: args %v, sources %v", dialect, args, st.Sources)
		}
	}
}

// A parameter is bound with its declared type once the statement is
// bound, and binds nothing while it is only described.
func TestRenderParameters(t *testing.T) {
	seven := "7"
	st, err := render(t, testSession{params: []*string{&seven}}, "postgres", `SELECT city, $1::int + 1 FROM customers`)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Args) != 2 || st.Args[0] != "7" || !strings.Contains(st.SQL, "CAST($1 AS INTEGER)") {
		t.Fatalf("bound: %s %v", st.SQL, st.Args)
	}
	st, err = render(t, testSession{}, "postgres", `SELECT city, $1::int + 1 FROM customers`)
	if err != nil || len(st.Args) != 2 || st.Args[0] != nil {
		t.Fatalf("described: %v %v", st, err)
	}
}

// The session's security context: its row filters are in every row
// source of the cube, a cube it hides is refused (42501).
func TestRenderPolicy(t *testing.T) {
	sec := auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "equals", Values: []string{"completed"}}}}
	st, err := render(t, testSession{security: sec}, "duckdb", `SELECT count(*) FROM (SELECT status FROM orders) o`)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range st.Args {
		args = append(args, cubes.FormatArg(a))
	}
	if !strings.Contains(strings.Join(args, ","), "completed") {
		t.Fatalf("no row filter: %s %v", st.SQL, args)
	}
	_, err = render(t, testSession{security: auth.SecurityContext{Allow: []string{"customers"}}}, "duckdb", `SELECT count(*) FROM (SELECT status FROM orders) o`)
	var pe *pgerr.Error
	if !errors.As(err, &pe) || pe.Code != pgerrcode.InsufficientPrivilege {
		t.Fatalf("a hidden cube: %v", err)
	}
}

// What joins cubes along the model, and what does not.
func TestJoinCondition(t *testing.T) {
	m := model(t)
	orders, _ := m.Cube("orders")
	customers, _ := m.Cube("customers")
	tables := []Table{{Cube: orders, Alias: "o"}, {Cube: customers}}
	for cond, want := range map[string]bool{
		"true": true,
		"o.__cubeJoinField = customers.__cubeJoinField":                                    true,
		"true AND o.__cubeJoinField = customers.__cubeJoinField":                           true,
		"o.status = customers.city":                                                        false,
		"o.__cubeJoinField = customers.__cubeJoinField OR true":                            false,
		"orders.__cubeJoinField = customers.__cubeJoinField AND o.status = customers.city": false,
	} {
		tree, err := pg_query.Parse("SELECT 1 FROM t WHERE " + cond)
		if err != nil {
			t.Fatal(err)
		}
		n := tree.GetStmts()[0].GetStmt().GetSelectStmt().GetWhereClause()
		if got := JoinCondition(testSession{}, m, n, tables); got != want {
			t.Errorf("%s: %v, want %v", cond, got, want)
		}
	}
}
