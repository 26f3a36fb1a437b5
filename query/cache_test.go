package query

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/warehouse"
)

// counted counts the statements a real warehouse is asked to run, and
// may hold them at a gate.
type counted struct {
	Warehouse
	runs atomic.Int64
	gate chan struct{}
}

func (c *counted) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
	c.runs.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.Warehouse.Query(ctx, sql, args...)
}

// all runs st for p and returns its rows, formatted.
func (f *fixture) all(t *testing.T, wh Warehouse, p Principal, st Statement) ([]string, error) {
	t.Helper()
	a, err := f.svc.Admit(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	res := f.svc.Run(a, wh, st)
	defer res.Close(nil)
	var out []string
	for {
		row, err := res.Next(context.Background())
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprint(row...))
	}
}

func (f *fixture) countStatement(t *testing.T, p Principal, renew bool) Statement {
	t.Helper()
	c, err := f.svc.Compile(p, f.m, cubes.DuckDB{}, &cubes.Query{Measures: []string{"orders.count"}}, cubes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Statement{API: "rest", Kind: "cube", Action: "rest", SQL: c.SQL, Args: c.Args,
		Cache: &Cacheable{Source: "default", Model: f.m, Cubes: []string{"orders"}, TTL: 10 * time.Second, Renew: renew}}
}

// An answer is served from the cache until its TTL, renewing or an
// invalidation; each principal's security context has its own.
func TestCacheAnswers(t *testing.T) {
	f := newFixture(t, 0)
	cache := NewCache(1 << 20)
	now := time.Now()
	cache.now = func() time.Time { return now }
	f.svc.Cache = cache
	wh := &counted{Warehouse: f.wh}
	p := Principal{TenantID: "acme", APIKeyID: "k1"}
	run := func(p Principal, renew bool) string {
		t.Helper()
		rows, err := f.all(t, wh, p, f.countStatement(t, p, renew))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows)
	}
	if got := run(p, false); got != "[3]" {
		t.Fatalf("first: %s", got)
	}
	if _, err := f.wh.DB().Exec(`INSERT INTO orders VALUES (4, 'paid')`); err != nil {
		t.Fatal(err)
	}
	if got := run(p, false); got != "[3]" || wh.runs.Load() != 1 {
		t.Fatalf("second: %s after %d runs, want the cached [3] after 1", got, wh.runs.Load())
	}
	if e := f.events[len(f.events)-1]; !e.Cached || e.Rows != 1 {
		t.Fatalf("a hit observed as %+v", e)
	}
	if ev := f.audited(t); len(ev) != 2 || ev[0].Rows != 1 || ev[0].Outcome != "ok" {
		t.Fatalf("a hit is audited as any query: %+v", ev)
	}
	// Another security context, another tenant: their own answers.
	filtered := Principal{TenantID: "acme", APIKeyID: "k2", Security: auth.SecurityContext{RowFilters: []auth.RowFilter{{Member: "orders.status", Operator: "equals", Values: []string{"open"}}}}}
	if got := run(filtered, false); got != "[1]" {
		t.Fatalf("row-filtered principal: %s, want [1]", got)
	}
	if got := run(Principal{TenantID: "other"}, false); got != "[4]" {
		t.Fatalf("another tenant: %s, want its own [4]", got)
	}
	// Renewing runs it and stores the fresh answer.
	if got := run(p, true); got != "[4]" {
		t.Fatalf("renewed: %s", got)
	}
	if _, err := f.wh.DB().Exec(`INSERT INTO orders VALUES (5, 'paid')`); err != nil {
		t.Fatal(err)
	}
	if got := run(p, false); got != "[4]" {
		t.Fatalf("after renewing: %s, want the renewed [4]", got)
	}
	// Past its TTL, the warehouse again.
	now = now.Add(11 * time.Second)
	if got := run(p, false); got != "[5]" {
		t.Fatalf("past the TTL: %s", got)
	}
	if n := cache.Invalidate(Scope{Source: "default", Cube: "customers"}); n != 0 {
		t.Fatalf("another cube's invalidation dropped %d", n)
	}
	if n := cache.Invalidate(Scope{Tenant: "acme", Source: "default", Cube: "Orders"}); n != 2 {
		t.Fatalf("invalidating acme's orders dropped %d, want 2 (not the other tenant's)", n)
	}
	if _, err := f.wh.DB().Exec(`INSERT INTO orders VALUES (6, 'paid')`); err != nil {
		t.Fatal(err)
	}
	if got := run(p, false); got != "[6]" {
		t.Fatalf("after invalidation: %s", got)
	}
	st := cache.Stats()
	if st.Hits != 2 || st.Entries != 2 || st.Bytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Identical statements missing together run on the warehouse once.
func TestCacheSingleFlight(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Cache = NewCache(1 << 20)
	f.svc.Observe = nil
	wh := &counted{Warehouse: f.wh, gate: make(chan struct{})}
	p := Principal{TenantID: "acme"}
	st := f.countStatement(t, p, false)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows, err := f.all(t, wh, p, st)
			got[i] = fmt.Sprint(rows, err)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(wh.gate)
	wg.Wait()
	for _, g := range got {
		if g != "[3] <nil>" {
			t.Fatalf("answers %q", got)
		}
	}
	if n := wh.runs.Load(); n != 1 {
		t.Fatalf("%d warehouse runs for 8 identical statements, want 1", n)
	}
}

// The byte budget holds: old answers go first; an answer too large to
// keep still streams whole; a half-read answer is not kept; a run that
// began before an invalidation does not store.
func TestCacheBudget(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Observe = nil
	cache := NewCache(64 << 10)
	f.svc.Cache = cache
	p := Principal{TenantID: "acme"}
	stmt := func(sql string) Statement {
		return Statement{API: "sql", Kind: "pushdown", SQL: sql, Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}}
	}
	for i := range 200 {
		rows, err := f.all(t, f.wh, p, stmt(fmt.Sprintf("SELECT %d AS n, repeat('x', 1000) AS s FROM range(3)", i)))
		if err != nil || len(rows) != 3 {
			t.Fatalf("%d: %d rows, %v", i, len(rows), err)
		}
		if st := cache.Stats(); st.Bytes > st.MaxBytes {
			t.Fatalf("cache holds %d bytes over its %d", st.Bytes, st.MaxBytes)
		}
	}
	if st := cache.Stats(); st.Evictions == 0 || st.Entries == 0 {
		t.Fatalf("stats %+v: want evictions and entries", st)
	}
	big := stmt("SELECT repeat('y', 1000) FROM range(100)")
	for range 2 {
		rows, err := f.all(t, f.wh, p, big)
		if err != nil || len(rows) != 100 {
			t.Fatalf("a large answer: %d rows, %v", len(rows), err)
		}
	}
	if st := cache.Stats(); st.TooLarge != 2 {
		t.Fatalf("a large answer was kept: %+v", st)
	}

	half := stmt("SELECT * FROM range(10)")
	a, _ := f.svc.Admit(p)
	res := f.svc.Run(a, f.wh, half)
	if _, err := res.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	res.Close(nil)
	before := cache.Stats().Stores
	res = f.svc.Run(a, f.wh, half)
	if _, err := res.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	cache.Invalidate(Scope{})
	for {
		if _, err := res.Next(context.Background()); err != nil {
			break
		}
	}
	res.Close(nil)
	a.Release()
	if st := cache.Stats(); st.Stores != before || st.Entries != 0 {
		t.Fatalf("a half-read or invalidated answer was kept: %+v", st)
	}
}

