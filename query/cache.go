package query

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cubes"
)

// Cacheable marks a statement the result cache may answer: the caller
// (an API) says what its answer depends on beyond its SQL and arguments.
type Cacheable struct {
	// Source is the data source the statement reads ("default" or its
	// name): its warehouse's rows.
	Source string
	// Model is the model the statement was compiled from: a reload makes
	// a new model, and so new keys.
	Model *cubes.Model
	// Cubes are the cubes (and views) the statement reads, for the
	// invalidation of one cube's answers.
	Cubes []string
	// TTL is how long an answer stays fresh: the smallest refresh_key
	// every of the cubes read (Cube's default, 10 s, without one).
	TTL time.Duration
	// Checks are the refresh_key sql of the cubes read: an answer stays
	// while each one's value is what it was when the answer was
	// computed; each is run at most once per its interval, on Warehouse
	// (the data source's: a statement may read a rollup store, which
	// does not hold the cubes' tables).
	Checks    []RefreshCheck
	Warehouse Warehouse
	// Renew runs the statement on the warehouse whatever the cache holds,
	// and stores the fresh answer (REST renewQuery, Cache-Control:
	// no-cache).
	Renew bool
}

// Cache is the result cache: whole answers of warehouse statements, kept
// in memory within a byte budget (least recently used first out), each
// fresh for its statement's TTL. Its key is the data source, the model,
// the principal's tenant and security context, and the SQL with its
// arguments, so no answer reaches a principal it was not computed for.
// Identical statements that miss together run on the warehouse once: the
// first runs it, the others wait for its answer (single flight).
type Cache struct {
	max      int64 // the byte budget
	maxEntry int64 // the largest answer stored
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	keys    map[string]keyValue // refresh_key sql values, by source and SQL
	lru     list.List           // of *entry, most recently used first
	bytes   int64
	flights map[string]*flight
	// gen counts invalidations: an answer whose run began before one is
	// not stored.
	gen uint64

	hits, misses, stores, evictions, uncached atomic.Int64
	// pending are the bytes of answers being collected, not yet kept.
	pending atomic.Int64
}

type entry struct {
	key     string
	tenant  string
	source  string
	cubes   []string
	rows    [][]any
	bytes   int64
	stored  time.Time
	expires time.Time
	// refresh are the values of the statement's refresh_key sql when it
	// was computed: the answer serves while they are the same.
	refresh string
	elem    *list.Element
}

// flight is a statement running on the warehouse for the cache: the
// statements that miss with the same key meanwhile wait for its answer.
//
// The run's pace is its client's (its rows stream as they are read), and
// a client may pause for good (a cursor fetched in part and left open),
// so a waiter waits only while the run makes progress: once the run has
// not asked for a row for flightStall, the waiter runs its own.
type flight struct {
	done chan struct{}
	e    *entry // nil: no answer stored (an error, too large, invalidated)
	// progress is when the run last had a row from the warehouse (unix
	// nanoseconds); busy while it waits on the warehouse for one.
	progress atomic.Int64
	busy     atomic.Bool
}

// stalled reports a flight whose run has not asked for a row for
// flightStall: a new identical statement leads a flight of its own.
func (f *flight) stalled() bool {
	return !f.busy.Load() && time.Since(time.Unix(0, f.progress.Load())) > flightStall
}

// working marks the run waiting on the warehouse (true) or back with a
// row (false).
func (f *flight) working(busy bool) {
	if f != nil {
		f.busy.Store(busy)
		f.progress.Store(time.Now().UnixNano())
	}
}

// flightStall is how long a flight may make no progress before its
// waiters stop waiting for it.
const flightStall = time.Second

// wait waits for f's answer: true when the flight ended, false when it
// stalled or ctx ended first.
func (f *flight) wait(ctx context.Context) bool {
	tick := time.NewTicker(flightStall / 4)
	defer tick.Stop()
	for {
		select {
		case <-f.done:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			if f.stalled() {
				return false
			}
		}
	}
}

// NewCache returns a cache of at most maxBytes; an answer over a
// sixteenth of it is not stored (it would push out too many others).
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, maxEntry: maxBytes / 16, now: time.Now,
		entries: map[string]*entry{}, flights: map[string]*flight{}, keys: map[string]keyValue{}}
}

// CacheStats are the cache's figures.
type CacheStats struct {
	Entries                                   int
	Bytes, MaxBytes                           int64
	Hits, Misses, Stores, Evictions, TooLarge int64
}

