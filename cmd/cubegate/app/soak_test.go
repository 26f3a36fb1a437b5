package app_test

// The soak of issue #13: the hostile suite's harness as a mixed load. N
// clients run hostile and normal statements (cube queries, psql's catalog
// queries, REST loads) in random order against the real binary for a
// duration, while the bystander keeps querying; crashes must be 0 and the
// gateway's peak RSS under hostileRSSBound. 20 s in make test; make soak
// runs it for SOAK_DURATION (CUBEGATE_SOAK_DURATION) and prints the
// figures: statements by outcome, crashes, peak RSS and RSS over time,
// bystander latency.

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	soakDefaultDuration = 20 * time.Second
	soakDefaultClients  = 4
	// soakMaxPerClient bounds each client's statements whatever the
	// duration.
	soakMaxPerClient = 10_000_000
	// soakLimitFactor stretches each statement's time limit: the clients
	// share the machine's cores with each other and the gateway.
	soakLimitFactor = 2
)

func soakSetting(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 30m", name, v)
	}
	return d
}

func TestSoak(t *testing.T) {
	duration := soakSetting(t, "CUBEGATE_SOAK_DURATION", soakDefaultDuration)
	clients := soakDefaultClients
	if v := os.Getenv("CUBEGATE_SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			t.Fatalf("CUBEGATE_SOAK_CLIENTS=%q: want 1 to 64", v)
		}
		clients = n
	}
	// The statements in flight at the end get their limit and the
	// gateway a restart: two minutes beyond the duration is enough.
	if dl, ok := t.Deadline(); ok && time.Until(dl) < duration+2*time.Minute {
		t.Fatalf("the soak runs %s and needs %s more: run go test with -timeout %s or more", duration, 2*time.Minute, (duration + 3*time.Minute).Round(time.Minute))
	}
	hostileSQL := loadHostileSQL(t, "sql.txt")
	normalSQL := loadHostileSQL(t, "normal.txt")
	for i := range normalSQL {
		normalSQL[i].mustOK = true
	}
	hostileREST := loadRESTEntries(t, "rest.jsonl")
	normalREST := loadRESTEntries(t, "normal-rest.jsonl")
	for i := range normalREST {
		normalREST[i].Expect = "200"
	}

	g := startHostileGateway(t)
	began := time.Now()
	end := began.Add(duration)
	inflight := make([]atomic.Value, clients)
	for i := range inflight {
		inflight[i].Store("(idle)")
	}
	label := func() string {
		var parts []string
		for i := range inflight {
			parts = append(parts, fmt.Sprintf("client %d: %s", i+1, inflight[i].Load()))
		}
		return strings.Join(parts, "; ")
	}
	g.mu.Lock()
	g.label = label
	g.mu.Unlock()
	by := startBystander(g, label, end.Add(2*time.Minute))
	defer by.stop()

	var mu sync.Mutex
	counts := map[string]int{}
	type failKey struct{ kind, ref string }
	failCount := map[failKey]int{}
	var failures []failure
	deaths := map[int]string{} // incarnation → how it ended
	restartErr := error(nil)
	record := func(kind string, v verdict) {
		mu.Lock()
		defer mu.Unlock()
		counts[kind+" "+v.class]++
		if v.crashed != nil {
			if _, seen := deaths[v.crashed.n]; !seen {
				deaths[v.crashed.n] = death(v.crashed) + ": " + firstStderrLine(v.crashed.stderr)
			}
		}
		if v.hung != nil {
			if _, seen := deaths[v.hung.n]; !seen {
				deaths[v.hung.n] = "killed by the harness: a statement ignored its cancel request"
			}
		}
		if v.fail == nil {
			return
		}
		if v.crashed != nil && clients > 1 {
			// Any statement in flight may have done it.
			v.fail.kind += "?"
			v.fail.detail = fmt.Sprintf("in flight when run %d died: %s", v.crashed.n, v.fail.detail)
		}
		k := failKey{v.fail.kind, v.fail.ref}
		failCount[k]++
		if failCount[k] == 1 && len(failures) < 1000 {
			failures = append(failures, *v.fail)
		}
	}

	var wg sync.WaitGroup
	var total atomic.Int64
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(began.UnixNano()), uint64(c)))
			s := &session{g: g}
			defer s.close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for n := 0; n < soakMaxPerClient && time.Now().Before(end); n++ {
				p := g.current()
				var v verdict
				var kind string
				switch r := rng.IntN(100); {
				case r < 45:
					e := normalSQL[rng.IntN(len(normalSQL))]
					e.limit *= soakLimitFactor
					kind = "normal-sql"
					inflight[c].Store(e.ref + " " + short(e.src, 80))
					v = s.runEntry(e)
				case r < 60:
					e := normalREST[rng.IntN(len(normalREST))]
					e.limit *= soakLimitFactor
					kind = "normal-rest"
					inflight[c].Store(e.ref + " REST " + e.Name)
					v = g.runREST(client, e)
				case r < 90:
					e := hostileSQL[rng.IntN(len(hostileSQL))]
					e.limit *= soakLimitFactor
					kind = "hostile-sql"
					inflight[c].Store(e.ref + " " + short(e.src, 80))
					v = s.runEntry(e)
				default:
					e := hostileREST[rng.IntN(len(hostileREST))]
					e.limit *= soakLimitFactor
					kind = "hostile-rest"
					inflight[c].Store(e.ref + " REST " + e.Name)
					v = g.runREST(client, e)
				}
				inflight[c].Store("(idle)")
				total.Add(1)
				// A statement that failed because another client's
				// statement crashed or hung the gateway was interrupted,
				// not at fault: the crash is counted once, below.
				if v.fail != nil && v.crashed == nil && v.hung == nil && !g.steady(p) {
					v = verdict{class: "interrupted by a restart"}
				}
				record(kind, v)
				var why string
				dead := v.crashed
				if dead != nil {
					why = "crashed"
				} else if v.hung != nil {
					dead, why = v.hung, "a statement ignored its cancel request"
				}
				if dead != nil {
					s.close()
					if err := g.restart(dead, why); err != nil {
						mu.Lock()
						restartErr = err
						mu.Unlock()
						return
					}
				}
			}
		}(c)
	}
	wg.Wait()
	ran := time.Since(began)
	by.stop()
	if restartErr != nil {
		t.Fatalf("the gateway did not restart: %v", restartErr)
	}
	// Crashes are the incarnations that died by themselves.
	crashes, kills := 0, 0
	var deathLines []string
	for n, how := range deaths {
		if strings.HasPrefix(how, "killed by the harness") && !strings.Contains(how, "out of memory") {
			kills++
		} else {
			crashes++
		}
		deathLines = append(deathLines, fmt.Sprintf("  run %d: %s", n, how))
	}
	sort.Strings(deathLines)
	failures = append(failures, by.failures...)

	g.mu.Lock()
	peak, peakN, peakWhat, runs := g.peakHWM, g.peakN, g.peakWhat, g.n
	samples := append([]rssSample(nil), g.samples...)
	g.mu.Unlock()
	if peak > hostileRSSBound {
		failures = append(failures, failure{kind: "rss", ref: "gateway", stmt: "first over the bound during " + short(peakWhat, 400),
			detail: fmt.Sprintf("peak RSS (VmHWM) %s (run %d) over the bound %s", mib(peak), peakN, mib(hostileRSSBound))})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "soak: %d clients for %s (ran %s): %d statements (%.1f/s), gateway runs %d\n", clients, duration, ran.Round(time.Second), total.Load(), float64(total.Load())/ran.Seconds(), runs)
	fmt.Fprintf(&b, "statements by outcome:\n")
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-48s %d\n", k, counts[k])
	}
	fmt.Fprintf(&b, "crashes: %d (must be 0); harness kills of a hung gateway: %d\n", crashes, kills)
	for _, l := range deathLines {
		fmt.Fprintln(&b, l)
	}
	fmt.Fprintf(&b, "peak RSS (VmHWM): %s (bound %s)\n", mib(peak), mib(hostileRSSBound))
	fmt.Fprintf(&b, "RSS over time (run, RSS, VmHWM, Go runtime memory, evaluator pool reserved; the rest of RSS is C: DuckDB, pg_query):\n")
	step := max(len(samples)/30, 1)
	for i := 0; i < len(samples); i += step {
		sm := samples[i]
		fmt.Fprintf(&b, "  +%-6s run %d  %8s  %8s  go %8s  pool %8s\n", sm.at.Round(time.Second), sm.n, mib(sm.rss), mib(sm.hwm), mib(sm.goMem), mib(sm.pool))
	}
	top := slices.Clone(samples)
	slices.SortFunc(top, func(a, b rssSample) int { return cmp.Compare(b.rss, a.rss) })
	fmt.Fprintf(&b, "highest RSS samples:\n")
	for _, sm := range top[:min(len(top), 5)] {
		fmt.Fprintf(&b, "  +%-6s run %d  %8s  %8s  go %8s  pool %8s\n", sm.at.Round(time.Second), sm.n, mib(sm.rss), mib(sm.hwm), mib(sm.goMem), mib(sm.pool))
	}
	fmt.Fprintf(&b, "bystander: %d answers, p50 %s, p99 %s, max %s; %d failed while the gateway restarted; %d failures\n",
		len(by.latencies), percentile(by.latencies, 0.5).Round(time.Microsecond), percentile(by.latencies, 0.99).Round(time.Microsecond),
		percentile(by.latencies, 1).Round(time.Microsecond), by.duringOut, len(by.failures))
	t.Log("\n" + b.String())

	if crashes > 0 {
		t.Errorf("%d crashes (must be 0):\n%s", crashes, strings.Join(deathLines, "\n"))
	}
	if len(failures) > 0 {
		var fb strings.Builder
		for _, f := range failures {
			n := failCount[failKey{f.kind, f.ref}]
			fb.WriteString(f.String())
			if n > 1 {
				fmt.Fprintf(&fb, " (%d times)", n)
			}
			fb.WriteByte('\n')
		}
		t.Errorf("%d distinct failures:\n%s", len(failures), fb.String())
	}
}
