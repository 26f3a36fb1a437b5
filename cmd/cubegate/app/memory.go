package app

import (
	"bytes"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// memoryGovernor keeps the whole process near limits.memory_limit. Go's
// soft limit (GOMEMLIMIT) covers Go's own memory only, while the embedded
// DuckDB and libpg_query allocate in C, outside it. Every
// governorInterval the governor measures the process's resident memory
// that is not Go's (RSS minus the memory the Go runtime holds) and gives
// Go's garbage collector the rest of the total, less what the parser has
// reserved for its C allocations and not yet used (catalog.Pool's native
// reservations) — never less than a quarter of the total, so that Go's
// live memory always fits somewhere.
type memoryGovernor struct {
	total  int64
	native atomic.Int64 // native reservations held (catalog.Pool)

	mu    sync.Mutex
	limit int64 // Go's limit as last set
	stop  chan struct{}
	done  chan struct{}
}

const governorInterval = 100 * time.Millisecond

func newMemoryGovernor(total int64) *memoryGovernor {
	g := &memoryGovernor{total: total, stop: make(chan struct{}), done: make(chan struct{})}
	g.adjust()
	go g.run()
	return g
}

func (g *memoryGovernor) run() {
	defer close(g.done)
	t := time.NewTicker(governorInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.adjust()
		}
	}
}

// Close stops the governor.
func (g *memoryGovernor) Close() {
	close(g.stop)
	<-g.done
}

// setNative records the native reservations held and adjusts at once
// (catalog.Pool's native hook).
func (g *memoryGovernor) setNative(n int64) {
	g.native.Store(n)
	g.adjust()
}

// adjust sets Go's memory limit to the total less the memory outside Go.
func (g *memoryGovernor) adjust() {
	outside := max(processRSS()-goHeld(), 0) + g.native.Load()
	limit := max(g.total-outside, g.total/4)
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := limit - g.limit; d > 4<<20 || d < -(4<<20) {
		debug.SetMemoryLimit(limit)
		g.limit = limit
	}
}

// goHeld is the memory the Go runtime holds from the system and has not
// released (what GOMEMLIMIT bounds).
func goHeld() int64 {
	return int64(goMetric("/memory/classes/total:bytes") - goMetric("/memory/classes/heap/released:bytes"))
}

// goMetric reads one runtime/metrics value in bytes (0 for a name the
// runtime does not know).
func goMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

var pageSize = int64(os.Getpagesize())

// processRSS is the process's resident memory (Linux: /proc/self/statm;
// 0 where it cannot be read, which leaves Go the whole total).
func processRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * pageSize
}
