package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/cubes/modelgen"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/introspect"
)

// modelGenerateCmd is `cubegate model generate`: a starter model from a
// warehouse's tables (issue #19).
func modelGenerateCmd(stdout io.Writer) *cobra.Command {
	var o generateOptions
	cmd := &cobra.Command{
		Use:   "generate --dsn DSN [--schema S] [--tables a,b] [--out DIR] [--force]",
		Short: "Write a starter model from a warehouse's tables: a cube per table",
		Long: `Write a starter model from a warehouse's tables, as Cube's playground does:
one file per table (DIR/cubes/<table>.yml) with a cube over it, a dimension
per column (string, number, time or boolean by the column's declared type),
the declared primary key, a count measure, sum and avg measures over numeric
columns that are not keys, and a many_to_one join per declared foreign key.

The DSN is a warehouse.dsn (see config.example.yaml); its password may come
from $CUBEGATE_WAREHOUSE_PASSWORD and is never printed or written. Reads
PostgreSQL, DuckDB, MySQL/MariaDB and ClickHouse. Existing files are left
alone unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return generateModel(cmd.Context(), stdout, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "dsn", "", "the warehouse to read (a warehouse.dsn)")
	f.StringSliceVar(&o.schemas, "schema", nil, "schemas to read (databases on MySQL and ClickHouse); default: every schema but the engine's own, or the DSN's database")
	f.StringSliceVar(&o.tables, "tables", nil, "tables to read, table or schema.table, comma-separated; default: all")
	f.StringVar(&o.out, "out", "model", "the model folder to write into (files go to DIR/cubes/)")
	f.BoolVar(&o.force, "force", false, "overwrite files that exist")
	_ = cmd.MarkFlagRequired("dsn")
	return cmd
}

type generateOptions struct {
	dsn, out        string
	schemas, tables []string
	force           bool
}

func generateModel(ctx context.Context, stdout io.Writer, o generateOptions) error {
	if o.dsn == "" {
		return errors.New("--dsn is required")
	}
	// DuckDB creates a file it is asked to open: a mistyped path must
	// not leave an empty database behind.
	if path, ok := strings.CutPrefix(o.dsn, "duckdb://"); ok {
		path, _, _ = strings.Cut(path, "?")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no DuckDB database at %s: %w", path, err)
		}
	}
	w, err := warehouse.Open(ctx, o.dsn)
	if err != nil {
		if strings.HasPrefix(o.dsn, "duckdb://") && strings.Contains(err.Error(), "lock") {
			return fmt.Errorf("%w\n(one process at a time opens a DuckDB file: stop the gateway using it, e.g. cubegate demo, and run this again)", err)
		}
		return err
	}
	defer w.Close()
	tables, err := introspect.Tables(ctx, w, introspect.Options{Schemas: o.schemas, Tables: o.tables})
	if err != nil {
		return err
	}
	source := describeWarehouse(o.dsn)
	files, err := modelgen.Generate(modelTables(tables), modelgen.Options{Dialect: w.Dialect(), Source: source})
	if err != nil {
		return err
	}
	if err := checkGenerated(files); err != nil {
		return err
	}
	if !o.force {
		var exist []string
		for _, f := range files {
			p := filepath.Join(o.out, filepath.FromSlash(f.Path))
			if _, err := os.Lstat(p); err == nil {
				exist = append(exist, p)
			}
		}
		if len(exist) > 0 {
			return fmt.Errorf("not overwriting %s (--force overwrites; nothing was written)", strings.Join(exist, ", "))
		}
	}
	for _, f := range files {
		p := filepath.Join(o.out, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: cube %s over %s (%s, %s, %s)\n", p, f.Cube, f.Table,
			countOf(f.Dimensions, "dimension"), countOf(f.Measures, "measure"), countOf(f.Joins, "join"))
	}
	fmt.Fprintf(stdout, "\n%d cubes from %s. Check them with\n\n  cubegate model validate %s\n\nand serve them with model.dir: %s and warehouse.dsn: the same DSN.\n",
		len(files), source, o.out, o.out)
	return nil
}

// countOf is n what, plural when n is not 1.
func countOf(n int, what string) string { return fmt.Sprintf("%d %s%s", n, what, plural(n)) }

// checkGenerated loads the generated files alone, as the gateway would:
// a model that does not validate is never written.
func checkGenerated(files []modelgen.File) error {
	dir, err := os.MkdirTemp("", "cubegate-modelgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	if _, err := cubes.LoadDir(dir); err != nil {
		return fmt.Errorf("the generated model does not validate (a bug; nothing was written): %w", err)
	}
	return nil
}

// modelTables hands the warehouse's tables to the generator (cubes and
// warehouse do not import each other: the command joins them).
func modelTables(ts []introspect.Table) []modelgen.Table {
	out := make([]modelgen.Table, len(ts))
	for i, t := range ts {
		mt := modelgen.Table{Schema: t.Schema, Name: t.Name, PrimaryKey: t.PrimaryKey}
		for _, c := range t.Columns {
			mt.Columns = append(mt.Columns, modelgen.Column{Name: c.Name, Type: c.Type})
		}
		for _, fk := range t.ForeignKeys {
			mt.ForeignKeys = append(mt.ForeignKeys, modelgen.ForeignKey{Columns: fk.Columns,
				RefSchema: fk.RefSchema, RefTable: fk.RefTable, RefColumns: fk.RefColumns})
		}
		out[i] = mt
	}
	return out
}

// describeWarehouse names a warehouse for the files' header and the
// output: its DSN without any password, not even as *** — on Redact's
// text, which hides a password the URL parser would misread.
func describeWarehouse(dsn string) string {
	red := warehouse.Redact(dsn)
	u, err := url.Parse(red)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return red
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
