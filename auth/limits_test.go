package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// Admission, as SQL and REST share it: a tenant's rate (a token bucket of
// burst tokens) and its running queries, each tenant on its own.
func TestLimiterAdmit(t *testing.T) {
	l := NewLimiter(1, 2, 1)
	release, err := l.Admit("a")
	if err != nil {
		t.Fatal(err)
	}
	// One query running: a second one is refused as busy.
	var le *LimitError
	if _, err := l.Admit("a"); !errors.As(err, &le) || !le.Busy || le.Tenant != "a" {
		t.Fatalf("a second running query: %v", err)
	}
	// Another tenant is not held by a's queries.
	rb, err := l.Admit("b")
	if err != nil {
		t.Fatalf("tenant b: %v", err)
	}
	rb()
	release()
	release() // once only
	// Both of a's burst tokens are spent: the rate refuses, with a wait
	// of about a second at 1 query per second.
	_, err = l.Admit("a")
	if !errors.As(err, &le) || le.Busy || le.Wait <= 0 || le.Wait > time.Second {
		t.Fatalf("past the burst: %v (%+v)", err, le)
	}
	// A nil limiter or zero limits admit everything.
	var none *Limiter
	if r, err := none.Admit("a"); err != nil || r == nil {
		t.Fatalf("nil limiter: %v", err)
	}
	open := NewLimiter(0, 0, 0)
	for range 100 {
		r, err := open.Admit("a")
		if err != nil {
			t.Fatal(err)
		}
		defer r()
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// begin is Begin with a bounded context; blocked says it refused with a
// *LoginBlockedError.
func begin(t *testing.T, th *LoginThrottle, addr net.Addr, user string) (at *LoginAttempt, wait time.Duration, blocked bool, retry time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at, wait, err := th.Begin(ctx, addr, user)
	var be *LoginBlockedError
	if errors.As(err, &be) {
		return nil, 0, true, be.Retry
	}
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return at, wait, false, 0
}

// An attempt counts toward the block from the moment it begins: of 200
// parallel guesses none of which has been evaluated yet, blockAfter are
// let through to be checked, the others wait for them; once those have
// failed, the waiting ones are refused — no more than blockAfter are ever
// evaluated.
func TestLoginThrottleCountsBeforeEvaluation(t *testing.T) {
	th := NewLoginThrottle(time.Minute, 100, 5)
	addr := fakeAddr("192.0.2.1:5000")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		at  *LoginAttempt
		err error
	}
	results := make(chan result)
	for range 200 {
		go func() {
			at, _, err := th.Begin(ctx, addr, "cg_victim")
			results <- result{at, err}
		}()
	}
	// The first five to come back are let through (the rest wait while
	// five are in flight); they fail, and everything else is refused.
	var inFlight []*LoginAttempt
	for range 5 {
		r := <-results
		if r.err != nil {
			t.Fatalf("one of the first five attempts: %v", r.err)
		}
		inFlight = append(inFlight, r.at)
	}
	th.mu.Lock()
	n := th.byAddr["192.0.2.1"].inFlight
	th.mu.Unlock()
	if n != 5 {
		t.Fatalf("%d in flight, want 5", n)
	}
	for _, at := range inFlight {
		at.Failed()
	}
	admitted, blocked := 5, 0
	for range 195 {
		r := <-results
		var be *LoginBlockedError
		switch {
		case r.err == nil:
			admitted++
			r.at.End()
		case errors.As(r.err, &be):
			blocked++
		default:
			t.Fatal(r.err)
		}
	}
	if admitted != 5 || blocked != 195 {
		t.Fatalf("%d of 200 parallel attempts let through, %d refused; want 5 and 195", admitted, blocked)
	}
	_, _, isBlocked, retry := begin(t, th, addr, "cg_other")
	if !isBlocked || retry <= 0 || retry > time.Minute {
		t.Fatalf("the address is not blocked: %v %v", isBlocked, retry)
	}
	// Once the window has passed, the address may try again.
	now := time.Now()
	th.now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, _, isBlocked, _ := begin(t, th, addr, "cg_victim"); isBlocked {
		t.Fatal("still blocked after the window")
	}
}

// A success forgets only its own (address, user) pair's failures: an
// attacker holding one valid credential cannot reset its address's count
// of guesses at other users by logging in as itself.
func TestLoginThrottleSuccessForgetsOnlyItsPair(t *testing.T) {
	th := NewLoginThrottle(time.Minute, 100, 4)
	addr := fakeAddr("192.0.2.1:5000")
	for range 3 {
		at, _, blocked, _ := begin(t, th, addr, "cg_victim")
		if blocked {
			t.Fatal("blocked too early")
		}
		at.Failed()
	}
	// Its own login succeeds: that attempt is taken back, the guesses at
	// cg_victim stay.
	at, _, blocked, _ := begin(t, th, addr, "cg_attacker")
	if blocked {
		t.Fatal("blocked too early")
	}
	at.Succeeded()
	at, _, blocked, _ = begin(t, th, addr, "cg_victim")
	if blocked {
		t.Fatal("blocked at the 4th failure's start")
	}
	at.Failed()
	if _, _, blocked, _ := begin(t, th, addr, "cg_attacker"); !blocked {
		t.Fatal("four guesses at cg_victim and the address is not blocked: its own success reset them")
	}
	// A user who mistyped, then got it right, is forgotten for that pair.
	th2 := NewLoginThrottle(time.Minute, 100, 3)
	for range 2 {
		at, _, _, _ := begin(t, th2, addr, "cg_alice")
		at.Failed()
	}
	at, _, _, _ = begin(t, th2, addr, "cg_alice")
	at.Succeeded()
	for range 2 {
		if _, _, blocked, _ := begin(t, th2, addr, "cg_bob"); blocked {
			t.Fatal("alice's forgiven typos still count against the address")
		}
	}
}

// Guesses at one user from many addresses, each under the per-address
// limits (250 addresses × 9 guesses), are slowed by the per-user count,
// progressively; the user is never refused (that would let anyone lock
// anyone out), and other users are not slowed.
func TestLoginThrottlePerTargetUser(t *testing.T) {
	th := NewLoginThrottle(time.Minute, 10, 50)
	var waits []time.Duration
	for i := range 250 {
		addr := fakeAddr(fmt.Sprintf("198.51.100.%d:4000", i))
		for range 9 {
			at, wait, blocked, _ := begin(t, th, addr, "cg_victim")
			if blocked {
				t.Fatal("an address under the per-address limit is blocked")
			}
			waits = append(waits, wait)
			at.Failed()
		}
	}
	if waits[9] != 0 {
		t.Errorf("the 10th guess at the user waits %v, want none", waits[9])
	}
	if waits[10] != 250*time.Millisecond || waits[11] != 500*time.Millisecond {
		t.Errorf("guesses 11 and 12 wait %v and %v, want 250ms and 500ms", waits[10], waits[11])
	}
	if last := waits[len(waits)-1]; last != maxLoginDelay {
		t.Errorf("the last guess waits %v, want %v", last, maxLoginDelay)
	}
	// Another user from a fresh address is not slowed.
	if _, wait, blocked, _ := begin(t, th, fakeAddr("203.0.113.9:1"), "cg_bystander"); wait != 0 || blocked {
		t.Errorf("a bystander waits %v (blocked %v)", wait, blocked)
	}
	// The victim's own correct login still gets in, after the bounded delay.
	at, wait, blocked, _ := begin(t, th, fakeAddr("203.0.113.10:1"), "cg_victim")
	if blocked || wait > maxLoginDelay {
		t.Errorf("the victim's own login: blocked %v, waits %v", blocked, wait)
	}
	at.Succeeded()
	// A nil throttle admits everything.
	var none *LoginThrottle
	if at, wait, blocked, _ := begin(t, none, fakeAddr("x"), "u"); blocked || wait != 0 {
		t.Error("nil throttle")
	} else {
		at.Succeeded()
		at.Failed()
	}
}

// Correct logins in progress are not failures (review of issue #21): a
// connection pool of 100 opening at once from one address, with the
// defaults (slow after 10, block after 50), all get in without any delay
// — the 51st and later wait only for one in flight to succeed, never
// for a delay and never refused; and one credential logging in from
// 100 hosts at once is not slowed by the per-user count.
func TestLoginThrottleBurstOfGoodLogins(t *testing.T) {
	th := NewLoginThrottle(5*time.Minute, 10, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := fakeAddr("192.0.2.7:6000")
	type result struct {
		at   *LoginAttempt
		wait time.Duration
		err  error
	}
	results := make(chan result)
	for range 100 {
		go func() {
			at, wait, err := th.Begin(ctx, addr, "cg_pool")
			results <- result{at, wait, err}
		}()
	}
	// 50 are in flight at once (the block's count) before any has ended;
	// once they succeed, the other 50 come through.
	collect := func(n int) []*LoginAttempt {
		var ats []*LoginAttempt
		for range n {
			r := <-results
			if r.err != nil || r.wait != 0 {
				t.Fatalf("a correct login of a burst of 100: waits %v, error %v", r.wait, r.err)
			}
			ats = append(ats, r.at)
		}
		return ats
	}
	first := collect(50)
	th.mu.Lock()
	n := th.byAddr["192.0.2.7"].inFlight
	th.mu.Unlock()
	if n != 50 {
		t.Fatalf("%d in flight, want 50", n)
	}
	for _, at := range first {
		at.Succeeded()
	}
	for _, at := range collect(50) {
		at.Succeeded()
	}
	// One credential from 100 hosts at once: nobody waits.
	var ats []*LoginAttempt
	for i := range 100 {
		at, wait, blocked, _ := begin(t, th, fakeAddr(fmt.Sprintf("198.51.100.%d:4000", i)), "cg_popular")
		if blocked || wait != 0 {
			t.Fatalf("login %d of a popular credential from its own host: waits %v, blocked %v", i+1, wait, blocked)
		}
		ats = append(ats, at)
	}
	for _, at := range ats {
		at.Succeeded()
	}
	// Finished failures still slow: after 10 from the address, the 11th
	// attempt waits.
	for range 10 {
		at, wait, _, _ := begin(t, th, addr, "cg_pool")
		if wait != 0 {
			t.Fatalf("an attempt after fewer than 10 failures waits %v", wait)
		}
		at.Failed()
	}
	if _, wait, _, _ := begin(t, th, addr, "cg_pool"); wait != 250*time.Millisecond {
		t.Fatalf("after 10 failures an attempt waits %v, want 250ms", wait)
	}
}

// The sweep (review of issue #21): random user names from many
// addresses, each tried once and never again, are forgotten once they
// have left the window, not kept until the same name comes back.
func TestLoginThrottleSweep(t *testing.T) {
	th := NewLoginThrottle(time.Minute, 10, 50)
	now := time.Now()
	th.now = func() time.Time { return now }
	for i := range 10000 {
		addr := fakeAddr(fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255))
		at, _, _, _ := begin(t, th, addr, fmt.Sprintf("cg_random_%d", i))
		at.Failed()
	}
	// One attempt in flight across the sweep keeps its address.
	held, _, _, _ := begin(t, th, fakeAddr("192.0.2.99:1"), "cg_held")
	if len(th.byAddr) != 10001 || len(th.byUser) != 10000 {
		t.Fatalf("%d addresses, %d users tracked, want 10001 and 10000", len(th.byAddr), len(th.byUser))
	}
	now = now.Add(61 * time.Second)
	at, _, _, _ := begin(t, th, fakeAddr("192.0.2.100:1"), "cg_next")
	if len(th.byAddr) != 2 || len(th.byUser) != 0 {
		t.Fatalf("after the window %d addresses and %d users are still tracked, want 2 (in flight) and 0", len(th.byAddr), len(th.byUser))
	}
	at.Succeeded()
	held.Failed()
	if len(th.byAddr) != 1 || len(th.byUser) != 1 || len(th.byAddr["192.0.2.99"].failures) != 1 {
		t.Fatalf("the attempt held across the sweep: %d addresses, %d users", len(th.byAddr), len(th.byUser))
	}
}
