package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/cubes"
)

// benchRollupYAML adds to the demo model's orders the rollup issue #17's
// month × status query reads (by_status_month, listed first so that it is
// the one chosen) and the same rollup by day: a build with more rows.
const benchRollupYAML = `
    pre_aggregations:
      - name: by_status_month
        measures: [count, total_amount]
        dimensions: [status]
        time_dimension: created_at
        granularity: month
      - name: by_status_day
        measures: [count, total_amount]
        dimensions: [status]
        time_dimension: created_at
        granularity: day
`

// BenchmarkPreAggregation gives issue #17's acceptance figures in one run,
// on a 10,000,000-row orders table on PostgreSQL:
//
//   - the month × status query's p50 over REST /load and over SQL, served
//     by the by_status_month rollup against a gateway without
//     pre-aggregations on the same database, and the compiled SQL run
//     directly on PostgreSQL (acceptance: the rollup ≥ 50× faster);
//   - each rollup's build (by month, by day): its rows and build_ms (GET
//     /admin/v1/pre-aggregations: the whole build), its
//     duration as observed (warehouse GROUP BY included), rows/s and fact
//     rows/s, and the test process's peak RSS (the gateway runs in it;
//     PostgreSQL does not).
//
// It fails when the rollup does not serve the query or answers otherwise.
func BenchmarkPreAggregation(b *testing.B) {
	const orders = 10_000_000
	ctx := context.Background()

	t0 := time.Now()
	pg, dsn := apptest.Postgres(b, apptest.Demo(orders))
	load := time.Since(t0)
	b.Logf("load: fixture.sql, %d orders (%+v) into PostgreSQL in %s", orders, app.SizesFor(orders), load.Round(time.Second))
	b.ReportMetric(load.Seconds(), "load-s")

	dir := demoModelWith(b, benchRollupYAML)
	gateway := func(preagg bool) *apptest.Gateway {
		return apptest.Start(b, apptest.Options{DSN: dsn, ModelDir: dir, Adjust: func(c *app.Config) {
			c.Cache.Enabled = false // measure the rollup, not the result cache
			c.PreAgg.Enabled = preagg
		}})
	}

	// The builds. The worker starts building as the gateway starts, one
	// rollup at a time in the model's order: month, then day.
	hwmSoFar := procStatusKiB(b, "VmHWM")
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil // peak RSS := RSS
	hwmBefore := procStatusKiB(b, "VmHWM")
	rss := startRSSSampler(b)
	start := time.Now()
	with := gateway(true)
	withKey := testKey(b, with, nil, "admin")
	base := "http://" + with.HTTPAddr().String()
	// The build is also timed from outside, BUILDING to BUILT polled
	// every 20 ms, beside the gateway's own build_ms.
	type build struct {
		wall time.Duration // observed BUILDING to BUILT
		peak int64         // highest VmRSS sampled meanwhile, KiB
		st   benchRollupState
	}
	builds := map[string]*build{}
	building := map[string]time.Time{}
	last := start
	deadline := start.Add(20 * time.Minute)
	for len(builds) < 2 {
		for _, st := range rollupStates(b, base, withKey) {
			now := time.Now()
			switch {
			case st.State == "ERROR":
				b.Fatalf("%s failed to build: %s", st.Name, st.Error)
			case st.State == "BUILDING" && building[st.Name].IsZero():
				building[st.Name] = now
			case st.State == "BUILT" && builds[st.Name] == nil:
				from := building[st.Name]
				if from.IsZero() {
					from = last // built between two polls
				}
				builds[st.Name] = &build{wall: now.Sub(from), peak: rss.take(), st: st}
				last = now
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the rollups were not built within 20 minutes: %v", rollupStates(b, base, withKey))
		}
		time.Sleep(20 * time.Millisecond)
	}
	rss.stop()
	hwmAfter := procStatusKiB(b, "VmHWM")
	for _, name := range []string{"orders.by_status_month", "orders.by_status_day"} {
		bd := builds[name]
		if bd == nil {
			b.Fatalf("no build of %s: %v", name, builds)
		}
		secs := bd.wall.Seconds()
		b.Logf("build %-22s %6d rows in %8.0f ms observed (build_ms %6.0f, the gateway's) | %8.0f rollup rows/s | %10.0f fact rows/s | peak VmRSS sampled %s",
			name, bd.st.Rows, ms(bd.wall), bd.st.BuildMS, float64(bd.st.Rows)/secs, orders/secs, mib(bd.peak<<10))
		short := strings.TrimPrefix(name, "orders.by_status_")
		b.ReportMetric(ms(bd.wall), "build-"+short+"-ms")
		b.ReportMetric(bd.st.BuildMS, "build-"+short+"-reported-ms")
		b.ReportMetric(orders/secs, "build-"+short+"-fact-rows/s")
	}
	b.Logf("peak RSS (VmHWM) of the test process: %s before the builds (reset %v; %s before the reset), %s after | PostgreSQL is another process",
		mib(hwmBefore<<10), reset, mib(hwmSoFar<<10), mib(hwmAfter<<10))
	b.ReportMetric(float64(hwmAfter)/1024, "peak-rss-MiB")

	without := gateway(false)
	withoutKey := testKey(b, without, nil, "admin")

	// The month × status query, checked once: the rollup serves it and
	// answers as the table does.
	const query = `{"measures":["orders.count","orders.total_amount"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"month"}]}`
	const sql = `SELECT date_trunc('month', created_at), status, MEASURE(count), MEASURE(total_amount) FROM orders GROUP BY 1, 2`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	rest := func(g *apptest.Gateway, key string) ([]byte, time.Duration) {
		t0 := time.Now()
		req, _ := http.NewRequest("POST", "http://"+g.HTTPAddr().String()+"/cubejs-api/v1/load", strings.NewReader(`{"query":`+query+`}`))
		req.Header.Set("Authorization", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("/load: %d %v %.300s", resp.StatusCode, err, body)
		}
		return body, time.Since(t0)
	}
	var ansWith, ansWithout struct {
		Data                []any          `json:"data"`
		UsedPreAggregations map[string]any `json:"usedPreAggregations"`
	}
	bw, _ := rest(with, withKey)
	bo, _ := rest(without, withoutKey)
	if err := json.Unmarshal(bw, &ansWith); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(bo, &ansWithout); err != nil {
		b.Fatal(err)
	}
	if _, ok := ansWith.UsedPreAggregations["orders.by_status_month"]; !ok {
		b.Fatalf("REST: the rollup does not serve the query: usedPreAggregations %v", ansWith.UsedPreAggregations)
	}
	if len(ansWithout.UsedPreAggregations) > 0 {
		b.Fatalf("REST without pre-aggregations: usedPreAggregations %v", ansWithout.UsedPreAggregations)
	}
	byKey := func(rows []any) []any {
		key := func(r any) string {
			m := r.(map[string]any)
			return fmt.Sprint(m["orders.created_at.month"], "|", m["orders.status"])
		}
		slices.SortFunc(rows, func(a, b any) int { return strings.Compare(key(a), key(b)) })
		return rows
	}
	if d := sameData(byKey(ansWith.Data), byKey(ansWithout.Data)); d != "" {
		b.Fatalf("REST: the rollup answers otherwise than the table: %s", d)
	}
	if len(ansWith.Data) != 36*5 {
		b.Fatalf("REST: %d rows, want 36 months × 5 statuses", len(ansWith.Data))
	}
	connWith := apptest.Connect(b, with.ConnString(b, "bench"))
	connWithout := apptest.Connect(b, without.ConnString(b, "bench"))
	gwSQL := func(conn *pgx.Conn, sql string) (string, time.Duration) {
		t0 := time.Now()
		res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
		took := time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
		var out strings.Builder
		for _, r := range res[0].Rows {
			for i, v := range r {
				if i > 0 {
					out.WriteByte('|')
				}
				out.Write(v)
			}
			out.WriteByte('\n')
		}
		return out.String(), took
	}
	if ex, _ := gwSQL(connWith, "EXPLAIN "+sql); !strings.Contains(ex, "Pre-aggregation: orders.by_status_month") {
		b.Fatalf("SQL: EXPLAIN does not name the rollup:\n%s", ex)
	}
	if ex, _ := gwSQL(connWithout, "EXPLAIN "+sql); strings.Contains(ex, "Pre-aggregation:") {
		b.Fatalf("SQL without pre-aggregations: EXPLAIN names one:\n%s", ex)
	}
	if a, o := sortedLines(gwSQL(connWith, sql)), sortedLines(gwSQL(connWithout, sql)); a != o {
		b.Fatalf("SQL: the rollup answers otherwise than the table:\n%.2000s\nwithout:\n%.2000s", a, o)
	}

	// The same compiled SQL on PostgreSQL itself.
	var q cubes.Query
	if err := json.Unmarshal([]byte(query), &q); err != nil {
		b.Fatal(err)
	}
	d, _ := cubes.DialectByName("postgres")
	compiled, err := without.Model.Compile(&q, d)
	if err != nil {
		b.Fatal(err)
	}
	pgConn, err := pgx.Connect(ctx, pg.DatabaseDSN("fixture"))
	if err != nil {
		b.Fatal(err)
	}
	defer pgConn.Close(ctx)
	direct := func() time.Duration {
		t0 := time.Now()
		rows, err := pgConn.Query(ctx, compiled.SQL, compiled.Args...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}

	// Timings, interleaved so that the machine's other work weighs alike
	// on each: the rollup 200 times (after 20), the table 7 times (after 1).
	loadBefore := loadAvg()
	var rollupREST, rollupSQL, rawREST, rawSQL, directPG []time.Duration
	for i := range 220 {
		_, r := rest(with, withKey)
		_, s := gwSQL(connWith, sql)
		if i >= 20 {
			rollupREST, rollupSQL = append(rollupREST, r), append(rollupSQL, s)
		}
	}
	for i := range 8 {
		_, r := rest(without, withoutKey)
		_, s := gwSQL(connWithout, sql)
		p := direct()
		if i >= 1 {
			rawREST, rawSQL, directPG = append(rawREST, r), append(rawSQL, s), append(directPG, p)
		}
	}
	p50 := func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }
	spread := func(ds []time.Duration) string {
		return fmt.Sprintf("%.0f–%.0f ms", ms(slices.Min(ds)), ms(slices.Max(ds)))
	}
	rr, rs, wr, ws, dp := p50(rollupREST), p50(rollupSQL), p50(rawREST), p50(rawSQL), p50(directPG)
	b.Logf("month × status, %d orders, REST /load p50: rollup (by_status_month) %6.2f ms | table %9.2f ms (%s) | %6.1fx faster",
		orders, ms(rr), ms(wr), spread(rawREST), float64(wr)/float64(rr))
	b.Logf("month × status, %d orders, SQL (pgx) p50:  rollup (by_status_month) %6.2f ms | table %9.2f ms (%s) | %6.1fx faster",
		orders, ms(rs), ms(ws), spread(rawSQL), float64(ws)/float64(rs))
	b.Logf("month × status, %d orders, PostgreSQL directly (the compiled SQL) p50 %9.2f ms (%s) | rollup over REST %.1fx, over SQL %.1fx faster",
		orders, ms(dp), spread(directPG), float64(dp)/float64(rr), float64(dp)/float64(rs))
	b.Logf("load average (1 min) %s before the timings, %s after: 2 cores, shared with other work", loadBefore, loadAvg())
	b.ReportMetric(ms(rr), "rollup-rest-p50-ms")
	b.ReportMetric(ms(wr), "table-rest-p50-ms")
	b.ReportMetric(ms(rs), "rollup-sql-p50-ms")
	b.ReportMetric(ms(ws), "table-sql-p50-ms")
	b.ReportMetric(ms(dp), "direct-p50-ms")
	b.ReportMetric(float64(wr)/float64(rr), "rest-speedup-x")
	b.ReportMetric(float64(ws)/float64(rs), "sql-speedup-x")
}

// benchRollupState is a rollup as GET /admin/v1/pre-aggregations lists it.
type benchRollupState struct {
	Name    string  `json:"name"`
	State   string  `json:"state"`
	Rows    int64   `json:"rows"`
	BuildMS float64 `json:"build_ms"`
	Error   string  `json:"error"`
}

func rollupStates(b *testing.B, base, key string) []benchRollupState {
	b.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/v1/pre-aggregations", nil)
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a struct {
		Data []benchRollupState `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET /admin/v1/pre-aggregations: %d %.300s", resp.StatusCode, body)
	}
	return a.Data
}

// loadAvg is the machine's one-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// procStatusKiB is a field of /proc/self/status (VmRSS, VmHWM) in KiB.
func procStatusKiB(b *testing.B, field string) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", l, err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rssSampler keeps the highest VmRSS it reads every 10 ms.
type rssSampler struct {
	mu   sync.Mutex
	peak int64
	done chan struct{}
	wg   sync.WaitGroup
}

func startRSSSampler(b *testing.B) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			status, err := os.ReadFile("/proc/self/status")
			if err == nil {
				for _, l := range strings.Split(string(status), "\n") {
					if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
						n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
						s.mu.Lock()
						s.peak = max(s.peak, n)
						s.mu.Unlock()
					}
				}
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	b.Cleanup(s.stop)
	return s
}

// take returns the peak since the last take and starts anew.
func (s *rssSampler) take() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = 0
	return p
}

func (s *rssSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

// sortedLines is an answer's lines in order (EXPLAIN aside, the
// statement has no ORDER BY).
func sortedLines(s string, _ time.Duration) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
