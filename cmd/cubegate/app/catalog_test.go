package app

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/planner"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// The catalog against PostgreSQL 15 itself: the corpus kit's model served
// by cubegate over its warehouse data, and a "shadow" database holding one
// ordinary table per cube, shaped as cubegate exposes it.

const corpusDir = "../../../testdata/corpus"

type corpusEnv struct {
	g       *Gateway
	gateway string // connection string of a credential on the gateway
	shadow  string // the shadow database on the same PostgreSQL
	pg      *pgtest.Cluster
}

func startCorpus(t *testing.T) *corpusEnv {
	t.Helper()
	pg := pgtest.Start(t)
	data := filepath.Join(corpusDir, "cube-tests", "data")
	// The warehouse is database wh; the shadow is named db, as the
	// gateway's data source, so that clients see the same catalog name.
	dsn := pg.CreateDatabase("wh")
	pg.Psql("wh", "-q", "-f", filepath.Join(data, "warehouse.sql"))
	shadow := pg.CreateDatabase("db")
	pg.Psql("db", "-q", "-f", filepath.Join(data, "warehouse.sql"), "-f", filepath.Join(data, "shadow.sql"))
	model, err := filepath.Abs(filepath.Join(corpusDir, "cube-tests", "model"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Defaults()
	cfg.SQL.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Model.Dir = model
	cfg.Warehouse.DSN = dsn
	cfg.State.DSN = "sqlite://" + filepath.Join(dir, "state.db")
	cfg.DataSource.Name = "db"
	g, err := Start(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	_, _, connStr, err := g.MintCredential(context.Background(), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return &corpusEnv{g: g, gateway: connStr + "?sslmode=disable", shadow: shadow, pg: pg}
}

// TestCatalogCorpus replays the corpus kit's catalog queries (those
// PostgreSQL 15 accepts) with its own runner: columns and types must be
// PostgreSQL's, and row counts too where they depend only on the cubes.
func TestCatalogCorpus(t *testing.T) {
	env := startCorpus(t)
	cmd := exec.Command("bash", filepath.Join(corpusDir, "cube-tests", "run.sh"), env.gateway,
		filepath.Join(corpusDir, "cube-tests", "queries.jsonl"), "--kind", "catalog", "--pg-ok",
		"--compare-pg", filepath.Join(corpusDir, "cube-tests", "queries.jsonl"), "--jobs", "2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		t.Fatalf("run.sh: %v\n%s", err, stderr.String())
	}
	t.Log("\n" + stderr.String())
	m := regexp.MustCompile(`(?m)^compare-pg .*: (\d+) passed, (\d+) failed`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no compare-pg summary in:\n%s", stderr.String())
	}
	var passed, failed int
	fmt.Sscan(m[1], &passed)
	fmt.Sscan(m[2], &failed)
	if passed+failed < 90 {
		t.Fatalf("only %d catalog queries ran", passed+failed)
	}
	// The bar is 95%; today every query passes, so any failure is
	// a regression to look at.
	if failed > 0 {
		t.Errorf("%d of %d corpus catalog queries differ from PostgreSQL 15", failed, passed+failed)
	}
}

// captured is one statement a real client sent.
type captured struct {
	file, sql string
}

func loadCaptures(t *testing.T) []captured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "clients", "*.statements.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no client captures under %s: %v", corpusDir, err)
	}
	var out []captured
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur strings.Builder
		flush := func() {
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, captured{file: filepath.Base(f), sql: s})
			}
			cur.Reset()
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "-- [") {
				flush()
				continue
			}
			cur.WriteString(sc.Text() + "\n")
		}
		flush()
		fh.Close()
	}
	return out
}

type outcome struct {
	err   string
	cols  []string
	types []uint32
	rows  int
}

func (o outcome) String() string {
	if o.err != "" {
		return "error " + o.err
	}
	return fmt.Sprintf("columns %v types %v", o.cols, o.types)
}

