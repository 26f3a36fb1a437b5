package app_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Issue #15: SELECT * (DBeaver's and pgAdmin's "View data") works on
// every cube and view of the test models, on both warehouses, and every
// column's declared type is the type of the values sent.
func TestSelectStarEveryCube(t *testing.T) {
	for name, o := range map[string]apptest.Options{
		"duckdb":        {DuckDB: apptest.Demo(200)},
		"postgres":      {Postgres: apptest.Demo(200)},
		"corpus-duckdb": {DuckDB: apptest.Corpus}, // Cube's SQL API test model
	} {
		t.Run(name, func(t *testing.T) {
			g := apptest.Start(t, o)
			conn := apptest.Connect(t, g.ConnString(t, "star"))
			ctx := context.Background()
			for _, c := range g.Model.Cubes {
				if !c.Public {
					continue
				}
				rows, err := conn.Query(ctx, `SELECT * FROM "`+c.Name+`" LIMIT 5`)
				if err != nil {
					t.Errorf("%s: %v", c.Name, err)
					continue
				}
				n := 0
				for rows.Next() {
					if _, err := rows.Values(); err != nil {
						t.Errorf("%s: %v", c.Name, err)
					}
					n++
				}
				if err := rows.Err(); err != nil {
					t.Errorf("SELECT * FROM %s: %v", c.Name, err)
				} else if n == 0 {
					t.Errorf("SELECT * FROM %s: no rows", c.Name)
				}
				// Each column alone, in binary: the type RowDescription
				// declares is the type of the values sent (pgx decodes
				// binary by the declared type and fails otherwise).
				cols := rows.FieldDescriptions()
				for _, f := range cols {
					q := `SELECT "` + f.Name + `" FROM "` + c.Name + `" LIMIT 3`
					rows, err := conn.Query(ctx, q, pgx.QueryResultFormats{pgx.BinaryFormatCode})
					if err != nil {
						t.Errorf("%s: %v", q, err)
						continue
					}
					for rows.Next() {
						if _, err := rows.Values(); err != nil {
							t.Errorf("%s: %v", q, err)
							break
						}
					}
					if err := rows.Err(); err != nil {
						t.Errorf("%s (declared %d): %v", q, rows.FieldDescriptions()[0].DataTypeOID, err)
					}
					rows.Close()
				}
			}
		})
	}
}
