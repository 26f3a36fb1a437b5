package planner

import (
	"context"
	"errors"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func viewPolicySession(t *testing.T, sec auth.SecurityContext) (*Session, *cubes.Model) {
	t.Helper()
	return newTestSession(t, "../testdata/viewpolicy", Options{}, auth.Principal{TenantID: auth.DefaultTenant, Database: "db", Security: sec, Scopes: []string{"sql"}})
}

func explainText(t *testing.T, s *Session, sql string) (string, error) {
	t.Helper()
	tree, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := s.explain(context.Background(), tree.Stmts[0].Stmt, false)
	return strings.Join(lines, "\n"), err
}

// The catalog hides a member hidden on its cube under every view.
func TestPolicyInCatalog(t *testing.T) {
	m, err := cubes.LoadDir("../testdata/viewpolicy")
	if err != nil {
		t.Fatal(err)
	}
	sec := auth.SecurityContext{Allow: []string{"orders.count", "order_facts", "order_summary"}}
	var cols []string
	for _, tb := range CatalogTables(m, catalogAllows(sec, m)) {
		for _, c := range tb.Columns {
			if !strings.HasPrefix(c.Name, "__") {
				cols = append(cols, tb.Name+"."+c.Name)
			}
		}
	}
	if got := strings.Join(cols, " "); got != "orders.count order_facts.count order_summary.count" {
		t.Fatalf("catalog: %s", got)
	}
}

// The session's cube queries and push-downs over views of views apply the
// row filter of the cube underneath, and EXPLAIN prints it.
func TestSessionPolicyThroughViews(t *testing.T) {
	s, _ := viewPolicySession(t, auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}}})
	plan, err := explainText(t, s, `SELECT tier, MEASURE(count) FROM order_summary_all GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Row filters: [{"member":"orders.channel","operator":"equals","values":["web"]}]`, `"orders".channel = $1`, `parameter $1 = 'web'`} {
		if !strings.Contains(plan, want) {
			t.Errorf("cube query plan lacks %s:\n%s", want, plan)
		}
	}
	plan, err = explainText(t, s, `SELECT lower(status), count(*) FROM order_summary_all GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(row filters: [{"member":"orders.channel","operator":"equals","values":["web"]}])`, `"orders".channel = $1`, ` OFFSET 0)`} {
		if !strings.Contains(plan, want) {
			t.Errorf("push-down plan lacks %s:\n%s", want, plan)
		}
	}
	// Reading only customers through a view reads no order: no filter.
	plan, err = explainText(t, s, `SELECT tier FROM customer_view GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plan, "Row filters") {
		t.Errorf("a view's customers carry orders' filter:\n%s", plan)
	}
}

// A member hidden on its cube is 42501 through a view of a view, in a
// cube query and pushed down, and the error names only what the
// statement named.
func TestSessionAllowListThroughViews(t *testing.T) {
	s, _ := viewPolicySession(t, auth.SecurityContext{Allow: []string{"orders.count", "orders.status", "order_facts", "order_summary", "order_summary_all"}})
	for _, sql := range []string{
		`SELECT MEASURE(revenue) FROM order_summary_all`,
		`SELECT tier, MEASURE(count) FROM order_summary GROUP BY 1`,
		`SELECT lower(tier) FROM order_summary_all`,
		`SELECT count(*) FROM order_facts WHERE customers_city = 'Paris'`,
	} {
		_, err := explainText(t, s, sql)
		var pe *pgerr.Error
		if !errors.As(err, &pe) || pe.Code != "42501" || strings.Contains(pe.Message, "customers") && !strings.Contains(sql, "customers") {
			t.Errorf("%s: %v, want 42501", sql, err)
		}
	}
	if _, err := explainText(t, s, `SELECT status, MEASURE(count) FROM order_summary_all GROUP BY 1`); err != nil {
		t.Errorf("allowed members: %v", err)
	}
}
