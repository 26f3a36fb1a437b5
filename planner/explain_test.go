package planner

import (
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
)

// EXPLAIN without scope sql (issue #21): the plan is printed with the
// warehouse SQL and its parameters replaced by a line saying they are
// hidden and which scope shows them, and the principal's row filters
// without their values — for cube queries, push-downs and cursors; with
// scope sql the same plans show both.
func TestExplainHidesWarehouseSQLWithoutScope(t *testing.T) {
	web := auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}}}
	hidden, _ := newTestSession(t, "../testdata/viewpolicy", Options{}, auth.Principal{TenantID: auth.DefaultTenant, Database: "db", Security: web})
	shown, _ := viewPolicySession(t, web)
	for _, sql := range []string{
		`SELECT tier, MEASURE(count) FROM order_summary_all GROUP BY 1`,
		`SELECT lower(status), count(*) FROM order_summary_all GROUP BY 1`,
		`DECLARE c CURSOR FOR SELECT tier, MEASURE(count) FROM order_summary_all GROUP BY 1`,
	} {
		plan, err := explainText(t, hidden, sql)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, hiddenSQL) || !strings.Contains(plan, "Warehouse SQL") {
			t.Errorf("%s: no hidden-SQL line:\n%s", sql, plan)
		}
		for _, leak := range []string{"web", "$1", "orders_raw", "SELECT", "channel"} {
			if strings.Contains(plan, leak) {
				t.Errorf("%s: the plan shows %q without scope sql:\n%s", sql, leak, plan)
			}
		}
		full, err := explainText(t, shown, sql)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"web", "$1", "channel"} {
			if !strings.Contains(full, want) {
				t.Errorf("%s: with scope sql the plan lacks %q:\n%s", sql, want, full)
			}
		}
		if strings.Contains(full, "hidden") {
			t.Errorf("%s: hidden with scope sql:\n%s", sql, full)
		}
	}
}
