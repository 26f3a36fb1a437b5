package app_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Issue #15: what psql, pgAdmin and DBeaver do first, run with the real
// psql against the gateway.

func psql(t *testing.T, connStr string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is not installed (make deps installs postgresql-client)")
	}
	out, err := exec.Command(bin, append([]string{connStr, "-X"}, args...)...).CombinedOutput()
	return string(out), err
}

// pgAdmin, DBeaver and psql -l connect to the maintenance database first
// and list the others from pg_database: any valid credential opens
// postgres and template1, which show its data source, and the tool then
// opens that.
func TestMaintenanceDatabase(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	c, pw, _, err := g.MintCredential(context.Background(), "tools")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	for _, maintenance := range []string{"postgres", "template1"} {
		conn := app.ConnectionString(c.Username, pw, host, port, maintenance)
		out, err := psql(t, conn, "-At", "-F", "|", "-c", "SELECT current_database(), datname, datistemplate FROM pg_database ORDER BY oid")
		if err != nil {
			t.Fatalf("%s: %v\n%s", maintenance, err, out)
		}
		want := maintenance + "|" + maintenance + "|" + map[string]string{"postgres": "f", "template1": "t"}[maintenance] + "\n" +
			maintenance + "|" + c.Database + "|f"
		if got := strings.TrimSpace(out); got != want {
			t.Fatalf("pg_database from %s:\n%s\nwant\n%s", maintenance, got, want)
		}
	}
	// psql -l lists the data source; the tool then opens it and reads.
	out, err := psql(t, app.ConnectionString(c.Username, pw, host, port, "postgres"), "-l", "-A", "-t")
	if err != nil || !strings.Contains(out, c.Database+"|") {
		t.Fatalf("psql -l: %v\n%s", err, out)
	}
	out, err = psql(t, app.ConnectionString(c.Username, pw, host, port, c.Database), "-At", "-c", "SELECT count(*) FROM orders")
	if err != nil || strings.TrimSpace(out) != "1000" {
		t.Fatalf("the data source after the list: %v\n%s", err, out)
	}
	// Another name is still no database.
	out, err = psql(t, app.ConnectionString(c.Username, pw, host, port, "nope"), "-c", "SELECT 1")
	if err == nil || !strings.Contains(out, `database "nope" does not exist`) {
		t.Fatalf("an unknown database: %v\n%s", err, out)
	}
}

// An unknown column or cube names the closest one, as PostgreSQL's hint
// does; \d+ says of each column whether it is a measure, a dimension or a
// segment.
func TestToolHintsAndDescriptions(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	conn := g.ConnString(t, "hints")
	for sql, hint := range map[string]string{
		`SELECT stauts, MEASURE(count) FROM orders GROUP BY 1`: `HINT:  Perhaps you meant to reference the column "orders.status".`,
		`SELECT count(*) FROM ordres`:                          `HINT:  Perhaps you meant "orders".`,
		`SELECT upper(o.stats) FROM (SELECT * FROM orders) o`:  `HINT:  Perhaps you meant to reference the column "o.status".`,
	} {
		out, err := psql(t, conn, "-c", sql)
		if err == nil || !strings.Contains(out, hint) {
			t.Errorf("%s: %v\n%s", sql, err, out)
		}
	}
	out, err := psql(t, conn, "-c", `\d+ orders`)
	if err != nil {
		t.Fatalf(`\d+ orders: %v\n%s`, err, out)
	}
	for _, want := range []string{"[measure, count]", "[dimension, string]", "[dimension, time]"} {
		if !strings.Contains(out, want) {
			t.Errorf(`\d+ orders has no %q:\n%s`, want, out)
		}
	}
}