// Stats returns the cache's figures.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n, b := len(c.entries), c.bytes
	c.mu.Unlock()
	return CacheStats{Entries: n, Bytes: b, MaxBytes: c.max, Hits: c.hits.Load(), Misses: c.misses.Load(),
		Stores: c.stores.Load(), Evictions: c.evictions.Load(), TooLarge: c.uncached.Load()}
}

// Peek tells, without using it, whether the cache holds a fresh answer
// to st for p: when it was stored and until when it is fresh (EXPLAIN).
func (c *Cache) Peek(p Principal, st Statement) (stored, expires time.Time, ok bool) {
	key := cacheKey(p, st)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil && c.now().Before(e.expires) {
		return e.stored, e.expires, true
	}
	return time.Time{}, time.Time{}, false
}

// DefaultRefresh is how long an answer stays fresh when no cube read
// says otherwise: Cube's default refresh_key (every 10 seconds).
const DefaultRefresh = 10 * time.Second

// immutableRefresh is how long an answer over immutable cubes stays (an
// invalidation or a reload drops it sooner).
const immutableRefresh = 24 * time.Hour

// RefreshCheck is a cube's refresh_key sql and how often it is run.
type RefreshCheck struct {
	SQL   string
	Every time.Duration
}

// NewCacheable marks a statement over the named cubes (and views) of m,
// on data source source (whose warehouse is wh), for the cache. The cubes
// it reads are those named and those behind the views named (an
// invalidation of a cube reaches its views' answers); its TTL is the shortest refresh_key every of the
// cubes (Cube's 10 s without one; a cron schedule counts as the default,
// an immutable cube a day); a cube with a refresh_key sql adds its check
// instead, the answer then staying (up to a day) while the key's value
// does.
func NewCacheable(source string, wh Warehouse, m *cubes.Model, names []string, renew bool) *Cacheable {
	names = m.CubesBehind(names)
	c := &Cacheable{Source: source, Warehouse: wh, Model: m, Cubes: names, Renew: renew}
	for _, name := range names {
		cube, ok := m.Cube(name)
		if !ok {
			continue
		}
		k := cube.RefreshKey
		every := cube.RefreshEvery()
		switch {
		case k != nil && k.SQL != "":
			if every <= 0 {
				every = DefaultRefresh
			}
			c.Checks = append(c.Checks, RefreshCheck{SQL: k.SQL, Every: every})
			every = immutableRefresh
		case every > 0:
		case k != nil && k.Immutable:
			every = immutableRefresh
		default:
			every = DefaultRefresh
		}
		if c.TTL == 0 || every < c.TTL {
			c.TTL = every
		}
	}
	if c.TTL == 0 {
		c.TTL = DefaultRefresh
	}
	return c
}

// keyValue is a refresh_key sql's last value.
type keyValue struct {
	value   string
	checked time.Time
}

// refreshValues are the current values of checks on wh (source's
// warehouse), each run at most once per its interval: the key of an
// answer's validity.
func (c *Cache) refreshValues(ctx context.Context, wh Warehouse, source string, checks []RefreshCheck) (string, error) {
	var b strings.Builder
	for _, k := range checks {
		id := source + "\x00" + k.SQL
		c.mu.Lock()
		kv, ok := c.keys[id]
		c.mu.Unlock()
		if !ok || c.now().Sub(kv.checked) >= k.Every {
			v, err := Scalar(ctx, wh, k.SQL)
			if err != nil {
				return "", err
			}
			kv = keyValue{value: v, checked: c.now()}
			c.mu.Lock()
			c.keys[id] = kv
			c.mu.Unlock()
		}
		b.WriteString(kv.value)
		b.WriteByte(0)
	}
	return b.String(), nil
}

// Scalar runs sql on wh and prints its first row (a refresh key's value).
func Scalar(ctx context.Context, wh Warehouse, sql string) (string, error) {
	rows, err := wh.Query(ctx, sql)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	if !rows.Next() {
		return "", rows.Err()
	}
	vals, err := rows.Values()
	if err != nil {
		return "", err
	}
	return fmt.Sprint(vals...), rows.Err()
}

// Scope selects answers to invalidate: those of a tenant, a data source
// and a cube; "" selects any.
type Scope struct {
	Tenant, Source, Cube string
}

