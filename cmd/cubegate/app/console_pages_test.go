package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// parsePgpass splits a .pgpass line into its five fields, undoing libpq's
// escapes (\: and \\).
func parsePgpass(line string) []string {
	var out []string
	var f strings.Builder
	esc := false
	for _, r := range strings.TrimRight(line, "\n") {
		switch {
		case esc:
			f.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == ':':
			out = append(out, f.String())
			f.Reset()
		default:
			f.WriteRune(r)
		}
	}
	return append(out, f.String())
}

var (
	pagePassword = regexp.MustCompile(`id="secret-password" readonly value="([A-Za-z0-9]+)"`)
	pageKey      = regexp.MustCompile(`id="secret-api-key" readonly value="(cg_live_[A-Za-z0-9]+)"`)
)

func downloadToken(page, id string) string {
	m := regexp.MustCompile(`name="token" value="([0-9a-f]+)"><button type="submit" id="` + id + `"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// The Credentials and API keys pages on a real gateway over PostgreSQL,
// through HTTP as a browser uses them (session cookie, CSRF token): a
// credential created, its .pgpass downloaded once and used by pgx for a
// real count, rotated (the old password refused), deleted (its login
// refused); a key created with scopes and an allow-list and used on REST
// /load, disabled (401), enabled, rotated with an overlap (the old key
// until then), revoked (401 at once); audit rows naming the console user;
// no secret in any page but its one dialog.
func TestConsolePages(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(200), Adjust: func(c *app.Config) { c.APIKeys.Limit = 20 }})
	ctx := context.Background()
	base := "http://" + g.HTTPAddr().String()
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
	adminKey, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("admin"), Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	c := newConsoleClient(t, base)
	c.mustSignIn(url.Values{"username": {"alice"}, "password": {password}})
	_, sqlPort, _ := strings.Cut(g.SQLAddr().String(), ":")

	// secretPage follows a POST's redirect to the page showing a secret
	// once: no-store, and its URL shows nothing a second time.
	secretPage := func(resp *http.Response, body string) string {
		t.Helper()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "?secret=") {
			t.Fatalf("%d %s, want a redirect to the secret\n%s", resp.StatusCode, loc, body)
		}
		r, page := c.get(loc)
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" || !strings.Contains(page, "shown once") {
			t.Fatalf("secret page %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
		}
		if r, again := c.get(loc); r.StatusCode != http.StatusSeeOther || strings.Contains(r.Header.Get("Location"), "secret") || strings.Contains(again, `id="secret-dialog"`) {
			t.Errorf("the secret's URL a second time: %d", r.StatusCode)
		}
		return page
	}
	connect := func(fields []string) (int64, error) {
		cfg, err := pgx.ParseConfig("sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host, cfg.Database, cfg.User, cfg.Password = fields[0], fields[2], fields[3], fields[4]
		port, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		cfg.Port = uint16(port)
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(cctx, cfg)
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		var n int64
		err = conn.QueryRow(cctx, "SELECT COUNT(*) FROM orders").Scan(&n)
		return n, err
	}
	var secrets []string
	var listPages []string

	t.Run("credentials", func(t *testing.T) {
		// The security context is checked against the data source's model,
		// in the console and the admin API alike.
		resp, body := c.post("/console/credentials", url.Values{"label": {"x"}, "database": {g.Database}, "security_context": {`{"allow": ["orders.nope"]}`}})
		if resp.StatusCode != 400 || !regexp.MustCompile(`id="credential-security-error"[^>]*>[^<]*orders has no member &#34;nope&#34;`).MatchString(body) {
			t.Errorf("an unknown member in the security context: %d\n%s", resp.StatusCode, body)
		}
		if status, _ := adminCall(t, base, adminKey.KeyValue, "POST", "/admin/v1/credentials",
			map[string]any{"database": g.Database, "security_context": map[string]any{"allow": []string{"nope"}}}); status != 400 {
			t.Errorf("the admin API with an unknown cube in the security context: %d", status)
		}
		page := secretPage(c.post("/console/credentials", url.Values{"label": {"bi team"}, "database": {g.Database}}))
		m := pagePassword.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no password in the dialog\n%s", page)
		}
		pw := m[1]
		secrets = append(secrets, pw)
		token := downloadToken(page, "download-pgpass")
		resp, line := c.post("/console/credentials/download", url.Values{"token": {token}})
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf(".pgpass: %d %v", resp.StatusCode, resp.Header)
		}
		if resp, again := c.post("/console/credentials/download", url.Values{"token": {token}}); resp.StatusCode != http.StatusGone || strings.Contains(again, pw) {
			t.Errorf("second .pgpass download: %d", resp.StatusCode)
		}
		fields := parsePgpass(line)
		if len(fields) != 5 || fields[1] != sqlPort || fields[2] != g.Database || fields[4] != pw {
			t.Fatalf(".pgpass line %q", line)
		}
		if n, err := connect(fields); err != nil || n != 200 {
			t.Fatalf("pgx with the .pgpass fields: %d %v", n, err)
		}
		_, list := c.get("/console/credentials")
		listPages = append(listPages, list)
		id := regexp.MustCompile(`data-credential="([^"]+)">\s*<th scope="row">bi team`).FindStringSubmatch(list)
		if id == nil || !strings.Contains(list, fields[3]) {
			t.Fatalf("no row for the credential\n%s", list)
		}
		// The last login shows up.
		g.Audit.Sync()
		if _, list := c.get("/console/credentials"); !regexp.MustCompile(`<time datetime="[^"]+" title="[^"]+">just now</time></td>\s*<td class="actions">`).MatchString(list) {
			t.Errorf("no last login on the list\n%s", list)
		}

		// Rotate: the old password refused, the new one works.
		page = secretPage(c.post("/console/credentials/"+id[1]+"/rotate", nil))
		m = pagePassword.FindStringSubmatch(page)
		if m == nil || m[1] == pw {
			t.Fatalf("rotated password page\n%s", page)
		}
		newPW := m[1]
		secrets = append(secrets, newPW)
		if _, err := connect(fields); pgCode(err) != "28P01" {
			t.Errorf("the old password after rotation: %v", err)
		}
		fields[4] = newPW
		if n, err := connect(fields); err != nil || n != 200 {
			t.Errorf("the new password: %d %v", n, err)
		}

		// CSRF missing: 403 and the credential stays.
		if resp, _ := c.do("POST", "/console/credentials/"+id[1]+"/delete", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("delete without a CSRF token: %d", resp.StatusCode)
		}
		if n, err := connect(fields); err != nil || n != 200 {
			t.Errorf("after the refused delete: %d %v", n, err)
		}
		if resp, _ := c.post("/console/credentials/"+id[1]+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("delete: %d", resp.StatusCode)
		}
		if _, err := connect(fields); pgCode(err) != "28P01" {
			t.Errorf("a deleted credential's login: %v", err)
		}
		g.Audit.Sync()
		events, _ := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "credential"})
		got := map[string]string{}
		for _, e := range events {
			if e.Object == id[1] {
				got[e.Action] = e.Username
			}
		}
		for _, action := range []string{"create", "rotate", "delete"} {
			if got[action] != "console_user:alice" {
				t.Errorf("credential %s audited as %q, want console_user:alice (%v)", action, got[action], got)
			}
		}
	})

	t.Run("keys", func(t *testing.T) {
		page := secretPage(c.post("/console/keys", url.Values{"label": {"reports"}, "scopes": {"load", "meta"}, "allow_ips": {"127.0.0.1\n10.0.0.0/8"}}))
		m := pageKey.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no key in the dialog\n%s", page)
		}
		key := m[1]
		secrets = append(secrets, key)
		load := func(key string) int {
			body := `{"query":{"measures":["orders.count"],"dimensions":["orders.status"]}}`
			req, _ := http.NewRequest("POST", base+"/cubejs-api/v1/load", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var answer struct {
				Data []map[string]any `json:"data"`
			}
			if resp.StatusCode == 200 && (json.Unmarshal(raw, &answer) != nil || len(answer.Data) == 0) {
				t.Errorf("REST /load: 200 without rows: %s", raw)
			}
			return resp.StatusCode
		}
		if s := load(key); s != 200 {
			t.Fatalf("REST /load with the console's key: %d", s)
		}
		keys, _ := g.Keys.List(ctx, auth.DefaultTenant)
		var id string
		for _, k := range keys {
			if k.Description == "reports" {
				id = k.ID
				if len(k.AllowIPs) != 2 || strings.Join(k.Scopes, ",") != "load,meta" || k.CreatedBy != "console_user:alice" {
					t.Errorf("the key %+v", k)
				}
			}
		}
		// Disable: refused; enable: back.
		if resp, _ := c.post("/console/keys/"+id+"/disable", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("disable: %d", resp.StatusCode)
		}
		if s := load(key); s != 401 && s != 403 {
			t.Errorf("a disabled key: %d", s)
		}
		if resp, _ := c.post("/console/keys/"+id+"/enable", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("enable: %d", resp.StatusCode)
		}
		if s := load(key); s != 200 {
			t.Errorf("the enabled key: %d", s)
		}
		// Rotate: the old key until a few seconds from now, the new at once.
		until := time.Now().UTC().Add(4 * time.Second).Truncate(time.Second)
		page = secretPage(c.post("/console/keys/"+id+"/rotate", url.Values{"old_until": {until.Format("2006-01-02T15:04:05")}}))
		m = pageKey.FindStringSubmatch(page)
		if m == nil || m[1] == key {
			t.Fatalf("rotated key page\n%s", page)
		}
		newKey := m[1]
		secrets = append(secrets, newKey)
		if s := load(newKey); s != 200 {
			t.Errorf("the new key: %d", s)
		}
		if s := load(key); s != 200 {
			t.Errorf("the old key during the overlap: %d", s)
		}
		time.Sleep(time.Until(until) + 200*time.Millisecond)
		if s := load(key); s != 401 {
			t.Errorf("the old key after the overlap: %d", s)
		}
		if s := load(newKey); s != 200 {
			t.Errorf("the new key after the overlap: %d", s)
		}
		_, list := c.get("/console/keys")
		listPages = append(listPages, list)
		_, frag := c.get("/console/keys?fragment=1")
		listPages = append(listPages, frag)
		newID := regexp.MustCompile(`<tr data-key="([^"]+)" data-enabled="true">\s*<th scope="row">reports</th>\s*<td><code>` + regexp.QuoteMeta(newKey[:12])).FindStringSubmatch(list)
		if newID == nil {
			t.Fatalf("no row for the new key\n%s", list)
		}
		// Revoke: 401 at once.
		if resp, _ := c.post("/console/keys/"+newID[1]+"/revoke", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("revoke: %d", resp.StatusCode)
		}
		if s := load(newKey); s != 401 {
			t.Errorf("the revoked key: %d", s)
		}
		g.Audit.Sync()
		events, _ := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "api_key"})
		got := map[string]int{}
		for _, e := range events {
			if (e.Object == id || e.Object == newID[1]) && e.Username == "console_user:alice" {
				got[e.Action]++
			}
		}
		// create ×2 (the key, its rotation), update ×3 (disable, enable,
		// the old key's expiry), revoke.
		if got["create"] != 2 || got["update"] != 3 || got["revoke"] != 1 {
			t.Errorf("api_key audit events by console_user:alice: %v", got)
		}
	})

	// The admin API's rotate, which the console's is: the old key until
	// old_expires_at, or revoked at once without it.
	t.Run("admin API rotate", func(t *testing.T) {
		status, created := adminCall(t, base, adminKey.KeyValue, "POST", "/admin/v1/api_keys", map[string]any{"description": "etl", "scope_names": []string{"load"}})
		if status != 201 {
			t.Fatalf("create: %d %v", status, created)
		}
		id := created["api_key_id"].(string)
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		status, rotated := adminCall(t, base, adminKey.KeyValue, "POST", "/admin/v1/api_keys/"+id+"/rotate", map[string]any{"old_expires_at": until})
		nk, _ := rotated["api_key"].(map[string]any)
		prev, _ := rotated["previous"].(map[string]any)
		if status != 201 || nk == nil || prev == nil || !auth.WellFormedKey(nk["key_value"].(string)) || nk["description"] != "etl" || prev["expires_at"] != until.Format(time.RFC3339) {
			t.Fatalf("rotate: %d %v", status, rotated)
		}
		if _, err := g.Keys.Authenticate(ctx, created["key_value"].(string), loopback, "load"); err != nil {
			t.Errorf("the old key during the overlap: %v", err)
		}
		status, again := adminCall(t, base, adminKey.KeyValue, "POST", "/admin/v1/api_keys/"+nk["api_key_id"].(string)+"/rotate", nil)
		if prev, _ := again["previous"].(map[string]any); status != 201 || prev == nil || prev["revoked_at"] == nil {
			t.Errorf("rotate without an overlap: %d %v", status, again)
		}
		if _, err := g.Keys.Authenticate(ctx, nk["key_value"].(string), loopback, "load"); err == nil {
			t.Error("a key rotated without an overlap still works")
		}
	})

	t.Run("no secret outside its dialog", func(t *testing.T) {
		_, creds := c.get("/console/credentials")
		_, keys := c.get("/console/keys")
		for _, page := range append(listPages, creds, keys) {
			for _, s := range secrets {
				if strings.Contains(page, s) {
					t.Errorf("a secret %s… is on a list page", s[:6])
				}
			}
			if strings.Contains(page, `id="secret-dialog"`) {
				t.Error("a list page has the secret dialog")
			}
		}
	})

	t.Run("non-admin", func(t *testing.T) {
		reader, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"credentials:read", "keys:read"}})
		if err != nil {
			t.Fatal(err)
		}
		r := newConsoleClient(t, base)
		r.mustSignIn(url.Values{"api_key": {reader.KeyValue}})
		for _, p := range []string{"/console/credentials", "/console/keys"} {
			if resp, body := r.get(p); resp.StatusCode != 200 || strings.Contains(body, "Create") && strings.Contains(body, "<summary>") {
				t.Errorf("reader's %s: %d", p, resp.StatusCode)
			}
		}
		for _, p := range []string{"/console/credentials", "/console/keys"} {
			if resp, _ := r.post(p, url.Values{"label": {"x"}, "database": {g.Database}, "scopes": {"load"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("reader's POST %s: %d", p, resp.StatusCode)
			}
		}
		loader, _ := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"load"}})
		l := newConsoleClient(t, base)
		l.mustSignIn(url.Values{"api_key": {loader.KeyValue}})
		for _, p := range []string{"/console/credentials", "/console/keys"} {
			if resp, _ := l.get(p); resp.StatusCode != http.StatusForbidden {
				t.Errorf("a load key's %s: %d", p, resp.StatusCode)
			}
		}
	})
}

var loopback = netip.MustParseAddr("127.0.0.1")

// adminCall calls the admin API with key and returns the status and the
// answer's data.
func adminCall(t *testing.T, base, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data map[string]any `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Data
}
