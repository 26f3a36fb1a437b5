package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// BenchmarkRESTLoadVsPostgres measures POST /cubejs-api/v1/load for the
// oracle's count, month × status and three-cube join queries against the
// same SQL run directly on PostgreSQL, in one run: p50 and p95 of each.
func BenchmarkRESTLoadVsPostgres(b *testing.B) {
	g := apptest.Start(b, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50}), Adjust: uncached})
	pg := g.Postgres
	ctx := context.Background()
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "bench", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		b.Fatal(err)
	}
	direct, err := pgx.Connect(ctx, pg.DatabaseDSN("fixture"))
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close(ctx)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	url := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/load"
	d, _ := cubes.DialectByName("postgres")
	for _, c := range []struct{ name, query string }{
		{"count", `{"measures":["orders.count"]}`},
		{"month_x_status", `{"measures":["orders.count"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`},
		{"three_cube_join", `{"measures":["orders.total_amount","orders.count"],"dimensions":["customers.country","products.category"]}`},
	} {
		var q cubes.Query
		json.Unmarshal([]byte(c.query), &q)
		compiled, err := g.Model.Compile(&q, d)
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(`{"query":` + c.query + `}`)
		const n = 200
		rest := make([]time.Duration, 0, n)
		pgDur := make([]time.Duration, 0, n)
		for i := 0; i < n+20; i++ { // the first 20 warm up
			t0 := time.Now()
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", k.KeyValue)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%s: %d", c.name, resp.StatusCode)
			}
			if i >= 20 {
				rest = append(rest, time.Since(t0))
			}
			t0 = time.Now()
			rows, err := direct.Query(ctx, compiled.SQL, compiled.Args...)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
			if i >= 20 {
				pgDur = append(pgDur, time.Since(t0))
			}
		}
		pct := func(ds []time.Duration, p float64) time.Duration {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			return ds[int(float64(len(ds)-1)*p)]
		}
		r50, r95, p50, p95 := pct(rest, 0.5), pct(rest, 0.95), pct(pgDur, 0.5), pct(pgDur, 0.95)
		b.Logf("%-16s /load p50 %7.2f ms p95 %7.2f ms | PostgreSQL p50 %7.2f ms p95 %7.2f ms | ratio p50 %.2f p95 %.2f",
			c.name, ms(r50), ms(r95), ms(p50), ms(p95), float64(r50)/float64(p50), float64(r95)/float64(p95))
	}
}
