package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// TestResultCache: a repeated query is answered from the result cache
// over SQL and REST alike (EXPLAIN says so) until renewQuery,
// Cache-Control: no-cache, an invalidation or a reload; principals with
// other row filters never get each other's answers.
func TestResultCache(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(2000)})
	ctx := context.Background()
	wh := g.Warehouse().(*warehouse.DuckDB)
	load := testKey(t, g, nil, "load")
	shippedOnly := testKey(t, g, &auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "equals", Values: []string{"shipped"}}}}, "load")
	admin := testKey(t, g, nil, "admin")
	base := "http://" + g.HTTPAddr().String()
	count := func(k string, header ...string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/cubejs-api/v1/load?query="+url.QueryEscape(`{"measures":["orders.count"]}`), nil)
		req.Header.Set("Authorization", k)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || len(ans.Data) != 1 {
			t.Fatalf("load: %d %v %v", resp.StatusCode, err, ans)
		}
		return ans.Data[0]["orders.count"].(string)
	}
	renewed := func(k string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/cubejs-api/v1/load", strings.NewReader(`{"query":{"measures":["orders.count"],"renewQuery":true}}`))
		req.Header.Set("Authorization", k)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			Data []map[string]any `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&ans)
		return ans.Data[0]["orders.count"].(string)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := wh.DB().Exec(sql); err != nil {
			t.Fatal(err)
		}
	}
	conn := apptest.Connect(t, g.ConnString(t, "cache"))
	sqlCount := func() string {
		t.Helper()
		var n string
		if err := conn.QueryRow(ctx, `SELECT MEASURE(count)::text FROM orders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	explainCache := func() string {
		t.Helper()
		rows, err := conn.Query(ctx, `EXPLAIN SELECT MEASURE(count)::text FROM orders`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var l string
			rows.Scan(&l)
			if strings.HasPrefix(l, "Result cache:") {
				return l
			}
		}
		return "(no result cache line)"
	}

	all, shipped := count(load), count(shippedOnly)
	if all == shipped {
		t.Fatalf("the row filter's answer %s equals the unfiltered one", shipped)
	}
	if l := explainCache(); !strings.HasPrefix(l, "Result cache: miss") {
		t.Fatalf("EXPLAIN before the first SQL run: %q", l)
	}
	if n := sqlCount(); n != all {
		t.Fatalf("SQL count %s, REST %s", n, all)
	}
	if l := explainCache(); !strings.HasPrefix(l, "Result cache: hit") {
		t.Fatalf("EXPLAIN after it: %q", l)
	}
	// The warehouse changes: the cached answers stay, each principal's own.
	exec(`DELETE FROM public.orders_raw WHERE id <= 100`)
	if n, s := count(load), count(shippedOnly); n != all || s != shipped {
		t.Fatalf("cached answers %s, %s, want %s, %s", n, s, all, shipped)
	}
	if n := sqlCount(); n != all {
		t.Fatalf("cached SQL answer %s, want %s", n, all)
	}
	fresh := direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]
	if n := renewed(load); n != fresh {
		t.Fatalf("renewQuery: %s, want the warehouse's %s", n, fresh)
	}
	if n := count(load); n != fresh {
		t.Fatalf("after renewQuery: %s, want the renewed %s", n, fresh)
	}
	exec(`DELETE FROM public.orders_raw WHERE id <= 200`)
	fresh = direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]
	if n := count(load, "Cache-Control", "no-cache"); n != fresh {
		t.Fatalf("Cache-Control: no-cache: %s, want %s", n, fresh)
	}
	// An admin invalidates orders: every principal's answer is fresh.
	exec(`DELETE FROM public.orders_raw WHERE id <= 300`)
	fresh = direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]
	freshShipped := direct(t, g, `SELECT count(*) FROM public.orders_raw WHERE status = 'shipped'`)[0][0]
	api := newAPIClient(t, base, "")
	api.expect("POST", "/admin/v1/cache/invalidate", "Bearer "+load, map[string]any{"cube": "orders"}, 403, "ACCESS_DENIED_PERMISSIONS")
	ans := api.expect("POST", "/admin/v1/cache/invalidate", "Bearer "+admin, map[string]any{"cube": "orders"}, 200, "")
	var inv struct {
		Invalidated int `json:"invalidated"`
	}
	json.Unmarshal(ans.Data, &inv)
	if inv.Invalidated < 3 {
		t.Fatalf("invalidated %d answers, want the REST, row-filtered and SQL ones", inv.Invalidated)
	}
	if n, s, q := count(load), count(shippedOnly), sqlCount(); n != fresh || s != freshShipped || q != fresh {
		t.Fatalf("after invalidation: %s, %s, %s; want %s, %s, %s", n, s, q, fresh, freshShipped, fresh)
	}
	// A reload frees the old model's answers.
	exec(`DELETE FROM public.orders_raw WHERE id <= 400`)
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh = direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]
	if n := count(load); n != fresh {
		t.Fatalf("after a reload: %s, want %s", n, fresh)
	}
	// A statement reading the clock is never cached: now() is now.
	for _, sql := range []string{`SELECT status, now() AS t FROM orders GROUP BY 1`, `SELECT count(*) FROM orders WHERE created_at < CURRENT_DATE`} {
		rows, err := conn.Query(ctx, "EXPLAIN "+sql)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			var l string
			rows.Scan(&l)
			lines = append(lines, l)
		}
		rows.Close()
		if !strings.Contains(strings.Join(lines, "\n"), "Result cache: not used (the statement reads the clock)") {
			t.Fatalf("EXPLAIN %s:\n%s", sql, strings.Join(lines, "\n"))
		}
	}
}
