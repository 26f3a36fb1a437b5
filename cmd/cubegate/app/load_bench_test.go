package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// loadResult is what a pgbench-style run measured.
type loadResult struct {
	qps      float64
	p50, p99 time.Duration
}

// runLoad runs query (extended protocol, prepared) from clients
// connections for d, and returns throughput and latency percentiles.
func runLoad(b *testing.B, connStr string, clients int, d time.Duration, query string, args ...any) loadResult {
	b.Helper()
	ctx := context.Background()
	conns := make([]*pgx.Conn, clients)
	for i := range conns {
		c, err := pgx.Connect(ctx, connStr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		conns[i] = c
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, c := range conns {
		wg.Add(1)
		go func(c *pgx.Conn) {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				rows, err := c.Query(ctx, query, args...)
				if err != nil {
					b.Error(err)
					return
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Err() != nil || n == 0 {
					b.Error(rows.Err(), n)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		b.Fatal("no queries ran")
	}
	return loadResult{
		qps: float64(len(all)) / d.Seconds(),
		p50: all[len(all)/2],
		p99: all[len(all)*99/100],
	}
}

// BenchmarkLoadVsPostgres drives the same small cube query through the
// gateway and, as the SQL the gateway generates, directly against its
// Postgres warehouse, with 1 and 16 clients over the extended protocol,
// and reports qps and p50/p99 for both and what the gateway adds.
func BenchmarkLoadVsPostgres(b *testing.B) {
	ctx := context.Background()
	pg, _ := apptest.Postgres(b, apptest.Demo(100000))
	// The gateway's pool may open as many warehouse connections as there
	// are clients, like the direct side.
	g := apptest.Start(b, apptest.Options{DSN: pg.DatabaseDSN("fixture") + "&pool_max_conns=32", Adjust: uncached})
	_, _, connStr, err := g.MintCredential(ctx, "load")
	if err != nil {
		b.Fatal(err)
	}
	const viaGateway = `SELECT category, MEASURE(count) FROM products WHERE price > $1 GROUP BY 1`
	const direct = `SELECT "products".category "products__category", count("products".id) "products__count" FROM public.products_raw AS "products" WHERE "products".price > $1 GROUP BY 1`
	dur := 3 * time.Second
	if s := os.Getenv("LOAD_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		dur = time.Duration(n) * time.Second
	}
	for i := 0; i < b.N; i++ {
		for _, clients := range []int{1, 16} {
			gw := runLoad(b, connStr, clients, dur, viaGateway, 10)
			dr := runLoad(b, pg.DatabaseDSN("fixture"), clients, dur, direct, 10)
			fmt.Printf("load %2d clients: gateway %7.0f qps p50 %6.3f ms p99 %6.3f ms | postgres %7.0f qps p50 %6.3f ms p99 %6.3f ms | gateway adds p50 %+.3f ms p99 %+.3f ms, qps ratio %.2f\n",
				clients, gw.qps, ms(gw.p50), ms(gw.p99), dr.qps, ms(dr.p50), ms(dr.p99), ms(gw.p50-dr.p50), ms(gw.p99-dr.p99), gw.qps/dr.qps)
			b.ReportMetric(ms(gw.p50-dr.p50), fmt.Sprintf("added-p50-ms/%dc", clients))
			b.ReportMetric(ms(gw.p99-dr.p99), fmt.Sprintf("added-p99-ms/%dc", clients))
			b.ReportMetric(gw.qps/dr.qps, fmt.Sprintf("qps-ratio/%dc", clients))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkIdleConnections opens 2,000 authenticated, idle connections to
// a cubegate process and reports that process' resident memory.
func BenchmarkIdleConnections(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	bin := filepath.Join(dir, "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, "../").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	port := freeTCPPort(b)
	env := append(os.Environ(),
		"CUBEGATE_SQL_LISTEN=127.0.0.1:"+port,
		"CUBEGATE_HTTP_LISTEN=127.0.0.1:"+freeTCPPort(b),
		"CUBEGATE_SQL_MAX_CONNECTIONS=2100",
		"CUBEGATE_SQL_MAX_SESSIONS_PER_CREDENTIAL=2100", // one credential opens them all
		"CUBEGATE_SQL_MAX_SESSIONS_PER_TENANT=2100",
		"CUBEGATE_MODEL_DIR="+filepath.Join("..", "..", "..", "testdata", "oracle", "model"),
		"CUBEGATE_WAREHOUSE_DSN=duckdb::memory:",
		"CUBEGATE_STATE_DSN=sqlite://"+filepath.Join(dir, "state.db"),
		"CUBEGATE_LOG_LEVEL=warn",
	)
	out, err := cmdWithEnv(env, bin, "credentials", "create", "--json").Output()
	if err != nil {
		b.Fatal(err)
	}
	var cred map[string]string
	json.Unmarshal(out, &cred)
	srv := cmdWithEnv(env, bin, "serve")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var first *pgconn.PgConn
	for start := time.Now(); ; {
		if first, err = pgconn.Connect(ctx, cred["connection_string"]); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	first.Close(ctx)
	baseline := rssMB(b, srv.Process.Pid)
	const n = 2000
	conns := make([]*pgconn.PgConn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := pgconn.Connect(ctx, cred["connection_string"])
			if err != nil {
				b.Error(err)
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(ctx)
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	rss := rssMB(b, srv.Process.Pid)
	if _, err := conns[n-1].Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("idle connections: %d authenticated sessions hold %.0f MB RSS in the cubegate process (%.0f MB before them, %.1f KB each)\n",
		n, rss, baseline, (rss-baseline)*1024/n)
	b.ReportMetric(rss, "rss-MB/2000-idle")
}

func cmdWithEnv(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = env
	return c
}

func rssMB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func freeTCPPort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port
}
