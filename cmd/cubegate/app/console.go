package app

import (
	"context"
	"net/http"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/httpapi/console"
)

// console is the web console on the HTTP listener (nil when
// console.enabled is off): it acts through admin, the admin API, and
// counts failed sign-ins with the SQL listener's throttle.
func (g *Gateway) console(ctx context.Context, admin *httpapi.Admin, rest *httpapi.REST, throttle *auth.LoginThrottle, sqlTLS bool) (http.Handler, error) {
	cfg := g.cfg
	if !cfg.Console.Enabled {
		return nil, nil
	}
	users, err := auth.NewConsoleUsers(ctx, g.store)
	if err != nil {
		return nil, err
	}
	c, err := console.New(console.Config{
		Admin: admin, Users: users, Throttle: throttle,
		Sources: func() []console.Source {
			var out []console.Source
			for _, s := range cfg.Sources() {
				out = append(out, console.Source{Name: s.Name, Tenant: s.Tenant})
			}
			return out
		},
		SQLAddr: func() (string, string) {
			host, port, _ := ClientHost(g.sqlLn.Addr().String())
			return host, port
		},
		SQLTLS: sqlTLS, PublicHost: cfg.Console.PublicHost,
		IdleTimeout: cfg.Console.IdleTimeout, Lifetime: cfg.Console.SessionLifetime,
		TrustForwardedProto: cfg.Console.TrustForwardedProto,
		Version:             Version,
		Explore:             consoleExplorer{g: g, rest: rest},
		Log:                 g.log.With().Str("component", "console").Logger(),
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