// Joins as users write them: ON the model's join condition, written on
// the columns of its SQL (customer_id is no member of orders), joins
// along the model — as a cube query and pushed down — with the numbers
// of the warehouse's own join.
func TestJoinsAsUsersWriteThem(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000)})
	conn := apptest.Connect(t, g.ConnString(t, "joins"))
	want := direct(t, g, `SELECT c.tier, count(*) FROM public.orders_raw o LEFT JOIN public.customers_raw c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`)
	for _, sql := range []string{
		`SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`,
		`SELECT c.tier, count(*) FROM orders o INNER JOIN customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1`,
		`SELECT lower(c.tier), count(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1 ORDER BY 1`,
	} {
		sameCells(t, sql, viaGateway(t, conn, sql), want)
	}
	if _, err := conn.Exec(context.Background(), `SELECT c.tier, MEASURE(o.count) FROM orders o JOIN customers c ON o.status = c.tier GROUP BY 1`); pgCode(err) != "0A000" {
		t.Fatalf("a condition that is not the model's: %v, want 0A000", err)
	}
}

// Tableau's extract fills a temporary table from a cube query: CREATE
// TEMP TABLE … AS, SELECT … INTO and INSERT INTO … SELECT over cubes run in
// the warehouse and stream into the table, within limits.statement_rows
// (54000 past it, the session goes on).
func TestExtractIntoTemporaryTable(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(3000), Adjust: func(c *app.Config) { c.Limits.StatementRows = 2500 }})
	conn := apptest.Connect(t, g.ConnString(t, "extract"))
	for _, sql := range []string{
		`CREATE TEMP TABLE "#Tableau_1_Extract" AS SELECT status, channel, MEASURE(count) AS n, SUM(total_amount) AS amount FROM orders GROUP BY 1, 2`,
		`SELECT upper(status) AS s, count(*) AS n INTO TEMP t2 FROM (SELECT status FROM orders) o GROUP BY 1`,
		`CREATE TEMP TABLE t3 (status text, n bigint)`,
		`INSERT INTO t3 (n, status) SELECT MEASURE(count), status FROM orders GROUP BY 2`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for sql, want := range map[string]string{
		`SELECT sum(n)::text, count(*)::text FROM "#Tableau_1_Extract"`: "3000|" + scalar(t, g, `SELECT count(*) FROM (SELECT DISTINCT status, channel FROM public.orders_raw) d`),
		`SELECT sum(amount)::text FROM "#Tableau_1_Extract"`:            scalar(t, g, `SELECT sum(amount)::text FROM public.orders_raw`),
		`SELECT sum(n)::text FROM t2`:                                   "3000",
		`SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM t3`: strings.Join(func() []string {
			var out []string
			for _, r := range direct(t, g, `SELECT status, count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1`) {
				out = append(out, r[0]+":"+r[1])
			}
			return out
		}(), " "),
	} {
		rows := viaGateway(t, conn, sql)
		if got := strings.Join(rows[0], "|"); got != want {
			t.Errorf("%s: %s, want %s", sql, got, want)
		}
	}
	// Past limits.statement_rows the extract fails whole: no table, no rows.
	_, err := conn.Exec(ctx, `CREATE TEMP TABLE big AS SELECT id, status FROM orders`)
	if pgCode(err) != "54000" {
		t.Fatalf("an extract past the row limit: %v, want 54000", err)
	}
	if _, err := conn.Exec(ctx, `SELECT * FROM big`); pgCode(err) != "42P01" {
		t.Fatalf("the failed extract left a table: %v", err)
	}
}

const keysModel = `
cubes:
  - name: customers
    sql_table: public.customers_raw
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
        public: true
      - name: tier
        sql: tier
        type: string
  - name: orders
    sql_table: public.orders_raw
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{CUBE}.customer_id = {customers}.id"
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
        public: true
      - name: customer_id
        sql: customer_id
        type: number
      - name: status
        sql: status
        type: string
`

