package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// oracleMix is the shared oracle's queries: a dashboard's mix of shapes
// (counts, breakdowns, time series, joins, filters).
func oracleMix(b *testing.B) []json.RawMessage {
	f, err := os.Open(filepath.Join(oracleDir, "queries.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Query json.RawMessage `json:"query"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			b.Fatal(err)
		}
		out = append(out, l.Query)
	}
	return out
}

// BenchmarkResultCache: the oracle's dashboard mix over REST from 8
// clients for 5 s each — cache warm, uncached (renewQuery: the warehouse
// each time) and the same SQL run directly on PostgreSQL — in req/s;
// then, over SQL, the p50 of a cached cube query against a no-op query
// (SELECT 1, which cubegate answers itself): what a cache hit adds.
func BenchmarkResultCache(b *testing.B) {
	g := apptest.Start(b, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50})})
	ctx := context.Background()
	k, err := g.Keys.Create(ctx, auth.DefaultTenant, "bench", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		b.Fatal(err)
	}
	mix := oracleMix(b)
	url := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/load"
	const clients, span = 8, 5 * time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	post := func(body []byte) int {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", k.KeyValue)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	must := func(body []byte) {
		if status := post(body); status != 200 {
			b.Fatalf("%d for %s", status, body)
		}
	}
	// The mix is the oracle's queries the fixture answers (some of them
	// record Cube's refusals).
	var answered []json.RawMessage
	for _, q := range mix {
		if post([]byte(`{"query":`+string(q)+`}`)) == 200 {
			answered = append(answered, q)
		}
	}
	mix = answered
	bodies := func(renew bool) [][]byte {
		var out [][]byte
		for _, q := range mix {
			var m map[string]any
			json.Unmarshal(q, &m)
			if renew {
				m["renewQuery"] = true
			}
			qb, _ := json.Marshal(map[string]any{"query": m})
			out = append(out, qb)
		}
		return out
	}
	// load runs each client over the mix (each from its own place in it)
	// for span and returns requests per second.
	load := func(run func(i int)) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(span)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c * 7; time.Now().Before(stop); i++ {
					run(i)
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / span.Seconds()
	}
	cached, renewed := bodies(false), bodies(true)
	for _, body := range cached {
		must(body) // warm
	}
	hot := load(func(i int) { must(cached[i%len(cached)]) })
	cold := load(func(i int) { must(renewed[i%len(renewed)]) })

	// The same SQL, straight to PostgreSQL from 8 connections.
	d, _ := cubes.DialectByName("postgres")
	type stmt struct {
		sql  string
		args []any
	}
	var stmts []stmt
	for _, q := range mix {
		var cq cubes.Query
		json.Unmarshal(q, &cq)
		c, err := g.Model.Compile(&cq, d)
		if err != nil {
			b.Fatal(err)
		}
		stmts = append(stmts, stmt{c.SQL, c.Args})
	}
	conns := make(chan *pgx.Conn, clients)
	for range clients {
		c, err := pgx.Connect(ctx, g.Postgres.DatabaseDSN("fixture"))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		conns <- c
	}
	direct := load(func(i int) {
		c := <-conns
		defer func() { conns <- c }()
		s := stmts[i%len(stmts)]
		rows, err := c.Query(ctx, s.sql, s.args...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	})
	b.Logf("REST, oracle mix (%d queries), %d clients: cache warm %.0f req/s | uncached %.0f req/s | PostgreSQL directly %.0f req/s | cached/direct %.1fx, cached/uncached %.1fx",
		len(mix), clients, hot, cold, direct, hot/direct, hot/cold)
	b.ReportMetric(hot, "cached-req/s")
	b.ReportMetric(cold, "uncached-req/s")
	b.ReportMetric(direct, "direct-req/s")

	// SQL: a cached cube query against a no-op one, one client.
	conn := apptest.Connect(b, g.ConnString(b, "bench"))
	p50 := func(sql string) time.Duration {
		const n = 3000
		ds := make([]time.Duration, 0, n)
		for i := 0; i < n+200; i++ {
			t0 := time.Now()
			rows, err := conn.Query(ctx, sql)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			if i >= 200 {
				ds = append(ds, time.Since(t0))
			}
		}
		return percentile(ds, 0.5)
	}
	noop := p50(`SELECT 1`)
	hit := p50(`SELECT status, MEASURE(count) FROM orders GROUP BY 1`)
	b.Logf("SQL, one client: SELECT 1 p50 %.3f ms | cached cube query p50 %.3f ms | a hit adds %.3f ms", ms(noop), ms(hit), ms(hit-noop))
	b.ReportMetric(ms(hit-noop), "hit-added-ms")
}
