package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Scopes are a ceiling, through the whole gateway: a key filtered to web
// orders mints a SQL credential and a key that inherit its filter and
// read only web orders (over SQL and REST); it cannot mint unfiltered
// ones; a keys:write key cannot reach admin by minting or by changing
// itself, so admin-only endpoints stay closed to it.
func TestCeilingThroughGateway(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000)})
	ctx := context.Background()
	filter := auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}}}
	fk, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{
		Scopes: &[]string{"keys:write", "credentials:write", "load", "meta", "sql"}, Security: &filter})
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIClient(t, "http://"+g.HTTPAddr().String(), "")

	// A credential without a security context in the request: the key's.
	a := api.expect("POST", "/admin/v1/credentials", fk.KeyValue, map[string]any{"database": g.Database, "label": "inherits"}, 201, "")
	var cred struct {
		Username string               `json:"username"`
		Password string               `json:"password"`
		Security auth.SecurityContext `json:"security_context"`
	}
	if err := json.Unmarshal(a.Data, &cred); err != nil || cred.Password == "" {
		t.Fatalf("%s: %v", a.Data, err)
	}
	if cred.Security.String() != filter.String() {
		t.Errorf("credential security context %s, want %s", cred.Security, filter)
	}
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	conn := apptest.Connect(t, app.ConnectionString(cred.Username, cred.Password, host, port, g.Database))
	sameCells(t, "inherited row filter over SQL", viaGateway(t, conn, `SELECT channel, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`),
		direct(t, g, `SELECT channel, count(*) FROM public.orders_raw WHERE channel = 'web' GROUP BY 1 ORDER BY 1`))
	api.expect("POST", "/admin/v1/credentials", fk.KeyValue, map[string]any{"database": g.Database, "security_context": map[string]any{}}, 403, auth.CodeSecurityEscalation)

	// A key: the same.
	child := decodeKey(t, api.expect("POST", "/admin/v1/api_keys", fk.KeyValue, map[string]any{"scope_names": []string{"load"}}, 201, ""))
	if child.Security.String() != filter.String() {
		t.Errorf("key security context %s, want %s", child.Security, filter)
	}
	status, _, body := restGet(t, "http://"+g.HTTPAddr().String()+"/cubejs-api/v1/load?query="+
		strings.ReplaceAll(`{"measures":["orders.count"],"dimensions":["orders.channel"]}`, " ", ""), child.KeyValue, "")
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE channel = 'web'`)[0][0]
	var ans struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &ans); status != 200 || err != nil || len(ans.Data) != 1 ||
		ans.Data[0]["orders.channel"] != "web" || ans.Data[0]["orders.count"] != want {
		t.Errorf("inherited row filter over REST: %d %v %.400s", status, err, body)
	}
	api.expect("POST", "/admin/v1/api_keys", fk.KeyValue, map[string]any{"scope_names": []string{"load"}, "security_context": map[string]any{}}, 403, auth.CodeSecurityEscalation)

	// keys:write alone: no admin key, no admin itself, no admin endpoint.
	w, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"keys:write"}})
	if err != nil {
		t.Fatal(err)
	}
	api.expect("POST", "/admin/v1/api_keys", w.KeyValue, map[string]any{"scope_names": []string{"admin"}}, 403, auth.CodeScopeEscalation)
	api.expect("PATCH", "/admin/v1/api_keys/"+w.ID, w.KeyValue, map[string]any{"scope_names": []string{"keys:write", "admin"}}, 403, auth.CodeScopeEscalation)
	api.expect("POST", "/admin/v1/restart", w.KeyValue, nil, 403, "ACCESS_DENIED_PERMISSIONS")
	api.expect("POST", "/admin/v1/tenants", w.KeyValue, map[string]any{"id": "evil"}, 403, "ACCESS_DENIED_PERMISSIONS")
}