// Invalidate drops the answers in scope, and keeps statements running
// now from storing theirs; it returns how many were dropped. A nil cache
// holds none.
func (c *Cache) Invalidate(scope Scope) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	n := 0
	for _, e := range c.entries {
		if scope.Tenant != "" && e.tenant != scope.Tenant || scope.Source != "" && e.source != scope.Source {
			continue
		}
		if scope.Cube != "" && !containsFold(e.cubes, scope.Cube) {
			continue
		}
		c.remove(e)
		n++
	}
	return n
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// remove drops e; c.mu is held.
func (c *Cache) remove(e *entry) {
	delete(c.entries, e.key)
	c.lru.Remove(e.elem)
	c.bytes -= e.bytes
}

// lookup returns key's fresh answer, or the flight to wait for, or makes
// the caller the one to run it (lead: a new flight, nil when renewing).
func (c *Cache) lookup(key, refresh string, renew bool) (e *entry, wait, lead *flight, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !renew {
		if e := c.entries[key]; e != nil {
			if c.now().Before(e.expires) && e.refresh == refresh {
				c.lru.MoveToFront(e.elem)
				return e, nil, nil, c.gen
			}
			c.remove(e)
		}
		if f := c.flights[key]; f != nil && !f.stalled() {
			return nil, f, nil, c.gen
		}
		f := &flight{done: make(chan struct{})}
		f.progress.Store(time.Now().UnixNano())
		c.flights[key] = f
		return nil, nil, f, c.gen
	}
	return nil, nil, nil, c.gen
}

// store keeps key's answer e (unless an invalidation came since gen)
// and ends its flight, if it led one.
func (c *Cache) store(key string, e *entry, f *flight, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e != nil && gen == c.gen && e.bytes <= c.maxEntry {
		if old := c.entries[e.key]; old != nil {
			c.remove(old)
		}
		e.elem = c.lru.PushFront(e)
		c.entries[e.key] = e
		c.bytes += e.bytes
		c.stores.Add(1)
		for c.bytes > c.max {
			last := c.lru.Back().Value.(*entry)
			c.remove(last)
			c.evictions.Add(1)
		}
	} else {
		e = nil
	}
	if f != nil {
		f.e = e
		if c.flights[key] == f {
			delete(c.flights, key) // not a newer flight that took over
		}
		close(f.done)
	}
}

// cacheKey is everything an answer depends on: the source, the model,
// the principal's tenant and security context, the SQL and its
// arguments (each with its type: 1 and '1' differ).
func cacheKey(p Principal, st Statement) string {
	var b strings.Builder
	sec, _ := json.Marshal(p.Security)
	fmt.Fprintf(&b, "%q\x00%d\x00%q\x00%s\x00%d:%s", st.Cache.Source, st.Cache.Model.Generation(), p.Tenant(), sec, len(st.SQL), st.SQL)
	for _, a := range st.Args {
		// Each argument by its type and an unambiguous encoding: a list
		// of values is JSON (["a b","c"] and ["a","b c"] print alike
		// with %v).
		v, err := json.Marshal(a)
		if err != nil {
			v = []byte(fmt.Sprintf("%#v", a))
		}
		fmt.Fprintf(&b, "\x00%T:%d:%s", a, len(v), v)
	}
	return b.String()
}

// cachedResult answers a Cacheable statement from the cache, or runs it
// on the warehouse (its inner result) and keeps its answer.
type cachedResult struct {
	c     *Cache
	inner *result
	key   string

	started bool
	hit     *entry // answered from the cache
	next    int
	row     []any

	lead    *flight // this result runs the statement for the waiters
	keep    bool    // collect the answer to store it
	gen     uint64
	rows    [][]any
	bytes   int64
	stored  bool
	expires time.Duration
	refresh string // the refresh_key sql values before the run
}

func (c *Cache) result(inner *result) Result {
	return &cachedResult{c: c, inner: inner, key: cacheKey(inner.p, inner.st), expires: inner.st.Cache.TTL}
}

