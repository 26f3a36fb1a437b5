package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/httpapi/console"
	"github.com/cubegate/cubegate/httpapi/console/consoletest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// The web console in a real browser (Debian's headless chromium, through
// httpapi/console/consoletest) against a real gateway on PostgreSQL, as
// issue 20 asks: sign in (console user, admin key), the Connect drawer
// and its heartbeat, Status, Tenants, a refused model reload and Restart,
// a credential created in the console and used by psql through its
// downloaded .pgpass, an API key created in the console and used on REST
// then revoked (401), a playground query compared with psql's answer, and
// that query in the history. Every page is screenshotted (NN-page.png in
// the artifacts folder the test logs); any console error, uncaught
// exception, CSP violation or dialog fails the test.
//
// Each subtest has its own browser and its own time budget (60 s); they
// share one gateway.
func TestConsoleBrowser(t *testing.T) {
	env := newConsoleEnv(t)
	t.Run("SignInConnectStatusTenants", env.signInConnectStatusTenants)
	t.Run("RefusedReloadAndRestart", env.refusedReloadAndRestart)
	t.Run("Credentials", env.credentials)
	t.Run("APIKeys", env.apiKeys)
	t.Run("PlaygroundAndHistory", env.playgroundAndHistory)
	t.Run("PhoneWidth", env.phoneWidth)
}

type consoleEnv struct {
	g        *apptest.Gateway
	base     string // http://127.0.0.1:PORT
	adminKey string
	user     string
	password string
	modelDir string
	psql     string
}

const consolePassword = "correct horse battery staple"

// descriptionXSS is the customers cube's description.
const descriptionXSS = `<img src=x onerror="alert('desc')"><script>alert('desc')</script> Who buys`

// strconvQuote quotes s as a YAML (JSON) string.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	consoletest.Chromium(t) // fail at once, before PostgreSQL starts, without it
	modelDir := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, apptest.RepoPath(t, "cmd", "cubegate", "app", "demomodel"), modelDir)
	// A model description that is markup: the explorer must show it as text.
	customers := filepath.Join(modelDir, "customers.yml")
	y, err := os.ReadFile(customers)
	if err != nil {
		t.Fatal(err)
	}
	y = []byte(strings.Replace(string(y), "    title: Customers\n", "    title: Customers\n    description: "+strconvQuote(descriptionXSS)+"\n", 1))
	if !strings.Contains(string(y), "onerror") {
		t.Fatal("customers.yml: no title line to put the description after")
	}
	if err := os.WriteFile(customers, y, 0o644); err != nil {
		t.Fatal(err)
	}
	g := apptest.Start(t, apptest.Options{Postgres: apptest.Demo(200), ModelDir: modelDir})
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("console admin"), Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &consoleEnv{g: g, base: "http://" + g.HTTPAddr().String(), adminKey: admin.KeyValue, user: "ada", password: consolePassword,
		modelDir: modelDir, psql: filepath.Join(bin, "psql")}
	// The console user, as `cubegate console users create` makes one: in
	// the gateway's state store.
	env.withStore(t, func(store *auth.Store) {
		users, err := auth.NewConsoleUsers(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.CreateUser(ctx, env.user, auth.DefaultTenant, consolePassword, []string{"admin"}, "test"); err != nil {
			t.Fatal(err)
		}
	})
	return env
}

