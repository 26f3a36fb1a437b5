package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// authenticator lets pgwire check logins against the state store, and
// slows then blocks an address that keeps failing.
type authenticator struct {
	svc      *auth.Service
	throttle *auth.LoginThrottle
	audit    *auth.Audit
}

type scramExchange struct {
	*auth.SCRAMExchange
	attempt *auth.LoginAttempt
	audit   *auth.Audit
	addr    net.Addr
	user    string
}

// logLogin records a login attempt (never its password).
func logLogin(a *auth.Audit, addr net.Addr, user string, p auth.Principal, ok bool) {
	e := auth.AuditEvent{Kind: "login", Action: "sql", Outcome: "ok", Username: user, TenantID: p.TenantID, CredentialID: p.CredentialID}
	if addr != nil {
		e.Address = addr.String()
	}
	if !ok {
		e.Outcome = "failed"
	}
	a.Log(e)
}

func (e scramExchange) Principal() any { return e.SCRAMExchange.Principal() }

func (e scramExchange) Next(in []byte) ([]byte, bool, error) {
	out, done, err := e.SCRAMExchange.Next(in)
	switch {
	case err != nil:
		e.attempt.Failed()
		logLogin(e.audit, e.addr, e.user, auth.Principal{}, false)
	case done:
		e.attempt.Succeeded()
		logLogin(e.audit, e.addr, e.user, e.SCRAMExchange.Principal(), true)
	}
	return out, done, err
}

// End ends the attempt if Next did not (the client left before its
// proof was checked: no failure); pgwire calls it when the exchange is over.
func (e scramExchange) End() { e.attempt.End() }

// admit counts the attempt (in flight until its password is checked) and
// waits or refuses as the throttle says for the client's address and the
// user.
func (a authenticator) admit(ctx context.Context, user string) (net.Addr, *auth.LoginAttempt, error) {
	addr := pgwire.RemoteAddr(ctx)
	at, wait, err := a.throttle.Begin(ctx, addr, user)
	var blocked *auth.LoginBlockedError
	if errors.As(err, &blocked) {
		return addr, nil, pgerr.Fatal(pgerrcode.InvalidAuthorizationSpecification, "too many failed logins from this address").
			WithHint("try again in %s", blocked.Retry.Round(time.Second))
	}
	if err != nil {
		return addr, nil, err
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			at.End()
			return addr, nil, ctx.Err()
		}
	}
	return addr, at, nil
}

func (a authenticator) SCRAM(ctx context.Context, user, _ string, cb pgwire.ChannelBinding) (pgwire.SASLExchange, error) {
	addr, at, err := a.admit(ctx, user)
	if err != nil {
		return nil, err
	}
	ex, err := a.svc.BeginSCRAM(ctx, user)
	if err != nil {
		at.End()
		return nil, err
	}
	ex.ChannelBinding(cb.Data, cb.Plus, cb.Offered)
	return scramExchange{SCRAMExchange: ex, attempt: at, audit: a.audit, addr: addr, user: user}, nil
}

func (a authenticator) Password(ctx context.Context, user, _, password string) (any, bool, error) {
	addr, at, err := a.admit(ctx, user)
	if err != nil {
		return nil, false, err
	}
	defer at.End() // the store failed: nothing was checked
	p, ok, err := a.svc.CheckPassword(ctx, user, password)
	switch {
	case err != nil:
	case ok:
		at.Succeeded()
	default:
		at.Failed()
	}
	if err == nil {
		logLogin(a.audit, addr, user, p, ok)
	}
	return p, ok, err
}

// sqlLimits sets the SQL listener's per-session and server-wide limits
// from the configuration, with the names of their settings for the errors.
func sqlLimits(cfg Config, pc *pgwire.Config) {
	pc.MaxPreparedStatements = cfg.Limits.MaxPreparedStatements
	pc.MaxPortals = cfg.Limits.MaxCursors
	pc.MessageMemory, _ = cfg.messageMemory()
	pc.Settings = pgwire.LimitSettings{MaxPreparedStatements: "limits.max_prepared_statements", MaxPortals: "limits.max_cursors",
		MessageMemory: "sql.message_memory", MaxMessageSize: "sql.max_message_size"}
	pc.Admit = newSessionSlots(cfg.SQL).admit
}

