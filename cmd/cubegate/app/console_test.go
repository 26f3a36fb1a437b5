package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/httpapi/console"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// consoleClient is a browser of the console: a cookie jar, no redirects
// followed (each is checked), the Origin and Sec-Fetch-Site a browser
// sends with its own forms, and the page's CSRF token.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
	// pages keeps every HTML answer, for the secret grep.
	pages []string
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	csrfMeta   = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]*)">`)
	loginToken = regexp.MustCompile(`name="login_token" value="([0-9a-f]+)"`)
)

// do sends a request; a form body is posted as a browser posts it from
// the console's own page (same origin) unless hdr says otherwise.
func (c *consoleClient) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != "GET" {
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfMeta.FindSubmatch(b); m != nil && len(m[1]) > 0 {
		c.csrf = string(m[1])
	}
	c.pages = append(c.pages, string(b))
	if ct := resp.Header.Get("Content-Security-Policy"); ct != console.CSP {
		c.t.Errorf("%s %s: Content-Security-Policy %q", method, path, ct)
	}
	return resp, string(b)
}

func (c *consoleClient) get(path string) (*http.Response, string) { return c.do("GET", path, nil, nil) }

// post posts form with the page's CSRF token.
func (c *consoleClient) post(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", c.csrf)
	return c.do("POST", path, form, nil)
}

// signIn signs in with form (api_key, or username and password) and
// returns the answer to the sign-in POST.
func (c *consoleClient) signIn(form url.Values) (*http.Response, string) {
	c.t.Helper()
	_, page := c.get("/console/login")
	m := loginToken.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no login token in the sign-in page:\n%s", page)
	}
	form.Set("login_token", m[1])
	return c.do("POST", "/console/login", form, nil)
}

// mustSignIn signs in and loads the status page (its CSRF token).
func (c *consoleClient) mustSignIn(form url.Values) {
	c.t.Helper()
	resp, body := c.signIn(form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/status" {
		c.t.Fatalf("sign-in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, body := c.get("/console/status"); resp.StatusCode != 200 {
		c.t.Fatalf("status page: %d\n%s", resp.StatusCode, body)
	}
}

func (c *consoleClient) heartbeat() console.Heartbeat {
	c.t.Helper()
	resp, body := c.get("/console/api/heartbeat")
	var hb console.Heartbeat
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &hb) != nil {
		c.t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
	}
	return hb
}

func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "cubegate_console" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

