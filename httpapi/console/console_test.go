package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
)

// fixture is a console over an in-memory state store with a fake status.
type fixture struct {
	c     *Console
	keys  *auth.KeyService
	users *auth.ConsoleUsers
	admin auth.APIKey
	state string
}

func newFixture(t *testing.T, adjust func(*Config)) *fixture {
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{keys: auth.NewKeyService(store, 5), state: "RUNNING"}
	t.Cleanup(f.keys.Close)
	if f.users, err = auth.NewConsoleUsers(ctx, store); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = f.keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	audit := auth.NewAudit(store)
	t.Cleanup(audit.Close)
	cfg := Config{
		Admin: &httpapi.Admin{Keys: f.keys, Audit: audit, Tenants: store,
			Status: func(ctx context.Context, tenant string, full bool) any {
				return map[string]any{"state": f.state, "model": map[string]any{"version": "v1", "error": `m.yml:3: cube <img src=x onerror=alert(1)>`},
					"data_sources": []map[string]any{{"name": "db", "tenant": "default", "state": f.state, "error": `m.yml:3: cube <img src=x onerror=alert(1)>`}}}
			},
			Restart: func(string) error { return nil }},
		Users:   f.users,
		Sources: func() []Source { return []Source{{Name: "db", Tenant: auth.DefaultTenant}} },
		SQLAddr: func() (string, string) { return "127.0.0.1", "15432" },
	}
	if adjust != nil {
		adjust(&cfg)
	}
	if f.c, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

var tokenRE = regexp.MustCompile(`name="login_token" value="([0-9a-f]+)"`)

// signIn signs in at srv with the admin key and returns the client.
func signIn(t *testing.T, srv *httptest.Server, key string, hdr http.Header) (*http.Client, *http.Response) {
	jar, _ := cookiejar.New(nil)
	hc := srv.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no login token: %s", b)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/console/login", strings.NewReader(url.Values{"api_key": {key}, "login_token": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return hc, resp
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Under TLS the session cookie is Secure; in clear it is only behind a
// trusted proxy's X-Forwarded-Proto: https.
func TestSecureCookie(t *testing.T) {
	f := newFixture(t, nil)
	tlsSrv := httptest.NewTLSServer(f.c)
	defer tlsSrv.Close()
	_, resp := signIn(t, tlsSrv, f.admin.KeyValue, nil)
	if ck := cookieNamed(resp, sessionCookie); ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("TLS session cookie %+v", ck)
	}

	plain := httptest.NewServer(f.c)
	defer plain.Close()
	_, resp = signIn(t, plain, f.admin.KeyValue, http.Header{"X-Forwarded-Proto": {"https"}})
	if ck := cookieNamed(resp, sessionCookie); ck == nil || ck.Secure {
		t.Errorf("an untrusted X-Forwarded-Proto made the cookie Secure: %+v", ck)
	}
	// Behind an untrusted proxy terminating TLS the browser's https
	// origin is still its own: signing in works, the cookie is not Secure.
	_, resp = signIn(t, plain, f.admin.KeyValue, http.Header{"Origin": {"https://" + strings.TrimPrefix(plain.URL, "http://")}})
	if ck := cookieNamed(resp, sessionCookie); ck == nil || ck.Secure {
		t.Errorf("behind an untrusted proxy: %+v", ck)
	}
	g := newFixture(t, func(c *Config) { c.TrustForwardedProto = true })
	proxied := httptest.NewServer(g.c)
	defer proxied.Close()
	// The browser's origin is https:// behind the proxy.
	_, resp = signIn(t, proxied, g.admin.KeyValue, http.Header{"X-Forwarded-Proto": {"https"}, "Origin": {"https://" + strings.TrimPrefix(proxied.URL, "http://")}})
	if ck := cookieNamed(resp, sessionCookie); ck == nil || !ck.Secure {
		t.Errorf("behind a trusted proxy: %+v", ck)
	}
}

// Every answer carries the CSP and the other security headers, errors
// included; a status quoting markup renders escaped; fragments render
// without the layout.
func TestHeadersAndEscaping(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	hc, _ := signIn(t, srv, f.admin.KeyValue, nil)
	for _, p := range []string{"/console/login", "/console/status", "/console/nope", "/console/static/", "/console/static/console.css", "/console/api/heartbeat",
		"/console/tenants", "/console/keys", "/console/status?fragment=1"} {
		resp, err := hc.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if h.Get("Content-Security-Policy") != CSP || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, h)
		}
		body := string(b)
		if strings.Contains(body, "<img src=x") || strings.Contains(body, " style=") || strings.Contains(body, "<script>") || strings.Contains(body, "onclick") {
			t.Errorf("%s: markup not escaped, or inline style/script:\n%s", p, body)
		}
		switch p {
		case "/console/nope", "/console/static/":
			if resp.StatusCode != 404 || !strings.Contains(body, `id="error-message"`) {
				t.Errorf("unknown page: %d", resp.StatusCode)
			}
		case "/console/status":
			if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") || !strings.Contains(body, `data-state="RUNNING"`) {
				t.Errorf("status page:\n%s", body)
			}
		case "/console/status?fragment=1":
			if strings.Contains(body, "<html") || !strings.Contains(body, `id="gateway-facts"`) {
				t.Errorf("fragment:\n%s", body)
			}
		case "/console/keys":
			if !strings.Contains(body, `<h1>API keys</h1>`) {
				t.Errorf("keys page:\n%s", body)
			}
		}
	}
	// Restart is disabled unless RUNNING.
	f.state = "ERROR"
	resp, _ := hc.Get(srv.URL + "/console/status")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`id="restart" disabled`).Match(b) {
		t.Errorf("restart enabled in ERROR:\n%s", b)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/keys?x=1": "/console/keys?x=1", "//evil.example/": "/console/status", "https://evil.example": "/console/status",
		"/console/../admin": "/console/status", "/console/status/../../admin": "/console/status", "/console//evil": "/console/status",
		"/console/tenants?source=a/../b": "/console/tenants?source=a/../b", "/consolex": "/console/status", "/console/login": "/console/status", "/console/\\evil": "/console/status",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegister(t *testing.T) {
	f := newFixture(t, nil)
	h := func(http.ResponseWriter, *http.Request, *Session) {}
	for _, p := range []Page{{Path: "/elsewhere", Template: "status", Handler: h}, {Path: "/console/x", Template: "missing", Handler: h}, {Path: "/console/y", Template: "status"}} {
		if err := f.c.Register(p); err == nil {
			t.Errorf("Register(%+v) accepted", p)
		}
	}
}

// The session store: idle timeout and lifetime with a moved clock.
func TestSessionExpiry(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := time.Now()
	id, err := f.users.CreateSession(ctx, "api_key", f.admin.ID, auth.DefaultTenant, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.Session(ctx, id, now.Add(20*time.Minute), 30*time.Minute, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.Session(ctx, id, now.Add(45*time.Minute), 30*time.Minute, time.Hour); err != nil {
		t.Fatalf("seen 25 minutes ago: %v", err)
	}
	if _, err := f.users.Session(ctx, id, now.Add(61*time.Minute), 30*time.Minute, time.Hour); err != auth.ErrSessionExpired {
		t.Fatalf("past the lifetime: %v", err)
	}
	if _, err := f.users.Session(ctx, id, now, 30*time.Minute, time.Hour); err != auth.ErrNotFound {
		t.Fatalf("an expired session is deleted: %v", err)
	}
}

// Several data sources: the header's picker, the drawer's sections, the
// picked one kept from page to page, the heartbeat per source; the
// advertised host from console.public_host.
func TestSourcesAndPublicHost(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Sources = func() []Source {
			return []Source{{Name: "db", Tenant: auth.DefaultTenant}, {Name: "sales", Tenant: auth.DefaultTenant}, {Name: "theirs", Tenant: "other"}}
		}
		c.PublicHost = "sql.example.com:5433"
		c.SQLTLS = true
	})
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	hc, _ := signIn(t, srv, f.admin.KeyValue, nil)
	get := func(p string) string {
		resp, err := hc.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := get("/console/status?source=sales")
	for _, want := range []string{`<select id="source" name="source" data-autosubmit>`, `<option value="sales" selected>`, `href="/console/tenants?source=sales"`,
		`id="connect-db"`, `id="connect-sales"`, "postgresql://USER@sql.example.com:5433/sales?sslmode=require", `data-url="/console/api/heartbeat?source=sales"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "theirs") {
		t.Error("another tenant's data source is shown")
	}
	if hb := get("/console/api/heartbeat?source=sales"); !strings.Contains(hb, `"data_source":"sales"`) {
		t.Errorf("heartbeat of sales: %s", hb)
	}
	if hb := get("/console/api/heartbeat?source=theirs"); !strings.Contains(hb, `"data_source":"db"`) {
		t.Errorf("another tenant's data source picked: %s", hb)
	}
}

func TestSameOrigin(t *testing.T) {
	f := newFixture(t, nil)
	for origin, ok := range map[string]bool{"": true, "http://gw:4000": true, "https://gw:4000": true, "HTTP://GW:4000": true,
		"http://gw:4001": false, "http://evil.example": false, "null": false, "http://gw:4000/x": false, "ftp://gw:4000": false} {
		r := httptest.NewRequest("POST", "http://gw:4000/console/tenants", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if err := f.c.sameOrigin(r); (err == nil) != ok {
			t.Errorf("Origin %q: %v", origin, err)
		}
	}
	r := httptest.NewRequest("POST", "https://gw:4000/console/tenants", nil)
	r.Header.Set("Origin", "http://gw:4000")
	if f.c.sameOrigin(r) == nil {
		t.Error("an http origin accepted over TLS")
	}
	for site, ok := range map[string]bool{"same-origin": true, "same-site": false, "cross-site": false, "none": false} {
		r := httptest.NewRequest("POST", "http://gw:4000/console/tenants", nil)
		r.Header.Set("Sec-Fetch-Site", site)
		if err := f.c.sameOrigin(r); (err == nil) != ok {
			t.Errorf("Sec-Fetch-Site %q: %v", site, err)
		}
	}
}
