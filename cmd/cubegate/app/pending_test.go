package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// proxy forwards connections on ln to target.
func proxy(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer up.Close()
			go io.Copy(up, c)
			io.Copy(c, up)
		}()
	}
}

// A gateway whose warehouse does not answer yet is PENDING: logins get
// 57P03, REST 503, the status says why; once the warehouse answers it is
// RUNNING without a restart.
func TestPendingUntilTheWarehouseAnswers(t *testing.T) {
	_, dsn := apptest.Postgres(t, apptest.DemoSizes(app.DemoSizes{Orders: 1000, Customers: 100, Products: 10}))
	u, _ := url.Parse(dsn)
	// Nothing listens on this port yet.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := hold.Addr().(*net.TCPAddr).Port
	hold.Close()
	target := u.Host
	u.Host = net.JoinHostPort("127.0.0.1", itoa(port))

	g := apptest.Start(t, apptest.Options{DSN: u.String()})
	ctx := context.Background()
	if s := g.Status(ctx); s.State != "PENDING" || s.Warehouse.OK || s.Warehouse.Error == "" {
		t.Fatalf("status while the warehouse is down: %+v", s)
	}
	_, _, connStr, err := g.MintCredential(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgconn.Connect(ctx, connStr+"?sslmode=disable"); err == nil || !strings.Contains(err.Error(), "57P03") {
		t.Errorf("login while PENDING: %v, want 57P03", err)
	}
	k, _ := g.Keys.Create(ctx, auth.DefaultTenant, "p", auth.KeyInput{Scopes: &[]string{"load"}})
	get := func() int {
		req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+`/cubejs-api/v1/load?query={"measures":["orders.count"]}`, nil)
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 503 {
		t.Errorf("REST while PENDING: %d, want 503", code)
	}
	admin, _ := g.Keys.Create(ctx, auth.DefaultTenant, "p", auth.KeyInput{Scopes: &[]string{"admin"}})
	cred, _ := g.Auth.ListCredentials(ctx)
	connection := func() int {
		req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+"/admin/v1/credentials/"+cred[0].ID+"/connection", nil)
		req.Header.Set("Authorization", admin.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := connection(); code != 503 {
		t.Errorf("connection view while PENDING: %d, want 503", code)
	}
	// The warehouse comes up.
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go proxy(ln, target)
	waitFor(t, "RUNNING", func() bool { return g.Status(ctx).State == "RUNNING" })
	if code := get(); code != 200 {
		t.Errorf("REST once RUNNING: %d", code)
	}
	if code := connection(); code != 200 {
		t.Errorf("connection view once RUNNING: %d", code)
	}
	conn := apptest.Connect(t, connStr)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != 1000 {
		t.Errorf("SQL once RUNNING: %d %v", n, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A gateway whose model is invalid at start serves ERROR — logins 57P03,
// REST 503, the status names file and line — until the file is fixed.
func TestErrorUntilTheModelIsFixed(t *testing.T) {
	dir := t.TempDir()
	if err := app.WriteDemoModel(filepath.Join(dir, "model")); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "model", "broken.yml")
	if err := os.WriteFile(broken, []byte("cubes:\n  - name: broken\n    measures: [}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), ModelDir: filepath.Join(dir, "model")})
	ctx := context.Background()
	if s := g.Status(ctx); s.State != "ERROR" || !strings.Contains(s.Model.Error, "broken.yml:") {
		t.Fatalf("status with an invalid model: %+v", s)
	}
	_, _, connStr, err := g.MintCredential(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgconn.Connect(ctx, connStr+"?sslmode=disable"); err == nil || !strings.Contains(err.Error(), "57P03") {
		t.Errorf("login in ERROR: %v, want 57P03", err)
	}
	os.Remove(broken) // the watch reloads
	waitFor(t, "RUNNING", func() bool { return g.Status(ctx).State == "RUNNING" })
	conn := apptest.Connect(t, connStr)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != 1000 {
		t.Errorf("once fixed: %d %v", n, err)
	}
}