// withStore opens the gateway's state store beside it for f.
func (env *consoleEnv) withStore(t *testing.T, f func(*auth.Store)) {
	t.Helper()
	store, err := auth.OpenStore(context.Background(), env.g.Config.State.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f(store)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (env *consoleEnv) browser(t *testing.T) *consoletest.Browser {
	return consoletest.Start(t, consoletest.Options{Timeout: 60 * time.Second})
}

// page opens a console page, which must answer 200.
func (env *consoleEnv) page(t *testing.T, b *consoletest.Browser, path, name string) {
	t.Helper()
	if status := b.NavigateStatus(env.base + path); status != http.StatusOK {
		b.Screenshot(name + "-failed")
		t.Fatalf("console page %s (%s): %d", name, path, status)
	}
}

// sqlPort is the gateway's SQL port.
func (env *consoleEnv) sqlPort() string {
	return fmt.Sprint(env.g.SQLAddr().(*net.TCPAddr).Port)
}

// psqlRows runs one statement with psql (unaligned, tuples only, fields
// separated by |) and returns its lines.
func (env *consoleEnv) psqlRows(t *testing.T, extraEnv []string, args ...string) []string {
	t.Helper()
	out, err := env.psqlRun(extraEnv, args...)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", args, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// psqlRun runs psql as psqlRows does and returns its output and error.
func (env *consoleEnv) psqlRun(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(env.psql, append([]string{"-X", "--no-psqlrc", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"PGCONNECT_TIMEOUT=10", "PAGER="}, extraEnv...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Sign-in with a console user and with an admin key, the Connect drawer
// (connection fields, copy buttons, the heartbeat RUNNING, Restart
// enabled), Status, and Tenants with a name that is an XSS payload.
func (env *consoleEnv) signInConnectStatusTenants(t *testing.T) {
	// The headers every console answer carries.
	resp, err := http.Get(env.base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
		t.Errorf("Content-Security-Policy %q", got)
	}

	b := env.browser(t)
	b.Navigate(env.base + "/console")
	b.WaitText("Sign in to cubegate")
	if !strings.HasPrefix(strings.TrimPrefix(b.URL(), env.base), "/console/login") {
		t.Errorf("/console signed out went to %s, not the sign-in page", b.URL())
	}
	b.Screenshot("login")

	// A wrong password: refused, said so, still on the sign-in page. (The
	// browser logs the 401 answer of the form's post.)
	b.AllowError(`status of 401 .*/console/login$`)
	b.Fill("User name", env.user)
	b.Fill("Password", "not the password at all")
	b.Click("Sign in")
	b.WaitText("Sign-in failed")
	b.Screenshot("login-failed")

	b.SignInUser(env.base, env.user, env.password)
	b.WaitText("Signed in as")
	if got := b.TextOf("#principal"); !strings.Contains(got, env.user) {
		t.Errorf("principal %q, want the console user %s", got, env.user)
	}

	// Status.
	b.Navigate(env.base + "/console/status")
	b.WaitText("Gateway")
	if got := b.TextOf("#gateway-state"); got != "RUNNING" {
		t.Errorf("gateway state %q", got)
	}
	if got := b.In("#data-sources").TextOf(`tr[data-source="demo"] td[data-state]`); !strings.Contains(got, "RUNNING") {
		t.Errorf("data source demo: %q", got)
	}
	if got := b.TextOf("#warehouse-health"); !strings.Contains(got, "postgres") || !strings.Contains(got, "answers") {
		t.Errorf("warehouse health %q", got)
	}
	if got := b.TextOf("#model-version"); got == "" || got == "—" {
		t.Errorf("model version %q", got)
	}
	b.Screenshot("status")

	// The Connect drawer, from the header, over the status page.
	b.Click("Connect")
	drawer := b.In("#connect-drawer")
	drawer.WaitText("Server heartbeat")
	host, port := "127.0.0.1", env.sqlPort()
	wantConn := fmt.Sprintf("postgresql://USER@%s:%s/demo?sslmode=", host, port)
	if got := drawer.TextOf("#conn-string-demo"); !strings.HasPrefix(got, wantConn) {
		t.Errorf("connection string %q, want %s…", got, wantConn)
	}
	for id, want := range map[string]string{"#conn-host-demo": host, "#conn-port-demo": port, "#conn-database-demo": "demo"} {
		if got := drawer.TextOf(id); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if got := drawer.TextOf("#conn-username-demo"); got == "" {
		t.Error("no username field")
	}
	if got := drawer.TextOf("#rest-url-demo"); got != env.base+"/cubejs-api/v1" {
		t.Errorf("REST base URL %q", got)
	}
	if got := drawer.Copied("Copy Connection string"); !strings.HasPrefix(got, wantConn) {
		t.Errorf("copied connection string %q", got)
	}
	if got := drawer.Copied("Copy Port"); got != port {
		t.Errorf("copied port %q", got)
	}
	if got := drawer.Copied("Copy the psql snippet"); !strings.Contains(got, "psql ") || !strings.Contains(got, wantConn) {
		t.Errorf("copied psql snippet %q", got)
	}
	drawer.WaitFor("the heartbeat RUNNING with a green dot", `(d) => d.querySelector('#heartbeat-state').textContent === 'RUNNING' && d.querySelector('#heartbeat-dot').classList.contains('dot-green')`, nil)
	drawer.WaitEnabled("Restart")
	if b.Text() == "" || strings.Contains(drawer.Text(), "PASSWORD=") {
		t.Error("the drawer shows a password")
	}
	b.Screenshot("connect-drawer")
	drawer.Click("Close the Connect drawer")
	b.WaitFor("the drawer closed", `() => !document.getElementById('connect-drawer').open`, nil)

	// Tenants: create one whose name is markup; it renders as text.
	b.Click("Tenants")
	b.WaitText("Create a tenant")
	payload := `<img src=x onerror="alert('xss')">`
	b.Fill("ID", "acme")
	b.Fill("Name", payload)
	b.Click("Create tenant")
	tenants := b.In("#tenants")
	tenants.WaitText("acme")
	tenants.WaitText(payload)
	if n := b.Count(`main img[src="x"]`); n != 0 {
		t.Errorf("the tenant's name made %d img elements", n)
	}
	time.Sleep(200 * time.Millisecond) // an onerror would have fired by now
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	b.Screenshot("tenants")
	env.withStore(t, func(store *auth.Store) {
		if tn, err := store.Tenant(context.Background(), "acme"); err != nil || tn.Name != payload {
			t.Errorf("the tenant created in the console: %+v, %v", tn, err)
		}
	})

	// Sign out, and in again with the admin key.
	b.SignOut()
	b.Navigate(env.base + "/console/status")
	if !strings.HasPrefix(strings.TrimPrefix(b.URL(), env.base), "/console/login") {
		t.Errorf("signed out, /console/status went to %s", b.URL())
	}
	b.SignInKey(env.base, env.adminKey)
	if got := b.TextOf("#principal"); !strings.Contains(got, "console admin") && !strings.Contains(got, env.adminKey[:12]) {
		t.Errorf("signed in with the key, the header says %q", got)
	}
	b.Screenshot("signed-in-with-key")

	// A key without the admin scope signs in, and is refused the admin
	// pages (403, said on the page), as the admin API refuses it.
	reader, err := env.g.Keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("reader"), Scopes: &[]string{"meta"}})
	if err != nil {
		t.Fatal(err)
	}
	b.SignOut()
	b.SignInKey(env.base, reader.KeyValue)
	b.AllowError(`status of 403 .*/console/tenants$`)
	if status := b.NavigateStatus(env.base + "/console/tenants"); status != http.StatusForbidden {
		t.Errorf("a meta-only key on /console/tenants: %d, want 403", status)
	}
	b.WaitText("403")
	if b.Count("#tenant-create") != 0 {
		t.Error("a meta-only key sees the tenant form")
	}
	b.Screenshot("tenants-forbidden")
	b.Navigate(env.base + "/console/connect")
	b.WaitText("Server heartbeat")
	if b.Count("#restart") != 0 && b.Enabled("Restart") {
		t.Error("a meta-only key may press Restart")
	}
}

// A model file made invalid: the reload is refused, the Connect page and
// the Status page say so with file:line while the previous model serves;
// the file fixed, Restart brings the heartbeat back to RUNNING with no
// reason.
func (env *consoleEnv) refusedReloadAndRestart(t *testing.T) {
	path := filepath.Join(env.modelDir, "orders.yml")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, good, 0o644); env.g.ReloadModel() })

	b := env.browser(t)
	b.SignInKey(env.base, env.adminKey)
	b.Navigate(env.base + "/console/connect")
	b.WaitFor("the heartbeat RUNNING", `() => document.getElementById('heartbeat-state').textContent === 'RUNNING'`, nil)
	b.WaitEnabled("Restart")

	// A measure of a type no model has, on a line we know.
	bad := strings.Replace(string(good), "        type: count\n", "        type: no_such_type\n", 1)
	line := strings.Count(bad[:strings.Index(bad, "no_such_type")], "\n") + 1
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// The folder is watched; Restart reloads too. Either way the reload is
	// refused: pressing Restart shows it at once.
	b.Click("Restart")
	// The error names the measure's line (its "- name:") or the type's.
	fileLine := regexp.MustCompile(fmt.Sprintf(`orders\.yml:(%d|%d)\b`, line-1, line))
	b.WaitTextMatch(fileLine.String())
	reason := b.TextOf("#heartbeat-reason")
	if !strings.Contains(reason, "refused") || !fileLine.MatchString(reason) {
		t.Errorf("heartbeat reason %q, want a refused reload at orders.yml:%d", reason, line-1)
	}
	state := b.TextOf("#heartbeat-state")
	if state != "RUNNING" && state != "PENDING" && state != "ERROR" {
		t.Errorf("heartbeat state %q", state)
	}
	b.Screenshot("connect-refused-reload")

	b.Navigate(env.base + "/console/status")
	refused := b.TextOf("#refused-reload")
	if !strings.Contains(refused, "Last reload refused") || !fileLine.MatchString(refused) {
		t.Errorf("status page: %q", refused)
	}
	b.Screenshot("status-refused-reload")

	// The previous model keeps serving meanwhile.
	conn := apptest.Connect(t, env.g.ConnString(t, "reload-check"))
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 200 {
		t.Errorf("the previous model: %d, %v", n, err)
	}

	// Fixed: the watched folder's reload clears the model's error (the
	// heartbeat, polled live, then names only the refused restart), and
	// Restart reloads once more: RUNNING again, no reason left. (Restart
	// pressed before the watcher's reload can report the stale refusal as
	// the restart's outcome: the heartbeat reads the status before it
	// reads whether a restart runs, and the status read pings the
	// warehouse in between.)
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	b.Navigate(env.base + "/console/connect")
	b.WaitFor("the model's error cleared", `() => !document.getElementById('heartbeat-reason').textContent.includes('last reload was refused')`, nil)
	b.WaitEnabled("Restart")
	b.Click("Restart")
	b.WaitText("Running again")
	b.WaitFor("the heartbeat RUNNING without a reason", `() => document.getElementById('heartbeat-state').textContent === 'RUNNING' && document.getElementById('heartbeat-reason').hidden`, nil)
	b.WaitEnabled("Restart")
	b.Screenshot("connect-restarted")
	b.Navigate(env.base + "/console/status")
	if b.Count("#refused-reload") != 0 {
		t.Errorf("status page after the fix: %q", b.TextOf("#refused-reload"))
	}
}

// A credential created in the console: its password shown once, its
// .pgpass downloaded and used by the real psql; on the list, never with
// its password again.
func (env *consoleEnv) credentials(t *testing.T) {
	b := env.browser(t)
	b.SignInUser(env.base, env.user, env.password)
	env.page(t, b, "/console/credentials", "Credentials")
	b.Screenshot("credentials")
	b.Click("Create credential")
	b.Fill("Label", "bi team")
	b.Fill("Database (data source)", "demo")
	b.Click("Create")
	dialog := b.In("#secret-dialog")
	b.WaitFor("the secret dialog", `() => document.getElementById('secret-dialog')?.open`, nil)
	dialog.WaitText("shown once")
	b.Screenshot("credential-created")
	password := dialog.Value("Password")
	username := dialog.Value("Username")
	if len(password) < 16 || username == "" {
		t.Fatalf("the dialog shows user %q, password %q", username, password)
	}
	if got := dialog.Copied("Copy Password"); got != password {
		t.Errorf("copied password %q", got)
	}
	if got := dialog.Copied("Copy Connection string"); !strings.Contains(got, username) || !strings.Contains(got, ":"+env.sqlPort()+"/demo") {
		t.Errorf("copied connection string %q", got)
	}
	name, pgpass := dialog.Download("Download .pgpass")
	if name != username+".pgpass" {
		t.Errorf("downloaded %q", name)
	}
	fields := pgpassFields(string(pgpass))
	if len(fields) != 5 || fields[0] != "127.0.0.1" || fields[1] != env.sqlPort() || fields[2] != "demo" || fields[3] != username || fields[4] != password {
		t.Fatalf(".pgpass %q", pgpass)
	}
	// psql with the downloaded file: PGPASSFILE, no password anywhere else
	// (-w: never prompt). psql ignores a group- or world-readable file.
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, pgpass, 0o600); err != nil {
		t.Fatal(err)
	}
	rows := env.psqlRows(t, []string{"PGPASSFILE=" + file, "PGPASSWORD=", "PGSSLMODE=disable"}, "-w", "-h", fields[0], "-p", fields[1], "-U", fields[3], "-d", fields[2],
		"-c", "SELECT COUNT(*) FROM orders")
	if len(rows) != 1 || rows[0] != "200" {
		t.Errorf("psql through the .pgpass: %q, want 200", rows)
	}
	dialog.Click("I have saved it — close")
	b.WaitFor("the dialog closed", `() => !document.getElementById('secret-dialog')?.open`, nil)
	b.Navigate(env.base + "/console/credentials")
	list := b.In("#credentials")
	list.WaitText("bi team")
	list.WaitText(username)
	if strings.Contains(b.HTML(), password) {
		t.Error("the password is on the credentials page after the dialog")
	}
	b.Screenshot("credentials-list")

	// Rotate (confirmed in the console's dialog): a new password shown
	// once; the downloaded .pgpass's one is refused at once.
	psqlWith := func(pw string) (string, error) {
		return env.psqlRun([]string{"PGPASSWORD=" + pw, "PGSSLMODE=disable"}, "-w", "-h", "127.0.0.1", "-p", env.sqlPort(), "-U", username, "-d", "demo",
			"-c", "SELECT COUNT(*) FROM orders")
	}
	b.ClickRole("button", "Rotate bi team")
	b.WaitFor("the confirmation", `() => document.getElementById('confirm-dialog')?.open`, nil)
	b.In("#confirm-dialog").Click("Confirm")
	b.WaitFor("the secret dialog", `() => document.getElementById('secret-dialog')?.open`, nil)
	dialog.WaitText("New password for bi team")
	rotated := dialog.Value("Password")
	if rotated == "" || rotated == password {
		t.Fatalf("the rotated password %q", rotated)
	}
	b.Screenshot("credential-rotated")
	if out, err := psqlWith(password); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("psql with the password before the rotation: %v\n%s", err, out)
	}
	if out, err := psqlWith(rotated); err != nil || strings.TrimSpace(out) != "200" {
		t.Errorf("psql with the rotated password: %v\n%s", err, out)
	}
	dialog.Click("I have saved it — close")
	b.WaitFor("the dialog closed", `() => !document.getElementById('secret-dialog')?.open`, nil)

	// Delete (confirmed): gone from the list, its login refused.
	b.ClickRole("button", "Delete bi team")
	b.WaitFor("the confirmation", `() => document.getElementById('confirm-dialog')?.open`, nil)
	b.In("#confirm-dialog").Click("Confirm")
	b.WaitFor("the credential gone from the list", `(root, user) => !(document.getElementById('credentials')?.innerText || '').includes(user)`, username)
	b.WaitText("deleted")
	if out, err := psqlWith(rotated); err == nil {
		t.Errorf("psql with a deleted credential: %s", out)
	}
	b.Screenshot("credential-deleted")
}

