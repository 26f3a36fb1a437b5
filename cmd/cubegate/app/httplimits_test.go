package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// freshConn opens a connection per request: a kept-alive one may be
// closed by the gateway's idle timeout just as it is reused (EOF).
var freshConn = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// httpCall sends one request with a Bearer key and returns the status and
// the body.
func httpCall(t *testing.T, g *apptest.Gateway, key, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.HTTPAddr().String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := freshConn.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// bystanderREST times a small /load query while an attack runs: it must
// keep answering within bound.
func bystanderREST(t *testing.T, g *apptest.Gateway, key string, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	status, body := httpCall(t, g, key, "POST", "/cubejs-api/v1/load", `{"query":{"measures":["orders.count"]}}`)
	took := time.Since(start)
	if status != 200 || !strings.Contains(body, `"orders.count"`) {
		t.Fatalf("bystander: %d %s", status, body)
	}
	if took > bound {
		t.Errorf("bystander answered in %v, bound %v", took, bound)
	}
	return took
}

// closedWithin reports whether the server closes c within d (a read gets
// EOF or a reset rather than a timeout).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !(ok && ne.Timeout())
		}
	}
}

// The HTTP listener bounds what a connection may hold (issue #21): idle
// keep-alive connections are closed after http.idle_timeout, a request
// body still arriving after http.read_timeout is cut, and a client that
// stops reading a streamed answer is disconnected after
// http.write_timeout — while a bystander's queries keep answering.
func TestHTTPConnectionTimeouts(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(20000), Adjust: func(c *app.Config) {
		c.HTTP.IdleTimeout = time.Second
		c.HTTP.ReadTimeout = 2 * time.Second
		c.HTTP.WriteTimeout = time.Second
		c.REST.MaxLimit = 10000000
	}})
	ctx := context.Background()
	key, err := g.Keys.Create(ctx, auth.DefaultTenant, "timeouts", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := g.HTTPAddr().String()
	const bound = 2 * time.Second

	t.Run("idle keep-alive connections", func(t *testing.T) {
		// 500 connections each send one request and then stay silent.
		var conns []net.Conn
		for range 500 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("livez: %v", err)
			}
			res.Body.Close()
		}
		t.Logf("bystander with 500 idle connections open: %v", bystanderREST(t, g, key.KeyValue, bound))
		closed := 0
		deadline := time.Now().Add(5 * time.Second)
		for _, c := range conns {
			if closedWithin(c, time.Until(deadline)) {
				closed++
			}
			c.Close()
		}
		if closed != len(conns) {
			t.Errorf("%d of %d idle connections closed by the gateway after idle_timeout", closed, len(conns))
		}
	})

	t.Run("slow request body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /cubejs-api/v1/load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"query\":", key.KeyValue)
		start := time.Now()
		stop := make(chan struct{})
		go func() { // a byte a second, never finishing
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					c.Write([]byte(" "))
				}
			}
		}()
		defer close(stop)
		t.Logf("bystander during a slow body: %v", bystanderREST(t, g, key.KeyValue, bound))
		if !closedWithin(c, 8*time.Second) {
			t.Fatalf("a body trickling in for %v is still being read (read_timeout 2s)", time.Since(start))
		}
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Errorf("cut after %v, before read_timeout", took)
		}
	})

	t.Run("client stops reading", func(t *testing.T) {
		// A small receive window, set before connecting.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// About 15 MB of answer: more than the kernel's buffers hold.
		body := `{"query":{"dimensions":["orders.id","orders.status","orders.channel","orders.amount","orders.quantity","orders.discount","orders.is_gift",` +
			`"orders.amount_tier","orders.created_at","orders.shipped_at","customers.name","customers.city","customers.country","customers.tier",` +
			`"customers.id","customers.signed_up_at"],"limit":10000000,"ungrouped":true}}`
		fmt.Fprintf(c, "POST /cubejs-api/v1/load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/x-ndjson\r\nContent-Length: %d\r\n\r\n%s",
			key.KeyValue, len(body), body)
		time.Sleep(4 * time.Second) // never reading: the gateway's writes stall
		t.Logf("bystander while a reader stalls: %v", bystanderREST(t, g, key.KeyValue, bound))
		// What was sent before the cut can still be read; then the
		// connection ends without the answer's end.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the connection stays open after the client stalled for 4s (write_timeout 1s)")
		}
		if strings.HasSuffix(string(got), "\r\n0\r\n\r\n") {
			t.Errorf("the whole answer arrived (%d bytes) although the client stalled", len(got))
		}
		if !strings.HasPrefix(string(got), "HTTP/1.1 200") || len(got) < 1<<20 {
			t.Errorf("the answer began %.300q (%d bytes)", got, len(got))
		}
	})
}

