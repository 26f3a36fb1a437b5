package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/warehouse/pgtest"
)

var generate = flag.Bool("generate", false, "regenerate pg15.catalog.gz from a throwaway PostgreSQL")

// snapshotRows are the system catalogs whose rows come from PostgreSQL
// itself (with a WHERE restricting them to built-in objects); every other
// catalog relation contributes only its columns, and its rows are made
// from the model.
var snapshotRows = map[string]string{
	"pg_catalog.pg_type":                                 "",
	"pg_catalog.pg_proc":                                 "",
	"pg_catalog.pg_namespace":                            "",
	"pg_catalog.pg_am":                                   "",
	"pg_catalog.pg_collation":                            "",
	"pg_catalog.pg_language":                             "",
	"pg_catalog.pg_extension":                            "",
	"pg_catalog.pg_tablespace":                           "",
	"pg_catalog.pg_range":                                "",
	"pg_catalog.pg_operator":                             "",
	"pg_catalog.pg_cast":                                 "",
	"pg_catalog.pg_opclass":                              "",
	"pg_catalog.pg_aggregate":                            "",
	"pg_catalog.pg_settings":                             "",
	"pg_catalog.pg_description":                          "",
	"pg_catalog.pg_class":                                "WHERE relkind IN ('r','v','i')",
	"pg_catalog.pg_index":                                "",
	"pg_catalog.pg_constraint":                           "",
	"pg_catalog.pg_attribute":                            "WHERE attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r','v')) AND attnum > 0",
	"information_schema.character_sets":                  "",
	"information_schema.sql_features":                    "",
	"information_schema.sql_implementation_info":         "",
	"information_schema.sql_sizing":                      "",
	"information_schema.information_schema_catalog_name": "",
}

// TestSnapshot reads, from a fresh PostgreSQL 15, the columns of every
// relation of pg_catalog and information_schema and the rows of the
// built-in objects, and checks that the embedded pg15.catalog.gz holds
// the same; with -generate it rewrites the file instead.
func TestSnapshot(t *testing.T) {
	cluster := pgtest.Start(t)
	cluster.CreateDatabase("db")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cluster.DatabaseDSN("db"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET extra_float_digits = 1; SET TimeZone = 'UTC'; SET DateStyle = ISO; SET IntervalStyle = postgres"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
		SELECT n.nspname, c.relname, c.oid::int8, c.relkind::text, a.attname, a.atttypid::int8, a.atttypmod
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'v', 'm')
		ORDER BY 1, 2, a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct {
		name string
		typ  int64
		mod  int32
	}
	type rel struct {
		schema, name, kind string
		oid                int64
		cols               []col
	}
	var rels []*rel
	for rows.Next() {
		var r rel
		var c col
		if err := rows.Scan(&r.schema, &r.name, &r.oid, &r.kind, &c.name, &c.typ, &c.mod); err != nil {
			t.Fatal(err)
		}
		if n := len(rels); n == 0 || rels[n-1].schema != r.schema || rels[n-1].name != r.name {
			rels = append(rels, &r)
		}
		last := rels[len(rels)-1]
		last.cols = append(last.cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	regTypes := map[int64]bool{24: true, 2202: true, 2205: true, 2206: true, 2203: true, 2204: true, 4089: true, 4096: true, 3734: true, 3769: true, 4191: true}
	var out bytes.Buffer
	for _, r := range rels {
		fmt.Fprintf(&out, "%s.%s\t%d\t%s\n", r.schema, r.name, r.oid, r.kind)
		sel := make([]string, len(r.cols))
		for i, c := range r.cols {
			fmt.Fprintf(&out, "\t%s\t%d\t%d\n", c.name, c.typ, c.mod)
			sel[i] = pgx.Identifier{c.name}.Sanitize()
			if regTypes[c.typ] {
				sel[i] += "::oid"
			}
		}
		where, ok := snapshotRows[r.schema+"."+r.name]
		if !ok {
			continue
		}
		q := fmt.Sprintf("COPY (SELECT %s FROM %s.%s %s) TO STDOUT", strings.Join(sel, ", "), r.schema, r.name, where)
		var data bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &data, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, line := range strings.SplitAfter(data.String(), "\n") {
			if line != "" {
				out.WriteString("=" + line)
			}
		}
	}
	// The definitions of the built-in indexes and constraints, as
	// pg_get_indexdef and pg_get_constraintdef spell them (plain, pretty).
	for _, def := range []struct{ name, query string }{
		{"pg_get_indexdef", "SELECT indexrelid::int8, pg_get_indexdef(indexrelid), pg_get_indexdef(indexrelid, 0, true) FROM pg_index"},
		{"pg_get_constraintdef", "SELECT oid::int8, pg_get_constraintdef(oid), pg_get_constraintdef(oid, true) FROM pg_constraint"},
	} {
		fmt.Fprintf(&out, "pg_catalog.%s\t0\tf\n\toid\t20\t-1\n\tdef\t25\t-1\n\tpretty\t25\t-1\n", def.name)
		var data bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &data, "COPY ("+def.query+") TO STDOUT"); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.SplitAfter(data.String(), "\n") {
			if line != "" {
				out.WriteString("=" + line)
			}
		}
	}
	// Set-returning functions whose rows are fixed: dumped like relations.
	out.WriteString("pg_catalog.pg_get_keywords\t0\tf\n\tword\t25\t-1\n\tcatcode\t18\t-1\n\tbarelabel\t16\t-1\n\tcatdesc\t25\t-1\n\tbaredesc\t25\t-1\n")
	var kw bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &kw, "COPY (SELECT * FROM pg_get_keywords()) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitAfter(kw.String(), "\n") {
		if line != "" {
			out.WriteString("=" + line)
		}
	}
	if !*generate {
		compareSnapshot(t, out.String())
		return
	}
	f, err := os.Create("pg15.catalog.gz")
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if _, err := zw.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d relations, %d bytes", len(rels), out.Len())
}