// The console on a real gateway over PostgreSQL: sign-in with a key and
// as a console user, throttled failures, scopes, cookies, CSP, CSRF and
// origin checks, logout, XSS payloads rendered inert, no secret in any
// page, restart walking PENDING → RUNNING, audit rows naming the console
// actor.
func TestConsole(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(200), Adjust: func(c *app.Config) {
		c.Model.Watch = false // restarts reload, not the watcher
		c.Limits.FailedLoginsSlow, c.Limits.FailedLoginsBlock = 2, 6
	}})
	ctx := context.Background()
	base := "http://" + g.HTTPAddr().String()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("admin"), Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("reader"), Scopes: &[]string{"load", "meta"}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := auth.OpenStore(ctx, g.Config.State.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	users, err := auth.NewConsoleUsers(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	const password = "correct horse battery staple"
	if _, err := users.CreateUser(ctx, "alice", auth.DefaultTenant, password, []string{"admin"}, "test"); err != nil {
		t.Fatal(err)
	}
	var browsers []*consoleClient
	browser := func() *consoleClient {
		c := newConsoleClient(t, base)
		browsers = append(browsers, c)
		return c
	}

	t.Run("signed out", func(t *testing.T) {
		c := browser()
		resp, _ := c.get("/console/status")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
			t.Errorf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := c.get("/console/api/heartbeat"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("heartbeat signed out: %d", resp.StatusCode)
		}
		if resp, _ := c.do("POST", "/console/tenants", url.Values{"id": {"x"}}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST signed out: %d", resp.StatusCode)
		}
		resp, body := c.get("/console/static/console.js")
		if resp.StatusCode != 200 || !strings.Contains(body, "use strict") {
			t.Errorf("console.js: %d", resp.StatusCode)
		}
	})

	t.Run("key sign-in, cookie flags, pages", func(t *testing.T) {
		c := browser()
		resp, _ := c.signIn(url.Values{"api_key": {admin.KeyValue}})
		ck := sessionCookieOf(t, resp)
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/console" || len(ck.Value) != 64 {
			t.Errorf("session cookie %+v (Secure only under TLS)", ck)
		}
		for _, p := range []string{"/console/status", "/console/tenants", "/console/connect", "/console/keys", "/console/credentials", "/console/queries", "/console/model"} {
			resp, body := c.get(p)
			if resp.StatusCode != 200 || !strings.Contains(body, `id="main"`) {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
		_, body := c.get("/console/status")
		for _, want := range []string{`id="heartbeat" data-state="RUNNING"`, `id="restart"`, `id="connect-drawer"`, "postgresql://USER@127.0.0.1:" + portOf(g.SQLAddr().String()) + "/demo?sslmode=disable",
			base + "/cubejs-api/v1", "Signed in as <strong>API key " + admin.KeyStart, `id="model-version"`, `id="sql-sessions"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the status page lacks %q", want)
			}
		}
		if hb := c.heartbeat(); hb.State != "RUNNING" || !hb.Restartable || hb.DataSource != "demo" {
			t.Errorf("heartbeat %+v", hb)
		}
	})

	t.Run("user sign-in, wrong password, throttle", func(t *testing.T) {
		c := browser()
		resp, body := c.signIn(url.Values{"username": {"alice"}, "password": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Sign-in failed") {
			t.Errorf("wrong password: %d", resp.StatusCode)
		}
		if resp, _ := c.signIn(url.Values{"username": {"nobody"}, "password": {"whatever it is"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("unknown user: %d", resp.StatusCode)
		}
		if resp, _ := c.signIn(url.Values{"api_key": {"cg_live_nope"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bad key: %d", resp.StatusCode)
		}
		// Slowed after 2 failures: a third takes the throttle's delay.
		start := time.Now()
		c.signIn(url.Values{"username": {"alice"}, "password": {"wrong again!!"}})
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("a failed sign-in after 3 failures took %s: not slowed", d)
		}
		c.mustSignIn(url.Values{"username": {"alice"}, "password": {password}})
		_, body = c.get("/console/tenants")
		if !strings.Contains(body, "Signed in as <strong>alice</strong>") {
			t.Error("the page does not name alice")
		}
	})

	t.Run("non-admin key", func(t *testing.T) {
		c := newConsoleClient(t, base)
		// A session made in the store: the sign-in form is tested above.
		id, err := users.CreateSession(ctx, "api_key", reader.ID, auth.DefaultTenant, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(base + "/console")
		c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "cubegate_console", Value: id, Path: "/console"}})
		if resp, _ := c.get("/console/status"); resp.StatusCode != 200 {
			t.Errorf("status for a load/meta key: %d", resp.StatusCode)
		}
		resp, body := c.get("/console/tenants")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `needs the &#34;admin&#34; scope`) {
			t.Errorf("tenants for a load/meta key: %d\n%s", resp.StatusCode, body)
		}
		if resp, _ := c.do("POST", "/console/api/restart", nil, map[string]string{"X-CSRF-Token": c.csrf}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("restart for a load/meta key: %d", resp.StatusCode)
		}
		if hb := c.heartbeat(); hb.Restartable {
			t.Error("restartable for a load/meta key")
		}
		// Revoked: the session ends at once.
		if _, err := g.Keys.Revoke(ctx, auth.DefaultTenant, reader.ID); err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.get("/console/status"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("status after revoking the key: %d", resp.StatusCode)
		}
	})

	t.Run("CSRF and origin", func(t *testing.T) {
		c := newConsoleClient(t, base)
		id, _ := users.CreateSession(ctx, "console_user", "alice", auth.DefaultTenant, time.Now(), time.Hour)
		u, _ := url.Parse(base + "/console")
		c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "cubegate_console", Value: id, Path: "/console"}})
		c.get("/console/tenants")
		form := url.Values{"id": {"csrf-test"}}
		if resp, _ := c.do("POST", "/console/tenants", form, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST without a token: %d", resp.StatusCode)
		}
		form.Set("csrf_token", strings.Repeat("0", 64))
		if resp, _ := c.do("POST", "/console/tenants", form, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with a wrong token: %d", resp.StatusCode)
		}
		form.Set("csrf_token", c.csrf)
		if resp, _ := c.do("POST", "/console/tenants", form, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST from another origin: %d", resp.StatusCode)
		}
		if resp, _ := c.do("POST", "/console/tenants", form, map[string]string{"Origin": "", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST cross-site: %d", resp.StatusCode)
		}
		if resp, _ := c.do("POST", "/console/api/restart", nil, map[string]string{"X-CSRF-Token": ""}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("restart without a token: %d", resp.StatusCode)
		}
		if ts, _ := store.Tenants(ctx); len(ts) != 1 {
			t.Errorf("a refused POST made a tenant: %v", ts)
		}
		// Login CSRF: a sign-in form posted from elsewhere.
		d := newConsoleClient(t, base)
		d.get("/console/login")
		resp, _ := d.do("POST", "/console/login", url.Values{"username": {"alice"}, "password": {password}, "login_token": {"forged"}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-in without the form's token: %d", resp.StatusCode)
		}
	})

	t.Run("tenants, XSS, audit actor", func(t *testing.T) {
		c := newConsoleClient(t, base)
		id, _ := users.CreateSession(ctx, "console_user", "alice", auth.DefaultTenant, time.Now(), time.Hour)
		u, _ := url.Parse(base + "/console")
		c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "cubegate_console", Value: id, Path: "/console"}})
		browsers = append(browsers, c)
		c.get("/console/tenants")
		const xss = `<script>alert(1)</script>`
		resp, _ := c.post("/console/tenants", url.Values{"id": {"acme"}, "name": {xss}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create tenant: %d", resp.StatusCode)
		}
		_, body := c.get("/console/tenants")
		if strings.Contains(body, xss) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(body, "Tenant acme created.") {
			t.Errorf("the tenant's name is not escaped, or no flash:\n%s", body)
		}
		resp, body = c.post("/console/tenants", url.Values{"id": {"acme"}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="form-error"`) {
			t.Errorf("duplicate tenant: %d", resp.StatusCode)
		}
		resp, _ = c.post("/console/tenants", url.Values{"id": {"Bad Id"}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad tenant id: %d", resp.StatusCode)
		}
		g.Audit.Sync()
		events, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: "acme", Kind: "tenant"})
		if err != nil || len(events) != 1 || events[0].Username != "console_user:alice" {
			t.Errorf("tenant audit events %+v %v", events, err)
		}
	})

	t.Run("restart walks PENDING to RUNNING; refused reload shown inert", func(t *testing.T) {
		c := newConsoleClient(t, base)
		c.mustSignIn(url.Values{"api_key": {admin.KeyValue}})
		browsers = append(browsers, c)
		before := c.heartbeat()
		if err := os.WriteFile(filepath.Join(g.Config.Model.Dir, "extra.yml"), []byte(extraConsoleCube), 0o644); err != nil {
			t.Fatal(err)
		}
		resp, body := c.do("POST", "/console/api/restart", nil, map[string]string{"X-CSRF-Token": c.csrf})
		var hb console.Heartbeat
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &hb) != nil || hb.State != "PENDING" || !hb.Restarting || hb.Restartable {
			t.Fatalf("restart: %d %s", resp.StatusCode, body)
		}
		hb = waitRunning(t, c)
		if hb.ModelVersion == before.ModelVersion || hb.Reason != "" {
			t.Errorf("after the restart: %+v (before %s)", hb, before.ModelVersion)
		}
		// A model the reload refuses, whose error quotes markup.
		const payload = `<img src=x onerror=alert(1)>`
		bad := "cubes:\n  - name: broken\n    description: \"" + payload + "\"\n    sql_table: nowhere\n    measures:\n      - name: \"" + payload + "\"\n        type: nonsense\n"
		if err := os.WriteFile(filepath.Join(g.Config.Model.Dir, "broken.yml"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if resp, body := c.do("POST", "/console/api/restart", nil, map[string]string{"X-CSRF-Token": c.csrf}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("second restart: %d %s", resp.StatusCode, body)
		}
		hb = waitRunning(t, c)
		if !strings.Contains(hb.Reason, "refused") || !strings.Contains(hb.Reason, "broken.yml") {
			t.Errorf("refused reload's reason: %q", hb.Reason)
		}
		_, body = c.get("/console/status")
		if strings.Contains(body, "<img src=x") || !strings.Contains(body, `id="refused-reload"`) || !strings.Contains(body, "broken.yml") {
			t.Errorf("the refused reload is missing or not escaped:\n%s", body)
		}
		os.Remove(filepath.Join(g.Config.Model.Dir, "broken.yml"))
		g.Audit.Sync()
		events, _ := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "model"})
		if len(events) < 2 || events[0].Username != "api_key:"+admin.ID || events[0].Outcome != "error" || events[1].Outcome != "ok" {
			t.Errorf("restart audit events %+v", events)
		}
	})

	t.Run("logout", func(t *testing.T) {
		c := browser()
		c.mustSignIn(url.Values{"api_key": {admin.KeyValue}})
		cookieURL, _ := url.Parse(base + "/console")
		old := c.hc.Jar.Cookies(cookieURL)
		if resp, _ := c.do("POST", "/console/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("logout without a token: %d", resp.StatusCode)
		}
		resp, _ := c.post("/console/logout", nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Errorf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The old cookie, replayed, is worth nothing.
		d := newConsoleClient(t, base)
		d.hc.Jar.SetCookies(cookieURL, old)
		if resp, _ := d.get("/console/status"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the old session after logout: %d", resp.StatusCode)
		}
		g.Audit.Sync()
		events, _ := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "console"})
		var login, logout bool
		for _, e := range events {
			login = login || e.Action == "login" && e.Outcome == "ok" && e.Username == "api_key:"+admin.ID
			logout = logout || e.Action == "logout" && e.Username == "api_key:"+admin.ID
		}
		if !login || !logout {
			t.Errorf("console audit events %+v", events)
		}
	})

	t.Run("blocked address", func(t *testing.T) {
		// Another throttle target, same address: blocked after 6 failures
		// from it (these and the earlier ones).
		c := browser()
		var last int
		for i := 0; i < 6; i++ {
			resp, _ := c.signIn(url.Values{"username": {"mallory"}, "password": {"guess guess guess"}})
			last = resp.StatusCode
			if last == http.StatusTooManyRequests {
				break
			}
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("after many failures: %d, want 429", last)
		}
	})

	// No page ever showed the key's secret or the user's password.
	for _, c := range browsers {
		for _, p := range c.pages {
			if strings.Contains(p, admin.KeyValue) || strings.Contains(p, reader.KeyValue) || strings.Contains(p, password) {
				t.Fatalf("a console page holds a secret:\n%s", p)
			}
		}
	}
}

const extraConsoleCube = `cubes:
  - name: console_extra
    sql_table: public.orders
    measures:
      - name: count
        type: count
`

func waitRunning(t *testing.T, c *consoleClient) console.Heartbeat {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hb := c.heartbeat()
		if hb.State == "RUNNING" && !hb.Restarting {
			return hb
		}
		if time.Now().After(deadline) {
			t.Fatalf("not RUNNING again: %+v", hb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func portOf(addr string) string {
	i := strings.LastIndex(addr, ":")
	return addr[i+1:]
}

// A session unused for console.idle_timeout ends.
func TestConsoleIdleTimeout(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) {
		c.Console.IdleTimeout = 1500 * time.Millisecond
	}})
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	c := newConsoleClient(t, "http://"+g.HTTPAddr().String())
	c.mustSignIn(url.Values{"api_key": {admin.KeyValue}})
	time.Sleep(600 * time.Millisecond)
	if resp, _ := c.get("/console/status"); resp.StatusCode != 200 {
		t.Fatalf("used within the idle timeout: %d", resp.StatusCode)
	}
	time.Sleep(2 * time.Second)
	resp, _ := c.get("/console/status")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle past the timeout: %d", resp.StatusCode)
	}
	_, body := c.get(resp.Header.Get("Location"))
	if !strings.Contains(body, "Your session expired") {
		t.Errorf("the sign-in page does not say the session expired")
	}
}

// console.enabled off: no /console at all; the REST API is unchanged.
func TestConsoleDisabled(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) { c.Console.Enabled = false }})
	base := "http://" + g.HTTPAddr().String()
	for _, p := range []string{"/console", "/console/login", "/console/static/console.js"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s with the console off: %d", p, resp.StatusCode)
		}
	}
	if resp, err := http.Get(base + "/livez"); err != nil || resp.StatusCode != 200 {
		t.Errorf("livez: %v", err)
	}
}

// Console sessions live in the state store: on a shared PostgreSQL
// store, a session signed in on one gateway works on another (its CSRF
// token too) and on a gateway started after the first stopped; logout on
// one ends it on all.
func TestConsoleSharedSessions(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	start := func() *apptest.Gateway {
		return apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) { c.State.DSN = state }})
	}
	a, b := start(), start()
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	users, err := auth.NewConsoleUsers(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.CreateUser(ctx, "ops", auth.DefaultTenant, "a shared password", []string{"admin"}, "test"); err != nil {
		t.Fatal(err)
	}
	ca := newConsoleClient(t, "http://"+a.HTTPAddr().String())
	ca.mustSignIn(url.Values{"username": {"ops"}, "password": {"a shared password"}})
	// The same cookie, presented to b.
	onto := func(g *apptest.Gateway) *consoleClient {
		c := newConsoleClient(t, "http://"+g.HTTPAddr().String())
		from, _ := url.Parse(ca.base + "/console")
		to, _ := url.Parse(c.base + "/console")
		c.hc.Jar.SetCookies(to, ca.hc.Jar.Cookies(from))
		return c
	}
	cb := onto(b)
	if resp, body := cb.get("/console/tenants"); resp.StatusCode != 200 || !strings.Contains(body, "Signed in as <strong>ops</strong>") {
		t.Fatalf("the session on the other gateway: %d", resp.StatusCode)
	}
	if cb.csrf != ca.csrf {
		t.Error("the CSRF token differs between gateways")
	}
	if resp, _ := cb.post("/console/tenants", url.Values{"id": {"shared"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a change on the other gateway: %d", resp.StatusCode)
	}
	// A gateway started after a stopped keeps the session.
	a.Close()
	cc := onto(start())
	if resp, _ := cc.get("/console/status"); resp.StatusCode != 200 {
		t.Fatalf("the session on a new gateway: %d", resp.StatusCode)
	}
	if resp, _ := cb.post("/console/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := cc.get("/console/status"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session after logout on another gateway: %d", resp.StatusCode)
	}
}