// A cube's primary key is a PRIMARY KEY and a model join on shown
// columns a FOREIGN KEY, as PostgreSQL shows them for tables of the same
// shape and keys: psql's \d, pg_constraint, pg_index, information_schema
// (what pgAdmin, DBeaver's ER diagram and Power BI read).
func TestKeysMatchPostgres(t *testing.T) {
	k := newKeyed(t, apptest.Options{DSN: "duckdb::memory:", Model: keysModel})
	for _, cmd := range []string{
		`\d orders`, `\d customers`, `\di`,
		`SELECT conname, contype, conrelid::regclass, confrelid::regclass, conkey, confkey, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
		`SELECT indexrelid::regclass, indrelid::regclass, indisprimary, indisunique, indkey, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid IN ('orders'::regclass, 'customers'::regclass) ORDER BY 1`,
		`SELECT constraint_name, table_name, constraint_type FROM information_schema.table_constraints WHERE table_schema = 'public' AND constraint_type <> 'CHECK' ORDER BY 1`,
		`SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint FROM information_schema.key_column_usage WHERE table_schema = 'public' ORDER BY 1, 4`,
		`SELECT constraint_name, unique_constraint_name, match_option, update_rule, delete_rule FROM information_schema.referential_constraints ORDER BY 1`,
		`SELECT table_name, column_name, constraint_name FROM information_schema.constraint_column_usage WHERE table_schema = 'public' ORDER BY 3, 1, 2`,
	} {
		if got, want := k.run(k.gateway, "-c", cmd), k.run(k.shadow, "-c", cmd); got != want {
			t.Errorf("%s:\ncubegate:\n%s\nPostgreSQL:\n%s", cmd, got, want)
		}
	}
}

// keyed is a gateway serving keysModel and a PostgreSQL database of
// tables of the same shape, comments and keys, to compare what tools see.
type keyed struct {
	t                            *testing.T
	gateway, maintenance, shadow string // connection strings
	user, database               string // the gateway's credential
}

func newKeyed(t *testing.T, o apptest.Options) *keyed {
	t.Helper()
	o.Model = keysModel
	g := apptest.Start(t, o)
	pg := pgtest.Start(t)
	pg.CreateDatabase("shadow")
	pg.Psql("shadow", "-q", "-c", shadowDDL(g.Model))
	c, pw, _, err := g.MintCredential(context.Background(), "keyed")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	return &keyed{t: t, user: c.Username, database: c.Database, shadow: pg.DatabaseDSN("shadow"),
		gateway:     app.ConnectionString(c.Username, pw, host, port, c.Database) + "?sslmode=disable",
		maintenance: app.ConnectionString(c.Username, pw, host, port, "postgres") + "?sslmode=disable"}
}

// run runs psql on dsn and spells its output so that the two servers'
// compare: owners (the credential, postgres) as OWNER, words not padding
// (column widths follow the owner's name).
func (k *keyed) run(dsn string, args ...string) string {
	k.t.Helper()
	out, err := psql(k.t, dsn, args...)
	if err != nil {
		k.t.Fatalf("psql %v: %v\n%s", args, err, out)
	}
	out = regexp.MustCompile(`\b(`+regexp.QuoteMeta(k.user)+`|postgres)\b *`).ReplaceAllString(out, "OWNER ")
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Trim(l, "-+") == "" {
			l = "" // the header's rule, as wide as the columns
		}
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// Cube's user switching: WHERE __user = 'alice' reads with the security
// context of team member alice's credentials — for a credential the
// operator allowed to act for others; any other gets 42501, an unknown
// member 42704. The audit log says who acted for whom.
func TestActAsUser(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	mint := func(in auth.CreateCredentialInput) *pgx.Conn {
		in.Database = g.Database
		c, pw, err := g.Auth.CreateCredential(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, c.Database))
	}
	mint(auth.CreateCredentialInput{Label: "alice's", Member: "alice",
		Security: auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "equals", Values: []string{"completed"}}}}})
	service := mint(auth.CreateCredentialInput{Label: "dashboard service", ActAs: true})
	plain := mint(auth.CreateCredentialInput{Label: "analyst"})

	completed := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE status = 'completed'`)
	for _, sql := range []string{
		`SELECT MEASURE(count) FROM orders WHERE __user = 'alice'`,
		`SELECT count(*) FROM orders WHERE 'alice' = __user AND status <> 'nope'`,
		`SELECT count(*) FROM (SELECT status FROM orders WHERE __user = 'alice') o`,
	} {
		if got := viaGateway(t, service, sql)[0][0]; got != completed {
			t.Errorf("%s: %s, want %s (alice's rows)", sql, got, completed)
		}
	}
	// The next statement is the service's own again.
	if got := viaGateway(t, service, `SELECT MEASURE(count) FROM orders`)[0][0]; got != "1000" {
		t.Errorf("after acting for alice: %s, want 1000", got)
	}
	if _, err := plain.Exec(ctx, `SELECT MEASURE(count) FROM orders WHERE __user = 'alice'`); pgCode(err) != "42501" {
		t.Errorf("a credential not allowed to act for others: %v, want 42501", err)
	}
	if _, err := service.Exec(ctx, `SELECT MEASURE(count) FROM orders WHERE __user = 'bob'`); pgCode(err) != "42704" {
		t.Errorf("an unknown member: %v, want 42704", err)
	}
	g.Audit.Sync()
	events, err := g.Audit.Recent(ctx, auth.DefaultTenant, "query", 50)
	if err != nil {
		t.Fatal(err)
	}
	acted := false
	for _, e := range events {
		acted = acted || strings.HasSuffix(e.Username, " as alice")
	}
	if !acted {
		t.Error("the audit log does not say the service acted as alice")
	}
}

