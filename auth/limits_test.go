package auth

import (
	"errors"
	"fmt"
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

// An attempt counts from the moment it begins: parallel guesses that
// have not been evaluated yet already count toward the block, so no
// more than blockAfter of them are ever evaluated.
func TestLoginThrottleCountsBeforeEvaluation(t *testing.T) {
	th := NewLoginThrottle(time.Minute, 100, 5)
	addr := fakeAddr("192.0.2.1:5000")
	admitted := 0
	for range 200 { // none of them has been evaluated yet
		if _, _, blocked, _ := th.Begin(addr, "cg_victim"); !blocked {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("%d in-flight attempts admitted, want 5", admitted)
	}
	_, _, blocked, retry := th.Begin(addr, "cg_other")
	if !blocked || retry <= 0 || retry > time.Minute {
		t.Fatalf("the address is not blocked: %v %v", blocked, retry)
	}
	// Once the window has passed, the address may try again.
	now := time.Now()
	th.now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, _, blocked, _ := th.Begin(addr, "cg_victim"); blocked {
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
		at, _, blocked, _ := th.Begin(addr, "cg_victim")
		if blocked {
			t.Fatal("blocked too early")
		}
		at.Failed()
	}
	// Its own login succeeds: that attempt is taken back, the guesses at
	// cg_victim stay.
	at, _, blocked, _ := th.Begin(addr, "cg_attacker")
	if blocked {
		t.Fatal("blocked too early")
	}
	at.Succeeded()
	at, _, blocked, _ = th.Begin(addr, "cg_victim")
	if blocked {
		t.Fatal("blocked at the 4th failure's start")
	}
	at.Failed()
	if _, _, blocked, _ := th.Begin(addr, "cg_attacker"); !blocked {
		t.Fatal("four guesses at cg_victim and the address is not blocked: its own success reset them")
	}
	// A user who mistyped, then got it right, is forgotten for that pair.
	th2 := NewLoginThrottle(time.Minute, 100, 3)
	for range 2 {
		at, _, _, _ := th2.Begin(addr, "cg_alice")
		at.Failed()
	}
	at, _, _, _ = th2.Begin(addr, "cg_alice")
	at.Succeeded()
	for range 2 {
		if _, _, blocked, _ := th2.Begin(addr, "cg_bob"); blocked {
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
			at, wait, blocked, _ := th.Begin(addr, "cg_victim")
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
	if _, wait, blocked, _ := th.Begin(fakeAddr("203.0.113.9:1"), "cg_bystander"); wait != 0 || blocked {
		t.Errorf("a bystander waits %v (blocked %v)", wait, blocked)
	}
	// The victim's own correct login still gets in, after the bounded delay.
	at, wait, blocked, _ := th.Begin(fakeAddr("203.0.113.10:1"), "cg_victim")
	if blocked || wait > maxLoginDelay {
		t.Errorf("the victim's own login: blocked %v, waits %v", blocked, wait)
	}
	at.Succeeded()
	// A nil throttle admits everything.
	var none *LoginThrottle
	if at, wait, blocked, _ := none.Begin(fakeAddr("x"), "u"); blocked || wait != 0 {
		t.Error("nil throttle")
	} else {
		at.Succeeded()
		at.Failed()
	}
}
