package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestPushdownCallsBuiltins (issue #21): the warehouse holds functions
// named as built-ins — public.lower(integer), public.length(integer),
// public.date_trunc(text, date) — each a better match for its arguments
// than pg_catalog's, so an unqualified call resolves to them (shown
// directly on the warehouse). Through the gateway, push-down writes
// pg_catalog.lower(…) and friends: the warehouse's functions are never
// called; the calls are refused (42883) as PostgreSQL refuses
// lower(integer), or answered by the built-in.
func TestPushdownCallsBuiltins(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 200, Customers: 20, Products: 5})})
	ctx := context.Background()
	g.Postgres.Psql("fixture", "-c", `
		CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS $$ SELECT 'udf:lower' $$;
		CREATE FUNCTION public.length(integer) RETURNS integer LANGUAGE sql AS $$ SELECT -4242 $$;
		CREATE FUNCTION public.date_trunc(text, date) RETURNS date LANGUAGE sql AS $$ SELECT DATE '1900-01-01' $$;`)
	// Unqualified, PostgreSQL picks them.
	direct, err := pgx.Connect(ctx, g.Postgres.DatabaseDSN("fixture"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var s string
	if err := direct.QueryRow(ctx, `SELECT lower(id) FROM public.orders_raw LIMIT 1`).Scan(&s); err != nil || s != "udf:lower" {
		t.Fatalf("the warehouse's own lower(integer): %q %v", s, err)
	}

	conn := apptest.Connect(t, g.ConnString(t, "builtins"))
	for _, q := range []string{
		`SELECT lower(id) FROM orders`,
		`SELECT length(id) FROM orders`,
		`SELECT lower(o.id) FROM (SELECT id FROM orders) o`,
	} {
		rows, err := conn.Query(ctx, q)
		var got []string
		if err == nil {
			for rows.Next() {
				var v any
				rows.Scan(&v)
				got = append(got, builtinText(v))
			}
			err = rows.Err()
		}
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "42883":
			// refused, as PostgreSQL refuses lower(integer)
		case err != nil:
			t.Errorf("%s: %v, want 42883 or the built-in's answer", q, err)
		default:
			for _, v := range got {
				if strings.Contains(v, "udf") || v == "-4242" {
					t.Errorf("%s: the warehouse's function answered: %v (of %d rows)", q, v, len(got))
					break
				}
			}
		}
	}
	// The built-ins answer where their types fit: lower of a text, and a
	// date_trunc over a date column cast as the push-down casts it.
	var status string
	if err := conn.QueryRow(ctx, `SELECT lower(upper(status)) FROM orders ORDER BY 1 LIMIT 1`).Scan(&status); err != nil || status != strings.ToLower(status) {
		t.Errorf("lower(upper(status)): %q %v", status, err)
	}
	rows, err := conn.Query(ctx, `SELECT date_trunc('year', created_at) AS y, length(status) FROM orders GROUP BY 1, 2 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals, _ := rows.Values()
		if y := builtinText(vals[0]); strings.HasPrefix(y, "1900") || builtinText(vals[1]) == "-4242" {
			t.Errorf("date_trunc/length answered by the warehouse's functions: %v", vals)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// DATEDIFF is written with date_trunc too: over dates, the warehouse's
	// public.date_trunc(text, date) would make every difference 0.
	sameCells(t, "DATEDIFF over dates", viaGateway(t, conn,
		`SELECT DATEDIFF('week', CAST(created_at AS DATE), CAST(shipped_at AS DATE)) AS w, COUNT(*) FROM orders WHERE shipped_at IS NOT NULL GROUP BY 1 ORDER BY 1`),
		warehouseRows(t, direct, `SELECT (CAST(pg_catalog.date_trunc('week', CAST(shipped_at AS DATE)) AS DATE) - CAST(pg_catalog.date_trunc('week', CAST(created_at AS DATE)) AS DATE)) / 7 AS w, count(*)
			FROM public.orders_raw WHERE shipped_at IS NOT NULL GROUP BY 1 ORDER BY 1`))
}

// warehouseRows runs sql on c and returns its rows as text.
func warehouseRows(t *testing.T, c *pgx.Conn, sql string) [][]string {
	t.Helper()
	rows, err := c.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, _ := rows.Values()
		var r []string
		for _, v := range vals {
			r = append(r, fmt.Sprint(v))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// builtinText is a scanned value as text.
func builtinText(v any) string {
	if t, ok := v.(time.Time); ok {
		return t.Format("2006-01-02")
	}
	return fmt.Sprint(v)
}