// Measures aggregated as Cube's SQL API accepts them: an aggregate stands
// for a measure of a type it agrees with (SUM of a count, COUNT(DISTINCT)
// of an approximate count, APPROX_DISTINCT of an approximate count…) and
// answers as MEASURE() does; others are 42803 with a hint, as Cube refuses
// them (its test_select_error).
func TestMeasuresAggregatedAsCube(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Corpus})
	conn := apptest.Connect(t, g.ConnString(t, "aggregates"))
	for measure, sqls := range map[string][]string{
		`SELECT MEASURE("agentCountApprox") FROM "Logs"`: {
			`SELECT APPROX_DISTINCT("agentCountApprox") FROM "Logs"`,
			`SELECT COUNT(DISTINCT "agentCountApprox") FROM "Logs"`,
		},
		`SELECT MEASURE("count") FROM "KibanaSampleDataEcommerce"`: {
			`SELECT SUM("count") FROM "KibanaSampleDataEcommerce"`,
			`SELECT COUNT("count") FROM "KibanaSampleDataEcommerce"`,
			`SELECT COUNT(*) FROM "KibanaSampleDataEcommerce"`,
		},
		`SELECT MEASURE("maxPrice") FROM "KibanaSampleDataEcommerce"`: {
			`SELECT MAX("maxPrice") FROM "KibanaSampleDataEcommerce"`,
		},
	} {
		want := viaGateway(t, conn, measure)
		for _, sql := range sqls {
			sameCells(t, sql, viaGateway(t, conn, sql), want)
		}
	}
	for _, sql := range []string{
		`SELECT AVG("maxPrice") FROM "KibanaSampleDataEcommerce"`,
		`SELECT MAX("count") FROM "KibanaSampleDataEcommerce"`,
		`SELECT APPROX_DISTINCT("agentCount") FROM "Logs"`,
	} {
		if _, err := conn.Exec(context.Background(), sql); pgCode(err) != "42803" {
			t.Errorf("%s: %v, want 42803 as Cube", sql, err)
		}
	}
}

