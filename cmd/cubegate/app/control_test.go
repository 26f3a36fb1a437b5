package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestReloadAcrossGateways: two gateways on one PostgreSQL state store
// and one model folder, no folder watch. A reload on one (ReloadModel:
// SIGHUP's path) reloads the other within 5 s, once each (the note is
// not sent again); a second reload of an unchanged folder reloads only
// the gateway asked (the other serves that model already). Listening
// connections cut by the server: once each gateway listens again, it
// reloads a model that changed meanwhile, and tells nobody.
func TestReloadAcrossGateways(t *testing.T) {
	pg, wh := apptest.Postgres(t, apptest.Demo(100))
	state := pg.CreateDatabase("state")
	model := t.TempDir()
	if err := app.WriteDemoModel(model); err != nil {
		t.Fatal(err)
	}
	start := func() *apptest.Gateway {
		return apptest.Start(t, apptest.Options{DSN: wh, ModelDir: model, Adjust: func(c *app.Config) {
			c.State.DSN = state
			c.Model.Watch = false
		}})
	}
	gws := []*apptest.Gateway{start(), start()}
	ctx := context.Background()
	title := func(g *apptest.Gateway) string {
		for _, c := range g.CurrentModel().Cubes {
			if c.Name == "reload_probe" {
				return c.Title
			}
		}
		return ""
	}
	reloads := func() []int {
		return []int{gws[0].Status(ctx).Reloads, gws[1].Status(ctx).Reloads}
	}
	// wait polls until both gateways serve the probe titled want, within
	// 5 s, then checks how many reloads each made since before.
	wait := func(what, want string, before []int, made ...int) {
		t.Helper()
		start := time.Now()
		for title(gws[0]) != want || title(gws[1]) != want {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: after 5 s the gateways serve %q and %q, want %q", what, title(gws[0]), title(gws[1]), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		time.Sleep(300 * time.Millisecond) // an echo would show by now
		after := reloads()
		for i := range after {
			if after[i]-before[i] != made[i] {
				t.Fatalf("%s: gateway %d reloaded %d times, want %d", what, i, after[i]-before[i], made[i])
			}
		}
		t.Logf("%s: both gateways serve %q %s later", what, want, took.Round(time.Microsecond))
	}
	write := func(n int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(model, "probe.yml"), []byte(extraCube(n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write(1)
	before := reloads()
	if err := gws[0].ReloadModel(); err != nil {
		t.Fatal(err)
	}
	wait("a reload on gateway 0", "probe 1", before, 1, 1)

	before = reloads()
	if err := gws[1].ReloadModel(); err != nil {
		t.Fatal(err)
	}
	wait("gateway 1 reloading an unchanged folder", "probe 1", before, 0, 1)

	// The folder changes while no gateway is told; the server cuts every
	// listening connection: each gateway listens again and reloads.
	write(2)
	before = reloads()
	conn, err := pgx.Connect(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var cut int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'cubegate listener' AND datname = current_database()`).Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut < 4 { // two gateways: the cache's and the control's
		t.Fatalf("%d listening connections cut, want 4", cut)
	}
	wait("the listeners cut", "probe 2", before, 1, 1)
}
