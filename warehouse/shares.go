package warehouse

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgerrcode"
)

// Options are how a warehouse is opened beyond its DSN; the zero value
// is the defaults.
type Options struct {
	// PrincipalConnections is how many of a pooled warehouse's
	// connections one principal (a credential, an API key) holds at once:
	// 0 is half the pool, at least 1.
	PrincipalConnections int
}

// Owner is whom a statement's warehouse connection is held for: a
// principal (a credential or an API key) of a tenant, in one session (a
// SQL session; "" when the statement's session cannot hold several).
// The query service puts it in the statement's context (WithOwner); a
// context without one is the gateway's own and is not held to a share.
type Owner struct {
	Principal, Tenant, Session string
}

// key names o's principal across tenants (ids are unique, user names
// need not be).
func (o Owner) key() string { return o.Tenant + "/" + o.Principal }

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

// ShareError is a statement whose own session holds every connection of
// its principal's share (open cursors, unread results): waiting would
// never end, since only that session could give one back.
type ShareError struct{ Held int }

func (e *ShareError) Error() string {
	return fmt.Sprintf("this session holds all %d warehouse connections its credential or key may use at once (limits.principal_connections): close a cursor or read a result to its end first", e.Held)
}

func (e *ShareError) SQLState() string { return pgerrcode.ConfigurationLimitExceeded }

// Shares is a fair share of a pool of connections: a principal holds at
// most PerPrincipal at once, so that one user's unread results or open
// cursors cannot take every connection. A statement over its share
// waits — for as long as its context lets it (statement_timeout,
// cancel) — for one of its own to be given back, unless its own session
// holds them all (*ShareError at once).
type Shares struct {
	// Size is the pool's size; PerPrincipal the share.
	Size, PerPrincipal int

	mu   sync.Mutex
	held map[string]*holding // by Owner.key
	wake chan struct{}       // closed when a connection is given back
}

type holding struct {
	n         int
	bySession map[string]int
}

// NewShares shares a pool of size connections, perPrincipal each
// principal (0: half the pool, at least 1).
func NewShares(size, perPrincipal int) *Shares {
	if perPrincipal <= 0 {
		perPrincipal = max(1, size/2)
	}
	return &Shares{Size: size, PerPrincipal: perPrincipal, held: map[string]*holding{}, wake: make(chan struct{})}
}

// Acquire takes one connection of o's share and returns the func that
// gives it back. It fails with ctx's error when ctx ends first, and with
// a *ShareError when o's session holds the whole share. The zero Owner
// takes no share.
func (s *Shares) Acquire(ctx context.Context, o Owner) (func(), error) {
	if s == nil || o == (Owner{}) {
		return func() {}, nil
	}
	k := o.key()
	for {
		s.mu.Lock()
		h := s.held[k]
		if h == nil {
			h = &holding{bySession: map[string]int{}}
			s.held[k] = h
		}
		if h.n < s.PerPrincipal {
			h.n++
			h.bySession[o.Session]++
			s.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { s.give(k, o.Session) }) }, nil
		}
		if o.Session != "" && h.bySession[o.Session] == h.n {
			s.mu.Unlock()
			return nil, &ShareError{Held: h.n}
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

func (s *Shares) give(k, session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.held[k]
	h.n--
	if h.bySession[session]--; h.bySession[session] <= 0 {
		delete(h.bySession, session)
	}
	if h.n <= 0 {
		delete(s.held, k)
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// Held is how many connections o's principal holds now.
func (s *Shares) Held(o Owner) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.held[o.key()]; h != nil {
		return h.n
	}
	return 0
}
