package app_test

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

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/planner"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// The catalog against PostgreSQL 15 itself: the corpus kit's model served
// by cubegate over its warehouse data, and a "shadow" database holding one
// ordinary table per cube, shaped as cubegate exposes it.

const corpusDir = "../../../testdata/corpus"

type corpusEnv struct {
	g       *apptest.Gateway
	gateway string // connection string of a credential on the gateway
	shadow  string // the shadow database on the same PostgreSQL
	pg      *pgtest.Cluster
}

// newCorpusEnv serves the corpus kit's model over its data on a
// throwaway PostgreSQL, and makes the shadow database on the same cluster.
func newCorpusEnv(t *testing.T) *corpusEnv {
	t.Helper()
	// The warehouse is database wh; the shadow is named db, as the
	// gateway's data source, so that clients see the same catalog name.
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Corpus})
	data := filepath.Join(corpusDir, "cube-tests", "data")
	shadow := g.Postgres.CreateDatabase("db")
	g.Postgres.Psql("db", "-q", "-f", filepath.Join(data, "warehouse.sql"), "-f", filepath.Join(data, "shadow.sql"))
	// The comments and keys are the gateway's (which say what each member
	// is, and show the model's primary keys and relationships).
	g.Postgres.Psql("db", "-q", "-c", commentsDDL(g.Model)+keysDDL(g.Model))
	return &corpusEnv{g: g, gateway: g.ConnString(t, "catalog") + "?sslmode=disable", shadow: shadow, pg: g.Postgres}
}

// TestCatalogCorpus replays the corpus kit's catalog queries (those
// PostgreSQL 15 accepts) with its own runner: columns and types must be
// PostgreSQL's, and row counts too where they depend only on the cubes.
func TestCatalogCorpus(t *testing.T) {
	env := newCorpusEnv(t)
	cmd := exec.Command("bash", filepath.Join(corpusDir, "cube-tests", "run.sh"), env.gateway,
		filepath.Join(corpusDir, "cube-tests", "queries.jsonl"), "--kind", "catalog,session,cursor,ddl_dml", "--pg-ok",
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
	// The session, cursor and temporary-table sequences PostgreSQL accepts
	// all run too.
	kinds := regexp.MustCompile(`(?m)^\s+(session|cursor|ddl_dml)\s+(\d+) / (\d+)`).FindAllStringSubmatch(stderr.String(), -1)
	if len(kinds) != 3 {
		t.Errorf("per-kind counts missing: %v", kinds)
	}
	for _, k := range kinds {
		if k[2] != k[3] {
			t.Errorf("corpus %s statements: %s of %s ran", k[1], k[2], k[3])
		}
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
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(100)})
	pg := g.Postgres
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
	}
	return b.String() + commentsDDL(m) + keysDDL(m)
}

// keysDDL gives each cube's table the primary key and foreign keys
// cubegate's catalog shows.
func keysDDL(m *cubes.Model) string {
	var b strings.Builder
	quote := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = pgx.Identifier{n}.Sanitize()
		}
		return strings.Join(q, ", ")
	}
	tables := planner.CatalogTables(m)
	for _, t := range tables {
		if len(t.PrimaryKey) > 0 {
			fmt.Fprintf(&b, "ALTER TABLE public.%s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", pgx.Identifier{t.Name}.Sanitize(),
				pgx.Identifier{t.Name + "_pkey"}.Sanitize(), quote(t.PrimaryKey))
		}
	}
	for _, t := range tables {
		for _, fk := range t.ForeignKeys {
			fmt.Fprintf(&b, "ALTER TABLE public.%s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES public.%s (%s);\n", pgx.Identifier{t.Name}.Sanitize(),
				pgx.Identifier{t.Name + "_" + strings.Join(fk.Columns, "_") + "_fkey"}.Sanitize(), quote(fk.Columns),
				pgx.Identifier{fk.Table}.Sanitize(), quote(fk.RefColumns))
		}
	}
	return b.String()
}

