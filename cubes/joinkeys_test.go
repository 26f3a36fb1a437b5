package cubes

import (
	"os"
	"path/filepath"
	"testing"
)

const joinModel = `cubes:
  - name: orders
    sql_table: orders
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{CUBE}.customer_id = {customers}.id"
      - name: products
        relationship: many_to_one
        sql: "{products.id} = {CUBE}.product_id AND {CUBE}.kind = 'x'"
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: customer_id
        sql: "{CUBE}.customer_id"
        type: number
      - name: product_id
        sql: "{CUBE}.product_id"
        type: number
  - name: customers
    sql_table: customers
    dimensions:
      - name: id
        sql: "{CUBE}.id"
        type: number
        primary_key: true
      - name: tier
        sql: tier
        type: string
  - name: products
    sql_table: products
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
`

func TestJoinKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.yml"), []byte(joinModel), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	member := func(name string) Member {
		mem, err := m.Member(name)
		if err != nil {
			t.Fatal(err)
		}
		return mem
	}
	orders, _ := m.Cube("orders")
	customers, _ := m.Cube("customers")
	products, _ := m.Cube("products")
	keys := m.JoinKeys(orders)
	if len(keys) != 1 || keys[0].Edge != "orders>customers" || keys[0].SQL != "{CUBE}.customer_id" {
		t.Errorf("orders' join keys: %+v (the products join is not one equality)", keys)
	}
	if k := m.JoinKeys(customers); len(k) != 1 || k[0].SQL != "{customers}.id" {
		t.Errorf("customers' join keys: %+v", k)
	}
	if k := m.JoinKeys(products); len(k) != 0 {
		t.Errorf("products' join keys: %+v", k)
	}
	if e, ok := m.JoinEdge(customers, orders); !ok || e != "orders>customers" {
		t.Errorf("JoinEdge(customers, orders) = %q, %v", e, ok)
	}
	if _, ok := m.JoinEdge(customers, products); ok {
		t.Error("customers and products are not joined")
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"orders.customer_id", "customers.id", true},
		{"customers.id", "orders.customer_id", true},
		{"orders.id", "customers.id", false},
		{"orders.customer_id", "customers.tier", false},
		{"orders.product_id", "products.id", false},
	} {
		if got := m.JoinsOn(member(c.a), member(c.b)); got != c.want {
			t.Errorf("JoinsOn(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