// messageMemory is the SQL listener's message memory budget:
// sql.message_memory, else a quarter of limits.memory_limit, else 256MiB
// (pgwire's default); from says which.
func (c Config) messageMemory() (n int64, from string) {
	switch {
	case c.SQL.MessageMemory > 0:
		return int64(c.SQL.MessageMemory), "sql.message_memory"
	case c.Limits.MemoryLimit > 0:
		return int64(c.Limits.MemoryLimit) / 4, "limits.memory_limit"
	}
	return 256 << 20, ""
}

// maxMessageSize is sql.max_message_size, else pgwire's default 64MiB.
func (c Config) maxMessageSize() int64 {
	if c.SQL.MaxMessageSize > 0 {
		return int64(c.SQL.MaxMessageSize)
	}
	return 64 << 20
}

// checkMessageMemory refuses a message memory budget that cannot hold
// the largest message sql.max_message_size admits (each message held
// reserves twice its length): such a message would end its session
// with 54000 although the configured maximum allows it.
func (c Config) checkMessageMemory() error {
	budget, from := c.messageMemory()
	maxMsg := c.maxMessageSize()
	if 2*maxMsg <= budget {
		return nil
	}
	fix := fmt.Sprintf("a message reserves twice its length while it is held; set sql.message_memory to at least %s or sql.max_message_size to at most %s",
		ByteSize(2*maxMsg), ByteSize(budget/2))
	switch from {
	case "sql.message_memory":
		return settingErr("sql.message_memory", ByteSize(budget).String(), "cannot hold a message of sql.max_message_size (%s): %s", ByteSize(maxMsg), fix)
	case "limits.memory_limit":
		return settingErr("sql.message_memory", "", "unset, a quarter of limits.memory_limit (%s) is %s, too small for a message of sql.max_message_size (%s): %s",
			c.Limits.MemoryLimit, ByteSize(budget), ByteSize(maxMsg), fix)
	}
	return settingErr("sql.max_message_size", ByteSize(maxMsg).String(), "is more than half of sql.message_memory (unset: %s): %s", ByteSize(budget), fix)
}

// sessionSlots counts the SQL sessions of each credential and each
// tenant, so that one of them cannot take every connection slot.
type sessionSlots struct {
	perCredential, perTenant int
	mu                       sync.Mutex
	byCredential, byTenant   map[string]int
}

func newSessionSlots(c SQLConfig) *sessionSlots {
	maxConn := c.MaxConnections
	if maxConn <= 0 {
		maxConn = Defaults().SQL.MaxConnections
	}
	s := &sessionSlots{perCredential: c.MaxSessionsPerCredential, perTenant: c.MaxSessionsPerTenant,
		byCredential: map[string]int{}, byTenant: map[string]int{}}
	if s.perCredential <= 0 {
		s.perCredential = max(maxConn/2, 1)
	}
	if s.perTenant <= 0 {
		s.perTenant = max(maxConn*3/4, 1)
	}
	return s
}

// admit takes a slot of the principal's credential and tenant for a new
// session (pgwire.Config.Admit); release gives them back.
func (s *sessionSlots) admit(_ context.Context, info pgwire.SessionInfo) (func(), error) {
	p, ok := info.Principal.(auth.Principal)
	if !ok {
		return func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byCredential[p.CredentialID] >= s.perCredential {
		return nil, pgerr.Fatal(pgerrcode.TooManyConnections, "too many connections for credential %q", p.Username).
			WithHint("A credential may hold %d sessions (sql.max_sessions_per_credential); close some first.", s.perCredential)
	}
	if s.byTenant[p.TenantID] >= s.perTenant {
		return nil, pgerr.Fatal(pgerrcode.TooManyConnections, "too many connections for tenant %q", p.TenantID).
			WithHint("A tenant may hold %d sessions (sql.max_sessions_per_tenant); close some first.", s.perTenant)
	}
	s.byCredential[p.CredentialID]++
	s.byTenant[p.TenantID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for m, k := range map[*map[string]int]string{&s.byCredential: p.CredentialID, &s.byTenant: p.TenantID} {
				if (*m)[k]--; (*m)[k] <= 0 {
					delete(*m, k)
				}
			}
		})
	}, nil
}
