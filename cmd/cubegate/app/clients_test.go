package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Real client drivers against the gateway: PgJDBC (Debian's
// libpostgresql-jdbc-java), psycopg2 and psycopg 3 (python3-psycopg2,
// python3-psycopg under /usr/bin/python3), psqlODBC (odbc-postgresql
// through unixODBC and pyodbc) and node-postgres (testdata/clients/node).
// make deps installs them; a missing one fails the test.

const clientsDir = "../../../testdata/clients"

// runClient runs a client program and returns its key=value lines.
func runClient(t *testing.T, name string, args ...string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: run make deps", name)
	}
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func expect(t *testing.T, client string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", client, k, got[k], v, got)
		}
	}
}

func scalar(t *testing.T, g *apptest.Gateway, sql string) string {
	t.Helper()
	return direct(t, g, sql)[0][0]
}

func TestClients(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	c, pw, connStr, err := g.MintCredential(ctx, "clients")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())

	t.Run("PgJDBC", func(t *testing.T) {
		jar := "/usr/share/java/postgresql.jar"
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("%s: install libpostgresql-jdbc-java (make deps)", jar)
		}
		url := fmt.Sprintf("jdbc:postgresql://%s:%s/%s", host, port, c.Database)
		got := runClient(t, "java", "-cp", jar, filepath.Join(clientsDir, "jdbc", "CubegateClient.java"), url, c.Username, pw)
		web := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'web'`)
		want := map[string]string{
			"paged_rows":        "36",
			"paged_sum":         fmt.Sprint(e2eOrders),
			"first_month":       "2022-01-01 00:00:00.0",
			"error_state":       "42703",
			"after_error_count": fmt.Sprint(e2eOrders),
			"product":           "PostgreSQL 15",
		}
		for i := range 7 {
			want[fmt.Sprintf("round%d.web_count", i)] = web
		}
		// Timestamp parameters as setTimestamp sends them, to a cube
		// query (0) and pushed down (1); infinity among them.
		march := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE created_at >= '2022-03-01' AND created_at < '2022-04-01'`)
		since := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE created_at >= '2022-03-01'`)
		for q := range 2 {
			want[fmt.Sprintf("march_count%d", q)] = march
			want[fmt.Sprintf("since_march_count%d", q)] = since
		}
		var amounts []string
		for _, r := range direct(t, g, `SELECT status, sum(amount) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`) {
			amounts = append(amounts, r[0]+":"+ratToDecimal(r[1]))
		}
		want["web_amounts"] = strings.Join(amounts, " ")
		expect(t, "PgJDBC", got, want)
	})

	t.Run("psycopg2", func(t *testing.T) {
		got := runClient(t, "/usr/bin/python3", filepath.Join(clientsDir, "psycopg2", "client.py"), connStr)
		want := map[string]string{
			"named_rows":  "36",
			"named_sum":   scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE status = 'completed'`),
			"first_month": "2022-01-01T00:00:00",
			"error_state": "42P01",
		}
		for _, r := range direct(t, g, `SELECT channel, sum(amount) FROM public.orders_raw WHERE amount > 500 GROUP BY 1 ORDER BY 1`) {
			want["amount."+r[0]] = ratToDecimal(r[1])
		}
		expect(t, "psycopg2", got, want)
	})

	t.Run("psycopg3", func(t *testing.T) {
		got := runClient(t, "/usr/bin/python3", filepath.Join(clientsDir, "psycopg", "client.py"), connStr)
		var named []string
		for _, r := range direct(t, g, `SELECT status, count(*) FROM public.orders_raw GROUP BY 1 ORDER BY 1`) {
			named = append(named, r[0]+":"+r[1])
		}
		store := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'store'`)
		var n int
		fmt.Sscan(store, &n)
		firstWeb := scalar(t, g, `SELECT min(id) FROM public.orders_raw WHERE channel = 'web'`)
		expect(t, "psycopg3", got, map[string]string{
			"named_columns":     "status,n",
			"named":             strings.Join(named, " "),
			"iterated":          "30 first=" + firstWeb,
			"prepared_total":    fmt.Sprint(8 * n),
			"error_state":       "42703",
			"after_error_count": fmt.Sprint(e2eOrders),
		})
	})

	t.Run("psqlODBC", func(t *testing.T) {
		drivers, _ := filepath.Glob("/usr/lib/*/odbc/psqlodbcw.so")
		if len(drivers) == 0 {
			t.Fatal("psqlODBC is not installed: run make deps")
		}
		conn := fmt.Sprintf("Driver=%s;Server=%s;Port=%s;Database=%s;Uid=%s;Pwd=%s;SSLmode=disable;UseServerSidePrepare=1;UseDeclareFetch=1;Fetch=10",
			drivers[0], host, port, c.Database, c.Username, pw)
		got := runClient(t, "/usr/bin/python3", filepath.Join(clientsDir, "odbc", "client.py"), conn)
		want := map[string]string{
			"rows":              "25 first=1 last=25",
			"error_state":       "42703",
			"after_error_count": fmt.Sprint(e2eOrders),
		}
		for _, ch := range []string{"web", "store"} {
			var counts []string
			for _, r := range direct(t, g, `SELECT status, count(*) FROM public.orders_raw WHERE channel = '`+ch+`' GROUP BY 1 ORDER BY 1`) {
				counts = append(counts, r[0]+":"+r[1])
			}
			for i := range 3 {
				want[fmt.Sprintf("round%d.%s", i, ch)] = strings.Join(counts, " ")
			}
		}
		var upper []string
		for _, r := range direct(t, g, `SELECT upper(status), count(*) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`) {
			upper = append(upper, r[0]+":"+r[1])
		}
		want["pushdown"] = strings.Join(upper, " ")
		web := scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'web'`)
		var n int
		fmt.Sscan(web, &n)
		want["autocommit_total"] = fmt.Sprint(6 * n)
		expect(t, "psqlODBC", got, want)
	})

	t.Run("node-postgres", func(t *testing.T) {
		nodeDir := filepath.Join(clientsDir, "node")
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "pg")); err != nil {
			t.Fatal("node-postgres is not installed: run make deps")
		}
		got := runClient(t, "node", filepath.Join(nodeDir, "client.js"), connStr)
		want := map[string]string{
			"param_rows":        "5",
			"param_sum":         scalar(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'store' AND quantity > 1`),
			"error_state":       "22P02",
			"after_error_count": fmt.Sprint(e2eOrders),
		}
		gold := scalar(t, g, `SELECT count(*) FROM public.customers_raw WHERE tier = 'gold'`)
		for i := range 3 {
			want[fmt.Sprintf("named%d", i)] = gold
		}
		expect(t, "node-postgres", got, want)
	})
}

// ratToDecimal turns "a/b" from cell() into the decimal drivers print
// for a numeric(…, 2) value.
func ratToDecimal(s string) string {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return s + ".00"
	}
	var n, d int64
	fmt.Sscan(num, &n)
	fmt.Sscan(den, &d)
	scaled := n * (100 / d)
	return fmt.Sprintf("%d.%02d", scaled/100, abs(scaled%100))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