func runCaptured(ctx context.Context, conn *pgconn.PgConn, sql string) []outcome {
	mrr := conn.Exec(ctx, sql)
	var out []outcome
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		var o outcome
		// pgconn's Result keeps the columns only when there is a row.
		for _, f := range rr.FieldDescriptions() {
			o.cols = append(o.cols, f.Name)
			o.types = append(o.types, f.DataTypeOID)
		}
		for rr.NextRow() {
			o.rows++
		}
		if _, err := rr.Close(); err != nil {
			o.err = err.Error()
		}
		out = append(out, o)
	}
	if err := mrr.Close(); err != nil && (len(out) == 0 || out[len(out)-1].err == "") {
		out = append(out, outcome{err: err.Error()})
	}
	return out
}

// TestCatalogClientCaptures runs every statement the corpus's real
// clients sent (psql, PgJDBC, psqlODBC, psycopg, SQLAlchemy, pgcli, pgx,
// node-postgres, Npgsql as Power BI sends it), in order, one session per
// client, on cubegate and on the shadow PostgreSQL: whatever PostgreSQL
// answers, cubegate answers with the same columns and types.
func TestCatalogClientCaptures(t *testing.T) {
	// The captures were taken on the demo model's schema (orders,
	// customers, …): serve it, and shadow it in PostgreSQL.
	g, pg := startPostgres(t, 100)
	shadow := pg.CreateDatabase("shadow")
	pg.Psql("shadow", "-q", "-c", shadowDDL(g.Model), "-f", filepath.Join(corpusDir, "cube-tests", "data", "measure.sql"))
	// Data statements over cubes are the planner's (push-down, …); this
	// test is about what clients send around them.
	var names []string
	for _, c := range g.Model.Cubes {
		names = append(names, regexp.QuoteMeta(c.Name))
	}
	readsCube := regexp.MustCompile(`(?i)\b(FROM|JOIN)\s+("?public"?\.)?"?(` + strings.Join(names, "|") + `)\b`)
	_, _, connStr, err := g.MintCredential(context.Background(), "captures")
	if err != nil {
		t.Fatal(err)
	}
	env := &corpusEnv{g: g, gateway: connStr + "?sslmode=disable", shadow: shadow, pg: pg}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	byFile := map[string][]captured{}
	var files []string
	for _, c := range loadCaptures(t) {
		if byFile[c.file] == nil {
			files = append(files, c.file)
		}
		byFile[c.file] = append(byFile[c.file], c)
	}
	sort.Strings(files)
	total, agreed := 0, 0
	for _, f := range files {
		pgConn, err := pgconn.Connect(ctx, env.shadow)
		if err != nil {
			t.Fatal(err)
		}
		gwConn, err := pgconn.Connect(ctx, env.gateway)
		if err != nil {
			t.Fatal(err)
		}
		ran, ok := 0, 0
		// pgx's capture holds a pg_sleep(30) (its cancel test): bounded here.
		for _, conn := range []*pgconn.PgConn{pgConn, gwConn} {
			runCaptured(ctx, conn, "SET statement_timeout = '2s'")
		}
		for _, c := range byFile[f] {
			if readsCube.MatchString(c.sql) && !strings.Contains(c.sql, "pg_catalog") && !strings.Contains(c.sql, "information_schema") {
				continue
			}
			want := runCaptured(ctx, pgConn, c.sql)
			got := runCaptured(ctx, gwConn, c.sql)
			if len(want) > 0 && want[len(want)-1].err != "" {
				// PostgreSQL refused it (a parameter without a value, a
				// cursor of an earlier session, a table of another schema).
				if os.Getenv("CATALOG_DEBUG") != "" {
					t.Logf("%s: PostgreSQL refused %s: %v", f, firstLine(c.sql), want)
				}
				if pgConn.TxStatus() == 'E' {
					runCaptured(ctx, pgConn, "ROLLBACK")
				}
				if gwConn.TxStatus() == 'E' {
					runCaptured(ctx, gwConn, "ROLLBACK")
				}
				continue
			}
			ran++
			same := len(got) == len(want)
			for i := 0; same && i < len(want); i++ {
				same = got[i].err == "" && fmt.Sprint(got[i].cols) == fmt.Sprint(want[i].cols) && fmt.Sprint(got[i].types) == fmt.Sprint(want[i].types)
			}
			if !same {
				t.Errorf("%s: %s\n  cubegate:   %v\n  PostgreSQL: %v", f, firstLine(c.sql), got, want)
				if gwConn.TxStatus() == 'E' {
					runCaptured(ctx, gwConn, "ROLLBACK")
				}
				continue
			}
			ok++
		}
		pgConn.Close(ctx)
		gwConn.Close(ctx)
		t.Logf("%-24s %3d / %3d statements PostgreSQL accepts answered alike", f, ok, ran)
		total += ran
		agreed += ok
	}
	t.Logf("all clients: %d / %d", agreed, total)
	if total < 100 {
		t.Errorf("only %d captured statements ran on PostgreSQL", total)
	}
}

