package auth

import (
	"math"
	"net"
	"sync"
	"time"
)

// Limiter holds each tenant to a request rate (a token bucket shared by
// all its keys and credentials) and a number of queries running at once.
// A zero rate or cap means no limit.
type Limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxConc int
	mu      sync.Mutex
	tenants map[string]*tenantLimit
}

type tenantLimit struct {
	tokens  float64
	last    time.Time
	running int
}

// NewLimiter returns a limiter of rate requests per second (bursts of
// burst) and maxConcurrent running queries per tenant.
func NewLimiter(rate float64, burst, maxConcurrent int) *Limiter {
	if burst <= 0 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	return &Limiter{rate: rate, burst: float64(burst), maxConc: maxConcurrent, tenants: map[string]*tenantLimit{}}
}

func (l *Limiter) tenant(id string, now time.Time) *tenantLimit {
	t := l.tenants[id]
	if t == nil {
		t = &tenantLimit{tokens: l.burst, last: now}
		l.tenants[id] = t
	}
	return t
}

// LimitError is why Admit refused a query: the tenant's request rate
// (Busy false) or its running queries (Busy true), and when to retry.
type LimitError struct {
	Tenant string
	Busy   bool
	Wait   time.Duration
}

func (e *LimitError) Error() string {
	if e.Busy {
		return "tenant " + e.Tenant + " already runs as many queries as it may"
	}
	return "the rate limit of tenant " + e.Tenant + " is exceeded"
}

// Admit is admission control for one query of a tenant, the same for SQL
// and REST: a token from its rate, then a running-query slot, released
// when the query ends. It refuses with a *LimitError.
func (l *Limiter) Admit(tenant string) (release func(), err error) {
	if ok, wait := l.Allow(tenant); !ok {
		return nil, &LimitError{Tenant: tenant, Wait: wait}
	}
	release, ok := l.Acquire(tenant)
	if !ok {
		return nil, &LimitError{Tenant: tenant, Busy: true, Wait: time.Second}
	}
	return release, nil
}

// Allow takes one request from the tenant's bucket; when it is empty it
// says how long until a token is back.
func (l *Limiter) Allow(tenant string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenant(tenant, now)
	t.tokens = math.Min(l.burst, t.tokens+now.Sub(t.last).Seconds()*l.rate)
	t.last = now
	if t.tokens >= 1 {
		t.tokens--
		return true, 0
	}
	return false, time.Duration((1 - t.tokens) / l.rate * float64(time.Second))
}

// Acquire counts a running query; release it when it ends. It fails when
// the tenant already runs its maximum.
func (l *Limiter) Acquire(tenant string) (release func(), ok bool) {
	if l == nil || l.maxConc <= 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenant(tenant, time.Now())
	if t.running >= l.maxConc {
		return nil, false
	}
	t.running++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			t.running--
			l.mu.Unlock()
		})
	}, true
}

// LoginThrottle slows, then blocks, an address that keeps failing to log
// in: after slowAfter failures in window each attempt waits (doubling up
// to 5 s); after blockAfter it is refused until the window has passed.
type LoginThrottle struct {
	window                time.Duration
	slowAfter, blockAfter int
	mu                    sync.Mutex
	failures              map[string][]time.Time
}

// NewLoginThrottle returns the throttle of failed logins per address.
func NewLoginThrottle(window time.Duration, slowAfter, blockAfter int) *LoginThrottle {
	return &LoginThrottle{window: window, slowAfter: slowAfter, blockAfter: blockAfter, failures: map[string][]time.Time{}}
}

func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

func (t *LoginThrottle) recent(host string, now time.Time) []time.Time {
	fs := t.failures[host]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) > t.window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(t.failures, host)
	} else {
		t.failures[host] = fs
	}
	return fs
}

// Check says how long an attempt from addr must wait, or that it is
// blocked (and for how long).
func (t *LoginThrottle) Check(addr net.Addr) (wait time.Duration, blocked bool, retry time.Duration) {
	if t == nil {
		return 0, false, 0
	}
	host, now := hostOf(addr), time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := t.recent(host, now)
	switch {
	case len(fs) >= t.blockAfter:
		return 0, true, t.window - now.Sub(fs[len(fs)-t.blockAfter])
	case len(fs) >= t.slowAfter:
		d := 250 * time.Millisecond << (len(fs) - t.slowAfter)
		return min(d, 5*time.Second), false, 0
	}
	return 0, false, 0
}

// Failed records a failed login from addr; Succeeded forgets its failures.
func (t *LoginThrottle) Failed(addr net.Addr) {
	if t == nil {
		return
	}
	t.mu.Lock()
	host := hostOf(addr)
	t.failures[host] = append(t.recent(host, time.Now()), time.Now())
	t.mu.Unlock()
}

// Succeeded forgets an address's failures.
func (t *LoginThrottle) Succeeded(addr net.Addr) {
	if t == nil {
		return
	}
	t.mu.Lock()
	delete(t.failures, hostOf(addr))
	t.mu.Unlock()
}
