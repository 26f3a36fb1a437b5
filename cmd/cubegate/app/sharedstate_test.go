package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Two gateways on one PostgreSQL state store: a credential made on one
// logs in on the other, and a key revoked on one is refused by the other
// on its next request.
func TestSharedStateStore(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	start := func() *apptest.Gateway {
		return apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Adjust: func(c *app.Config) { c.State.DSN = state }})
	}
	a, b := start(), start()
	ctx := context.Background()
	// A credential minted through a is known to b.
	c, pw, _, err := a.MintCredential(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := app.ClientHost(b.SQLAddr().String())
	apptest.Connect(t, app.ConnectionString(c.Username, pw, host, port, c.Database)).Close(ctx)

	k, err := a.Keys.Create(ctx, auth.DefaultTenant, "shared", auth.KeyInput{Scopes: &[]string{"keys:read"}})
	if err != nil {
		t.Fatal(err)
	}
	status := func(g *apptest.Gateway) int {
		req, _ := http.NewRequest("GET", "http://"+g.HTTPAddr().String()+"/admin/v1/api_keys", nil)
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(b); got != 200 {
		t.Fatalf("the key on the other gateway: %d", got)
	}
	if _, err := a.Keys.Revoke(ctx, auth.DefaultTenant, k.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	if got := status(b); got != 401 {
		t.Fatalf("a key revoked on the other gateway: %d, want 401", got)
	}
	t.Logf("revocation seen by the other gateway %s after it was made (its next request)", time.Since(revoked).Round(time.Microsecond))
	// Both write one audit log.
	a.Audit.Sync()
	b.Audit.Sync()
	events, err := b.Audit.Recent(ctx, auth.DefaultTenant, "api_key", 10)
	if err != nil || len(events) < 2 {
		t.Fatalf("shared audit log: %v %v", events, err)
	}
}