// shadowDDL creates, in PostgreSQL, one ordinary table per cube shaped as
// cubegate's catalog shows it, with the model's descriptions as comments.
func shadowDDL(m *cubes.Model) string {
	var b strings.Builder
	for _, t := range planner.CatalogTables(m) {
		fmt.Fprintf(&b, "CREATE TABLE public.%s (", pgx.Identifier{t.Name}.Sanitize())
		for i, c := range t.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			typ, _ := pgtype.NewMap().TypeForOID(c.Type)
			fmt.Fprintf(&b, "%s %s", pgx.Identifier{c.Name}.Sanitize(), typ.Name)
			if c.NotNull {
				b.WriteString(" NOT NULL")
			}
		}
		b.WriteString(");\n")
		if t.Description != "" {
			fmt.Fprintf(&b, "COMMENT ON TABLE public.%s IS %s;\n", pgx.Identifier{t.Name}.Sanitize(), quoteLiteral(t.Description))
		}
		for _, c := range t.Columns {
			if c.Description != "" {
				fmt.Fprintf(&b, "COMMENT ON COLUMN public.%s.%s IS %s;\n", pgx.Identifier{t.Name}.Sanitize(), pgx.Identifier{c.Name}.Sanitize(), quoteLiteral(c.Description))
			}
		}
	}
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func firstLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// TestCatalogPsql runs psql's describe commands against cubegate and
// against the shadow schema in PostgreSQL 15: the output is the same but
// for the owner's name (and the database's).
func TestCatalogPsql(t *testing.T) {
	env := startCorpus(t)
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	psql := filepath.Join(bin, "psql")
	u, err := url.Parse(env.gateway)
	if err != nil {
		t.Fatal(err)
	}
	gwUser := u.User.Username()
	run := func(dsn, cmd string) string {
		c := exec.Command(psql, "-X", "--no-psqlrc", "-d", dsn, "-c", cmd)
		c.Env = append(os.Environ(), "PGSSLMODE=disable", "PAGER=")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", cmd, err, out)
		}
		s := string(out)
		for _, owner := range []string{gwUser, "postgres"} {
			s = regexp.MustCompile(`\b`+regexp.QuoteMeta(owner)+`\b *`).ReplaceAllString(s, "OWNER ")
		}
		// Column widths follow the owner's name: compare words, not padding.
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			lines = append(lines, strings.Join(strings.Fields(strings.ReplaceAll(l, "-", "")), " "))
		}
		return strings.Join(lines, "\n")
	}
	for _, cmd := range []string{`\dt`, `\dv`, `\dn`, `\d "Logs"`, `\d "KibanaSampleDataEcommerce"`,
		`\d+ "KibanaSampleDataEcommerce"`, `\d+ "NumberCube"`, `\dt "Logs"`, `\dt public.*`, `\d`, `\df now`,
		`\dT`, `\dx`, `\dd "Logs"`, `\dS pg_am`, `\d pg_catalog.pg_namespace`} {
		got, want := run(env.gateway, cmd), run(env.shadow, cmd)
		if got != want {
			t.Errorf("psql %s:\ncubegate:\n%s\nPostgreSQL:\n%s", cmd, got, want)
		}
	}
	// \l lists the one database a credential reaches.
	if got := run(env.gateway, `\l`); !strings.Contains(got, "db OWNER UTF8 C.UTF8 C.UTF8 libc") && !strings.Contains(got, "db | OWNER | UTF8") {
		t.Errorf(`psql \l: %s`, got)
	}
}

