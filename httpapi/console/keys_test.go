package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
)

var keyValueRE = regexp.MustCompile(`id="secret-api-key" readonly value="(cg_(?:live|test)_[A-Za-z0-9]+)"`)

func TestKeysPage(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	b := newBrowser(t, srv, f.admin.KeyValue)
	ctx := context.Background()
	loopback := netip.MustParseAddr("127.0.0.1")

	resp, page := b.get("/console/keys")
	if resp.StatusCode != 200 || !strings.Contains(page, "<summary>Create key</summary>") || !strings.Contains(page, `data-refresh="/console/keys?fragment=1" data-refresh-every="30"`) {
		t.Fatalf("keys page %d\n%s", resp.StatusCode, page)
	}
	for _, sc := range auth.Scopes {
		if !strings.Contains(page, `<label for="key-scope-`+slug(sc)+`">`+sc+`</label>`) {
			t.Errorf("no checkbox for scope %s", sc)
		}
	}
	if strings.Contains(page, f.admin.KeyValue) {
		t.Error("the signed-in key's value is on the page")
	}

	// Field errors, the typed values kept.
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"label": {"x"}, "scopes": {"load"}, "allow_ips": {"10.0.0.0/8\nnot-an-ip"}}, "key-allow-ips-error"},
		{url.Values{"label": {"x"}}, "key-scopes-error"},
		{url.Values{"label": {"x"}, "scopes": {"load"}, "expires_at": {"tomorrow"}}, "key-expires-error"},
		{url.Values{"label": {"x"}, "scopes": {"load"}, "expires_at": {"2001-01-01T00:00"}}, "key-expires-error"},
	} {
		resp, body := b.post("/console/keys", tc.form)
		if resp.StatusCode != 400 || !strings.Contains(body, `id="`+tc.field+`"`) || !strings.Contains(body, `id="key-create-details" open`) {
			t.Errorf("%v: %d, want 400 with #%s\n%s", tc.form, resp.StatusCode, tc.field, body)
		}
	}
	if _, body := b.post("/console/keys", url.Values{"label": {"x"}, "scopes": {"load", "meta"}, "allow_ips": {"bad"}}); !strings.Contains(body, `value="meta" checked`) ||
		!strings.Contains(body, ">bad</textarea>") {
		t.Error("the refused form lost its values")
	}

	// Created: shown once.
	label := `<img src=x onerror=alert(1)> reports`
	expires := time.Now().UTC().Add(48 * time.Hour).Format(dateTimeLocal)
	_, page = b.follow("/console/keys", url.Values{"label": {label}, "scopes": {"load", "meta"}, "allow_ips": {"127.0.0.1, 10.0.0.0/8"}, "expires_at": {expires}})
	m := keyValueRE.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "shown once") || !strings.Contains(page, `aria-label="Copy API key"`) || strings.Contains(page, "<img src=x") {
		t.Fatalf("secret page\n%s", page)
	}
	secret := m[1]
	k, err := f.keys.Authenticate(ctx, secret, loopback, "load")
	if err != nil || k.Description != label || len(k.AllowIPs) != 2 || k.ExpiresAt == nil || k.CreatedBy != "api_key:"+f.admin.ID {
		t.Fatalf("the new key %+v: %v", k, err)
	}
	if _, err := f.keys.Authenticate(ctx, secret, netip.MustParseAddr("192.0.2.1"), "load"); err == nil {
		t.Error("the allow-list lets 192.0.2.1 in")
	}

	// The list and its fragment: no secret, the label as text, times as <time>.
	f.keys.Flush(ctx)
	for _, path := range []string{"/console/keys", "/console/keys?fragment=1"} {
		resp, body := b.get(path)
		if resp.StatusCode != 200 || strings.Contains(body, secret) || strings.Contains(body, "<img src=x") ||
			!strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt; reports") || !strings.Contains(body, `aria-label="Revoke &lt;img src=x onerror=alert(1)&gt; reports"`) ||
			!regexp.MustCompile(`<time datetime="[0-9T:-]+Z" title="[^"]+ UTC">just now</time>`).MatchString(body) {
			t.Errorf("%s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	if _, frag := b.get("/console/keys?fragment=1"); strings.Contains(frag, "<html") || strings.Contains(frag, "Create key") {
		t.Error("the fragment is more than the list")
	}

	// Disable → refused; enable → works.
	if resp, _ := b.post("/console/keys/"+k.ID+"/disable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: %d", resp.StatusCode)
	}
	if _, err := f.keys.Authenticate(ctx, secret, loopback, "load"); err == nil {
		t.Error("a disabled key works")
	}
	if _, body := b.get("/console/keys"); !strings.Contains(body, `aria-label="Enable &lt;img`) {
		t.Error("no Enable button for the disabled key")
	}
	if resp, _ := b.post("/console/keys/"+k.ID+"/enable", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("enable: %d", resp.StatusCode)
	}
	if _, err := f.keys.Authenticate(ctx, secret, loopback, "load"); err != nil {
		t.Errorf("the enabled key: %v", err)
	}

	// Rotate with overlap: the old key until then, the new one now.
	if resp, body := b.get("/console/keys/" + k.ID + "/rotate"); resp.StatusCode != 200 || !strings.Contains(body, `<label for="key-old-until">`) {
		t.Errorf("rotate page %d\n%s", resp.StatusCode, body)
	}
	if resp, body := b.post("/console/keys/"+k.ID+"/rotate", url.Values{"old_until": {"soon"}}); resp.StatusCode != 400 || !strings.Contains(body, `id="form-error"`) {
		t.Errorf("rotate with a bad time: %d", resp.StatusCode)
	}
	until := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	_, page = b.follow("/console/keys/"+k.ID+"/rotate", url.Values{"old_until": {until.Format(dateTimeLocal)}})
	m = keyValueRE.FindStringSubmatch(page)
	if m == nil || m[1] == secret || !strings.Contains(page, "keeps working until "+until.Format("2006-01-02 15:04 UTC")) {
		t.Fatalf("rotated key page\n%s", page)
	}
	newSecret := m[1]
	nk, err := f.keys.Authenticate(ctx, newSecret, loopback, "meta")
	if err != nil || nk.Description != label || len(nk.AllowIPs) != 2 || !sameScopes(nk.Scopes, []string{"load", "meta"}) {
		t.Errorf("the new key %+v: %v", nk, err)
	}
	old, err := f.keys.Authenticate(ctx, secret, loopback, "load")
	if err != nil || old.ExpiresAt == nil || !old.ExpiresAt.Equal(until) {
		t.Errorf("the old key during the overlap %+v: %v", old, err)
	}

	// Revoke: at once; the list no longer shows it.
	if resp, _ := b.post("/console/keys/"+nk.ID+"/revoke", url.Values{"csrf_token": {"-"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/console/keys/"+nk.ID+"/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if _, err := f.keys.Authenticate(ctx, newSecret, loopback, "load"); err == nil {
		t.Error("a revoked key works")
	}
	if _, body := b.get("/console/keys"); strings.Contains(body, `data-key="`+nk.ID+`"`) || !strings.Contains(body, `id="keys-revoked"`) {
		t.Error("the revoked key is listed")
	}

	// A keys:read key lists; its changes are 403.
	reader, _ := f.keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"keys:read"}})
	rb := newBrowser(t, srv, reader.KeyValue)
	if resp, body := rb.get("/console/keys"); resp.StatusCode != 200 || strings.Contains(body, "Create key") || strings.Contains(body, "/revoke") {
		t.Errorf("reader's list: %d", resp.StatusCode)
	}
	for _, path := range []string{"/console/keys", "/console/keys/" + k.ID + "/disable", "/console/keys/" + k.ID + "/revoke", "/console/keys/" + k.ID + "/rotate"} {
		if resp, _ := rb.post(path, url.Values{"label": {"x"}, "scopes": {"load"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("reader's POST %s: %d", path, resp.StatusCode)
		}
	}
}

func sameScopes(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