// snapshotParts splits a snapshot into its relations' definitions (name
// and columns) and their rows.
func snapshotParts(text string) (defs []string, rows map[string][]string) {
	rows = map[string][]string{}
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "="):
			rows[cur] = append(rows[cur], line)
		case strings.HasPrefix(line, "\t"):
			defs = append(defs, line)
		default:
			cur = strings.Split(line, "\t")[0]
			defs = append(defs, line)
		}
	}
	return defs, rows
}

// compareSnapshot checks the embedded snapshot against a fresh one: the
// same relations and columns, the same number of rows everywhere, and the
// same rows for the objects that do not vary between clusters (types,
// functions, access methods, keywords).
func compareSnapshot(t *testing.T, fresh string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(snapshotGz))
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	wantDefs, wantRows := snapshotParts(string(embedded))
	gotDefs, gotRows := snapshotParts(fresh)
	if strings.Join(gotDefs, "\n") != strings.Join(wantDefs, "\n") {
		t.Errorf("PostgreSQL's catalog relations or columns differ from pg15.catalog.gz (%d vs %d lines): regenerate with -generate", len(gotDefs), len(wantDefs))
	}
	for rel, rows := range wantRows {
		if len(gotRows[rel]) != len(rows) {
			t.Errorf("%s: %d rows in PostgreSQL, %d in pg15.catalog.gz", rel, len(gotRows[rel]), len(rows))
		}
	}
	for _, rel := range []string{"pg_catalog.pg_type", "pg_catalog.pg_proc", "pg_catalog.pg_am", "pg_catalog.pg_get_keywords"} {
		if strings.Join(gotRows[rel], "\n") != strings.Join(wantRows[rel], "\n") {
			t.Errorf("%s: rows differ from pg15.catalog.gz", rel)
		}
		if len(wantRows[rel]) == 0 {
			t.Errorf("%s: no rows in pg15.catalog.gz", rel)
		}
	}
}