// A REST query's filter values are limited (rest.max_filter_values): past
// the limit a clear 400, not gigabytes of decoded strings; a body past
// 8 MiB is 413.
func TestRESTFilterValuesLimit(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(200), Adjust: func(c *app.Config) {
		c.REST.MaxFilterValues = 1000
	}})
	key, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "values", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	values := func(n int) string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = fmt.Sprint(i)
		}
		b, _ := json.Marshal(vs)
		return string(b)
	}
	q := func(n int) string {
		return `{"query":{"measures":["orders.count"],"filters":[{"or":[{"member":"orders.id","operator":"equals","values":` + values(n/2) +
			`},{"member":"orders.status","operator":"notEquals","values":` + values(n-n/2) + `}]}]}}`
	}
	if status, body := httpCall(t, g, key.KeyValue, "POST", "/cubejs-api/v1/load", q(1000)); status != 200 {
		t.Errorf("1000 values: %d %s", status, body)
	}
	status, body := httpCall(t, g, key.KeyValue, "POST", "/cubejs-api/v1/load", q(1001))
	if status != 400 || !strings.Contains(body, "at most 1000 filter values; this one has 1001") {
		t.Errorf("1001 values: %d %s", status, body)
	}
	status, body = httpCall(t, g, key.KeyValue, "POST", "/cubejs-api/v1/load", `{"query":{"measures":["orders.count"]},"pad":"`+strings.Repeat("x", 9<<20)+`"}`)
	if status != 413 {
		t.Errorf("a 9 MiB body: %d %s", status, body)
	}
	bystanderREST(t, g, key.KeyValue, 2*time.Second)
}

// Status and restart are a tenant's own (issue #21): a key reads the
// status of its tenant's data sources only (the model folder only with
// the admin scope), and a tenant's admin reloads its own models only.
func TestStatusAndRestartPerTenant(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	acmeModel := filepath.Join(dir, "acme")
	if err := app.WriteDemoModel(acmeModel); err != nil {
		t.Fatal(err)
	}
	state := apptest.StateWithTenants(t, "acme")
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(200), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.Model.Watch = false // only a restart reloads
		c.DataSources = []app.DataSourceSpec{{Name: "acme_db", Tenant: "acme", ModelDir: acmeModel, WarehouseDSN: apptest.DuckDB(t, apptest.Demo(100))}}
	}})
	mk := func(tenant string, scopes ...string) string {
		k, err := g.Keys.Create(ctx, tenant, strings.Join(scopes, "+"), auth.KeyInput{Scopes: &scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyValue
	}
	acmeLoad, acmeAdmin, defAdmin := mk("acme", "load"), mk("acme", "admin"), mk(auth.DefaultTenant, "admin")
	type status struct {
		Data struct {
			State string `json:"state"`
			Model struct {
				Dir     string `json:"dir"`
				Version string `json:"version"`
				Error   string `json:"error"`
			} `json:"model"`
			DataSources []struct{ Name, Tenant, State, Error string } `json:"data_sources"`
		} `json:"data"`
	}
	read := func(key string) status {
		code, body := httpCall(t, g, key, "GET", "/admin/v1/status", "")
		var s status
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("status: %d %s", code, body)
		}
		return s
	}
	s := read(acmeLoad)
	if len(s.Data.DataSources) != 1 || s.Data.DataSources[0].Name != "acme_db" || s.Data.Model.Dir != "" || s.Data.Model.Version != "" || s.Data.State != "RUNNING" {
		t.Errorf("acme's load key reads %+v; want its one data source, no model folder, nothing of the default tenant", s.Data)
	}
	if s := read(acmeAdmin); len(s.Data.DataSources) != 1 || s.Data.Model.Dir != "" {
		t.Errorf("acme's admin reads %+v", s.Data)
	}
	if s := read(defAdmin); len(s.Data.DataSources) != 1 || s.Data.DataSources[0].Name != "demo" || s.Data.Model.Dir == "" {
		t.Errorf("the default tenant's admin reads %+v", s.Data)
	}

	// Break both models; acme's restart reloads acme's only.
	bad := []byte("cubes:\n  - name: x\n    measures: [{name: n, type: nope}]\n")
	os.WriteFile(filepath.Join(acmeModel, "bad.yml"), bad, 0o644)
	os.WriteFile(filepath.Join(g.Config.Model.Dir, "bad.yml"), bad, 0o644)
	if code, body := httpCall(t, g, acmeLoad, "POST", "/admin/v1/restart", ""); code != 403 {
		t.Errorf("restart with a load key: %d %s", code, body)
	}
	if code, body := httpCall(t, g, acmeAdmin, "POST", "/admin/v1/restart", ""); code != 400 || !strings.Contains(body, "bad.yml") {
		t.Errorf("acme's restart of its broken model: %d %s", code, body)
	}
	if e := g.Status(ctx).Model.Error; e != "" {
		t.Errorf("acme's restart reloaded the default tenant's model: %s", e)
	}
	if s := read(acmeAdmin); !strings.Contains(s.Data.DataSources[0].Error, "bad.yml") {
		t.Errorf("acme's refused reload is not in its admin's status: %+v", s.Data)
	}
	if s := read(acmeLoad); s.Data.DataSources[0].Error == "" || strings.Contains(s.Data.DataSources[0].Error, "bad.yml") || strings.Contains(s.Data.DataSources[0].Error, dir) {
		t.Errorf("a load key reads the refused reload's details: %+v", s.Data)
	}
	if code, body := httpCall(t, g, defAdmin, "POST", "/admin/v1/restart", ""); code != 400 || !strings.Contains(body, "bad.yml") {
		t.Errorf("the default tenant's restart: %d %s", code, body)
	}
}
