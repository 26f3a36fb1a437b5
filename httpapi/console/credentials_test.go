package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
)

const testModel = `cubes:
  - name: orders
    sql_table: public.orders
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
`

// withCredentials gives the fixture's admin API a credential service, a
// data source "db" with a model, and the clock now.
func withCredentials(t *testing.T, now *time.Time) func(*Config) {
	return func(cfg *Config) {
		ctx := context.Background()
		store, err := auth.OpenStore(ctx, "sqlite::memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svc, err := auth.NewService(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		m, err := cubes.LoadFiles(map[string][]byte{"orders.yml": []byte(testModel)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Admin.Credentials = svc
		cfg.Admin.DataSource = func(name string) (string, bool) { return auth.DefaultTenant, name == "db" }
		cfg.Admin.Model = func(name string) *cubes.Model {
			if name == "db" {
				return m
			}
			return nil
		}
		if now != nil {
			cfg.Now = func() time.Time { return *now }
		}
	}
}

// browserOf is a signed-in client of srv with its CSRF token.
type browserOf struct {
	t    *testing.T
	srv  *httptest.Server
	hc   *http.Client
	csrf string
}

var csrfRE = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`)

func newBrowser(t *testing.T, srv *httptest.Server, key string) *browserOf {
	hc, _ := signIn(t, srv, key, nil)
	own := *hc // srv.Client() is shared: the next sign-in replaces its jar
	b := &browserOf{t: t, srv: srv, hc: &own}
	if resp, body := b.get("/console/status"); resp.StatusCode != 200 {
		t.Fatalf("status page %d", resp.StatusCode)
	} else if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.csrf = m[1]
	}
	return b
}

func (b *browserOf) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// post posts form as the console's own page does (origin, CSRF token
// unless form sets csrf_token to "-").
func (b *browserOf) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf_token") == "-" {
		form.Del("csrf_token")
	} else {
		form.Set("csrf_token", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.srv.URL)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// follow posts and follows the redirect to the page that shows the
// secret, returning that page.
func (b *browserOf) follow(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.post(path, form)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d, want a redirect\n%s", path, resp.StatusCode, body)
	}
	return b.get(resp.Header.Get("Location"))
}

var (
	pwRE    = regexp.MustCompile(`id="secret-password" readonly value="([A-Za-z0-9]+)"`)
	tokenOf = func(id, page string) string {
		m := regexp.MustCompile(`<input type="hidden" name="token" value="([0-9a-f]+)"><button type="submit" id="` + id + `"`).FindStringSubmatch(page)
		if m == nil {
			return ""
		}
		return m[1]
	}
)

func TestCredentialsPage(t *testing.T) {
	now := time.Now()
	f := newFixture(t, withCredentials(t, &now))
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	b := newBrowser(t, srv, f.admin.KeyValue)

	if resp, body := b.get("/console/credentials"); resp.StatusCode != 200 || !strings.Contains(body, "No credentials yet") ||
		!strings.Contains(body, "<summary>Create credential</summary>") {
		t.Fatalf("empty list %d\n%s", resp.StatusCode, body)
	}

	// Refused with the message next to the field, the typed values kept.
	for _, tc := range []struct{ sec, field, want string }{
		{`{"allow": ["nope"]}`, "credential-security-error", `no cube or view &#34;nope&#34;`},
		{`{"row_filters": [{"member": "orders.nope", "operator": "equals", "values": ["x"]}]}`, "credential-security-error", `unknown member &#34;orders.nope&#34;`},
		{`{"allow": [`, "credential-security-error", "security context"},
	} {
		resp, body := b.post("/console/credentials", url.Values{"label": {"x"}, "database": {"db"}, "security_context": {tc.sec}})
		if resp.StatusCode != 400 || !regexp.MustCompile(`id="`+tc.field+`"[^>]*>[^<]*`+regexp.QuoteMeta(tc.want)).MatchString(body) ||
			!strings.Contains(body, "<details class=\"card\" id=\"credential-create-details\" open>") {
			t.Errorf("security context %s: %d\n%s", tc.sec, resp.StatusCode, body)
		}
	}
	if resp, body := b.post("/console/credentials", url.Values{"label": {"x"}, "database": {"elsewhere"}}); resp.StatusCode != 400 ||
		!strings.Contains(body, `id="credential-database-error"`) {
		t.Errorf("unknown data source: %d\n%s", resp.StatusCode, body)
	}
	// Claims beside allow are fine.
	if resp, _ := b.post("/console/credentials", url.Values{"label": {"claims"}, "database": {"db"},
		"security_context": {`{"allow": ["orders"], "region": "eu"}`}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("claims: %d", resp.StatusCode)
	}

	// Created: the password once, the downloads once each.
	label := `<script>alert(1)</script><img src=x onerror=alert(2)> a:b\c`
	resp, page := b.follow("/console/credentials", url.Values{"label": {label}, "database": {"db"}, "member": {"alice"}})
	m := pwRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(page, "shown once") {
		t.Fatalf("secret page %d %q\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), page)
	}
	password := m[1]
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Errorf("the label is markup in the page")
	}
	for _, name := range []string{`aria-label="Copy Password"`, ">Download .pgpass<", ">Download JSON<", ">Download pg_service.conf<", "Download credentials"} {
		if !strings.Contains(page, name) {
			t.Errorf("the dialog has no %s", name)
		}
	}
	pgpassToken := tokenOf("download-pgpass", page)
	// Another session cannot take it.
	other := newBrowser(t, srv, f.admin.KeyValue)
	if resp, body := other.post("/console/credentials/download", url.Values{"token": {pgpassToken}}); resp.StatusCode != http.StatusGone || strings.Contains(body, password) {
		t.Errorf("another session's download: %d", resp.StatusCode)
	}
	resp, file := b.post("/console/credentials/download", url.Values{"token": {pgpassToken}})
	fields := regexp.MustCompile(`^([^:]+):(\d+):db:(cg_[a-z0-9]+):([A-Za-z0-9]+)\n$`).FindStringSubmatch(file)
	if resp.StatusCode != 200 || fields == nil || fields[4] != password || fields[2] != "15432" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="cg_`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf(".pgpass %d %q %v", resp.StatusCode, file, resp.Header)
	}
	if resp, _ := b.post("/console/credentials/download", url.Values{"token": {pgpassToken}}); resp.StatusCode != http.StatusGone {
		t.Errorf("second .pgpass download: %d", resp.StatusCode)
	}
	if resp, file := b.post("/console/credentials/download", url.Values{"token": {tokenOf("download-pg-service", page)}}); resp.StatusCode != 200 ||
		!strings.Contains(file, "\npassword="+password+"\n") || !strings.HasPrefix(file, "[cubegate-") {
		t.Errorf("pg_service.conf %d %q", resp.StatusCode, file)
	}
	// Expired: the JSON's token, taken after onceTTL.
	now = now.Add(onceTTL + time.Second)
	if resp, _ := b.post("/console/credentials/download", url.Values{"token": {tokenOf("download-json", page)}}); resp.StatusCode != http.StatusGone {
		t.Errorf("expired download: %d", resp.StatusCode)
	}
	now = time.Now()
	resp, list := b.get("/console/credentials")
	if resp.StatusCode != 200 || strings.Contains(list, password) || strings.Contains(list, "<script>alert") || !strings.Contains(list, "&lt;script&gt;") {
		t.Errorf("list %d\n%s", resp.StatusCode, list)
	}
	id := regexp.MustCompile(`data-credential="([^"]+)">\s*<th scope="row">&lt;script`).FindStringSubmatch(list)
	if id == nil {
		t.Fatalf("no row for the credential\n%s", list)
	}

	// Edit: the security context checked as on create.
	if resp, body := b.post("/console/credentials/"+id[1]+"/edit", url.Values{"label": {"renamed"}, "member": {"bob"}, "security_context": {`{"allow": ["orders.nope"]}`}}); resp.StatusCode != 400 ||
		!strings.Contains(body, `id="credential-security-error"`) {
		t.Errorf("edit with an unknown member: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.post("/console/credentials/"+id[1]+"/edit", url.Values{"label": {"renamed"}, "member": {"bob"}, "security_context": {`{"allow": ["orders.status"]}`}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("edit: %d", resp.StatusCode)
	}
	if c, _ := f.c.cfg.Admin.Credentials.GetCredential(context.Background(), id[1]); c.Label != "renamed" || c.Member != "bob" || len(c.Security.Allow) != 1 {
		t.Errorf("after the edit: %+v", c)
	}

	// Rotate: a new password, shown once; the redirect's URL a second time shows none.
	resp, body := b.post("/console/credentials/"+id[1]+"/rotate", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/credentials?secret=") {
		t.Fatalf("rotate %d %s\n%s", resp.StatusCode, loc, body)
	}
	_, page = b.get(loc)
	if m := pwRE.FindStringSubmatch(page); m == nil || m[1] == password {
		t.Errorf("rotated password page\n%s", page)
	}
	if resp, again := b.get(loc); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/credentials" || pwRE.MatchString(again) {
		t.Errorf("the secret URL a second time: %d", resp.StatusCode)
	}

	// CSRF missing: 403, nothing deleted.
	if resp, _ := b.post("/console/credentials/"+id[1]+"/delete", url.Values{"csrf_token": {"-"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/console/credentials/"+id[1]+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if _, err := f.c.cfg.Admin.Credentials.GetCredential(context.Background(), id[1]); err == nil {
		t.Error("the credential is still there")
	}

	// A reader (credentials:read) lists, but every change is 403.
	reader, err := f.keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"credentials:read"}})
	if err != nil {
		t.Fatal(err)
	}
	rb := newBrowser(t, srv, reader.KeyValue)
	if resp, body := rb.get("/console/credentials"); resp.StatusCode != 200 || strings.Contains(body, "Create credential") {
		t.Errorf("reader's list: %d", resp.StatusCode)
	}
	if resp, _ := rb.post("/console/credentials", url.Values{"label": {"x"}, "database": {"db"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader's create: %d", resp.StatusCode)
	}
	// A load/meta key does not see the page at all.
	loader, _ := f.keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"load", "meta"}})
	lb := newBrowser(t, srv, loader.KeyValue)
	if resp, _ := lb.get("/console/credentials"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("load key's list: %d", resp.StatusCode)
	}
}

func TestPgpassEscapes(t *testing.T) {
	if got := pgpassLine("::1", "5432", `d:b`, "u", `p\w:`); got != `\:\:1:5432:d\:b:u:p\\w\:`+"\n" {
		t.Errorf("%q", got)
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{10 * time.Second: "just now", 2 * time.Minute: "2 min ago", 3 * time.Hour: "3 h ago",
		50 * time.Hour: "2 days ago", -2 * time.Hour: "in 2 h"} {
		if got := relTime(now, now.Add(-d)); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
