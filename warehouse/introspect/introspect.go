// Package introspect reads a warehouse's tables: their columns with the
// types the warehouse declares, their primary keys and foreign keys.
//
// It reads them through warehouse.Warehouse itself — Query and rows, as
// the gateway's own statements — with catalog SQL chosen by the
// warehouse's dialect (PostgreSQL's pg_catalog, DuckDB's duckdb_columns()
// and duckdb_constraints(), MySQL's and MariaDB's information_schema,
// ClickHouse's system.columns). No driver grows a method for it, it
// works the same over every wrapper of a Warehouse, and an engine is one
// more case here.
package introspect

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/warehouse"
)

// Table is one table or view of the warehouse.
type Table struct {
	// Schema is the table's schema (its database on MySQL and ClickHouse).
	Schema, Name string
	Columns      []Column
	// PrimaryKey is the declared primary key's columns in key order
	// (ClickHouse declares none: its primary key is a sorting key, not
	// unique).
	PrimaryKey  []string
	ForeignKeys []ForeignKey
}

// Column is a column and its type as the warehouse spells it.
type Column struct {
	Name, Type string
}

// ForeignKey is a declared foreign key: Columns reference RefColumns of
// RefSchema.RefTable pairwise.
type ForeignKey struct {
	Name                string
	Columns             []string
	RefSchema, RefTable string
	RefColumns          []string
}

// Options choose the tables.
type Options struct {
	// Schemas are the schemas to read (databases on MySQL and
	// ClickHouse). None: on PostgreSQL and DuckDB every schema but the
	// engine's own, on MySQL and ClickHouse the DSN's database.
	Schemas []string
	// Tables are the tables to read, "table" or "schema.table"; none:
	// all of the schemas'. A table not found is an error.
	Tables []string
}

// engine is an engine's catalog SQL. columns answers schema, table,
// column, type, a table's columns in their order; keys schema, table, constraint, type ("p" or
// "f"), position, column, referenced schema, table, column — both ordered
// by table then position. current answers the default database (MySQL,
// ClickHouse; "" where every schema is read by default).
type engine struct {
	columns, keys, current string
}

var engines = map[string]engine{
	"postgres": {
		columns: `SELECT n.nspname::text, c.relname::text, a.attname::text,
  pg_catalog.format_type(COALESCE(NULLIF(t.typbasetype, 0), a.atttypid), CASE WHEN t.typbasetype <> 0 THEN t.typtypmod ELSE a.atttypmod END),
  a.attnum::int8
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2, a.attnum`,
		// One row per key column: unnest pairs conkey with confkey.
		keys: `SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text, k.ord::int8, a.attname::text,
  COALESCE(fn.nspname::text, ''), COALESCE(fc.relname::text, ''), COALESCE(fa.attname::text, '')
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, fattnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum
WHERE con.contype IN ('p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3, 5`,
	},
	"duckdb": {
		columns: `SELECT schema_name, table_name, column_name, data_type, column_index
FROM duckdb_columns()
WHERE NOT internal AND database_name = current_database()
  AND schema_name NOT IN ('information_schema', 'pg_catalog')
ORDER BY 1, 2, column_index`,
		// A list column comes back as its text: index it instead. DuckDB
		// names no referenced schema: a foreign key stays in its schema.
		keys: `SELECT c.schema_name, c.table_name, CAST(c.constraint_index AS VARCHAR),
  CASE c.constraint_type WHEN 'PRIMARY KEY' THEN 'p' ELSE 'f' END, r.i,
  c.constraint_column_names[r.i + 1], CASE WHEN c.referenced_table IS NULL THEN '' ELSE c.schema_name END,
  COALESCE(c.referenced_table, ''), COALESCE(c.referenced_column_names[r.i + 1], '')
FROM duckdb_constraints() c, range(len(c.constraint_column_names)) r(i)
WHERE c.database_name = current_database() AND c.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY 1, 2, c.constraint_index, r.i`,
	},
	"mysql": {
		columns: `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, ORDINAL_POSITION
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
		keys: `SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME,
  CASE c.CONSTRAINT_TYPE WHEN 'PRIMARY KEY' THEN 'p' ELSE 'f' END, k.ORDINAL_POSITION, k.COLUMN_NAME,
  COALESCE(k.REFERENCED_TABLE_SCHEMA, ''), COALESCE(k.REFERENCED_TABLE_NAME, ''), COALESCE(k.REFERENCED_COLUMN_NAME, '')
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.TABLE_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
  AND c.TABLE_NAME = k.TABLE_NAME AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'FOREIGN KEY')
  AND k.TABLE_SCHEMA NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
		current: `SELECT COALESCE(DATABASE(), '')`,
	},
	"clickhouse": {
		// Unordered: system.columns lists a table's columns in their
		// order, and has no position before ClickHouse 21.
		columns: `SELECT database, table, name, type
FROM system.columns
WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema')`,
		current: `SELECT currentDatabase()`,
	},
}

