package warehouse

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestShares: a principal holds at most its share (half the pool by
// default, never less than one); one over its share waits until one of
// its own is given back or its context ends — unless its own session
// holds the whole share, which is a *ShareError at once; principals are
// told apart by tenant, and the zero owner (the gateway's own pings)
// takes none.
func TestShares(t *testing.T) {
	for _, c := range []struct{ size, per, want int }{{4, 0, 2}, {1, 0, 1}, {3, 0, 1}, {10, 0, 5}, {4, 3, 3}} {
		if s := NewShares(c.size, c.per); s.PerPrincipal != c.want {
			t.Errorf("NewShares(%d, %d): %d a principal, want %d", c.size, c.per, s.PerPrincipal, c.want)
		}
	}
	s := NewShares(4, 0)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	a1, a2 := Owner{"a", "t1", "s1"}, Owner{"a", "t1", "s2"}
	ra1, err := s.Acquire(ctx, a1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, a2); err != nil {
		t.Fatal(err)
	}
	// a's third waits (two sessions hold its share); its context ends it.
	if _, err := s.Acquire(canceled, a1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a principal over its share: %v, want its context's error", err)
	}
	// Another tenant's principal of the same name is another principal.
	if _, err := s.Acquire(canceled, Owner{"a", "t2", "s9"}); err != nil {
		t.Fatalf("the same name in another tenant: %v", err)
	}
	// The gateway's own (no owner) takes no share.
	if _, err := s.Acquire(canceled, Owner{}); err != nil {
		t.Fatalf("no owner: %v", err)
	}
	// A waiting statement gets the connection given back: it is
	// blocked before the give.
	got := make(chan error)
	go func() {
		_, err := s.Acquire(ctx, a2)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a third acquire did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ra1()
	ra1() // twice is once
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := s.Held(a1); n != 2 {
		t.Errorf("a holds %d, want 2", n)
	}
	// Session s2 now holds both of a's connections: its next statement
	// could only wait on itself.
	var se *ShareError
	if _, err := s.Acquire(ctx, a2); !errors.As(err, &se) || se.Held != 2 || se.SQLState() != "53400" {
		t.Fatalf("a session holding its whole share: %v, want a *ShareError (53400)", err)
	}
	// Without a session (REST) it waits as any other.
	if _, err := s.Acquire(canceled, Owner{"a", "t1", ""}); !errors.Is(err, context.Canceled) {
		t.Fatalf("no session: %v", err)
	}
}
