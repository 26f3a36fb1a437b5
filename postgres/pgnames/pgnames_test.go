package pgnames

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Unnamed result columns are named as PostgreSQL 15 names them (each
// want is what psql shows as the column's header).
func TestFigureColname(t *testing.T) {
	for expr, want := range map[string]string{
		"a.b":                              "b",
		"pg_catalog.upper('x')":            "upper",
		"'1'::int":                         "int4",
		"x::text":                          "x",
		"CASE WHEN true THEN 1 END":        "case",
		"CASE WHEN true THEN 1 ELSE y END": "y",
		"coalesce(1, 2)":                   "coalesce",
		"greatest(1, 2)":                   "greatest",
		"least(1, 2)":                      "least",
		"nullif(1, 2)":                     "nullif",
		"EXISTS (SELECT 1)":                "exists",
		"ARRAY(SELECT 1)":                  "array",
		"ARRAY[1]":                         "array",
		"(SELECT 1 AS one)":                "one",
		"(SELECT z FROM t)":                "z",
		"current_user":                     "current_user",
		"user":                             "user",
		"CURRENT_DATE":                     "current_date",
		"1 + 2":                            "?column?",
	} {
		tree, err := pg_query.Parse("SELECT " + expr)
		if err != nil {
			t.Fatal(err)
		}
		n := tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()
		if got := FigureColname(n); got != want {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
}
