package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The credential lifecycle over the CLI, against a running gateway that
// shares the state store: create, list, show, update, rotate (the old
// password stops working), delete (the next login fails). No password is
// ever stored: the state file does not contain one.
func TestCredentialsCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sqlPort := freePort(t)
	env := append(os.Environ(),
		"CUBEGATE_SQL_LISTEN=127.0.0.1:"+sqlPort,
		"CUBEGATE_HTTP_LISTEN=127.0.0.1:"+freePort(t),
		"CUBEGATE_MODEL_DIR=../../testdata/oracle/model",
		"CUBEGATE_WAREHOUSE_DSN=duckdb::memory:",
		"CUBEGATE_STATE_DSN=sqlite://"+filepath.Join(dir, "state.db"),
		"CUBEGATE_LOG_LEVEL=warn",
	)
	cli := func(args ...string) map[string]any {
		t.Helper()
		c := exec.Command(bin, append([]string{"credentials"}, args...)...)
		c.Env = env
		out, err := c.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("credentials %v: %v\n%s%s", args, err, out, stderr)
		}
		var v map[string]any
		if strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("credentials %v: %v\n%s", args, err, out)
			}
		} else {
			v = map[string]any{"raw": string(out)}
		}
		return v
	}
	created := cli("create", "--label", "tableau", "--member", "ana@example.com", "--json")
	id, user, pw := created["id"].(string), created["username"].(string), created["password"].(string)
	if !strings.HasPrefix(created["psql"].(string), `psql "postgres`) || created["database"] != "db" {
		t.Fatalf("create: %v", created)
	}
	serve := exec.Command(bin, "serve")
	serve.Env = env
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	login := func(password string) error {
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var c *pgconn.PgConn
			c, err = pgconn.Connect(ctx, "postgres://"+user+":"+password+"@127.0.0.1:"+sqlPort+"/db?sslmode=disable")
			if err == nil {
				c.Close(ctx)
				return nil
			}
			if strings.Contains(err.Error(), "28P01") {
				return err
			}
		}
		return err
	}
	if err := login(pw); err != nil {
		t.Fatalf("login with the new credential: %v", err)
	}
	var listed []map[string]any
	c := exec.Command(bin, "credentials", "list", "--json")
	c.Env = env
	out, err := c.Output()
	if err != nil || json.Unmarshal(out, &listed) != nil || len(listed) != 1 || listed[0]["username"] != user {
		t.Fatalf("list: %v %s", err, out)
	}
	if strings.Contains(string(out), pw) {
		t.Fatal("list shows the password")
	}
	shown := cli("show", user, "--json")
	if shown["id"] != id || shown["member"] != "ana@example.com" || shown["password"] != nil || strings.Contains(shown["connection_string"].(string), pw) {
		t.Fatalf("show: %v", shown)
	}
	updated := cli("update", id, "--label", "tableau-prod", "--security-context", `{"allow": ["orders"]}`, "--json")
	if updated["label"] != "tableau-prod" {
		t.Fatalf("update: %v", updated)
	}
	rotated := cli("rotate", id, "--json")
	newPW := rotated["password"].(string)
	if newPW == pw {
		t.Fatal("rotate kept the password")
	}
	if err := login(pw); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Fatalf("the old password still logs in: %v", err)
	}
	if err := login(newPW); err != nil {
		t.Fatalf("the rotated password: %v", err)
	}
	state, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, "state.db-wal"))
	for _, secret := range []string{pw, newPW} {
		if strings.Contains(string(state), secret) || strings.Contains(string(wal), secret) {
			t.Fatal("a password is in the state store")
		}
	}
	cli("delete", id, "--json")
	if err := login(newPW); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Fatalf("a deleted credential logs in: %v", err)
	}
	// An unknown name in a security context is refused at once.
	bad := exec.Command(bin, "credentials", "create", "--security-context", `{"allow": ["nope"]}`)
	bad.Env = env
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "nope") {
		t.Fatalf("a bad security context was accepted: %s", out)
	}
}

