// Package apptest starts gateways for the tests: one Start, whose Options
// choose the warehouse (an embedded DuckDB or a throwaway PostgreSQL
// holding the demo data or the corpus kit's tables, or any DSN), the
// model, the logger, and a last word on the configuration.
//
// It is test support: every error fails the test at once, and what it
// starts is stopped and deleted when the test ends.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/clickhouse/chtest"
	"github.com/cubegate/cubegate/warehouse/mysql/mysqltest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Options say what gateway to start.
type Options struct {
	// The warehouse: exactly one of DuckDB, Postgres, MariaDB, ClickHouse
	// and DSN.

	// DuckDB is an embedded DuckDB file in a temporary folder holding this.
	DuckDB Fixture
	// Postgres is a throwaway PostgreSQL (warehouse/pgtest) whose database
	// holds this.
	Postgres Fixture
	// MariaDB is a throwaway MariaDB (warehouse/mysql/mysqltest) whose
	// database public holds this (the demo data, copied from DuckDB).
	MariaDB Fixture
	// ClickHouse is a throwaway ClickHouse (warehouse/clickhouse/chtest)
	// holding this, copied from DuckDB likewise.
	ClickHouse Fixture
	// DSN is a warehouse to use as it is.
	DSN string

	// The model: at most one of ModelDir and Model. Without either, the
	// demo model (app.WriteDemoModel) in a temporary folder, or the corpus
	// kit's model on the Corpus fixture.

	// ModelDir is the folder of the model.
	ModelDir string
	// Model is the YAML text of the model's one file.
	Model string

	// DataSource names the data source: by default "demo", or "db" (the
	// corpus kit's) on the Corpus fixture.
	DataSource string
	// Log is the gateway's logger; nil: none (zerolog.Nop).
	Log *zerolog.Logger
	// Adjust, when set, changes the configuration last, just before the
	// gateway starts.
	Adjust func(*app.Config)
}

// Fixture is what a throwaway warehouse is loaded with: the demo data at
// some sizes, or the corpus kit's warehouse.sql. The zero Fixture is none.
type Fixture struct {
	demo   app.DemoSizes
	corpus bool
}

// Demo is the demo data at app.SizesFor(orders): app.GenerateDemoData on
// DuckDB, testdata/oracle/fixture.sql (which makes the same rows) on
// PostgreSQL.
func Demo(orders int) Fixture { return DemoSizes(app.SizesFor(orders)) }

// DemoSizes is the demo data at sizes s.
func DemoSizes(s app.DemoSizes) Fixture { return Fixture{demo: s} }

// Corpus is the corpus kit's data (testdata/corpus/cube-tests/data/
// warehouse.sql).
var Corpus = Fixture{corpus: true}

func (f Fixture) set() bool { return f.corpus || f.demo != (app.DemoSizes{}) }

// Setup is what Prepare makes ready for a gateway.
type Setup struct {
	// Config is the gateway's configuration, Options.Adjust applied.
	Config app.Config
	// Postgres is the throwaway PostgreSQL of Options.Postgres, else nil.
	Postgres *pgtest.Cluster
	// MariaDB is the throwaway MariaDB of Options.MariaDB, else nil.
	MariaDB *mysqltest.Server
	// ClickHouse is the throwaway ClickHouse of Options.ClickHouse, else
	// nil.
	ClickHouse *chtest.Server
}

// Gateway is a gateway Start started, and what it was started with.
type Gateway struct {
	*app.Gateway
	Setup
}

// Start prepares what o asks for and starts a gateway on it, listening on
// free ports of 127.0.0.1; it is closed when the test ends.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	s := Prepare(t, o)
	log := zerolog.Nop()
	if o.Log != nil {
		log = *o.Log
	}
	g, err := app.Start(context.Background(), s.Config, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &Gateway{Gateway: g, Setup: s}
}

