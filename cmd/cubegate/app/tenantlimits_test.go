package app_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// A tenant's request rate is one bucket for REST requests and SQL
// statements: over it, 429 with Retry-After and 53400. Its running
// queries are capped too.
func TestTenantLimits(t *testing.T) {
	limits := app.LimitsConfig{RequestsPerSecond: 2, Burst: 4, MaxConcurrentQueries: 1,
		FailedLoginWindow: time.Minute, FailedLoginsSlow: 100, FailedLoginsBlock: 100}
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) { c.Limits = limits }})
	ctx := context.Background()
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "t", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.HTTPAddr().String() + `/cubejs-api/v1/load?query={"measures":["orders.count"]}`
	var limited *http.Response
	for i := 0; i < 10 && limited == nil; i++ {
		req, _ := http.NewRequest("GET", base, nil)
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			limited = resp
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After over the rate: %v", limited)
	}
	// The same bucket holds SQL statements: it is empty now.
	_, _, connStr, _ := g.MintCredential(ctx, "t")
	conn := apptest.Connect(t, connStr)
	_, err = conn.Exec(ctx, `SELECT MEASURE(count) FROM orders`)
	if pgCode(err) != "53400" {
		t.Errorf("SQL over the rate: %v, want 53400", err)
	}
	time.Sleep(1500 * time.Millisecond) // tokens come back
	// One running query at most: an open cursor holds the slot.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DECLARE c CURSOR FOR SELECT status FROM orders`); err != nil {
		t.Fatal(err)
	}
	other := apptest.Connect(t, connStr)
	if _, err := other.Exec(ctx, `SELECT MEASURE(count) FROM orders`); pgCode(err) != "53400" {
		t.Errorf("a second running query: %v, want 53400", err)
	}
	tx.Rollback(ctx)
	time.Sleep(600 * time.Millisecond)
	if _, err := other.Exec(ctx, `SELECT MEASURE(count) FROM orders`); err != nil {
		t.Errorf("after the cursor closed: %v", err)
	}
}

// An address that keeps failing to log in is slowed, then refused
// (28000) even with the right password; other addresses are not.
func TestFailedLoginThrottle(t *testing.T) {
	limits := app.LimitsConfig{FailedLoginWindow: time.Minute, FailedLoginsSlow: 2, FailedLoginsBlock: 4}
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) { c.Limits = limits }})
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(connStr)
	wrong := *u
	wrong.User = url.UserPassword(u.User.Username(), "wrong")
	login := func(s string, from string) error {
		cfg, err := pgconn.ParseConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		if from != "" {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
			cfg.DialFunc = d.DialContext
		}
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	started := time.Now()
	for i := 0; i < 4; i++ {
		if err := login(wrong.String(), ""); err == nil || !strings.Contains(err.Error(), "28P01") {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	if time.Since(started) < 700*time.Millisecond {
		t.Errorf("failed logins were not slowed (%s for 4)", time.Since(started))
	}
	if err := login(connStr, ""); err == nil || !strings.Contains(err.Error(), "28000") || !strings.Contains(err.Error(), "too many failed logins") {
		t.Errorf("the right password from a blocked address: %v", err)
	}
	if err := login(connStr, "127.0.0.2"); err != nil {
		t.Errorf("another address: %v", err)
	}
}
