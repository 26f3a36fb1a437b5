package app

import (
	"context"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/pgwire"
)

// authenticator lets pgwire check logins against the state store.
type authenticator struct{ svc *auth.Service }

type scramExchange struct{ *auth.SCRAMExchange }

func (e scramExchange) Principal() any { return e.SCRAMExchange.Principal() }

func (a authenticator) SCRAM(ctx context.Context, user, _ string, cb pgwire.ChannelBinding) (pgwire.SASLExchange, error) {
	ex, err := a.svc.BeginSCRAM(ctx, user)
	if err != nil {
		return nil, err
	}
	ex.ChannelBinding(cb.Data, cb.Plus, cb.Offered)
	return scramExchange{ex}, nil
}

func (a authenticator) Password(ctx context.Context, user, _, password string) (any, bool, error) {
	p, ok, err := a.svc.CheckPassword(ctx, user, password)
	return p, ok, err
}
