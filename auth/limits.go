package auth

import (
	"math"
	"net"
	"slices"
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
// in, and slows guessing against one user from many addresses:
//
//   - An attempt counts as a failure from the moment it begins (Begin),
//     before its password is checked: parallel guesses cannot all be
//     evaluated before the block sees them. Only success takes it back.
//   - Per address: after slowAfter failures in window each attempt waits
//     (doubling up to 5 s); after blockAfter it is refused until the
//     window has passed.
//   - Per target user, across addresses: after slowAfter failures against
//     a user in window each attempt for it waits (doubling up to 5 s).
//     A user is never refused: anybody could lock anybody out.
//   - A success forgets the failures of its own (address, user) pair
//     only: one valid credential does not reset an address's count of
//     guesses at other users.
type LoginThrottle struct {
	window                time.Duration
	slowAfter, blockAfter int
	mu                    sync.Mutex
	byAddr                map[string][]*loginAttempt
	byUser                map[string][]*loginAttempt
	now                   func() time.Time // tests move the clock
}

// loginAttempt is one attempt, a failure until it succeeds.
type loginAttempt struct {
	t          time.Time
	host, user string
}

// maxLoginDelay bounds the wait an attempt is made to take.
const maxLoginDelay = 5 * time.Second

// NewLoginThrottle returns the throttle of failed logins per address and
// per target user.
func NewLoginThrottle(window time.Duration, slowAfter, blockAfter int) *LoginThrottle {
	return &LoginThrottle{window: window, slowAfter: slowAfter, blockAfter: blockAfter,
		byAddr: map[string][]*loginAttempt{}, byUser: map[string][]*loginAttempt{}, now: time.Now}
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

// recent drops what has left the window from m[key] and returns the rest.
func (t *LoginThrottle) recent(m map[string][]*loginAttempt, key string, now time.Time) []*loginAttempt {
	fs := m[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i].t) > t.window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(m, key)
	} else {
		m[key] = fs
	}
	return fs
}

// delay is the wait after n failures (none below slowAfter).
func (t *LoginThrottle) delay(n int) time.Duration {
	if t.slowAfter <= 0 || n < t.slowAfter {
		return 0
	}
	if k := n - t.slowAfter; k < 8 {
		return min(250*time.Millisecond<<k, maxLoginDelay)
	}
	return maxLoginDelay
}

// LoginAttempt is an attempt Begin counted: call Succeeded when the
// password checked, Failed (or nothing) otherwise.
type LoginAttempt struct {
	t *LoginThrottle
	a *loginAttempt
}

// Begin counts a login attempt from addr for user before anything is
// checked, and says how long it must wait first, or that the address is
// blocked (and until when: then nothing is counted).
func (t *LoginThrottle) Begin(addr net.Addr, user string) (at *LoginAttempt, wait time.Duration, blocked bool, retry time.Duration) {
	if t == nil {
		return nil, 0, false, 0
	}
	host := hostOf(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	fs := t.recent(t.byAddr, host, now)
	if t.blockAfter > 0 && len(fs) >= t.blockAfter {
		return nil, 0, true, t.window - now.Sub(fs[len(fs)-t.blockAfter].t)
	}
	us := t.recent(t.byUser, user, now)
	wait = max(t.delay(len(fs)), t.delay(len(us)))
	a := &loginAttempt{t: now, host: host, user: user}
	t.byAddr[host] = append(fs, a)
	t.byUser[user] = append(us, a)
	return &LoginAttempt{t: t, a: a}, wait, false, 0
}

// Failed leaves the attempt counted as the failure it was counted as.
func (at *LoginAttempt) Failed() {}

// Succeeded takes the attempt back and forgets the failures of its
// address for its user (not its address's failures for other users).
func (at *LoginAttempt) Succeeded() {
	if at == nil {
		return
	}
	t, host, user := at.t, at.a.host, at.a.user
	t.mu.Lock()
	defer t.mu.Unlock()
	pair := func(f *loginAttempt) bool { return f.host == host && f.user == user }
	if fs := slices.DeleteFunc(t.byAddr[host], pair); len(fs) > 0 {
		t.byAddr[host] = fs
	} else {
		delete(t.byAddr, host)
	}
	if us := slices.DeleteFunc(t.byUser[user], pair); len(us) > 0 {
		t.byUser[user] = us
	} else {
		delete(t.byUser, user)
	}
}
