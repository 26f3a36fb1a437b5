package auth

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Several gateways on one PostgreSQL state store hold a tenant to one
// bucket: burst requests in all, however they are spread and however
// concurrent; it refills at the rate (the server's clock), never past
// the burst; tenants are apart; a store that does not answer leaves the
// decision to the gateway's own bucket (OnError told); a SQLite store
// changes nothing. The time an admission takes is logged.
func TestSharedLimiter(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase("state")
	ctx := context.Background()
	const gateways, burst = 3, 20
	open := func() *Store {
		s, err := OpenStore(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	limiters := make([]*Limiter, gateways)
	// Started together: the table is made once whatever the race.
	var wg sync.WaitGroup
	for i := range limiters {
		limiters[i] = NewLimiter(0.001, burst, 0)
		s := open()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := limiters[i].Share(ctx, s, func(err error) { t.Errorf("gateway %d: %v", i, err) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	// 3 gateways × 8 goroutines × 10 requests for one tenant: burst
	// admitted in all.
	var admitted atomic.Int64
	per := make([]atomic.Int64, gateways)
	for i := range limiters {
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; n < 10; n++ {
					if ok, wait := limiters[i].Allow("acme"); ok {
						admitted.Add(1)
						per[i].Add(1)
					} else if wait <= 0 {
						t.Errorf("refused with a wait of %s", wait)
					}
				}
			}()
		}
	}
	wg.Wait()
	if admitted.Load() != burst {
		t.Fatalf("%d requests admitted across %d gateways, want the burst %d", admitted.Load(), gateways, burst)
	}
	t.Logf("admitted per gateway: %d %d %d", per[0].Load(), per[1].Load(), per[2].Load())
	// Another tenant has its own full bucket.
	for n := 0; n < burst; n++ {
		if ok, _ := limiters[n%gateways].Allow("other"); !ok {
			t.Fatalf("tenant other refused after %d requests", n)
		}
	}
	if ok, _ := limiters[0].Allow("other"); ok {
		t.Fatal("tenant other admitted past its burst")
	}

	// The refill: 50 a second, bursts of 5. Emptied, it refuses with a
	// wait of at most 20 ms; 100 ms later about 5 are back, never more
	// than the burst.
	fast := []*Limiter{NewLimiter(50, 5, 0), NewLimiter(50, 5, 0)}
	for _, l := range fast {
		if err := l.Share(ctx, open(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// drain empties the bucket; a token may come back while it runs
	// (each admission is a statement on the store; under load they take
	// a while), so it also says how many could have: the bounds below
	// hold however slow the machine is.
	drain := func() (n, refilled int) {
		began := time.Now()
		for i := 0; ; i++ {
			ok, wait := fast[i%2].Allow("fast")
			if !ok {
				if wait <= 0 || wait > 20*time.Millisecond {
					t.Fatalf("refused with a wait of %s, want (0, 20ms]", wait)
				}
				return n, int(time.Since(began)/(20*time.Millisecond)) + 1
			}
			n++
		}
	}
	if n, extra := drain(); n < 5 || n > 5+extra {
		t.Fatalf("a new bucket admitted %d, want 5 (up to %d more if tokens came back meanwhile)", n, extra)
	}
	time.Sleep(100 * time.Millisecond)
	if n, extra := drain(); n < 1 || n > 5+extra {
		t.Fatalf("100 ms later %d admitted, want some back (about 5), at most the burst 5 (+%d while draining)", n, extra)
	}
	time.Sleep(300 * time.Millisecond)
	if n, extra := drain(); n < 5 || n > 5+extra {
		t.Fatalf("300 ms later %d admitted, want the burst 5 and no more (+%d while draining)", n, extra)
	}

	// The latency an admission adds: one statement on the state store.
	lat := NewLimiter(1e6, 1e6, 0)
	if err := lat.Share(ctx, open(), nil); err != nil {
		t.Fatal(err)
	}
	lat.Allow("latency") // the connection made
	const rounds = 2000
	took := make([]time.Duration, rounds)
	for i := range took {
		start := time.Now()
		if ok, _ := lat.Allow("latency"); !ok {
			t.Fatal("refused")
		}
		took[i] = time.Since(start)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	local := NewLimiter(1e6, 1e6, 0)
	start := time.Now()
	for i := 0; i < rounds; i++ {
		local.Allow("latency")
	}
	t.Logf("shared bucket (local PostgreSQL): mean %s, p50 %s, p99 %s per admission; in-memory bucket: mean %s",
		(sum / rounds).Round(time.Microsecond), took[rounds/2].Round(time.Microsecond), took[rounds*99/100].Round(time.Microsecond),
		time.Since(start)/rounds)

	// The store gone: the gateway's own bucket decides, OnError is told.
	s := open()
	var told atomic.Int32
	down := NewLimiter(0.001, 2, 0)
	if err := down.Share(ctx, s, func(error) { told.Add(1) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got := []bool{}
	for i := 0; i < 3; i++ {
		ok, _ := down.Allow("acme")
		got = append(got, ok)
	}
	if !got[0] || !got[1] || got[2] || told.Load() != 3 {
		t.Fatalf("with the store closed: admitted %v, told %d times; want the local bucket's true true false, told 3 times", got, told.Load())
	}

	// SQLite: the limiter's own bucket.
	lite, err := OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	one := NewLimiter(0.001, 1, 0)
	if err := one.Share(ctx, lite, nil); err != nil || one.shared != nil {
		t.Fatalf("Share on SQLite: %v, shared %v", err, one.shared != nil)
	}
	if ok, _ := one.Allow("acme"); !ok {
		t.Fatal("refused on SQLite though acme's store bucket is empty: the limiter is not its own")
	}
}
