package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestWarehouseOutageToldRight (issue #21): the PostgreSQL warehouse is
// stopped under a session. Its statements fail with 57P03 "the warehouse
// is not available" naming no address, port, user or database, and the
// session stays usable; the data source turns PENDING with a reason (the
// status, new logins 57P03, REST 503 WAREHOUSE_UNAVAILABLE); the log
// names host:port but no user or DSN. Once the warehouse is started
// again the source is RUNNING and the same session's queries answer.
func TestWarehouseOutageToldRight(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs)
	// The result cache is off: its answers (fresh for their refresh_key)
	// would hide the outage from the repeated count.
	g := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 1000, Customers: 100, Products: 10}), Log: &log,
		Adjust: func(c *app.Config) { c.Cache.Enabled = false }})
	ctx := context.Background()
	connStr := g.ConnString(t, "outage")
	conn := apptest.Connect(t, connStr)
	count := func(c *pgx.Conn) (int64, error) {
		var n int64
		err := c.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n)
		return n, err
	}
	if n, err := count(conn); err != nil || n != 1000 {
		t.Fatalf("before the outage: %d %v", n, err)
	}
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "outage", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	load := func() (int, string) {
		req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+`/cubejs-api/v1/load?query={"measures":["orders.count"]}`, nil)
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Nothing a client sees names where the warehouse is or who logs in.
	port := strconv.Itoa(g.Postgres.Port)
	leaks := func(what, text string) {
		t.Helper()
		for _, secret := range []string{port, "127.0.0.1", "user=", "database=", "fixture", "postgres://", "dial tcp"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q: %s", what, secret, text)
			}
		}
	}

	g.Postgres.Stop()
	_, err = count(conn)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P03" || pe.Message != "the warehouse is not available" {
		t.Fatalf("a query while the warehouse is down: %v, want 57P03 the warehouse is not available", err)
	}
	leaks("the query's error", pe.Message+" "+pe.Detail+" "+pe.Hint)
	var one int
	if err := conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("the session after a 57P03: %d %v", one, err)
	}

	waitFor(t, "PENDING", func() bool { return g.Status(ctx).State == "PENDING" })
	st := g.Status(ctx)
	if ds := st.DataSources[0]; ds.State != "PENDING" || !strings.Contains(ds.Error, "not available") {
		t.Errorf("the data source while down: %+v", ds)
	}
	leaks("the status", st.DataSources[0].Error+" "+st.Warehouse.Error)
	_, err = pgconn.Connect(ctx, connStr+"?sslmode=disable")
	if !errors.As(err, &pe) || pe.Code != "57P03" {
		t.Errorf("a login while down: %v, want 57P03", err)
	} else {
		leaks("the login's error", pe.Message+" "+pe.Detail)
	}
	code, body := load()
	if code != 503 || !strings.Contains(body, `"WAREHOUSE_UNAVAILABLE"`) {
		t.Errorf("REST while down: %d %s, want 503 WAREHOUSE_UNAVAILABLE", code, body)
	}
	leaks("REST's answer", body)
	if _, err := count(conn); err == nil || !strings.Contains(err.Error(), "57P03") {
		t.Errorf("a query while PENDING: %v", err)
	}

	g.Postgres.Restart()
	waitFor(t, "RUNNING", func() bool { return g.Status(ctx).State == "RUNNING" })
	if st := g.Status(ctx); !st.Warehouse.OK || st.DataSources[0].Error != "" {
		t.Errorf("status once the warehouse answers: %+v", st)
	}
	if n, err := count(conn); err != nil || n != 1000 {
		t.Errorf("the same session once the warehouse answers: %d %v", n, err)
	}
	if n, err := count(apptest.Connect(t, connStr)); err != nil || n != 1000 {
		t.Errorf("a new session once the warehouse answers: %d %v", n, err)
	}
	if code, body := load(); code != 200 {
		t.Errorf("REST once the warehouse answers: %d %s", code, body)
	}

	// The log says where the warehouse is, never who logs in there.
	out := logs.String()
	if !strings.Contains(out, "127.0.0.1:"+port) || !strings.Contains(out, "the warehouse cannot be reached") || !strings.Contains(out, "the warehouse answers again") {
		t.Errorf("the log does not tell the outage:\n%s", out)
	}
	for _, secret := range []string{"user=", "postgres://", "postgres@"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
}
