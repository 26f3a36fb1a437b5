package auth

import (
	"testing"

	"github.com/cubegate/cubegate/cubes"
)

// A security context resolves to cube members: a row filter named
// through a view is its cube's, and one on a measure is refused.
func TestPolicyFromSecurityContext(t *testing.T) {
	m, err := cubes.LoadDir("../testdata/viewpolicy")
	if err != nil {
		t.Fatal(err)
	}
	p, err := SecurityContext{RowFilters: []RowFilter{{Member: "order_summary_all.tier", Operator: "equals", Values: []string{"gold"}}}}.Policy(m)
	if err != nil {
		t.Fatal(err)
	}
	customers, _ := m.Cube("customers")
	if fs := p.RowFilters(customers); len(fs) != 1 || fs[0].Member != "customers.tier" {
		t.Fatalf("row filters on customers: %+v", fs)
	}
	if p, err := (SecurityContext{}).Policy(m); p != nil || err != nil {
		t.Fatalf("an empty context: %v %v", p, err)
	}
	if err := (SecurityContext{RowFilters: []RowFilter{{Member: "orders.count", Operator: "gt", Values: []string{"1"}}}}).Validate(m); err == nil {
		t.Fatal("a row filter on a measure is accepted")
	}
	if err := (SecurityContext{Allow: []string{"nope"}}).Validate(m); err == nil {
		t.Fatal("an allow-list naming no cube is accepted")
	}
}