// commentsDDL comments each cube's table and columns as cubegate's
// catalog describes them.
func commentsDDL(m *cubes.Model) string {
	var b strings.Builder
	for _, t := range planner.CatalogTables(m) {
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
	env := newCorpusEnv(t)
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
	env := newCorpusEnv(t)
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

// TestCatalogSemantics asks cubegate's catalog engine and PostgreSQL 15
// the same questions and compares every value: NULL logic, casts and the
// reg* types, operators, subqueries (correlated too), CTEs (recursive
// too), set operations, joins, aggregates, window and set-returning
// functions, and the functions clients call.
func TestCatalogSemantics(t *testing.T) {
	env := newCorpusEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gw, err := pgconn.Connect(ctx, env.gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close(ctx)
	pg, err := pgconn.Connect(ctx, env.shadow)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	queries := []string{
		`SELECT NULL = NULL, NULL IS NULL, 1 IN (1, NULL), 2 IN (1, NULL), 2 NOT IN (1, NULL), NOT (NULL AND false), NULL OR true`,
		`SELECT 'pg_class'::regclass, 'pg_class'::regclass::oid, 'int4'::regtype, 'integer[]'::regtype, 'now'::regproc, 'pg_catalog'::regnamespace`,
		`SELECT 'pg_catalog.pg_class'::regclass::text, 'pg_am'::regclass = 2601, '"Logs"'::regclass::text, 'public."Logs"'::regclass::text`,
		`SELECT oid::regtype::text, typname FROM pg_type WHERE typname IN ('_int4', 'bpchar', 'timestamptz', 'int2vector') ORDER BY 1`,
		`SELECT relname FROM pg_class WHERE relname ~ '^pg_am' ORDER BY 1`,
		`SELECT relname FROM pg_class WHERE relname OPERATOR(pg_catalog.~) '^(pg_am.*)$' COLLATE pg_catalog.default AND relkind = ANY('{r,i}'::char[]) ORDER BY 1`,
		`WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n), count(*) FROM r`,
		`WITH a AS (SELECT amname FROM pg_am), b AS (SELECT count(*) AS n FROM a) SELECT n FROM b`,
		`SELECT x, row_number() OVER (ORDER BY x DESC), rank() OVER (PARTITION BY x % 2 ORDER BY x) FROM generate_series(1, 5) x ORDER BY x`,
		`SELECT unnest(ARRAY[1, 2, 3]) AS u, generate_series(1, 2) AS g`,
		`SELECT array_to_string(ARRAY['a', NULL, 'c'], ',', '*'), array_to_string(ARRAY['a', NULL, 'c'], ',')`,
		`SELECT format_type(1043, 14), format_type(1700, 655366), format_type(1184, -1), format_type(1114, 3), format_type(1007, -1), format_type(22, -1), format_type(18, -1)`,
		`SELECT t.typname FROM pg_type t WHERE t.oid = ANY('{23,25}'::oid[]) ORDER BY 1`,
		`SELECT n.nspname, c.relkind, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('pg_catalog', 'information_schema') GROUP BY 1, 2 HAVING count(*) > 5 ORDER BY 1, 2`,
		`SELECT coalesce(NULL, 'x'), nullif(1, 1), nullif(1, 2), greatest(1, 3, 2), least('b', 'a')`,
		`SELECT CASE WHEN false THEN 1 END, CASE 2 WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE 'c' END, CASE WHEN true THEN 1 ELSE 2.5 END`,
		`SELECT 'abc' LIKE 'a%', 'ABC' ILIKE 'a%', 'abc' ~* 'B', 'a_c' LIKE 'a\_c', 'abc' NOT LIKE '_b_', 'x' !~ 'y'`,
		`SELECT substring('hello' from 2 for 3), substring('hello', 3), position('l' in 'hello'), split_part('a.b.c', '.', 2), quote_ident('Foo'), quote_ident('select'), quote_ident('ok_1')`,
		`SELECT upper('aß'), lower('ABC'), length('héllo'), replace('aaa', 'a', 'bb'), trim('  x  '), ltrim('xxy', 'x'), left('hello', -2), right('hello', 2), lpad('7', 3, '0'), concat('a', NULL, 1), concat_ws('-', 'a', NULL, 'b')`,
		`SELECT (SELECT max(oid) FROM pg_am), EXISTS (SELECT 1 FROM pg_am WHERE amname = 'btree'), (SELECT amname FROM pg_am WHERE false)`,
		`SELECT c.relname, (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0) FROM pg_class c WHERE c.relname IN ('pg_am', 'pg_namespace') ORDER BY 1`,
		`SELECT amname FROM pg_am UNION SELECT 'zzz' ORDER BY 1 LIMIT 3 OFFSET 1`,
		`SELECT a.x, b.y FROM (VALUES (1), (2), (NULL)) a(x) LEFT JOIN (VALUES (2, 'two'), (3, 'three')) b(x, y) ON a.x = b.x ORDER BY 1 NULLS FIRST`,
		`SELECT a.x, b.y FROM (VALUES (1), (2)) a(x) FULL JOIN (VALUES (2, 'two'), (3, 'three')) b(x, y) ON a.x = b.x ORDER BY 2, 1`,
		`SELECT x FROM generate_series(1, 10) x EXCEPT SELECT x FROM generate_series(3, 10) x ORDER BY 1`,
		`SELECT x FROM generate_series(1, 5) x INTERSECT SELECT x FROM generate_series(3, 10) x ORDER BY 1 DESC`,
		`SELECT string_agg(amname, ',' ORDER BY amname), array_agg(amname ORDER BY amname DESC), count(*) FILTER (WHERE amtype = 'i') FROM pg_am`,
		`SELECT count(DISTINCT amtype), bool_and(amname <> ''), bool_or(amname = 'x'), min(amname), max(oid), sum(oid::int4) FROM pg_am`,
		`SELECT count(*), min(word), max(word), count(*) FILTER (WHERE catcode = 'R') FROM pg_get_keywords()`,
		`SELECT 7 / 2, 7 % 3, -3 + 1, 2 * 3, 5 & 3, 5 | 3, 1 << 4, 2.5 + 1`,
		`SELECT '{1,2,3}'::int[] @> ARRAY[2], ARRAY[1, 2] && ARRAY[3], ARRAY[1] <@ ARRAY[1, 2], ARRAY[1, 2] || 3`,
		`SELECT (ARRAY[10, 20, 30])[2], (ARRAY[10, 20, 30])[2:3], (ARRAY[10, 20, 30])[5], array_upper(ARRAY[1, 2], 1), array_length(ARRAY['a'], 1), cardinality(ARRAY[]::int[])`,
		`SELECT indkey, indkey[0], indclass FROM pg_index WHERE indexrelid = 'pg_am_oid_index'::regclass`,
		`SELECT x, n FROM information_schema._pg_expandarray(ARRAY['a', 'b']) ORDER BY n`,
		`SELECT generate_subscripts(ARRAY['a', 'b', 'c'], 1)`,
		`SELECT s.i, s.ordinality FROM unnest(ARRAY['x', 'y']) WITH ORDINALITY AS s(i, ordinality)`,
		`SELECT pg_catalog.pg_get_userbyid(0) IS NULL, pg_encoding_to_char(6), has_table_privilege('pg_class', 'SELECT'), pg_table_is_visible('pg_class'::regclass)`,
		`SELECT obj_description('pg_class'::regclass, 'pg_class') IS NOT NULL, col_description('"Logs"'::regclass, 7), obj_description('"KibanaSampleDataEcommerce"'::regclass)`,
		`SELECT attname, attnum, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = '"Logs"'::regclass ORDER BY attnum`,
		`SELECT table_name, column_name, ordinal_position, data_type, is_nullable, numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision, character_octet_length, udt_name, dtd_identifier FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 3`,
		`SELECT table_catalog, table_schema, table_name, table_type, is_insertable_into FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 3`,
		`SELECT schemaname, tablename, hasindexes FROM pg_tables WHERE schemaname = 'public' ORDER BY 2`,
		`SELECT t.typname, t.typtype, t.typcategory, t.typlen, t.typelem = 0 FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace ORDER BY 1`,
		`SELECT c.relname, c.relkind, c.relnatts, c.relpersistence, c.relhasindex FROM pg_class c WHERE c.relnamespace = 2200 ORDER BY 1`,
		`SELECT count(*) FROM pg_proc WHERE pronamespace = 11`,
		`SELECT count(*), count(DISTINCT typcategory) FROM pg_type WHERE typnamespace = 11`,
		`SELECT pg_size_pretty(123456789::bigint), pg_size_pretty(1024::bigint), to_regclass('nope'), to_regtype('int4')::text`,
		`SELECT format('%s|%I|%L|%%|%2$s', 'a', 'B c', NULL)`,
		`SELECT n.nspname FROM pg_namespace n WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 1`,
		`SELECT t1.amname, t2.amname FROM pg_am t1, pg_am t2 WHERE t1.oid = t2.oid AND t1.amname LIKE 'b%' ORDER BY 1`,
		`SELECT DISTINCT amtype FROM pg_am ORDER BY 1`,
		`SELECT DISTINCT ON (amtype) amtype, amname FROM pg_am ORDER BY amtype, amname`,
		`SELECT array_agg(x ORDER BY x DESC), array_agg(x ORDER BY x NULLS FIRST), array_agg(x ORDER BY x DESC NULLS LAST) FROM (VALUES (1), (NULL), (2)) v(x)`,
		`SELECT x, row_number() OVER (ORDER BY x DESC), row_number() OVER (ORDER BY x NULLS FIRST) FROM (VALUES (1), (NULL), (2)) v(x) ORDER BY x NULLS FIRST`,
		`SELECT x FROM (VALUES (1), (NULL), (2)) v(x) UNION SELECT 3 ORDER BY 1 DESC`,
	}
	for _, q := range queries {
		want := textRows(ctx, pg, q)
		got := textRows(ctx, gw, q)
		if got != want {
			t.Errorf("%s\n  cubegate:   %s\n  PostgreSQL: %s", q, got, want)
		}
	}
}

// textRows runs q and spells its columns, types and rows.
func textRows(ctx context.Context, conn *pgconn.PgConn, q string) string {
	rr := conn.ExecParams(ctx, q, nil, nil, nil, nil)
	var b strings.Builder
	for _, f := range rr.FieldDescriptions() {
		fmt.Fprintf(&b, "%s:%d ", f.Name, f.DataTypeOID)
	}
	for rr.NextRow() {
		b.WriteString("| ")
		for _, v := range rr.Values() {
			if v == nil {
				b.WriteString("NULL ")
			} else {
				fmt.Fprintf(&b, "%q ", v)
			}
		}
	}
	if _, err := rr.Close(); err != nil {
		return "error " + err.Error()
	}
	return b.String()
}
