package warehouse

import (
	"context"
	"errors"
	"testing"
)

// TestShares: a principal holds at most its share (half the pool by
// default, never less than one), a tenant its own; one over its share
// waits until one of its own is given back or its context ends, and the
// zero owner (the gateway's own pings) takes none.
func TestShares(t *testing.T) {
	for _, c := range []struct{ size, per, want int }{{4, 0, 2}, {1, 0, 1}, {3, 0, 1}, {10, 0, 5}, {4, 3, 3}} {
		if s := NewShares(c.size, c.per, 0); s.PerPrincipal != c.want || s.PerTenant != c.size {
			t.Errorf("NewShares(%d, %d, 0): %d a principal, %d a tenant; want %d, %d", c.size, c.per, s.PerPrincipal, s.PerTenant, c.want, c.size)
		}
	}
	s := NewShares(4, 0, 3)
	ctx := context.Background()
	a, b, c := Owner{"a", "t1"}, Owner{"b", "t1"}, Owner{"c", "t2"}
	ra1, err := s.Acquire(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, a); err != nil {
		t.Fatal(err)
	}
	// a's third waits; its context ends it.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Acquire(canceled, a); !errors.Is(err, context.Canceled) {
		t.Fatalf("a principal over its share: %v, want its context's error", err)
	}
	// b, same tenant: one more, then the tenant's share is full.
	rb, err := s.Acquire(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(canceled, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("a tenant over its share: %v", err)
	}
	// Another tenant is not held by t1's share.
	if _, err := s.Acquire(canceled, c); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// The gateway's own (no owner) takes no share.
	if _, err := s.Acquire(canceled, Owner{}); err != nil {
		t.Fatalf("no owner: %v", err)
	}
	// A waiting statement gets the connection given back.
	got := make(chan error)
	go func() {
		_, err := s.Acquire(ctx, a)
		got <- err
	}()
	ra1()
	ra1() // twice is once
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := s.Held("a"); n != 2 {
		t.Errorf("a holds %d, want 2", n)
	}
	rb()
	if n := s.Held("b"); n != 0 {
		t.Errorf("b holds %d after giving back, want 0", n)
	}
}
