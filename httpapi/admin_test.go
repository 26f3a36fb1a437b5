package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// The admin routes the scope and ceiling tests do not reach — the audit
// log, status, restart, a credential's connection, tenants — and
// /metrics, over the real key store, audit log and tenant store.
func TestAdminRoutes(t *testing.T) {
	f := newAdminFixture(t)
	audit := auth.NewAudit(f.store)
	t.Cleanup(audit.Close)
	var ready, restartErr error
	restarts := 0
	metrics := NewMetrics()
	admin := &Admin{Keys: f.keys, Credentials: f.creds, Tenants: f.store, Audit: audit,
		Status:  func(context.Context, string, bool) any { return map[string]any{"status": "RUNNING"} },
		Restart: func(string) error { restarts++; return restartErr },
		Ready:   func() error { return ready },
		Connection: func(c auth.Credential) map[string]any {
			return map[string]any{"psql": `psql "postgres://` + c.Username + `:PASSWORD@h:5433/` + c.Database + `"`}
		}}
	srv := httptest.NewServer(NewHandler(Config{Admin: admin, Metrics: metrics, Version: "t", Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	f.srv = srv

	root := f.key(auth.DefaultTenant, []string{"admin"}, auth.KeyInput{})
	reader := f.key(auth.DefaultTenant, []string{"audit:read", "credentials:read"}, auth.KeyInput{})
	loader := f.key(auth.DefaultTenant, []string{"load"}, auth.KeyInput{})
	acmeAdmin := f.key("acme", []string{"admin"}, auth.KeyInput{})
	cred := f.credential(auth.DefaultTenant, "demo", auth.SecurityContext{})
	acmeCred := f.credential("acme", "kit", auth.SecurityContext{})
	audit.Log(auth.AuditEvent{Kind: "query", Action: "sql", Outcome: "ok", TenantID: auth.DefaultTenant, Rows: 3})
	audit.Log(auth.AuditEvent{Kind: "query", Action: "sql", Outcome: "ok", TenantID: "acme", Rows: 4})

	// The audit log: the key's own tenant only, by kind.
	a := f.expect("GET", "/admin/v1/audit?kind=query&limit=10", reader, nil, http.StatusOK, "")
	var events []auth.AuditEvent
	if err := json.Unmarshal(a.Data, &events); err != nil || len(events) != 1 || events[0].Rows != 3 {
		t.Fatalf("audit: %v %s", err, a.Data)
	}
	f.expect("GET", "/admin/v1/audit", loader, nil, http.StatusForbidden, "ACCESS_DENIED_PERMISSIONS")

	// Status takes any valid key; restart an admin one, and says why a
	// model does not load.
	if a := f.expect("GET", "/admin/v1/status", loader, nil, http.StatusOK, ""); !strings.Contains(string(a.Data), "RUNNING") {
		t.Fatalf("status: %s", a.Data)
	}
	f.expect("POST", "/admin/v1/restart", root, nil, http.StatusOK, "")
	restartErr = errors.New("orders.yml: unknown measure type")
	if a := f.expect("POST", "/admin/v1/restart", root, nil, http.StatusBadRequest, "MODEL_INVALID"); !strings.Contains(a.Error.Message, "unknown measure type") {
		t.Fatalf("restart: %+v", a)
	}
	f.expect("POST", "/admin/v1/restart", reader, nil, http.StatusForbidden, "ACCESS_DENIED_PERMISSIONS")
	if restarts != 2 {
		t.Fatalf("%d restarts, want 2", restarts)
	}

	// A credential's connection: never its password; another tenant's is
	// not found; not while the gateway is not running.
	a = f.expect("GET", "/admin/v1/credentials/"+cred.ID+"/connection", reader, nil, http.StatusOK, "")
	if !strings.Contains(string(a.Data), cred.Username+":PASSWORD@") || !strings.Contains(string(a.Data), `"database":"demo"`) {
		t.Fatalf("connection: %s", a.Data)
	}
	f.expect("GET", "/admin/v1/credentials/"+acmeCred.ID+"/connection", reader, nil, http.StatusNotFound, "NOT_FOUND")
	ready = errors.New("the gateway is PENDING")
	f.expect("GET", "/admin/v1/credentials/"+cred.ID+"/connection", reader, nil, http.StatusServiceUnavailable, "NOT_RUNNING")
	ready = nil

	// Tenants: the default tenant's admin keys only; an id once.
	f.expect("POST", "/admin/v1/tenants", root, map[string]string{"id": "globex", "name": "Globex"}, http.StatusCreated, "")
	f.expect("POST", "/admin/v1/tenants", root, map[string]string{"id": "globex", "name": "Globex"}, http.StatusConflict, "TENANT_EXISTS")
	f.expect("POST", "/admin/v1/tenants", root, map[string]any{"id": "x", "surprise": 1}, http.StatusBadRequest, "BAD_REQUEST")
	f.expect("POST", "/admin/v1/tenants", acmeAdmin, map[string]string{"id": "initech"}, http.StatusForbidden, "FORBIDDEN")
	f.expect("GET", "/admin/v1/tenants", acmeAdmin, nil, http.StatusForbidden, "FORBIDDEN")
	a = f.expect("GET", "/admin/v1/tenants", root, nil, http.StatusOK, "")
	for _, id := range []string{`"acme"`, `"globex"`} {
		if !strings.Contains(string(a.Data), id) {
			t.Fatalf("tenants without %s: %s", id, a.Data)
		}
	}

	// /metrics counts the requests above by route and status.
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cubegate_http_requests_total{route="POST /admin/v1/tenants",status="409"} 1`,
		`cubegate_http_requests_total{route="POST /admin/v1/restart",status="403"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %s in:\n%s", want, b)
		}
	}
}
