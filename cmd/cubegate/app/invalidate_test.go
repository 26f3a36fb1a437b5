package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestInvalidateSharedState: two gateways on one PostgreSQL state store
// and one warehouse cache the same count; the warehouse changes; an
// invalidation on one (the admin API, then a model reload) reaches the
// other within a second, through LISTEN/NOTIFY on the state store.
func TestInvalidateSharedState(t *testing.T) {
	pg, wh := apptest.Postgres(t, apptest.Demo(500))
	state := pg.CreateDatabase("state")
	start := func() *apptest.Gateway {
		return apptest.Start(t, apptest.Options{DSN: wh, Adjust: func(c *app.Config) { c.State.DSN = state }})
	}
	a, b := start(), start()
	ctx := context.Background()
	k, err := a.Keys.Create(ctx, auth.DefaultTenant, "invalidate", auth.KeyInput{Scopes: &[]string{"admin", "load"}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(g *apptest.Gateway, method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+g.HTTPAddr().String()+path, strings.NewReader(body))
		req.Header.Set("Authorization", k.KeyValue)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v %s", method, path, resp.StatusCode, err, out)
		}
		return out
	}
	count := func(g *apptest.Gateway) string {
		t.Helper()
		var ans struct {
			Data []map[string]any `json:"data"`
		}
		json.Unmarshal(do(g, "GET", "/cubejs-api/v1/load?query="+url.QueryEscape(`{"measures":["orders.count"]}`), ""), &ans)
		if len(ans.Data) != 1 {
			t.Fatalf("load: %v", ans)
		}
		return ans.Data[0]["orders.count"].(string)
	}
	conn, err := pgx.Connect(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	change := func(sql string) string {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		var n string
		if err := conn.QueryRow(ctx, `SELECT count(*)::text FROM public.orders_raw`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// b answers fresh within a second of since; how long it took.
	fresh := func(want string, since time.Time) time.Duration {
		t.Helper()
		for {
			got := count(b)
			took := time.Since(since)
			if got == want {
				return took
			}
			if took > time.Second {
				t.Fatalf("the other gateway still answers %s %s after the invalidation, want %s", got, took, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	// Both cache the count; the warehouse changes under them.
	before := count(a)
	if n := count(b); n != before {
		t.Fatalf("the gateways answer %s and %s", before, n)
	}
	after := change(`DELETE FROM public.orders_raw WHERE id <= 100`)
	if after == before {
		t.Fatal("the DELETE changed no count")
	}
	if na, nb := count(a), count(b); na != before || nb != before {
		t.Fatalf("cached answers %s, %s, want %s", na, nb, before)
	}
	// The admin API invalidates on a: b answers fresh.
	sent := time.Now()
	var inv struct {
		Data struct {
			Invalidated int `json:"invalidated"`
		} `json:"data"`
	}
	json.Unmarshal(do(a, "POST", "/admin/v1/cache/invalidate", `{"cube":"orders"}`), &inv)
	if inv.Data.Invalidated < 1 {
		t.Fatalf("invalidated %d answers on a", inv.Data.Invalidated)
	}
	if n := count(a); n != after {
		t.Fatalf("a answers %s after its invalidation, want %s", n, after)
	}
	t.Logf("admin invalidation on a: b answered fresh %s after the request was sent", fresh(after, sent).Round(time.Microsecond))

	// A model reload on a frees the old model's answers on b too.
	after2 := change(`DELETE FROM public.orders_raw WHERE id <= 200`)
	if n := count(b); n != after {
		t.Fatalf("b's cached answer %s, want %s", n, after)
	}
	reloaded := time.Now()
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	t.Logf("model reload on a: b answered fresh %s after it began", fresh(after2, reloaded).Round(time.Microsecond))
}
