package catalog

import (
	"context"
	"testing"
)

// TestKeys: a table's primary key and foreign keys are in pg_constraint,
// pg_index, pg_class and information_schema as PostgreSQL keeps them
// (TestKeysMatchPostgres compares them with PostgreSQL through psql); a
// foreign key that references no primary key is left out.
func TestKeys(t *testing.T) {
	cat := New([]Table{
		{Name: "customers", Columns: []TableColumn{{Name: "id", Type: tInt8}, {Name: "tier", Type: tText}}, PrimaryKey: []string{"id"}},
		{Name: "orders", Columns: []TableColumn{{Name: "id", Type: tInt8}, {Name: "customer_id", Type: tInt8}, {Name: "tier", Type: tText}},
			PrimaryKey: []string{"id"},
			ForeignKeys: []ForeignKey{
				{Columns: []string{"customer_id"}, Table: "customers", RefColumns: []string{"id"}},
				{Columns: []string{"tier"}, Table: "customers", RefColumns: []string{"tier"}}, // not a key: left out
			}},
	})
	for _, c := range []struct{ sql, want string }{
		{`SELECT string_agg(conname || ':' || contype || ':' || pg_get_constraintdef(oid), ' ' ORDER BY conname) FROM pg_constraint WHERE connamespace = 2200`,
			"customers_pkey:p:PRIMARY KEY (id) orders_customer_id_fkey:f:FOREIGN KEY (customer_id) REFERENCES customers(id) orders_pkey:p:PRIMARY KEY (id)"},
		{`SELECT string_agg(relname || ':' || relkind || CASE WHEN relhasindex THEN ':index' ELSE '' END || CASE WHEN relhastriggers THEN ':triggers' ELSE '' END, ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 2200`,
			"customers:r:index:triggers customers_pkey:i orders:r:index:triggers orders_pkey:i"},
		{`SELECT string_agg(attname || CASE WHEN attnotnull THEN ':not null' ELSE '' END, ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0`,
			"id:not null customer_id tier"},
		{`SELECT pg_get_indexdef('orders_pkey'::regclass) || ' / ' || pg_get_indexdef('orders_pkey'::regclass, 1, true)`,
			"CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id) / id"},
		{`SELECT string_agg(constraint_name || ':' || constraint_type, ' ' ORDER BY constraint_name) FROM information_schema.table_constraints`,
			"customers_pkey:PRIMARY KEY orders_customer_id_fkey:FOREIGN KEY orders_pkey:PRIMARY KEY"},
		{`SELECT string_agg(constraint_name || ':' || unique_constraint_name, ' ') FROM information_schema.referential_constraints`,
			"orders_customer_id_fkey:customers_pkey"},
		{`SELECT count(*) FROM information_schema.columns WHERE table_name LIKE '%pkey'`, "0"},
	} {
		res, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); got != c.want {
			t.Errorf("%s\n got %q\nwant %q", c.sql, got, c.want)
		}
	}
}
