package introspect

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/warehouse"
)

// describe is a table as one line: schema.name(col type, …) pk(…) fk(…)->….
func describe(t Table) string {
	var cols []string
	for _, c := range t.Columns {
		cols = append(cols, c.Name+" "+c.Type)
	}
	s := fmt.Sprintf("%s.%s(%s)", t.Schema, t.Name, strings.Join(cols, ", "))
	if len(t.PrimaryKey) > 0 {
		s += " pk(" + strings.Join(t.PrimaryKey, ",") + ")"
	}
	for _, fk := range t.ForeignKeys {
		s += fmt.Sprintf(" fk(%s)->%s.%s(%s)", strings.Join(fk.Columns, ","), fk.RefSchema, fk.RefTable, strings.Join(fk.RefColumns, ","))
	}
	return s
}

func TestDuckDB(t *testing.T) {
	ctx := context.Background()
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{
		`CREATE SCHEMA shop`,
		`CREATE TABLE shop."Customers" ("CustomerID" INTEGER PRIMARY KEY, "First Name" VARCHAR)`,
		`CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id INTEGER REFERENCES shop."Customers" ("CustomerID"), amount DECIMAL(10,2), placed_at TIMESTAMP, tags VARCHAR[])`,
		`CREATE TABLE shop.lines (order_id BIGINT, line_no INTEGER, PRIMARY KEY (order_id, line_no))`,
		`CREATE TABLE shop.notes (order_id BIGINT, line_no INTEGER, FOREIGN KEY (order_id, line_no) REFERENCES shop.lines (order_id, line_no))`,
		`CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE amount > 100`,
		`CREATE TABLE main.other (x INTEGER)`,
	} {
		if _, err := w.DB().ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Tables(ctx, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, tb := range got {
		lines = append(lines, describe(tb))
	}
	want := []string{
		"main.other(x INTEGER)",
		`shop.Customers(CustomerID INTEGER, First Name VARCHAR) pk(CustomerID)`,
		"shop.big_orders(id BIGINT, customer_id INTEGER, amount DECIMAL(10,2), placed_at TIMESTAMP, tags VARCHAR[])",
		"shop.lines(order_id BIGINT, line_no INTEGER) pk(order_id,line_no)",
		"shop.notes(order_id BIGINT, line_no INTEGER) fk(order_id,line_no)->shop.lines(order_id,line_no)",
		"shop.orders(id BIGINT, customer_id INTEGER, amount DECIMAL(10,2), placed_at TIMESTAMP, tags VARCHAR[]) pk(id) fk(customer_id)->shop.Customers(CustomerID)",
	}
	if g, w := strings.Join(lines, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}

	// --schema and --tables choose.
	got, err = Tables(ctx, w, Options{Schemas: []string{"shop"}, Tables: []string{"orders", "shop.lines"}})
	if err != nil || len(got) != 2 || got[0].Name != "lines" || got[1].Name != "orders" {
		t.Errorf("chosen: %v, %v", got, err)
	}
	if _, err := Tables(ctx, w, Options{Schemas: []string{"shop"}, Tables: []string{"other"}}); err == nil || !strings.Contains(err.Error(), `"other" not found in schema shop`) {
		t.Errorf("a table of another schema: %v", err)
	}
	if _, err := Tables(ctx, w, Options{Schemas: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), "no tables found in schema nosuch") {
		t.Errorf("an empty schema: %v", err)
	}
}

// An engine without catalog SQL is refused by name.
func TestUnsupported(t *testing.T) {
	_, err := Tables(context.Background(), fakeWarehouse{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "bigquery") || !strings.Contains(err.Error(), "duckdb, mysql, postgres") {
		t.Fatalf("got %v", err)
	}
}

type fakeWarehouse struct{ warehouse.Warehouse }

func (fakeWarehouse) Dialect() string { return "bigquery" }