// An answer is fresh for the shortest refresh_key every of the cubes it
// reads; Cube's 10 s without one.
func TestRefreshTTL(t *testing.T) {
	dir := t.TempDir()
	yml := `cubes:
  - name: a
    sql_table: t
    refresh_key:
      every: 1 hour
    measures: [{name: count, type: count}]
  - name: b
    sql_table: t
    refresh_key:
      every: 5 minute
    measures: [{name: count, type: count}]
  - name: c
    sql_table: t
    measures: [{name: count, type: count}]
  - name: d
    sql_table: t
    refresh_key:
      immutable: true
    measures: [{name: count, type: count}]
`
	if err := os.WriteFile(filepath.Join(dir, "m.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		names []string
		want  time.Duration
	}{
		{[]string{"a"}, time.Hour}, {[]string{"a", "b"}, 5 * time.Minute}, {[]string{"c"}, 10 * time.Second},
		{[]string{"d"}, 24 * time.Hour}, {[]string{"d", "a"}, time.Hour}, {nil, 10 * time.Second},
	} {
		if got := NewCacheable("default", nil, m, c.names, false).TTL; got != c.want {
			t.Errorf("the TTL over %v = %s, want %s", c.names, got, c.want)
		}
	}
}

// A waiter does not wait on a run whose client stopped reading (a cursor
// fetched in part and left open): it runs its own.
func TestCacheStalledFlight(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Cache = NewCache(1 << 20)
	f.svc.Observe = nil
	p := Principal{TenantID: "acme"}
	st := Statement{API: "sql", Kind: "pushdown", SQL: "SELECT * FROM range(10)", Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}}
	a, _ := f.svc.Admit(p)
	defer a.Release()
	lead := f.svc.Run(a, f.wh, st)
	defer lead.Close(nil)
	if _, err := lead.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rows, err := f.all(t, f.wh, p, st)
	if err != nil || len(rows) != 10 {
		t.Fatalf("beside a stalled run: %d rows, %v", len(rows), err)
	}
	if d := time.Since(t0); d > 3*flightStall {
		t.Fatalf("waited %s on a stalled run", d)
	}
}

