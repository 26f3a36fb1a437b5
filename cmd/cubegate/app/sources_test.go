package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// One gateway serves several data sources, each a model and a warehouse
// owned by a tenant: a SQL client reaches one by naming it as its database
// (its credential is bound to it; another name is 3D000), a REST key
// queries its tenant's data source, each source has its own state
// (RUNNING, ERROR for an invalid model, PENDING for a warehouse that does
// not answer) without stopping the others, and tenants are managed by the
// default tenant's admin keys.
func TestDataSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Tenant acme's data source: the corpus kit's model on DuckDB.
	kitWH := apptest.DuckDB(t, apptest.Corpus)
	kitModel, _ := filepath.Abs(filepath.Join(corpusDir, "cube-tests", "model"))
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "bad.yml"), []byte("cubes:\n  - name: x\n    measures: [{name: n, type: nope}]\n"), 0o644)

	// The state store knows tenant acme before the gateway starts.
	state := apptest.StateWithTenants(t, "acme")

	// The default data source: the demo model on DuckDB.
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.DataSources = []app.DataSourceSpec{
			{Name: "kit", Tenant: "acme", ModelDir: kitModel, WarehouseDSN: kitWH},
			{Name: "broken", Tenant: "acme", ModelDir: broken, WarehouseDSN: "duckdb::memory:"},
			{Name: "later", Tenant: "acme", ModelDir: kitModel, WarehouseDSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"},
		}
	}})
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	mint := func(database, tenant string) (string, string) {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: database, Database: database, TenantID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		return c.Username, pw
	}
	dial := func(user, pw, database string) (*pgx.Conn, error) {
		c, err := pgx.Connect(ctx, app.ConnectionString(user, pw, host, port, database)+"?sslmode=disable")
		if err == nil {
			t.Cleanup(func() { c.Close(ctx) })
		}
		return c, err
	}

	// SQL: each credential reaches its data source, and only it.
	demoUser, demoPW := mint("demo", auth.DefaultTenant)
	kitUser, kitPW := mint("kit", "acme")
	demo, err := dial(demoUser, demoPW, "demo")
	if err != nil {
		t.Fatal(err)
	}
	kit, err := dial(kitUser, kitPW, "kit")
	if err != nil {
		t.Fatal(err)
	}
	sameCells(t, "demo orders", viaGateway(t, demo, `SELECT MEASURE(count) FROM orders`), [][]string{{"2000"}})
	sameCells(t, "kit cubes", viaGateway(t, kit, `SELECT relname FROM pg_class WHERE relnamespace = 2200 AND relkind = 'r' ORDER BY 1 LIMIT 2`),
		[][]string{{"KibanaSampleDataEcommerce"}, {"Logs"}})
	var n int64
	if err := kit.QueryRow(ctx, `SELECT COUNT(*) FROM "KibanaSampleDataEcommerce"`).Scan(&n); err != nil || n == 0 {
		t.Errorf("kit count: %d, %v", n, err)
	}
	if _, err := kit.Exec(ctx, `SELECT MEASURE(count) FROM orders`); pgCode(err) != "42P01" {
		t.Errorf("orders on the kit data source: %v, want 42P01", err)
	}
	for _, c := range []struct{ user, pw, db, code string }{
		{kitUser, kitPW, "demo", "3D000"},  // bound to kit
		{demoUser, demoPW, "kit", "3D000"}, // bound to demo
		{demoUser, demoPW, "nosuch", "3D000"},
	} {
		if _, err := dial(c.user, c.pw, c.db); pgCode(err) != c.code {
			t.Errorf("%s to %s: %v, want %s", c.user, c.db, err, c.code)
		}
	}
	brokenUser, brokenPW := mint("broken", "acme")
	_, err = dial(brokenUser, brokenPW, "broken")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P03" || !strings.Contains(pe.Detail, "ERROR") {
		t.Errorf("broken data source: %v, want 57P03 naming ERROR", err)
	}

	// Status: every data source with its own state.
	st := g.Status(ctx)
	states := map[string]string{}
	for _, s := range st.DataSources {
		states[s.Name+"/"+s.Tenant] = s.State
	}
	want := map[string]string{"demo/default": "RUNNING", "kit/acme": "RUNNING", "broken/acme": "ERROR", "later/acme": "PENDING"}
	for k, v := range want {
		if states[k] != v {
			t.Errorf("data source %s is %q, want %q (%+v)", k, states[k], v, st.DataSources)
		}
	}
	if st.State != "RUNNING" {
		t.Errorf("gateway state %s", st.State)
	}

	// Fixing the broken model brings its data source up, the others
	// untouched (the model folders are watched).
	os.Remove(filepath.Join(broken, "bad.yml"))
	if err := app.WriteDemoModel(broken); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var state string
		for _, s := range g.Status(ctx).DataSources {
			if s.Name == "broken" {
				state = s.State
			}
		}
		if state == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixed data source is %s", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := dial(brokenUser, brokenPW, "broken"); err != nil {
		t.Errorf("the fixed data source: %v", err)
	}
	sameCells(t, "demo orders after the other's reload", viaGateway(t, demo, `SELECT MEASURE(count) FROM orders`), [][]string{{"2000"}})

	// REST: a key queries its tenant's data source.
	base := "http://" + g.HTTPAddr().String()
	api := newAPIClient(t, base, "")
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: ptr([]string{"admin", "load", "credentials:write"})})
	if err != nil {
		t.Fatal(err)
	}
	acmeKey, err := g.Keys.Create(ctx, "acme", "test", auth.KeyInput{Scopes: ptr([]string{"admin", "load", "credentials:write"})})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, key string, dataSource ...string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", key)
		if len(dataSource) > 0 {
			req.Header.Set("X-Cubegate-Data-Source", dataSource[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	load := func(key, query string, dataSource ...string) (int, string) {
		return get("/cubejs-api/v1/load?query="+url.QueryEscape(query), key, dataSource...)
	}
	if code, body := load(admin.KeyValue, `{"measures":["orders.count"]}`); code != 200 || !strings.Contains(body, `"orders.count":"2000"`) {
		t.Errorf("default tenant's load: %d %s", code, body)
	}
	if code, body := load(acmeKey.KeyValue, `{"measures":["KibanaSampleDataEcommerce.count"]}`); code != 200 || !strings.Contains(body, `"KibanaSampleDataEcommerce.count"`) {
		t.Errorf("acme's load: %d %s", code, body)
	}
	if code, body := load(acmeKey.KeyValue, `{"measures":["orders.count"]}`); code != 400 {
		t.Errorf("acme reading the demo's cube: %d %s", code, body)
	}
	// A tenant's other data source, named; another tenant's is not found.
	acmeMeta, err := g.Keys.Create(ctx, "acme", "test", auth.KeyInput{Scopes: ptr([]string{"meta"})})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get("/cubejs-api/v1/meta", acmeMeta.KeyValue, "broken"); code != 200 || !strings.Contains(body, `"name":"orders"`) || strings.Contains(body, "Kibana") {
		t.Errorf("acme's other data source by name: %d %.300s", code, body)
	}
	if code, body := get("/cubejs-api/v1/meta", acmeMeta.KeyValue); code != 200 || !strings.Contains(body, `"name":"KibanaSampleDataEcommerce"`) {
		t.Errorf("acme's first data source: %d %.300s", code, body)
	}
	if code, body := load(acmeKey.KeyValue, `{"measures":["orders.count"]}`, "demo"); code != 404 || !strings.Contains(body, "DATA_SOURCE_NOT_FOUND") {
		t.Errorf("acme naming the default tenant's data source: %d %s", code, body)
	}
	if _, err := g.Keys.Create(ctx, "nosuch", "test", auth.KeyInput{Scopes: ptr([]string{"load"})}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a key for an unknown tenant: %v", err)
	}

	// Tenants over the admin API: the default tenant's admin keys only.
	api.expect("POST", "/admin/v1/tenants", admin.KeyValue, map[string]string{"id": "beta", "name": "Beta"}, 201, "")
	api.expect("POST", "/admin/v1/tenants", admin.KeyValue, map[string]string{"id": "beta"}, 409, "TENANT_EXISTS")
	api.expect("POST", "/admin/v1/tenants", admin.KeyValue, map[string]string{"id": "Bad Name"}, 400, "BAD_REQUEST")
	api.expect("POST", "/admin/v1/tenants", acmeKey.KeyValue, map[string]string{"id": "gamma"}, 403, "FORBIDDEN")
	a := api.expect("GET", "/admin/v1/tenants", admin.KeyValue, nil, 200, "")
	var ts []auth.Tenant
	json.Unmarshal(a.Data, &ts)
	if len(ts) != 3 || ts[0].ID != "default" || ts[1].ID != "acme" || ts[2].ID != "beta" {
		t.Errorf("tenants: %+v", ts)
	}
	// Credentials over the admin API: a tenant's own data sources only.
	api.expect("POST", "/admin/v1/credentials", admin.KeyValue, map[string]string{"database": "kit"}, 400, "BAD_REQUEST")
	c := api.expect("POST", "/admin/v1/credentials", acmeKey.KeyValue, map[string]string{"database": "kit", "label": "acme bi"}, 201, "")
	var cred struct {
		ID, Username, Password string
	}
	json.Unmarshal(c.Data, &cred)
	// Edited over the admin API: another of its tenant's data sources, not
	// another tenant's.
	api.expect("PATCH", "/admin/v1/credentials/"+cred.ID, acmeKey.KeyValue, map[string]string{"database": "demo"}, 400, "BAD_REQUEST")
	api.expect("PATCH", "/admin/v1/credentials/"+cred.ID, admin.KeyValue, map[string]string{"label": "x"}, 404, "NOT_FOUND")
	api.expect("PATCH", "/admin/v1/credentials/"+cred.ID, acmeKey.KeyValue, map[string]string{"database": "broken", "label": "moved"}, 200, "")
	api.expect("PATCH", "/admin/v1/credentials/"+cred.ID, acmeKey.KeyValue, map[string]string{"database": "kit"}, 200, "")
	if conn, err := dial(cred.Username, cred.Password, "kit"); err != nil {
		t.Errorf("acme's new credential: %v", err)
	} else if _, err := conn.Exec(ctx, `SELECT 1`); err != nil {
		t.Error(err)
	}
}
