package app

import (
	"context"
	"net"
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

// admit counts the attempt (a failure until it succeeds) and waits or
// refuses as the throttle says for the client's address and the user.
func (a authenticator) admit(ctx context.Context, user string) (net.Addr, *auth.LoginAttempt, error) {
	addr := pgwire.RemoteAddr(ctx)
	at, wait, blocked, retry := a.throttle.Begin(addr, user)
	if blocked {
		return addr, nil, pgerr.Fatal(pgerrcode.InvalidAuthorizationSpecification, "too many failed logins from this address").
			WithHint("try again in %s", retry.Round(time.Second))
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return addr, at, ctx.Err()
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
	p, ok, err := a.svc.CheckPassword(ctx, user, password)
	if ok {
		at.Succeeded()
	}
	if err == nil {
		logLogin(a.audit, addr, user, p, ok)
	}
	return p, ok, err
}
