package app

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Two gateways on one PostgreSQL state store: a credential made on one
// logs in on the other, and a key revoked on one is refused by the other
// on its next request.
func TestSharedStateStore(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	start := func() *Gateway {
		dir := t.TempDir()
		if err := WriteDemoModel(filepath.Join(dir, "model")); err != nil {
			t.Fatal(err)
		}
		cfg := Defaults()
		cfg.SQL.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Model.Dir = filepath.Join(dir, "model")
		cfg.Warehouse.DSN = "duckdb::memory:"
		cfg.State.DSN = state
		cfg.DataSource.Name = "demo"
		g, err := Start(context.Background(), cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	a, b := start(), start()
	ctx := context.Background()
	// A credential minted through a is known to b.
	c, pw, _, err := a.MintCredential(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := ClientHost(b.SQLAddr().String())
	connect(t, ConnectionString(c.Username, pw, host, port, c.Database)).Close(ctx)

	k, err := a.Keys.Create(ctx, auth.DefaultTenant, "shared", auth.KeyInput{Scopes: &[]string{"keys:read"}})
	if err != nil {
		t.Fatal(err)
	}
	status := func(g *Gateway) int {
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
