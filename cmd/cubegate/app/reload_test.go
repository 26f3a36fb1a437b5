package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// extraCube is a cube a reload adds and removes; its title carries the
// reload's number.
func extraCube(n int) string {
	return fmt.Sprintf(`cubes:
  - name: reload_probe
    title: "probe %d"
    sql_table: public.orders_raw
    measures:
      - name: count
        type: count
`, n)
}

// 30 model reloads — by the admin API, by a change in the model folder
// and by ReloadModel (SIGHUP's path) — while SQL and REST clients query
// without pause: no query fails, each reload is served, and an invalid
// model is refused while the previous one keeps serving.
func TestModelReloadUnderLoad(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	dir := g.Config.Model.Dir
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.HTTPAddr().String()
	_, _, connStr, err := g.MintCredential(ctx, "reload")
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Status(ctx); s.State != "RUNNING" || s.Model.Version == "" || !s.Warehouse.OK {
		t.Fatalf("status %+v", s)
	}
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]

	var stop atomic.Bool
	var queries, failures atomic.Int64
	var wg sync.WaitGroup
	var firstErr sync.Once
	report := func(err error) {
		failures.Add(1)
		firstErr.Do(func() { t.Errorf("a query failed during reloads: %v", err) })
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := apptest.Connect(t, connStr)
			for !stop.Load() {
				var got string
				if err := conn.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&got); err != nil || got != want {
					report(fmt.Errorf("sql: %v %s", err, got))
				}
				queries.Add(1)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest("GET", base+`/cubejs-api/v1/load?query={"measures":["orders.count"]}`, nil)
				req.Header.Set("Authorization", admin.KeyValue)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					report(err)
					continue
				}
				var body struct {
					Data []map[string]string `json:"data"`
				}
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(body.Data) != 1 || body.Data[0]["orders.count"] != want {
					report(fmt.Errorf("rest: %d %v %v", resp.StatusCode, err, body.Data))
				}
				queries.Add(1)
			}
		}()
	}
	probe := filepath.Join(dir, "probe.yml")
	for n := 1; n <= 30; n++ {
		if err := os.WriteFile(probe, []byte(extraCube(n)), 0o644); err != nil {
			t.Fatal(err)
		}
		switch n % 3 {
		case 0: // the folder watch picks it up
		case 1:
			req, _ := http.NewRequest("POST", base+"/admin/v1/restart", nil)
			req.Header.Set("Authorization", "Bearer "+admin.KeyValue)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("restart: %v %v", err, resp)
			}
			resp.Body.Close()
		case 2:
			if err := g.Reload(); err != nil {
				t.Fatal(err)
			}
		}
		title := fmt.Sprintf("probe %d", n)
		waitFor(t, "reload "+title, func() bool {
			c, ok := g.CurrentModel().Cube("reload_probe")
			return ok && c.Title == title
		})
	}
	// An invalid model is refused: the status names file and line, and
	// the model keeps serving.
	if err := os.WriteFile(probe, []byte("cubes:\n  - name: broken\n    measures: [}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadModel(); err == nil {
		t.Fatal("an invalid model was accepted")
	}
	if s := g.Status(ctx); !strings.Contains(s.Model.Error, "probe.yml") || s.State != "RUNNING" {
		t.Errorf("status after a refused reload: %+v", s)
	}
	if _, ok := g.CurrentModel().Cube("reload_probe"); !ok {
		t.Error("the previous model stopped serving")
	}
	req, _ := http.NewRequest("GET", base+"/admin/v1/status", nil)
	req.Header.Set("Authorization", admin.KeyValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Data app.Status `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Data.State != "RUNNING" || !strings.Contains(st.Data.Model.Error, "probe.yml:") || st.Data.Reloads < 31 || !st.Data.Warehouse.OK {
		t.Errorf("GET /admin/v1/status: %+v", st.Data)
	}
	req, _ = http.NewRequest("POST", base+"/admin/v1/restart", nil)
	req.Header.Set("Authorization", admin.KeyValue)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("restart with an invalid model: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 || queries.Load() < 30 {
		t.Fatalf("%d of %d queries failed", failures.Load(), queries.Load())
	}
	t.Logf("%d queries during 30 reloads, none failed", queries.Load())
	os.Remove(probe)
	g.Close()
	if s := g.Status(ctx); s.State != "STOPPING" {
		t.Errorf("state after Close: %s", s.State)
	}
}

// /metrics exposes connections, queries by API, kind and outcome,
// latency histograms, rows streamed, HTTP requests and model reloads.
func TestMetrics(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	ctx := context.Background()
	_, _, connStr, _ := g.MintCredential(ctx, "m")
	conn := apptest.Connect(t, connStr)
	viaGateway(t, conn, `SELECT status, MEASURE(count) FROM orders GROUP BY 1`)
	viaGateway(t, conn, `SELECT relname FROM pg_class LIMIT 1`)
	conn.Exec(ctx, `SELECT nope FROM orders`)
	g.ReloadModel()
	resp, err := http.Get("http://" + g.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b := new(strings.Builder)
	io.Copy(b, resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cubegate_sql_sessions 1`,
		`cubegate_queries_total{api="sql",kind="cube",outcome="ok"} 1`,
		`cubegate_queries_total{api="sql",kind="catalog",outcome="ok"} 1`,
		// SELECT nope is refused while planning: counted (and timed) as
		// a failed cube query, as a refused REST query is.
		`cubegate_queries_total{api="sql",kind="cube",outcome="error"} 1`,
		`cubegate_query_duration_seconds_bucket{api="sql",le="+Inf"} 3`,
		`cubegate_rows_streamed_total{api="sql"} 6`,
		`cubegate_model_reloads_total{outcome="ok"} 1`,
		`# TYPE cubegate_query_duration_seconds histogram`,
		`cubegate_warehouse_duration_seconds_count{api="sql"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}
