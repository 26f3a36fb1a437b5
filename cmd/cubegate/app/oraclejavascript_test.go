package app_test

import (
	"path/filepath"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// The shared Cube oracle answered by the oracle model written in
// JavaScript (testdata/oracle/model_js: required helpers, generated
// cubes, ${CUBE} templates), served by the gateway on PostgreSQL and
// DuckDB: Cube's recorded answers, as for the YAML model.
func TestCubeOracleJavaScriptModel(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join(oracleDir, "model_js"))
	if err != nil {
		t.Fatal(err)
	}
	sizes := app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50}
	pgGw := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(sizes), ModelDir: dir})
	duck := apptest.Start(t, apptest.Options{DuckDB: apptest.DemoSizes(sizes), ModelDir: dir})
	checkOracle(t, oracleKnownGaps, pgGw, duck)
}