// A cube with a refresh_key sql: its answers stay while the key's value
// does, the key being read at most once per its interval.
func TestCacheRefreshKeySQL(t *testing.T) {
	f := newFixture(t, 0)
	dir := t.TempDir()
	yml := strings.Replace(model, "    sql_table: main.orders\n", "    sql_table: main.orders\n    refresh_key:\n      sql: SELECT max(id) FROM main.orders\n      every: 1 second\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "orders.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cubes.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(1 << 20)
	now := time.Now()
	cache.now = func() time.Time { return now }
	f.svc.Cache, f.m = cache, m
	wh := &counted{Warehouse: f.wh}
	p := Principal{TenantID: "acme"}
	run := func() string {
		t.Helper()
		st := f.countStatement(t, p, false)
		st.Cache = NewCacheable("default", wh, m, []string{"orders"}, false)
		if len(st.Cache.Checks) != 1 || st.Cache.TTL != 24*time.Hour {
			t.Fatalf("cacheable %+v", st.Cache)
		}
		rows, err := f.all(t, wh, p, st)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows)
	}
	if got := run(); got != "[3]" || wh.runs.Load() != 2 {
		t.Fatalf("first: %s after %d warehouse statements (the key, the query)", got, wh.runs.Load())
	}
	if _, err := f.wh.DB().Exec(`INSERT INTO orders VALUES (4, 'paid')`); err != nil {
		t.Fatal(err)
	}
	if got := run(); got != "[3]" || wh.runs.Load() != 2 {
		t.Fatalf("within the key's interval: %s after %d statements, want the cached [3], the key not read again", got, wh.runs.Load())
	}
	now = now.Add(2 * time.Second)
	if got := run(); got != "[4]" || wh.runs.Load() != 4 {
		t.Fatalf("the key changed: %s after %d statements, want [4] after 4", got, wh.runs.Load())
	}
	now = now.Add(time.Minute)
	if got := run(); got != "[4]" || wh.runs.Load() != 5 {
		t.Fatalf("the key unchanged a minute later: %s after %d statements, want the cached [4], the key read once more", got, wh.runs.Load())
	}
}

// The byte budget is honest: the memory the cache's answers hold, as the
// Go heap sees it, is within 30% of what the cache counts, so
// cache.max_bytes bounds what the cache adds to RSS. Answers of strings, integers, numerics and
// times from a real DuckDB.
func TestCacheBudgetIsHonest(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Observe = nil
	cache := NewCache(16 << 20)
	f.svc.Cache = cache
	p := Principal{TenantID: "acme"}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range 400 {
		sql := fmt.Sprintf(`SELECT %d AS k, 'status-' || (i %% 7) AS s, i AS n, CAST(i AS DECIMAL(12,2)) / 7 AS amount, TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS at FROM range(500) t(i)`, i)
		rows, err := f.all(t, f.wh, p, Statement{API: "sql", Kind: "pushdown", SQL: sql, Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Hour}})
		if err != nil || len(rows) != 500 {
			t.Fatalf("%d rows, %v", len(rows), err)
		}
	}
	after := heap()
	st := cache.Stats()
	held := float64(after) - float64(before)
	ratio := held / float64(st.Bytes)
	t.Logf("the cache counts %d MiB in %d answers (%d evicted); the heap grew %.1f MiB: %.2fx", st.Bytes>>20, st.Entries, st.Evictions, held/(1<<20), ratio)
	if st.Bytes > st.MaxBytes || st.Evictions == 0 {
		t.Fatalf("stats %+v: want the budget reached and held", st)
	}
	if ratio < 0.7 || ratio > 1.3 {
		t.Fatalf("the heap holds %.2fx what the cache counts", ratio)
	}
	runtime.KeepAlive(cache)
}

