package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// The audit log records logins (failed ones too, with the address),
// credential and key changes, and every query — SQL with its normalized
// text, fingerprint and warehouse SQL, REST with its key — readable over
// the admin API and as cubegate.audit_log; no secret is in it.
func TestAuditLog(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	c, pw, connStr, err := g.MintCredential(ctx, "audited")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(connStr)
	u.User = url.UserPassword(c.Username, "not-the-password")
	if _, err := pgconn.Connect(ctx, u.String()+"?sslmode=disable"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	conn := apptest.Connect(t, connStr)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders WHERE status = 'topsecret-value'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	viaGateway(t, conn, `SELECT relname FROM pg_class WHERE relname = 'orders'`)
	reader, err := g.Keys.Create(ctx, auth.DefaultTenant, "t", auth.KeyInput{Scopes: &[]string{"audit:read", "load"}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := g.Keys.Create(ctx, auth.DefaultTenant, "t", auth.KeyInput{Scopes: &[]string{"meta"}})
	g.Keys.Revoke(ctx, auth.DefaultTenant, other.ID)
	_, newPW, err := g.Auth.RotatePassword(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+`/cubejs-api/v1/load?query={"measures":["orders.count"]}`, nil)
	req.Header.Set("Authorization", reader.KeyValue)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("load: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest("GET", "http://"+g.HTTPAddr().String()+"/admin/v1/audit", nil)
	req.Header.Set("Authorization", reader.KeyValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data []auth.AuditEvent `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	seen := map[string]auth.AuditEvent{}
	for _, e := range body.Data {
		seen[e.Kind+"/"+e.Action+"/"+e.Outcome] = e
	}
	for _, want := range []string{"login/sql/failed", "login/sql/ok", "credential/create/ok", "credential/rotate/ok",
		"api_key/create/ok", "api_key/revoke/ok", "query/sql/ok", "query/catalog/ok", "query/rest/ok"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no %s event in %d", want, len(body.Data))
		}
	}
	if e := seen["login/sql/failed"]; e.Address == "" || e.Username != c.Username {
		t.Errorf("failed login: %+v", e)
	}
	q := seen["query/sql/ok"]
	if !strings.Contains(q.Statement, "$1") || strings.Contains(q.Statement, "topsecret") || q.Fingerprint == "" ||
		!strings.Contains(q.WarehouseSQL, "orders_raw") || q.CredentialID != c.ID {
		t.Errorf("sql query event: %+v", q)
	}
	if e := seen["query/rest/ok"]; e.APIKeyID != reader.ID || e.Rows != 1 {
		t.Errorf("rest query event: %+v", e)
	}
	raw, _ := json.Marshal(body.Data)
	for _, secret := range []string{pw, newPW, reader.KeyValue, other.KeyValue, "not-the-password"} {
		if strings.Contains(string(raw), secret) {
			t.Error("a secret is in the audit log")
		}
	}
	// Over SQL too.
	rows := viaGateway(t, conn, `SELECT kind, count(*) FROM cubegate.audit_log GROUP BY kind ORDER BY kind`)
	if fmt.Sprint(rows) == "[]" || !strings.Contains(fmt.Sprint(rows), "login") {
		t.Errorf("cubegate.audit_log: %v", rows)
	}
}