// pgpassFields splits a .pgpass line at its unescaped colons.
func pgpassFields(line string) []string {
	var fields []string
	var f strings.Builder
	line = strings.TrimRight(line, "\n")
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			f.WriteByte(line[i])
		case c == ':':
			fields = append(fields, f.String())
			f.Reset()
		default:
			f.WriteByte(c)
		}
	}
	return append(fields, f.String())
}

// An API key created in the console: the secret shown once, used on
// REST's /load, absent from the keys page after the dialog, revoked in
// the console (401 at once). Its label is markup and renders as text.
func (env *consoleEnv) apiKeys(t *testing.T) {
	b := env.browser(t)
	b.SignInKey(env.base, env.adminKey)
	env.page(t, b, "/console/keys", "API keys")
	b.Screenshot("keys")
	label := `<img src=x onerror="alert('xss')"> reports`
	b.Click("Create key")
	b.Fill("Label", label)
	b.Click("load")
	b.Click("Create")
	dialog := b.In("#secret-dialog")
	b.WaitFor("the secret dialog", `() => document.getElementById('secret-dialog')?.open`, nil)
	dialog.WaitText("shown once")
	if n := b.Count(`img[src="x"]`); n != 0 {
		t.Errorf("the key's label made %d img elements", n)
	}
	b.Screenshot("key-created")
	secret := dialog.Value("API key")
	if !auth.WellFormedKey(secret) {
		t.Fatalf("the secret shown %q", secret)
	}
	if got := dialog.Copied("Copy API key"); got != secret {
		t.Errorf("copied key %q", got)
	}
	if got := dialog.Value("REST base URL"); got != env.base+"/cubejs-api/v1" {
		t.Errorf("REST base URL %q", got)
	}
	load := func() (int, string) {
		body := `{"query":{"measures":["orders.count"],"dimensions":["orders.status"],"order":{"orders.status":"asc"}}}`
		req, _ := http.NewRequest("POST", env.base+"/cubejs-api/v1/load", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	status, body := load()
	var answer struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &answer); status != 200 || err != nil || len(answer.Data) == 0 || answer.Data[0]["orders.count"] == nil {
		t.Fatalf("REST /load with the console's key: %d %s", status, body)
	}
	dialog.Click("I have saved it — close")
	b.WaitFor("the dialog closed", `() => !document.getElementById('secret-dialog')?.open`, nil)

	// The keys page anew: the key listed by its label (as text), its
	// start only, never its secret.
	b.Navigate(env.base + "/console/keys")
	b.Reload()
	keys := b.In("#keys")
	keys.WaitText(label)
	keys.WaitText(secret[:12])
	if strings.Contains(b.HTML(), secret) {
		t.Error("the key's secret is on the keys page after the dialog")
	}
	if n := b.Count(`main img[src="x"]`); n != 0 {
		t.Errorf("the key's label made %d img elements", n)
	}
	time.Sleep(200 * time.Millisecond) // an onerror would have fired by now
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	b.Screenshot("keys-list")

	// Revoke: asked to confirm (the console's own dialog), then 401 at
	// once.
	b.ClickRole("button", "Revoke "+label)
	b.WaitFor("the confirmation", `() => document.getElementById('confirm-dialog')?.open`, nil)
	b.Screenshot("key-revoke-confirm")
	b.In("#confirm-dialog").Click("Confirm")
	b.WaitFor("the key gone from the list", `(root, label) => !(document.getElementById('keys')?.innerText || '').includes(label)`, label)
	if status, body := load(); status != 401 {
		t.Errorf("REST /load with the revoked key: %d %s", status, body)
	}
	b.Screenshot("key-revoked")
}

// A playground query in the console against psql's answer to the same
// SQL, the model explorer listing the cube, then that query in the query
// history with its warehouse SQL.
func (env *consoleEnv) playgroundAndHistory(t *testing.T) {
	const query = `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`
	want := env.psqlRows(t, nil, "-d", env.g.ConnString(t, "psql"), "-c", query)
	if len(want) < 2 {
		t.Fatalf("psql: %q", want)
	}

	b := env.browser(t)
	b.SignInUser(env.base, env.user, env.password)
	env.page(t, b, "/console/model", "Model explorer")
	b.In("main").WaitText("orders")
	b.In("main").WaitText(descriptionXSS)
	if n := b.Count(`main img[src="x"], main script:not([src])`); n != 0 {
		t.Errorf("the customers cube's description made %d img or script elements", n)
	}
	time.Sleep(200 * time.Millisecond) // an onerror would have fired by now
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
	b.Screenshot("model")

	env.page(t, b, "/console/playground", "Playground")
	b.Fill("A SQL statement, as psql would send it", query)
	b.Click("Run SQL")
	b.WaitFor("a result table", `() => !!document.querySelector('#result-table tbody tr')`, nil)
	var got []string
	b.Eval(`() => [...document.querySelectorAll('#result-table tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()).join('|'))`, &got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the playground's table:\n%s\npsql:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if wsql := b.TextOf("#warehouse-sql"); !strings.Contains(wsql, "orders_raw") {
		t.Errorf("the playground's warehouse SQL: %q", wsql)
	}
	b.Screenshot("playground")

	// The query builder (REST's /load underneath): the same question.
	b.Fill("Measures", "orders.count")
	b.Fill("Dimensions", "orders.status")
	b.Fill("Order 1 by", "orders.status")
	b.Click("Run query")
	b.WaitFor("the builder's result", `() => document.getElementById('result')?.dataset.ran === 'builder' && !!document.querySelector('#result-table tbody tr')`, nil)
	got = nil
	b.Eval(`() => [...document.querySelectorAll('#result-table tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()).join('|'))`, &got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the query builder's table:\n%s\npsql:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b.Screenshot("playground-builder")

	// The history: the playground's statement, run as the console user on
	// the SQL API.
	env.page(t, b, "/console/queries", "Query history")
	b.Fill("Principal", "console_user:"+env.user)
	b.Fill("Text", "MEASURE(count)")
	b.Click("Filter")
	history := b.In("#history")
	history.WaitText("MEASURE(count) FROM orders")
	row := `#history tbody tr[data-event]`
	if got := b.TextOf(row + " td.principal"); got != "console_user:"+env.user {
		t.Errorf("history principal %q", got)
	}
	if got := b.TextOf(row + " td:nth-child(3)"); got != "SQL" {
		t.Errorf("history API %q", got)
	}
	if got := b.TextOf(row + " td.outcome"); got != "ok" {
		t.Errorf("history outcome %q", got)
	}
	b.Screenshot("query-history")
	b.Eval(`() => document.querySelector('#history tbody tr[data-event] a.event-link').click()`, nil)
	b.WaitFor("the event's detail", `() => !!document.getElementById('event-statement')`, nil)
	if got := b.TextOf("#event-statement"); !strings.Contains(got, "MEASURE(count) FROM orders") {
		t.Errorf("the event's statement %q", got)
	}
	if got := b.TextOf("#event-rows"); got != fmt.Sprint(len(want)) {
		t.Errorf("the event's rows %q, want %d", got, len(want))
	}
	b.Screenshot("query-detail")
}

// Every page on a phone's 375-pixel viewport: nothing wider than the
// screen (the page never scrolls sideways; wide tables scroll in their
// own box).
func (env *consoleEnv) phoneWidth(t *testing.T) {
	b := env.browser(t)
	b.SignInUser(env.base, env.user, env.password)
	b.Viewport(375, 812, true)
	for _, p := range []string{"status", "connect", "credentials", "keys", "queries", "model", "playground", "tenants"} {
		env.page(t, b, "/console/"+p, p)
		var w struct{ Scroll, Inner int }
		b.Eval(`() => ({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`, &w)
		if w.Scroll > w.Inner {
			t.Errorf("/console/%s on a phone: %d pixels wide in a %d-pixel viewport", p, w.Scroll, w.Inner)
		}
		b.Screenshot("phone-" + p)
	}
}