// Two statements whose arguments print alike are two keys: a list of
// values is encoded unambiguously (review of #17).
func TestCacheKeyArguments(t *testing.T) {
	m := &cubes.Model{}
	st := func(args ...any) Statement {
		return Statement{SQL: "SELECT x = ANY($1)", Args: args, Cache: &Cacheable{Source: "s", Model: m}}
	}
	p := Principal{TenantID: "t"}
	for _, pair := range [][2]Statement{
		{st([]string{"Ann Lee", "Bob"}), st([]string{"Ann", "Lee Bob"})},
		{st("1"), st(int64(1))},
		{st([]int64{1, 2}), st([]string{"1", "2"})},
		{st("a", "b"), st("a\x00b")},
	} {
		if cacheKey(p, pair[0]) == cacheKey(p, pair[1]) {
			t.Errorf("%v and %v share a key", pair[0].Args, pair[1].Args)
		}
	}
}

// A run that stalled (a cursor left open) does not keep its key from the
// cache: the next identical statement leads a flight of its own and
// keeps its answer (review of #17).
func TestCacheStalledFlightReplaced(t *testing.T) {
	f := newFixture(t, 0)
	cache := NewCache(1 << 20)
	f.svc.Cache = cache
	f.svc.Observe = nil
	p := Principal{TenantID: "acme"}
	st := Statement{API: "sql", Kind: "pushdown", SQL: "SELECT * FROM range(10)", Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}}
	a, _ := f.svc.Admit(p)
	defer a.Release()
	stalled := f.svc.Run(a, f.wh, st)
	if _, err := stalled.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(flightStall + 100*time.Millisecond)
	if rows, err := f.all(t, f.wh, p, st); err != nil || len(rows) != 10 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if st := cache.Stats(); st.Stores != 1 {
		t.Fatalf("stats %+v: the run after a stalled one keeps its answer", st)
	}
	t0 := time.Now()
	if rows, err := f.all(t, f.wh, p, st); err != nil || len(rows) != 10 || time.Since(t0) > flightStall/2 {
		t.Fatalf("%d rows, %v, after %s: want a hit at once", len(rows), err, time.Since(t0))
	}
	stalled.Close(nil) // the stalled run's end does not disturb the newer flight's answer
	if st := cache.Stats(); st.Entries != 1 || st.Hits != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Answers being collected count against the budget: pending bytes return
// to 0 whatever way a run ends.
func TestCachePendingBytes(t *testing.T) {
	f := newFixture(t, 0)
	cache := NewCache(64 << 10)
	f.svc.Cache = cache
	f.svc.Observe = nil
	p := Principal{TenantID: "acme"}
	for _, sql := range []string{"SELECT * FROM range(10)", "SELECT repeat('y', 1000) FROM range(100)", "SELECT 1"} {
		if _, err := f.all(t, f.wh, p, Statement{API: "sql", Kind: "pushdown", SQL: sql, Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := f.svc.Admit(p)
	res := f.svc.Run(a, f.wh, Statement{API: "sql", Kind: "pushdown", SQL: "SELECT * FROM range(20)", Cache: &Cacheable{Source: "default", Model: f.m, TTL: time.Minute}})
	res.Next(context.Background())
	res.Close(nil)
	a.Release()
	if n := cache.pending.Load(); n != 0 {
		t.Fatalf("%d bytes still pending", n)
	}
}

// A statement whose table is gone (a rollup dropped or evicted between
// plan and run: 42P01) runs its fallback, the cubes' own tables.
func TestFallbackOnUndefinedTable(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Observe = nil
	p := Principal{TenantID: "acme"}
	rows, err := f.all(t, f.wh, p, Statement{API: "sql", Kind: "cube", SQL: "SELECT count(*) FROM rollup_gone",
		Fallback: &Fallback{SQL: "SELECT count(*) FROM orders", Warehouse: f.wh}})
	if err != nil || fmt.Sprint(rows) != "[3]" {
		t.Fatalf("%v, %v: want the fallback's [3]", rows, err)
	}
	if _, err := f.all(t, f.wh, p, Statement{API: "sql", Kind: "cube", SQL: "SELECT count(*) FROM rollup_gone"}); err == nil {
		t.Fatal("without a fallback, a missing table ran")
	}
}
