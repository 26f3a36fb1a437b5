package warehouse

import (
	"context"
	"sync"
)

// Options are how a warehouse is opened beyond its DSN; the zero value
// is the defaults.
type Options struct {
	// PrincipalConnections is how many of a pooled warehouse's
	// connections one principal (a credential, an API key) holds at once:
	// 0 is half the pool, at least 1.
	PrincipalConnections int
	// TenantConnections is how many one tenant holds at once: 0 is the
	// whole pool.
	TenantConnections int
}

// Owner is whom a statement's warehouse connection is held for: a
// principal (a credential or an API key) of a tenant. The query service
// puts it in the statement's context (WithOwner); a context without one
// is the gateway's own and is not held to a share.
type Owner struct {
	Principal, Tenant string
}

type ownerKey struct{}

// WithOwner is ctx carrying o.
func WithOwner(ctx context.Context, o Owner) context.Context {
	return context.WithValue(ctx, ownerKey{}, o)
}

// OwnerFrom is the owner ctx carries (the zero Owner for none).
func OwnerFrom(ctx context.Context) Owner {
	o, _ := ctx.Value(ownerKey{}).(Owner)
	return o
}

// Shares is a fair share of a pool of connections: an owner's principal
// and its tenant each hold at most so many at once, so that one user's
// unread results or open cursors cannot take every connection. A
// statement over its share waits — for as long as its context lets it
// (statement_timeout, cancel) — for one of its own to be given back.
type Shares struct {
	// Size is the pool's size; PerPrincipal and PerTenant the shares.
	Size, PerPrincipal, PerTenant int

	mu         sync.Mutex
	principals map[string]int
	tenants    map[string]int
	wake       chan struct{} // closed when a connection is given back
}

// NewShares shares a pool of size connections: perPrincipal each
// principal (0: half the pool, at least 1), perTenant each tenant (0: the
// whole pool).
func NewShares(size, perPrincipal, perTenant int) *Shares {
	if perPrincipal <= 0 {
		perPrincipal = max(1, size/2)
	}
	if perTenant <= 0 {
		perTenant = size
	}
	return &Shares{Size: size, PerPrincipal: perPrincipal, PerTenant: perTenant,
		principals: map[string]int{}, tenants: map[string]int{}, wake: make(chan struct{})}
}

// Acquire takes one connection of o's share, waiting while o's principal
// or tenant holds its share already, and returns the func that gives it
// back. It fails with ctx's error when ctx ends first. The zero Owner
// takes no share.
func (s *Shares) Acquire(ctx context.Context, o Owner) (func(), error) {
	if s == nil || o == (Owner{}) {
		return func() {}, nil
	}
	for {
		s.mu.Lock()
		if (o.Principal == "" || s.principals[o.Principal] < s.PerPrincipal) && (o.Tenant == "" || s.tenants[o.Tenant] < s.PerTenant) {
			s.principals[o.Principal]++
			s.tenants[o.Tenant]++
			s.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { s.give(o) }) }, nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

func (s *Shares) give(o Owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.principals[o.Principal]--; s.principals[o.Principal] <= 0 {
		delete(s.principals, o.Principal)
	}
	if s.tenants[o.Tenant]--; s.tenants[o.Tenant] <= 0 {
		delete(s.tenants, o.Tenant)
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// Held is how many connections principal holds now.
func (s *Shares) Held(principal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.principals[principal]
}