func (r *cachedResult) Start(ctx context.Context) error {
	if r.started {
		if r.hit != nil {
			return nil
		}
		return r.inner.Start(ctx)
	}
	r.started = true
	if checks := r.inner.st.Cache.Checks; len(checks) > 0 {
		wh := r.inner.st.Cache.Warehouse
		if wh == nil {
			wh = r.inner.wh
		}
		v, err := r.c.refreshValues(ctx, wh, r.inner.st.Cache.Source, checks)
		if err != nil {
			// A refresh key that cannot be read: the warehouse answers,
			// and nothing is kept.
			r.c.misses.Add(1)
			return r.inner.Start(ctx)
		}
		r.refresh = v
	}
	e, wait, lead, gen := r.c.lookup(r.key, r.refresh, r.inner.st.Cache.Renew)
	switch {
	case e != nil:
		r.c.hits.Add(1)
		r.hit = e
		return nil
	case wait != nil:
		if wait.wait(ctx) && wait.e != nil {
			r.c.hits.Add(1)
			r.hit = wait.e
			return nil
		}
		if err := ctx.Err(); err != nil {
			r.inner.err = err
			return err
		}
		// The run it waited for stored nothing (an error, too large) or
		// stalled: it runs its own, uncached.
		r.c.misses.Add(1)
		return r.inner.Start(ctx)
	}
	r.c.misses.Add(1)
	r.lead, r.keep, r.gen = lead, true, gen
	lead.working(true)
	err := r.inner.Start(ctx)
	lead.working(false)
	if err != nil {
		r.finish(false)
		return err
	}
	return nil
}

func (r *cachedResult) Next(ctx context.Context) ([]any, error) {
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	if r.hit != nil {
		if r.next >= len(r.hit.rows) {
			return nil, io.EOF
		}
		r.row = append(r.row[:0], r.hit.rows[r.next]...)
		r.next++
		return r.row, nil
	}
	if r.keep {
		r.lead.working(true)
	}
	vals, err := r.inner.Next(ctx)
	if r.keep {
		r.lead.working(false)
	}
	if err == io.EOF {
		r.finish(true)
	} else if err != nil {
		r.finish(false)
	}
	if err != nil || !r.keep {
		return vals, err
	}
	rb := rowBytes(vals)
	r.bytes += rb
	// Answers being collected count against the budget too: many large
	// misses at once hold no more than it.
	pending := r.c.pending.Add(rb)
	if r.bytes > r.c.maxEntry || pending > r.c.max {
		// Too large to keep: the rows still stream, the waiters run
		// their own.
		r.c.uncached.Add(1)
		r.finish(false)
		return vals, nil
	}
	r.rows = append(r.rows, append([]any(nil), vals...))
	return vals, nil
}

// finish stores the answer collected (complete) or nothing, and ends the
// flight this result led.
func (r *cachedResult) finish(complete bool) {
	if r.stored || !r.keep {
		return
	}
	r.stored, r.keep = true, false
	r.c.pending.Add(-r.bytes)
	var e *entry
	if complete {
		st := r.inner.st.Cache
		now := r.c.now()
		e = &entry{key: r.key, tenant: r.inner.p.Tenant(), source: st.Source, cubes: st.Cubes, rows: r.rows, bytes: r.bytes + int64(len(r.key)) + 128,
			stored: now, expires: now.Add(r.expires), refresh: r.refresh}
	}
	r.rows = nil
	r.c.store(r.key, e, r.lead, r.gen)
}

func (r *cachedResult) Close(err error) {
	if r.hit != nil {
		if !r.inner.closed {
			r.inner.closed = true
			r.inner.count = int64(r.next)
			r.inner.s.record(r.inner.p, r.inner.st, r.inner.started, 0, r.inner.count, err, true)
		}
		return
	}
	// A result closed before its last row (a cursor left half read, a
	// client gone) stores nothing.
	r.finish(false)
	r.inner.Close(err)
}

// Refreshed is when r's answer was computed: when the cache stored it,
// for an answer from the cache; now for the warehouse's.
func Refreshed(r Result) time.Time {
	if c, ok := r.(*cachedResult); ok && c.hit != nil {
		return c.hit.stored
	}
	return time.Now()
}

// rowBytes estimates the memory a kept row holds, as the Go heap sees
// it: the row's slice (and its place in the answer's), an interface per
// value, and what each boxed value points to (TestCacheBudgetIsHonest
// holds the estimate to the heap's growth).
func rowBytes(vals []any) int64 {
	n := int64(24 + 24 + 16*len(vals))
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			n += 16 + int64(len(x))
		case []byte:
			n += 24 + int64(len(x))
		case pgtype.Numeric:
			n += 32 + 32
			if x.Int != nil {
				n += int64(len(x.Int.Bits())) * 8
			}
		case *big.Int:
			n += 32 + int64(len(x.Bits()))*8
		case time.Time:
			n += 24
		case pgtype.Interval:
			n += 24
		case [16]byte:
			n += 16
		case int64, float64, int32, int16, float32:
			n += 8
		case nil, bool:
		default:
			n += 64
		}
	}
	return n
}