// Prepare makes ready what o asks for — the warehouse and its data, the
// model, a state store in a temporary folder — and returns the
// configuration of a gateway on it, listening on free ports of 127.0.0.1,
// without starting it: Start starts it in the test's process; the hostile
// suite runs the real binary with it.
func Prepare(t testing.TB, o Options) Setup {
	t.Helper()
	var s Setup
	var f Fixture
	cfg := app.Defaults()
	set := 0
	for _, b := range []bool{o.DuckDB.set(), o.Postgres.set(), o.MariaDB.set(), o.ClickHouse.set(), o.DSN != ""} {
		if b {
			set++
		}
	}
	switch {
	case set != 1:
		t.Fatal("apptest: set exactly one of Options.DuckDB, Options.Postgres, Options.MariaDB, Options.ClickHouse and Options.DSN")
	case o.DuckDB.set():
		f = o.DuckDB
		cfg.Warehouse.DSN = DuckDB(t, f)
	case o.Postgres.set():
		f = o.Postgres
		s.Postgres, cfg.Warehouse.DSN = Postgres(t, f)
	case o.MariaDB.set():
		f = o.MariaDB
		s.MariaDB, cfg.Warehouse.DSN = MariaDB(t, f)
	case o.ClickHouse.set():
		f = o.ClickHouse
		s.ClickHouse, cfg.Warehouse.DSN = ClickHouse(t, f)
	default:
		cfg.Warehouse.DSN = o.DSN
	}
	dir := t.TempDir()
	switch {
	case o.ModelDir != "" && o.Model != "":
		t.Fatal("apptest: set at most one of Options.ModelDir and Options.Model")
	case o.ModelDir != "":
		cfg.Model.Dir = o.ModelDir
	case o.Model != "":
		cfg.Model.Dir = filepath.Join(dir, "model")
		if err := os.MkdirAll(cfg.Model.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Model.Dir, "m.yml"), []byte(o.Model), 0o644); err != nil {
			t.Fatal(err)
		}
	case f.corpus:
		cfg.Model.Dir = CorpusPath(t, "model")
	default:
		cfg.Model.Dir = filepath.Join(dir, "model")
		if err := app.WriteDemoModel(cfg.Model.Dir); err != nil {
			t.Fatal(err)
		}
	}
	cfg.SQL.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.State.DSN = "sqlite://" + filepath.Join(dir, "state.db")
	switch {
	case o.DataSource != "":
		cfg.DataSource.Name = o.DataSource
	case f.corpus:
		cfg.DataSource.Name = "db"
	default:
		cfg.DataSource.Name = "demo"
	}
	if o.Adjust != nil {
		o.Adjust(&cfg)
	}
	s.Config = cfg
	return s
}

// DuckDB makes an embedded DuckDB file in a temporary folder holding f and
// returns its DSN (duckdb://PATH).
func DuckDB(t testing.TB, f Fixture) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := warehouse.OpenDuckDB(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := load(ctx, t, w, f); err != nil {
		w.Close()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return "duckdb://" + path
}

func load(ctx context.Context, t testing.TB, w *warehouse.DuckDB, f Fixture) error {
	t.Helper()
	switch {
	case f.corpus:
		script, err := os.ReadFile(CorpusPath(t, "data", "warehouse.sql"))
		if err != nil {
			return err
		}
		if _, err := w.DB().ExecContext(ctx, string(script)); err != nil {
			return fmt.Errorf("warehouse.sql on DuckDB: %w", err)
		}
		return nil
	case f.set():
		return app.GenerateDemoData(ctx, w, f.demo)
	}
	return errors.New("apptest: an empty fixture")
}

// Postgres starts a throwaway PostgreSQL holding f in one database —
// "fixture" for the demo data, "wh" for the corpus kit — and returns the
// cluster and that database's DSN.
func Postgres(t testing.TB, f Fixture) (*pgtest.Cluster, string) {
	t.Helper()
	if !f.set() {
		t.Fatal("apptest: an empty fixture")
	}
	pg := pgtest.Start(t)
	switch {
	case f.corpus:
		dsn := pg.CreateDatabase("wh")
		pg.Psql("wh", "-q", "-f", CorpusPath(t, "data", "warehouse.sql"))
		return pg, dsn
	default:
		dsn := pg.CreateDatabase("fixture")
		pg.Psql("fixture", "-v", fmt.Sprintf("orders=%d", f.demo.Orders), "-v", fmt.Sprintf("customers=%d", f.demo.Customers),
			"-v", fmt.Sprintf("products=%d", f.demo.Products), "-f", RepoPath(t, "testdata", "oracle", "fixture.sql"))
		return pg, dsn
	}
}

// fixtureSchema is the schema of f's tables: public for the demo data,
// warehouse for the corpus kit's (a database of that name on engines
// whose schemas are databases).
func fixtureSchema(f Fixture) string {
	if f.corpus {
		return "warehouse"
	}
	return "public"
}

// copyFixture makes f in a temporary DuckDB and hands it to copy, table
// by table ("schema.table").
func copyFixture(t testing.TB, f Fixture, copy func(src warehouse.Warehouse, table string)) {
	t.Helper()
	if !f.set() {
		t.Fatal("apptest: an empty fixture")
	}
	ctx := context.Background()
	w, err := warehouse.Open(ctx, DuckDB(t, f))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows, err := w.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", fixtureSchema(f))
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, v[0].(string))
	}
	if err := rows.Close(); err != nil || len(tables) == 0 {
		t.Fatalf("apptest: the fixture's tables: %v (%d)", err, len(tables))
	}
	for _, table := range tables {
		copy(w, fixtureSchema(f)+"."+table)
	}
}