// The flows of pgAdmin and DBeaver, replayed as those tools send them
// (their queries' shapes, written for this test): connect to postgres and
// list the databases, then open the data source, list schemas and
// tables, a table's columns, keys and indexes, and view its data — the
// catalog answers compared with a PostgreSQL holding tables of the same
// shape and keys.
func TestToolFlowsPgAdminDBeaver(t *testing.T) {
	k := newKeyed(t, apptest.Options{DuckDB: apptest.Demo(300)})
	run := func(dsn, sql string) string { return k.run(dsn, "-A", "-t", "-F", "|", "-c", sql) }
	// On connect, from postgres: the databases a user can open.
	dbs := run(k.maintenance, `SELECT db.datname, db.datallowconn, has_database_privilege(db.oid, 'CREATE') FROM pg_catalog.pg_database db WHERE db.datistemplate = false ORDER BY db.datname`)
	if !strings.Contains(dbs, k.database+"|t|") {
		t.Fatalf("databases from postgres:\n%s", dbs)
	}
	for _, sql := range []string{
		// pgAdmin: schemas, tables with their primary key, columns, constraints, indexes.
		`SELECT nsp.nspname, pg_catalog.pg_get_userbyid(nsp.nspowner) FROM pg_catalog.pg_namespace nsp WHERE nsp.nspname NOT LIKE 'pg\_%' AND nsp.nspname <> 'information_schema' ORDER BY 1`,
		`SELECT rel.relname, con.conname IS NOT NULL AS has_pk, rel.relhasindex, des.description FROM pg_catalog.pg_class rel LEFT OUTER JOIN pg_catalog.pg_description des ON (des.objoid = rel.oid AND des.objsubid = 0 AND des.classoid = 'pg_class'::regclass) LEFT OUTER JOIN pg_catalog.pg_constraint con ON con.conrelid = rel.oid AND con.contype = 'p' WHERE rel.relkind IN ('r','s','t','p') AND rel.relnamespace = 'public'::regnamespace ORDER BY rel.relname`,
		`SELECT att.attname, pg_catalog.format_type(att.atttypid, att.atttypmod), att.attnotnull, att.attnum = ANY(ind.indkey) AS is_pk FROM pg_catalog.pg_attribute att LEFT JOIN pg_catalog.pg_index ind ON ind.indrelid = att.attrelid AND ind.indisprimary WHERE att.attrelid = 'public.orders'::regclass AND att.attnum > 0 AND NOT att.attisdropped ORDER BY att.attnum`,
		`SELECT ct.conname, ct.contype, pg_catalog.pg_get_constraintdef(ct.oid, true), confrel.relname FROM pg_catalog.pg_constraint ct LEFT JOIN pg_catalog.pg_class confrel ON confrel.oid = ct.confrelid WHERE ct.conrelid = 'public.orders'::regclass ORDER BY ct.conname`,
		`SELECT cls.relname, idx.indisunique, idx.indisprimary, pg_catalog.pg_get_indexdef(idx.indexrelid, 1, true), am.amname FROM pg_catalog.pg_index idx JOIN pg_catalog.pg_class cls ON cls.oid = idx.indexrelid JOIN pg_catalog.pg_am am ON am.oid = cls.relam WHERE idx.indrelid = 'public.customers'::regclass ORDER BY cls.relname`,
		// DBeaver: tables, their constraints with the referenced table, index keys, referencing tables.
		`SELECT c.relname, c.relkind, c.relhasindex, c.relhastriggers, d.description FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass WHERE c.relnamespace = 'public'::regnamespace AND c.relkind NOT IN ('i','I','c') ORDER BY c.relname`,
		`SELECT c.conname, c.contype, t.relname AS tabrelname, rt.relname AS reftabname, c.conkey, c.confkey, c.confupdtype, c.confdeltype, c.confmatchtype FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid = c.conrelid LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid WHERE t.relnamespace = 'public'::regnamespace ORDER BY c.conname`,
		`SELECT i.indisunique, i.indisprimary, i.indkey AS keys, c.relname, c.relnamespace = 'public'::regnamespace FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid IN (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace = 'public'::regnamespace) ORDER BY c.relname`,
		`SELECT c.conname, t.relname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class t ON t.oid = c.conrelid WHERE c.confrelid = 'public.customers'::regclass ORDER BY 1`,
	} {
		if got, want := run(k.gateway, sql), run(k.shadow, sql); got != want {
			t.Errorf("%s\ncubegate:\n%s\nPostgreSQL:\n%s", sql, got, want)
		}
	}
	// View data: pgAdmin orders by the primary key, DBeaver limits.
	for _, sql := range []string{`SELECT * FROM public.orders ORDER BY id ASC LIMIT 100`, `SELECT * FROM public.customers LIMIT 200`} {
		if out := run(k.gateway, sql); strings.Count(out, "\n") == 0 {
			t.Errorf("%s: no rows", sql)
		}
	}
}