// The API key lifecycle over the CLI: create shows the value once, list
// and get never; bad input fails with the error's stable code.
func TestKeysCLI(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "CUBEGATE_STATE_DSN=sqlite://"+filepath.Join(dir, "state.db"), "CUBEGATE_API_KEYS_LIMIT=2")
	run := func(args ...string) (string, error) {
		c := exec.Command(bin, append([]string{"keys"}, args...)...)
		c.Env = env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run("create", "--label", "app", "--scopes", "load,meta", "--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var k map[string]any
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	value, _ := k["key_value"].(string)
	if !strings.HasPrefix(value, "cg_live_") || k["key_start"] != value[:12] || len(k["allow_ips"].([]any)) != 2 {
		t.Fatalf("create: %s", out)
	}
	id := k["api_key_id"].(string)
	for _, args := range [][]string{{"list", "--json"}, {"get", id, "--json"}, {"list"}} {
		out, err := run(args...)
		if err != nil || strings.Contains(out, value) || !strings.Contains(out, id) {
			t.Errorf("keys %v: %v\n%s", args, err, out)
		}
	}
	if out, err := run("update", id, "--enabled=false", "--json"); err != nil || !strings.Contains(out, `"is_enabled": false`) {
		t.Errorf("update: %v\n%s", err, out)
	}
	for args, code := range map[string]string{
		"create --scopes bogus":                       "API_KEY_SCOPE_NAME_INVALID",
		"create --scopes load --allow-ip nonsense":    "API_KEY_ALLOW_IP_INVALID",
		"create --scopes load --type user":            "API_KEY_USER_INVALID",
		"get 00000000-0000-0000-0000-000000000000":    "API_KEY_NOT_FOUND",
		"revoke 00000000-0000-0000-0000-000000000000": "API_KEY_NOT_FOUND",
	} {
		if out, err := run(strings.Fields(args)...); err == nil || !strings.Contains(out, code) {
			t.Errorf("keys %s: %v %s, want %s", args, err, out, code)
		}
	}
	if _, err := run("create", "--scopes", "meta"); err != nil {
		t.Fatal(err)
	}
	if out, err := run("create", "--scopes", "meta"); err == nil || !strings.Contains(out, "API_KEY_LIMIT_EXCEEDED") {
		t.Errorf("a third key under a limit of 2: %v %s", err, out)
	}
	if out, err := run("revoke", id, "--json"); err != nil || !strings.Contains(out, "revoked_at") {
		t.Errorf("revoke: %v\n%s", err, out)
	}
}

// Tenants and data sources from the command line: a tenant is created,
// lists the data sources the configuration gives it, and holds keys;
// credentials are bound to a configured data source and take its tenant;
// the audit log names the operating-system user behind CLI changes.
func TestTenantsCLI(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	model, _ := filepath.Abs("../../testdata/oracle/model")
	config := filepath.Join(dir, "cubegate.yaml")
	os.WriteFile(config, []byte(`
model:
  dir: `+model+`
warehouse:
  dsn: "duckdb::memory:"
state:
  dsn: sqlite://`+filepath.Join(dir, "state.db")+`
data_sources:
  - name: acme_sales
    tenant: acme
    model_dir: `+model+`
    warehouse_dsn: "duckdb::memory:"
`), 0o644)
	run := func(args ...string) (string, error) {
		c := exec.Command(bin, append([]string{"--config", config}, args...)...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// The credential's tenant comes from its data source, which must exist.
	if out, err := run("credentials", "create", "--database", "acme_sales", "--json"); err == nil || !strings.Contains(out, `tenant "acme" does not exist`) {
		t.Errorf("a credential before its tenant exists: %v %s", err, out)
	}
	if out, err := run("tenants", "create", "acme", "--name", "Acme Corp", "--json"); err != nil || !strings.Contains(out, `"id":"acme"`) {
		t.Fatalf("tenants create: %v %s", err, out)
	}
	if out, err := run("tenants", "create", "acme"); err == nil || !strings.Contains(out, "tenant exists") {
		t.Errorf("a tenant twice: %v %s", err, out)
	}
	if out, err := run("tenants", "create", "Not OK"); err == nil || !strings.Contains(out, "lower-case") {
		t.Errorf("a bad tenant id: %v %s", err, out)
	}
	out, err := run("tenants", "list", "--json")
	if err != nil || !strings.Contains(out, `"id":"acme","name":"Acme Corp"`) || !strings.Contains(out, `"data_sources":["acme_sales"]`) ||
		!strings.Contains(out, `"id":"default"`) || !strings.Contains(out, `"data_sources":["db"]`) {
		t.Errorf("tenants list: %v %s", err, out)
	}
	out, err = run("credentials", "create", "--database", "acme_sales", "--json")
	if err != nil || !strings.Contains(out, `"tenant_id": "acme"`) || !strings.Contains(out, `"database": "acme_sales"`) {
		t.Errorf("credentials create on acme_sales: %v %s", err, out)
	}
	if out, err := run("credentials", "create", "--database", "nowhere"); err == nil || !strings.Contains(out, `no data source "nowhere"`) {
		t.Errorf("a credential for an unknown data source: %v %s", err, out)
	}
	// Keys belong to a tenant.
	out, err = run("keys", "create", "--tenant", "acme", "--scopes", "load", "--json")
	if err != nil || !strings.Contains(out, `"tenant_id": "acme"`) || !strings.Contains(out, `"created_by": "cli`) {
		t.Fatalf("keys create --tenant acme: %v %s", err, out)
	}
	if out, err := run("keys", "list", "--json"); err != nil || strings.Contains(out, "acme") {
		t.Errorf("the default tenant's keys show acme's: %v %s", err, out)
	}
	if out, err := run("keys", "create", "--tenant", "nosuch", "--scopes", "load"); err == nil || !strings.Contains(out, "TENANT_NOT_FOUND") {
		t.Errorf("a key for an unknown tenant: %v %s", err, out)
	}
}
