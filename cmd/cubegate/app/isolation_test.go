package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// The isolation matrix (issue #21): two tenants, each with a data source,
// an unrestricted and a restricted (row filter) principal over SQL and
// over REST, and an admin key. Every principal reads its own tenant's
// data only, the restricted ones their rows only; the catalog, the audit
// log, EXPLAIN, the admin API and the status show nobody another
// tenant's databases, credentials, keys, events or models.
func TestTenantIsolationMatrix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	acmeModel := filepath.Join(dir, "acme")
	if err := app.WriteDemoModel(acmeModel); err != nil {
		t.Fatal(err)
	}
	state := apptest.StateWithTenants(t, "acme")
	// The default tenant's data: 300 orders; acme's: 100.
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(300), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.DataSources = []app.DataSourceSpec{{Name: "acme_db", Tenant: "acme", ModelDir: acmeModel, WarehouseDSN: apptest.DuckDB(t, apptest.Demo(100))}}
	}})
	web := auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}}}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	type principal struct {
		name, tenant, database string
		sec                    auth.SecurityContext
		conn                   *pgx.Conn
		cred                   auth.Credential
		key                    string // a load key of the same tenant and context
	}
	var ps []*principal
	for _, p := range []*principal{
		{name: "default-all", tenant: auth.DefaultTenant, database: "demo"},
		{name: "default-web", tenant: auth.DefaultTenant, database: "demo", sec: web},
		{name: "acme-all", tenant: "acme", database: "acme_db"},
		{name: "acme-web", tenant: "acme", database: "acme_db", sec: web},
	} {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: p.name, Database: p.database, TenantID: p.tenant, Security: p.sec})
		if err != nil {
			t.Fatal(err)
		}
		p.cred, p.conn = c, apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, p.database))
		sec := p.sec
		k, err := g.Keys.Create(ctx, p.tenant, p.name, auth.KeyInput{Scopes: &[]string{"load", "meta"}, Security: &sec})
		if err != nil {
			t.Fatal(err)
		}
		p.key = k.KeyValue
		ps = append(ps, p)
	}
	admin := map[string]string{}
	for _, tenant := range []string{auth.DefaultTenant, "acme"} {
		k, err := g.Keys.Create(ctx, tenant, "admin", auth.KeyInput{Scopes: &[]string{"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		admin[tenant] = k.KeyValue
	}
	// What each should count: its tenant's orders, web ones when
	// restricted — read through the tenant's unrestricted credential.
	want := func(p *principal) string {
		all := ps[0]
		if p.tenant == "acme" {
			all = ps[2]
		}
		q := `SELECT MEASURE(count) FROM orders`
		if len(p.sec.RowFilters) > 0 {
			q += ` WHERE channel = 'web'`
		}
		return viaGateway(t, all.conn, q)[0][0]
	}
	if d, a := want(ps[0]), want(ps[2]); d != "300" || a != "100" {
		t.Fatalf("the tenants' data: %s and %s orders, want 300 and 100", d, a)
	}

	for _, p := range ps {
		t.Run(p.name, func(t *testing.T) {
			n := want(p)
			// SQL: its rows, through a cube query, push-down and COUNT(*).
			for _, q := range []string{`SELECT MEASURE(count) FROM orders`, `SELECT COUNT(*) FROM orders`,
				`SELECT count(*) FROM (SELECT id FROM orders) s`} {
				if got := viaGateway(t, p.conn, q)[0][0]; got != n {
					t.Errorf("SQL %s: %s, want %s", q, got, n)
				}
			}
			// The catalog names its database only.
			sameCells(t, "pg_database", viaGateway(t, p.conn, `SELECT datname FROM pg_database ORDER BY 1`), [][]string{{p.database}})
			// Another tenant's database cannot be opened.
			other := "acme_db"
			if p.tenant == "acme" {
				other = "demo"
			}
			if _, err := pgx.Connect(ctx, strings.Replace(p.conn.Config().ConnString(), "/"+p.database, "/"+other, 1)); pgCode(err) != "3D000" {
				t.Errorf("connecting to %s: %v, want 3D000", other, err)
			}
			// The audit log: its own statements only.
			rows := viaGateway(t, p.conn, `SELECT DISTINCT tenant_id, credential_id FROM cubegate.audit_log`)
			if len(rows) == 0 {
				t.Errorf("audit_log shows %s none of its own statements", p.name)
			}
			for _, r := range rows {
				if r[0] != p.tenant || r[1] != p.cred.ID {
					t.Errorf("audit_log shows %v to %s", r, p.name)
				}
			}
			// EXPLAIN: no warehouse SQL, no row-filter value, without scope sql.
			plan := strings.Join(flatten(viaGateway(t, p.conn, `EXPLAIN SELECT status, MEASURE(count) FROM orders GROUP BY 1`)), "\n")
			if strings.Contains(plan, "orders_raw") || strings.Contains(plan, "'web'") {
				t.Errorf("EXPLAIN shows %s the warehouse SQL:\n%s", p.name, plan)
			}
			// REST: the same rows through its key, its tenant's model.
			code, body := httpCall(t, g, p.key, "POST", "/cubejs-api/v1/load", `{"query":{"measures":["orders.count"]}}`)
			if code != 200 || !strings.Contains(body, fmt.Sprintf(`"orders.count":%s`, n)) && !strings.Contains(body, fmt.Sprintf(`"orders.count":"%s"`, n)) {
				t.Errorf("REST load: %d %.300s, want %s", code, body, n)
			}
			// Status: its tenant's data sources only.
			code, body = httpCall(t, g, p.key, "GET", "/admin/v1/status", "")
			var st struct {
				Data struct {
					DataSources []struct{ Name, Tenant string } `json:"data_sources"`
				} `json:"data"`
			}
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil || len(st.Data.DataSources) != 1 || st.Data.DataSources[0].Name != p.database {
				t.Errorf("status: %d %.300s", code, body)
			}
			// The admin API is not a load key's.
			for _, path := range []string{"/admin/v1/credentials", "/admin/v1/api_keys", "/admin/v1/audit"} {
				if code, _ := httpCall(t, g, p.key, "GET", path, ""); code != 403 {
					t.Errorf("GET %s with a load key: %d, want 403", path, code)
				}
			}
		})
	}

	// Admin keys: their tenant's credentials, keys and events only; the
	// other tenant's objects are not found.
	for tenant, key := range admin {
		t.Run("admin-"+tenant, func(t *testing.T) {
			for _, path := range []string{"/admin/v1/credentials", "/admin/v1/api_keys", "/admin/v1/audit?limit=10000"} {
				code, body := httpCall(t, g, key, "GET", path, "")
				var list struct {
					Data []map[string]any `json:"data"`
				}
				if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Data) == 0 {
					t.Fatalf("GET %s: %d %.300s", path, code, body)
				}
				for _, item := range list.Data {
					if tid, _ := item["tenant_id"].(string); tid != tenant {
						t.Errorf("GET %s as %s's admin lists %v", path, tenant, item)
						break
					}
				}
			}
			for _, p := range ps {
				if p.tenant == tenant {
					continue
				}
				if code, body := httpCall(t, g, key, "GET", "/admin/v1/credentials/"+p.cred.ID, ""); code != 404 {
					t.Errorf("another tenant's credential: %d %.200s", code, body)
				}
				if code, body := httpCall(t, g, key, "PATCH", "/admin/v1/credentials/"+p.cred.ID, `{"label":"x"}`); code != 404 {
					t.Errorf("patching another tenant's credential: %d %.200s", code, body)
				}
				if code, body := httpCall(t, g, key, "POST", "/admin/v1/credentials/"+p.cred.ID+"/rotate", ""); code != 404 {
					t.Errorf("rotating another tenant's credential: %d %.200s", code, body)
				}
				if code, body := httpCall(t, g, key, "DELETE", "/admin/v1/credentials/"+p.cred.ID, ""); code != 404 {
					t.Errorf("deleting another tenant's credential: %d %.200s", code, body)
				}
			}
			if tenant == "acme" {
				if code, _ := httpCall(t, g, key, "GET", "/admin/v1/tenants", ""); code != 403 {
					t.Errorf("acme's admin lists tenants: %d", code)
				}
			}
		})
	}
	// The control: with scope sql, EXPLAIN does show the warehouse SQL.
	c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: "engineer", Database: "acme_db", TenantID: "acme", Security: web, Scopes: []string{"sql"}})
	if err != nil {
		t.Fatal(err)
	}
	engineer := apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, "acme_db"))
	if plan := strings.Join(flatten(viaGateway(t, engineer, `EXPLAIN SELECT status, MEASURE(count) FROM orders GROUP BY 1`)), "\n"); !strings.Contains(plan, "orders_raw") || !strings.Contains(plan, "web") {
		t.Errorf("EXPLAIN with scope sql:\n%s", plan)
	}
	// The credentials still work: nothing above changed them.
	for _, p := range ps {
		if got := viaGateway(t, p.conn, `SELECT MEASURE(count) FROM orders`)[0][0]; got != want(p) {
			t.Errorf("%s after the admin checks: %s", p.name, got)
		}
	}
}

func flatten(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}