// MariaDB starts a throwaway MariaDB holding f in the database its
// model names (public, or warehouse for the corpus kit) and returns it
// and the DSN of that database.
func MariaDB(t testing.TB, f Fixture) (*mysqltest.Server, string) {
	t.Helper()
	srv := mysqltest.Start(t)
	db := fixtureSchema(f)
	if db != mysqltest.Database {
		srv.CreateDatabase(t, db)
	}
	copyFixture(t, f, func(src warehouse.Warehouse, table string) { srv.CopyTable(t, src, table, table) })
	return srv, srv.DSN(db)
}

// ClickHouse starts a throwaway ClickHouse holding f in the database its
// model names (public, or warehouse for the corpus kit) and returns it
// and the DSN of that database.
func ClickHouse(t testing.TB, f Fixture) (*chtest.Server, string) {
	t.Helper()
	srv := chtest.Start(t)
	db := fixtureSchema(f)
	if db != chtest.Database {
		srv.CreateDatabase(t, db)
	}
	copyFixture(t, f, func(src warehouse.Warehouse, table string) { srv.CopyTable(t, src, table, table) })
	return srv, srv.DSN(db)
}

// StateWithTenants is a SQLite state store in a temporary folder that
// knows tenants (besides the default one) before a gateway starts on it:
// set it as Config.State.DSN.
func StateWithTenants(t testing.TB, tenants ...string) string {
	t.Helper()
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	store, err := auth.OpenStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, id := range tenants {
		if _, err := store.CreateTenant(ctx, id, id, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return dsn
}

// ConnString mints a credential labelled label on the gateway and returns
// its connection string.
func (g *Gateway) ConnString(t testing.TB, label string) string {
	t.Helper()
	_, _, connStr, err := g.MintCredential(context.Background(), label)
	if err != nil {
		t.Fatal(err)
	}
	return connStr
}

// Connect opens a pgx connection on connStr in the simple query protocol,
// closed when the test ends.
func Connect(t testing.TB, connStr string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(connStr)
	if err != nil {
		t.Fatal(err)
	}
	// The walking skeleton speaks the simple query protocol.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// RepoPath is the absolute path of elem under the repository's top folder
// (the one holding go.mod), found upwards from the working directory.
func RepoPath(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir}, elem...)...)
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("apptest: no go.mod above the working directory")
		}
		dir = up
	}
}

// CorpusPath is the absolute path of elem in the corpus kit
// (testdata/corpus/cube-tests).
func CorpusPath(t testing.TB, elem ...string) string {
	t.Helper()
	return RepoPath(t, append([]string{"testdata", "corpus", "cube-tests"}, elem...)...)
}
