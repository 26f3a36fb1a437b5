package auth

import (
	"errors"
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