// Engines lists the dialects Tables reads.
func Engines() []string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Tables reads the tables o chooses, ordered by schema then name.
func Tables(ctx context.Context, w warehouse.Warehouse, o Options) ([]Table, error) {
	e, ok := engines[w.Dialect()]
	if !ok {
		return nil, fmt.Errorf("reading tables of a %s warehouse is not supported (supported: %s)", w.Dialect(), strings.Join(Engines(), ", "))
	}
	schemas := o.Schemas
	if len(schemas) == 0 && e.current != "" {
		rows, err := all(ctx, w, e.current)
		if err != nil {
			return nil, err
		}
		if len(rows) == 1 && rows[0][0] != "" {
			schemas = []string{rows[0][0]}
		}
	}
	wantSchema := func(s string) bool { return len(schemas) == 0 || slices.Contains(schemas, s) }

	rows, err := all(ctx, w, e.columns)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*Table{}
	var tables []*Table
	for _, r := range rows {
		if !wantSchema(r[0]) {
			continue
		}
		k := r[0] + "." + r[1]
		t := byKey[k]
		if t == nil {
			t = &Table{Schema: r[0], Name: r[1]}
			byKey[k] = t
			tables = append(tables, t)
		}
		t.Columns = append(t.Columns, Column{Name: r[2], Type: r[3]})
	}

	if e.keys != "" {
		rows, err := all(ctx, w, e.keys)
		if err != nil {
			return nil, err
		}
		var fk *ForeignKey
		var fkOf, fkName string
		for _, r := range rows {
			k := r[0] + "." + r[1]
			t := byKey[k]
			if t == nil {
				continue
			}
			switch r[3] {
			case "p":
				t.PrimaryKey = append(t.PrimaryKey, r[5])
			case "f":
				if fk == nil || fkOf != k || fkName != r[2] {
					t.ForeignKeys = append(t.ForeignKeys, ForeignKey{Name: r[2], RefSchema: r[6], RefTable: r[7]})
					fk, fkOf, fkName = &t.ForeignKeys[len(t.ForeignKeys)-1], k, r[2]
				}
				fk.Columns = append(fk.Columns, r[5])
				fk.RefColumns = append(fk.RefColumns, r[8])
			}
		}
	}

	// --tables: each must be found, and only those are kept.
	if len(o.Tables) > 0 {
		keep := map[*Table]bool{}
		for _, want := range o.Tables {
			found := false
			for _, t := range tables {
				if want == t.Name || want == t.Schema+"."+t.Name {
					keep[t], found = true, true
				}
			}
			if !found {
				return nil, fmt.Errorf("table %q not found%s", want, inSchemas(schemas))
			}
		}
		tables = slices.DeleteFunc(tables, func(t *Table) bool { return !keep[t] })
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("no tables found%s", inSchemas(schemas))
	}
	out := make([]Table, len(tables))
	for i, t := range tables {
		out[i] = *t
	}
	slices.SortStableFunc(out, func(a, b Table) int {
		if c := strings.Compare(a.Schema, b.Schema); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func inSchemas(schemas []string) string {
	if len(schemas) == 0 {
		return ""
	}
	return " in schema " + strings.Join(schemas, ", ")
}

// all runs sql and returns its rows, every value as text.
func all(ctx context.Context, w warehouse.Warehouse, sql string) ([][]string, error) {
	rows, err := w.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("reading the warehouse's catalog: %w", err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vs, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("reading the warehouse's catalog: %w", err)
		}
		r := make([]string, len(vs))
		for i, v := range vs {
			r[i] = text(v)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the warehouse's catalog: %w", err)
	}
	return out, rows.Close()
}

func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case time.Time:
		return v.String()
	}
	return fmt.Sprint(v)
}