// TestCatalogClients runs real clients' metadata APIs against cubegate
// and against the shadow schema in PostgreSQL 15, and compares what they
// print: PgJDBC's DatabaseMetaData, SQLAlchemy's inspector, psqlODBC's
// SQLTables/SQLColumns/SQLPrimaryKeys/SQLGetTypeInfo (UseDeclareFetch on)
// and pgcli's completion refresher.
func TestCatalogClients(t *testing.T) {
	env := startCorpus(t)
	gw, err := url.Parse(env.gateway)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := url.Parse(env.shadow)
	if err != nil {
		t.Fatal(err)
	}
	gwUser := gw.User.Username()
	gwPass, _ := gw.User.Password()
	dir := filepath.Join(clientsDir, "catalog")
	normalize := func(s string) string {
		for _, owner := range []string{gwUser, "postgres"} {
			s = regexp.MustCompile(`\b`+regexp.QuoteMeta(owner)+`\b`).ReplaceAllString(s, "OWNER")
		}
		return s
	}
	type side struct {
		host, port, user, pass string
	}
	sides := map[string]side{
		"cubegate":   {gw.Hostname(), gw.Port(), gwUser, gwPass},
		"PostgreSQL": {pg.Hostname(), pg.Port(), "postgres", "unused"},
	}
	clients := []struct {
		name string
		args func(s side) (string, []string)
	}{
		{"PgJDBC", func(s side) (string, []string) {
			return "java", []string{"-cp", "/usr/share/java/postgresql.jar", filepath.Join(dir, "CatalogClient.java"),
				fmt.Sprintf("jdbc:postgresql://%s:%s/db", s.host, s.port), s.user, s.pass}
		}},
		{"SQLAlchemy", func(s side) (string, []string) {
			return "/usr/bin/python3", []string{filepath.Join(dir, "catalog.py"), "sqlalchemy",
				fmt.Sprintf("postgresql+psycopg2://%s:%s@%s:%s/db?sslmode=disable", s.user, url.QueryEscape(s.pass), s.host, s.port)}
		}},
		{"psqlODBC", func(s side) (string, []string) {
			drivers, _ := filepath.Glob("/usr/lib/*/odbc/psqlodbcw.so")
			if len(drivers) == 0 {
				t.Fatal("psqlODBC is not installed: run make deps")
			}
			return "/usr/bin/python3", []string{filepath.Join(dir, "catalog.py"), "odbc",
				fmt.Sprintf("Driver=%s;Server=%s;Port=%s;Database=db;Uid=%s;Pwd=%s;SSLmode=disable;UseDeclareFetch=1;Fetch=3",
					drivers[0], s.host, s.port, s.user, s.pass)}
		}},
		{"pgcli", func(s side) (string, []string) {
			return "/usr/bin/python3", []string{filepath.Join(dir, "catalog.py"), "pgcli", s.host, s.port, "db", s.user, s.pass}
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			outs := map[string]string{}
			for name, s := range sides {
				bin, args := c.args(s)
				if _, err := exec.LookPath(bin); err != nil {
					t.Fatalf("%s is not installed: run make deps", bin)
				}
				out, err := exec.Command(bin, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s against %s: %v\n%s", c.name, name, err, out)
				}
				outs[name] = normalize(string(out))
			}
			if outs["cubegate"] != outs["PostgreSQL"] {
				t.Errorf("%s differs:\n%s", c.name, lineDiff(outs["cubegate"], outs["PostgreSQL"]))
			}
			if !strings.Contains(outs["cubegate"], "Logs") {
				t.Errorf("%s did not see the cubes:\n%s", c.name, outs["cubegate"])
			}
		})
	}
}

// lineDiff lists the lines only one side printed.
func lineDiff(got, want string) string {
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		if count[l] > 0 {
			count[l]--
			continue
		}
		b.WriteString("  cubegate only:   " + l + "\n")
	}
	for _, l := range strings.Split(want, "\n") {
		if count[l] > 0 {
			count[l]--
			b.WriteString("  PostgreSQL only: " + l + "\n")
		}
	}
	return b.String()
}
