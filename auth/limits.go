package auth

import (
	"context"
	"fmt"
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
	// shared, when set, holds the request rate (Share): one bucket per
	// tenant for every gateway of a PostgreSQL state store.
	shared  *Store
	onError func(error)
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
	if l.shared != nil {
		ok, wait, err := l.allowShared(tenant)
		if err == nil {
			return ok, wait
		}
		if l.onError != nil {
			l.onError(fmt.Errorf("the shared rate limit of tenant %s: %w; this gateway's own bucket decided", tenant, err))
		}
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
//   - Only finished failures (Failed) slow anybody: an attempt whose
//     password is still being checked is not a failure, so a connection
//     pool opening a hundred sessions at once from one address gets in
//     without delay.
//   - Attempts in flight count toward the address's block, before their
//     password is checked: when the address's failures and its attempts
//     in flight together reach blockAfter, a new attempt waits for one in
//     flight to end, then is decided again. Parallel guesses therefore
//     cannot all be evaluated before the block sees them (no more than
//     blockAfter are), while correct logins in flight end as successes
//     and let the next ones through.
//   - Per address: after slowAfter failures in window each attempt waits
//     (doubling up to 5 s); after blockAfter it is refused until the
//     window has passed.
//   - Per target user, across addresses: after slowAfter failures against
//     a user in window each attempt for it waits (doubling up to 5 s).
//     A user is never refused: anybody could lock anybody out.
//   - A success forgets the failures of its own (address, user) pair
//     only: one valid credential does not reset an address's count of
//     guesses at other users.
//   - Every window (at least every second) a sweep drops whatever has
//     left the window from every address and user, so random user names
//     from many addresses hold no more than the failures of the last two
//     windows, not every name ever tried.
type LoginThrottle struct {
	window                time.Duration
	slowAfter, blockAfter int
	mu                    sync.Mutex
	byAddr                map[string]*addrLogins
	byUser                map[string][]*loginFailure
	swept                 time.Time
	now                   func() time.Time // tests move the clock
}

// addrLogins is what the throttle knows of one address.
type addrLogins struct {
	failures []*loginFailure
	inFlight int
	ended    chan struct{} // closed, and replaced, whenever an attempt in flight ends
}

// loginFailure is one finished failed attempt.
type loginFailure struct {
	t          time.Time
	host, user string
}

// maxLoginDelay bounds the wait an attempt is made to take.
const maxLoginDelay = 5 * time.Second

// NewLoginThrottle returns the throttle of failed logins per address and
// per target user.
func NewLoginThrottle(window time.Duration, slowAfter, blockAfter int) *LoginThrottle {
	return &LoginThrottle{window: window, slowAfter: slowAfter, blockAfter: blockAfter,
		byAddr: map[string]*addrLogins{}, byUser: map[string][]*loginFailure{}, now: time.Now}
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

// recent drops the failures that have left the window.
func (t *LoginThrottle) recent(fs []*loginFailure, now time.Time) []*loginFailure {
	i := 0
	for i < len(fs) && now.Sub(fs[i].t) > t.window {
		i++
	}
	if i == len(fs) {
		return nil
	}
	return fs[i:]
}

// addr returns the address's state with its failures in the window.
func (t *LoginThrottle) addr(host string, now time.Time) *addrLogins {
	a := t.byAddr[host]
	if a == nil {
		a = &addrLogins{ended: make(chan struct{})}
		t.byAddr[host] = a
	}
	a.failures = t.recent(a.failures, now)
	return a
}

// user returns the failures against user in the window.
func (t *LoginThrottle) user(user string, now time.Time) []*loginFailure {
	us := t.recent(t.byUser[user], now)
	if len(us) == 0 {
		delete(t.byUser, user)
	} else {
		t.byUser[user] = us
	}
	return us
}

// sweep drops what has left the window from every address and user, at
// most once per window (and per second).
func (t *LoginThrottle) sweep(now time.Time) {
	if now.Sub(t.swept) < max(t.window, time.Second) {
		return
	}
	t.swept = now
	for host, a := range t.byAddr {
		if a.failures = t.recent(a.failures, now); len(a.failures) == 0 && a.inFlight == 0 {
			delete(t.byAddr, host)
		}
	}
	for user := range t.byUser {
		t.user(user, now)
	}
}

// forget drops an address that has nothing left to remember.
func (t *LoginThrottle) forget(host string, a *addrLogins) {
	if len(a.failures) == 0 && a.inFlight == 0 {
		delete(t.byAddr, host)
	}
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

// LoginBlockedError is Begin's refusal of a blocked address, and when it
// may try again.
type LoginBlockedError struct{ Retry time.Duration }

func (e *LoginBlockedError) Error() string {
	return "too many failed logins from this address"
}

// LoginAttempt is an attempt in flight Begin counted: end it with
// Succeeded when the password checked, Failed when it did not, or End
// when it ended before any password was checked (the client left); the
// first of them counts, the others do nothing.
type LoginAttempt struct {
	t          *LoginThrottle
	host, user string
	ended      bool
}

// Begin counts a login attempt from addr for user as in flight before
// anything is checked, and says how long it must wait first (from the
// address's and the user's finished failures). A blocked address is
// refused with a *LoginBlockedError (and nothing is counted). When the
// address's failures and attempts in flight reach the block, Begin waits
// for one in flight to end first, or for ctx (then its error).
func (t *LoginThrottle) Begin(ctx context.Context, addr net.Addr, user string) (at *LoginAttempt, wait time.Duration, err error) {
	if t == nil {
		return nil, 0, nil
	}
	host := hostOf(addr)
	for {
		t.mu.Lock()
		now := t.now()
		t.sweep(now)
		a := t.addr(host, now)
		fs := a.failures
		if t.blockAfter > 0 && len(fs) >= t.blockAfter {
			t.forget(host, a)
			t.mu.Unlock()
			return nil, 0, &LoginBlockedError{Retry: t.window - now.Sub(fs[len(fs)-t.blockAfter].t)}
		}
		if t.blockAfter > 0 && len(fs)+a.inFlight >= t.blockAfter {
			ended := a.ended
			t.mu.Unlock()
			select {
			case <-ended:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		wait = max(t.delay(len(fs)), t.delay(len(t.user(user, now))))
		a.inFlight++
		t.mu.Unlock()
		return &LoginAttempt{t: t, host: host, user: user}, wait, nil
	}
}

// end ends the attempt in flight, a failure (recorded) or a success (its
// pair's failures forgotten) or neither.
func (at *LoginAttempt) end(failed, succeeded bool) {
	if at == nil {
		return
	}
	t := at.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.ended {
		return
	}
	at.ended = true
	now := t.now()
	a := t.addr(at.host, now)
	a.inFlight--
	close(a.ended)
	a.ended = make(chan struct{})
	switch {
	case failed:
		f := &loginFailure{t: now, host: at.host, user: at.user}
		a.failures = append(a.failures, f)
		t.byUser[at.user] = append(t.user(at.user, now), f)
	case succeeded:
		pair := func(f *loginFailure) bool { return f.host == at.host && f.user == at.user }
		a.failures = slices.DeleteFunc(a.failures, pair)
		if us := slices.DeleteFunc(t.byUser[at.user], pair); len(us) > 0 {
			t.byUser[at.user] = us
		} else {
			delete(t.byUser, at.user)
		}
	}
	t.forget(at.host, a)
}

// Failed records the attempt as a failure: its password was checked and
// was wrong.
func (at *LoginAttempt) Failed() { at.end(true, false) }

// Succeeded ends the attempt and forgets the failures of its address for
// its user (not its address's failures for other users).
func (at *LoginAttempt) Succeeded() { at.end(false, true) }

// End ends an attempt whose password was never checked (the client left
// before sending it): it counts as nothing.
func (at *LoginAttempt) End() { at.end(false, false) }
