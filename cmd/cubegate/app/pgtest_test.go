package app_test

import (
	"context"
	"flag"
	"path/filepath"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/pgwire/wiretest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Wire scripts over the whole gateway (testdata/pgtest/*.test, format in
// pgwire/wiretest): each runs against cubegate and, unless it starts with
// "cubegate-only", against a real PostgreSQL 15: the expected messages are
// Postgres' own. The scripts of the wire layer alone are pgwire's
// (pgwire/testdata).
//
// go test ./cmd/cubegate/app -run PGTest -rewrite rewrites the expected
// messages: from Postgres for shared scripts, from cubegate for the rest.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected messages of testdata/pgtest scripts")

const pgtestDir = "../../../testdata/pgtest"

func TestPGTestScripts(t *testing.T) {
	scripts, _ := filepath.Glob(filepath.Join(pgtestDir, "*.test"))
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata/pgtest")
	}
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	_, _, gwConn, err := g.MintCredential(context.Background(), "pgtest")
	if err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t)
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			blocks, cubegateOnly := wiretest.Parse(t, path)
			targets := map[string]string{"cubegate": gwConn}
			if !cubegateOnly {
				targets["postgres"] = pg.DSN
			}
			results := map[string][][]string{}
			for name, dsn := range targets {
				results[name] = wiretest.Run(t, blocks, dsn)
			}
			if *rewrite {
				ref := results["postgres"]
				if cubegateOnly {
					ref = results["cubegate"]
				}
				wiretest.Write(t, path, blocks, cubegateOnly, ref)
			}
			blocks, _ = wiretest.Parse(t, path)
			for name, outs := range results {
				wiretest.Check(t, name, blocks, outs)
			}
		})
	}
}
