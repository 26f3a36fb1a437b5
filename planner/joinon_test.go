package planner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/warehouse"
)

// Joining cubes ON the model's own join condition, written on their
// dimensions, joins them as the model does, in a cube query and pushed
// down; any other condition is refused.
func TestJoinOnModelCondition(t *testing.T) {
	dir := t.TempDir()
	model := `cubes:
  - name: orders
    sql_table: orders
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{CUBE}.customer_id = {customers}.id"
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
        public: true
      - name: customer_id
        sql: "{CUBE}.customer_id"
        type: number
  - name: customers
    sql_table: customers
    dimensions:
      - name: id
        sql: "{CUBE}.id"
        type: number
        primary_key: true
        public: true
      - name: tier
        sql: tier
        type: string
`
	if err := os.WriteFile(filepath.Join(dir, "model.yml"), []byte(model), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wh, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if _, err := wh.DB().ExecContext(ctx, `CREATE TABLE customers AS SELECT i AS id, CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'basic' END AS tier FROM range(1, 31) t(i);
		CREATE TABLE orders AS SELECT i AS id, i % 30 + 1 AS customer_id FROM range(1, 1001) t(i)`); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(m, wh, zerolog.Nop(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := h.NewSession(ctx, pgwire.SessionInfo{User: "u", Database: "db"})
	if err != nil {
		t.Fatal(err)
	}
	s := sess.(*Session)
	rows := func(sql string) (string, error) {
		p, err := bind(t, s, sql)
		if err != nil {
			return "", err
		}
		defer p.Close()
		out := ""
		for {
			row, err := p.Next(ctx)
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return "", err
			}
			out += fmt.Sprint(row) + ";"
		}
	}
	want, err := rows(`SELECT c.tier, MEASURE(o.count) FROM orders o CROSS JOIN customers c GROUP BY 1 ORDER BY 1`)
	if err != nil || want != "[basic 667];[gold 333];" {
		t.Fatalf("CROSS JOIN: %q, %v", want, err)
	}
	for _, sql := range []string{
		`SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`,
		`SELECT c.tier, MEASURE(o.count) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1`,
		`SELECT lower(c.tier), COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`,
	} {
		got, err := rows(sql)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", sql, got, err, want)
		}
	}
	for _, sql := range []string{
		`SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.id = c.id GROUP BY 1`,
		`SELECT lower(c.tier), COUNT(*) FROM orders o JOIN customers c ON o.customer_id > c.id GROUP BY 1`,
	} {
		if _, err := rows(sql); pgCodeOf(err) != "0A000" {
			t.Errorf("%s: %v, want 0A000", sql, err)
		}
	}
}

func pgCodeOf(err error) string {
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
