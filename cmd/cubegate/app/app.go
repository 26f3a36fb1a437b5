package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/planner"
	"github.com/cubegate/cubegate/warehouse"
)

// Gateway is a running cubegate.
type Gateway struct {
	cfg     Config
	log     zerolog.Logger
	Auth    *auth.Service
	Keys    *auth.KeyService
	Limits  *auth.Limiter
	Audit   *auth.Audit
	Metrics *httpapi.Metrics
	store   *auth.Store
	wh      whHolder
	pg      *pgwire.Server
	http    *http.Server
	sqlLn   net.Listener
	httpLn  net.Listener
	errc    chan error
	Startup time.Duration
	certs   *certStore
	// Model is the model the gateway started with (CurrentModel is the
	// one serving now).
	Model    *cubes.Model
	Database string
	handler  atomic.Pointer[planner.Handler]
	// plannerOpts build the planner once the warehouse answers.
	plannerOpts planner.Options
	stopRetry   chan struct{}
	ms          modelState
	reloadMu    sync.Mutex
	started     time.Time
	watcher     interface{ Close() error }
	// sources are the data sources beside the default one, by name.
	sources map[string]*source
}

// Start loads the model, opens the warehouse and the state store, and
// starts the SQL and HTTP listeners. It returns once both accept
// connections.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (g *Gateway, err error) {
	began := time.Now()
	g = &Gateway{cfg: cfg, log: log, errc: make(chan error, 2), Database: cfg.DataSource.Name, started: time.Now().UTC()}
	g.ms.state = "PENDING"
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if g.Database == "" {
		g.Database = Defaults().DataSource.Name
	}
	if _, err := os.Stat(cfg.Model.Dir); err != nil {
		return nil, fmt.Errorf("model.dir: %w", err)
	}
	version := modelVersion(cfg.Model.Dir)
	if m, err := cubes.LoadDir(cfg.Model.Dir); err != nil {
		// ERROR: the listeners serve (57P03 / 503) until a reload — a
		// fixed file, SIGHUP or /admin/v1/restart — brings a valid model.
		g.ms.state, g.ms.err = "ERROR", err.Error()
		log.Error().Err(err).Msg("the model is invalid; serving ERROR until it is fixed")
	} else {
		g.Model = m
		g.modelLoaded(m, version)
	}
	g.store, err = auth.OpenStore(ctx, cfg.State.DSN)
	if err != nil {
		return nil, err
	}
	g.Auth, err = auth.NewService(ctx, g.store)
	if err != nil {
		return nil, err
	}
	g.Keys = auth.NewKeyService(g.store, cfg.APIKeys.Limit)
	g.Audit = auth.NewAudit(g.store)
	g.Limits = auth.NewLimiter(cfg.Limits.RequestsPerSecond, cfg.Limits.Burst, cfg.Limits.MaxConcurrentQueries)
	g.Metrics = httpapi.NewMetrics()
	observe := func(kind, outcome string, rows int64, d, wait time.Duration) {
		if kind != "catalog" {
			g.Metrics.Observe("cubegate_warehouse_duration_seconds", "Time spent waiting on the warehouse per query, by API.", wait, "api", "sql")
		}
		g.Metrics.Add("cubegate_queries_total", "Queries by API, kind and outcome.", 1, "api", "sql", "kind", kind, "outcome", outcome)
		g.Metrics.Observe("cubegate_query_duration_seconds", "Query latency (warehouse time included) by API.", d, "api", "sql")
		g.Metrics.Add("cubegate_rows_streamed_total", "Rows sent to clients by API.", float64(rows), "api", "sql")
	}
	g.plannerOpts = planner.Options{StatementTimeout: cfg.SQL.StatementTimeout, Limits: g.Limits, Audit: g.Audit, Observe: observe}
	// The warehouse: until it answers, the gateway is PENDING (SQL logins
	// get 57P03, REST 503) and keeps trying in the background.
	if err := g.connectWarehouse(ctx); err != nil {
		if !unreachable(err) {
			return nil, err
		}
		g.log.Warn().Err(err).Msg("the warehouse does not answer yet; PENDING until it does")
		g.retryWarehouse()
	}
	if err := g.startSources(ctx); err != nil {
		return nil, err
	}
	if cfg.Model.Watch {
		if err := g.watchModel(); err != nil {
			return nil, fmt.Errorf("watching %s: %w", cfg.Model.Dir, err)
		}
	}
	pgcfg := pgwire.Config{
		Handler:                  sqlHandler{g},
		Auth:                     authenticator{svc: g.Auth, audit: g.Audit, throttle: auth.NewLoginThrottle(cfg.Limits.FailedLoginWindow, cfg.Limits.FailedLoginsSlow, cfg.Limits.FailedLoginsBlock)},
		Logger:                   log.With().Str("component", "pgwire").Logger(),
		ServerVersion:            planner.ServerVersion,
		MaxConnections:           cfg.SQL.MaxConnections,
		StartupTimeout:           cfg.SQL.StartupTimeout,
		IdleInTransactionTimeout: cfg.SQL.IdleInTransactionTimeout,
		MaxMessageSize:           cfg.SQL.MaxMessageSize,
		TLSRequired:              cfg.SQL.TLS.Required,
		AllowCleartext:           cfg.SQL.Auth.AllowCleartext,
	}
	switch {
	case cfg.SQL.TLS.Cert != "" || cfg.SQL.TLS.Key != "":
		if g.certs, err = newCertStore(cfg.SQL.TLS.Cert, cfg.SQL.TLS.Key); err != nil {
			return nil, err
		}
		pgcfg.TLS = g.certs.config()
	case cfg.SQL.TLS.Required:
		return nil, fmt.Errorf("sql.tls.required needs sql.tls.cert and sql.tls.key")
	case cfg.SQL.Auth.AllowCleartext:
		log.Warn().Msg("sql.auth.allow_cleartext has no effect without TLS: cleartext passwords are never accepted in clear")
	}
	g.pg = pgwire.NewServer(pgcfg)
	g.Metrics.Gauge("cubegate_sql_sessions", "Authenticated SQL sessions.", func() float64 { return float64(g.pg.Sessions()) })
	g.Metrics.Gauge("cubegate_uptime_seconds", "Seconds since the gateway started.", func() float64 { return time.Since(g.started).Seconds() })
	g.sqlLn, err = net.Listen("tcp", cfg.SQL.Listen)
	if err != nil {
		return nil, fmt.Errorf("sql.listen: %w", err)
	}
	g.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	g.http = &http.Server{
		Handler: httpapi.NewHandler(httpapi.Config{Warehouse: warehousePinger{g}, Version: Version,
			Admin: &httpapi.Admin{Keys: g.Keys, Credentials: g.Auth, Connection: g.connection, Audit: g.Audit,
				Status: func(ctx context.Context) any { return g.Status(ctx) }, Restart: g.ReloadModel, Ready: g.ready,
				Tenants: g.store, DataSource: func(name string) (string, bool) {
					s, ok := cfg.LookupSource(name)
					return s.Tenant, ok
				}},
			REST: &httpapi.REST{Keys: g.Keys, Engine: engine{g: g}, Engines: g.engineFor, DefaultLimit: cfg.REST.DefaultLimit, MaxLimit: cfg.REST.MaxLimit,
				Limits: g.Limits, Audit: g.Audit, Metrics: g.Metrics, Ready: g.ready},
			Metrics: g.Metrics,
			Log:     log.With().Str("component", "http").Logger(),
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := g.pg.Serve(g.sqlLn); err != nil && !errors.Is(err, pgwire.ErrServerClosed) {
			g.errc <- fmt.Errorf("sql listener: %w", err)
		}
	}()
	go func() {
		if err := g.http.Serve(g.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.errc <- fmt.Errorf("http listener: %w", err)
		}
	}()
	g.Startup = time.Since(began)
	if h := g.handler.Load(); h != nil {
		log.Info().Str("sql", g.sqlLn.Addr().String()).Str("http", g.httpLn.Addr().String()).
			Str("warehouse", g.wh.Load().Dialect()).Int("cubes", len(h.Model().Cubes)).Dur("startup", g.Startup).Msg("cubegate is ready")
	}
	return g, nil
}

// connectWarehouse opens the warehouse and, once it answers, the planner:
// the gateway is then RUNNING.
func (g *Gateway) connectWarehouse(ctx context.Context) error {
	wh, err := warehouse.Open(ctx, g.cfg.Warehouse.DSN)
	if err != nil {
		g.ms.mu.Lock()
		g.ms.whErr = err.Error()
		g.ms.mu.Unlock()
		return err
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	g.wh.Store(wh)
	g.ms.mu.Lock()
	g.ms.whErr = ""
	g.ms.mu.Unlock()
	return g.tryRunLocked()
}

// tryRunLocked starts serving once there is both a valid model and a
// warehouse (reloadMu held).
func (g *Gateway) tryRunLocked() error {
	wh := g.wh.Load()
	if g.handler.Load() != nil || g.Model == nil || wh == nil {
		return nil
	}
	h, err := planner.NewHandler(g.Model, wh, g.log, g.plannerOpts)
	if err != nil {
		return err
	}
	g.handler.Store(h)
	g.setState("RUNNING")
	return nil
}

// retryWarehouse keeps trying to reach the warehouse, once a second.
func (g *Gateway) retryWarehouse() {
	g.stopRetry = make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-g.stopRetry:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := g.connectWarehouse(ctx)
				cancel()
				if err == nil {
					g.log.Info().Msg("the warehouse answers: cubegate is ready")
					return
				}
			}
		}
	}()
}

// whHolder holds the warehouse once it answers.
type whHolder struct{ p atomic.Pointer[whBox] }

type whBox struct{ w warehouse.Warehouse }

func (h *whHolder) Load() warehouse.Warehouse {
	if b := h.p.Load(); b != nil {
		return b.w
	}
	return nil
}

func (h *whHolder) Store(w warehouse.Warehouse) { h.p.Store(&whBox{w}) }

// unreachable tells a warehouse that does not answer (yet) from a
// configuration error.
func unreachable(err error) bool {
	var op *net.OpError
	var ce *pgconn.ConnectError
	return errors.As(err, &op) || errors.As(err, &ce)
}

// ready is nil once the gateway serves queries.
func (g *Gateway) ready() error {
	if g.handler.Load() != nil {
		return nil
	}
	g.ms.mu.Lock()
	defer g.ms.mu.Unlock()
	if g.ms.state == "ERROR" {
		return fmt.Errorf("cubegate cannot serve: the model is invalid: %s", g.ms.err)
	}
	return fmt.Errorf("cubegate is starting: the warehouse does not answer yet (%s)", g.ms.whErr)
}

// sqlHandler opens SQL sessions once the gateway is RUNNING; before, a
// login gets 57P03 as PostgreSQL answers while it starts.
type sqlHandler struct{ g *Gateway }

func (s sqlHandler) NewSession(ctx context.Context, info pgwire.SessionInfo) (pgwire.Session, error) {
	return s.g.sessionFor(ctx, info)
}

type warehousePinger struct{ g *Gateway }

func (p warehousePinger) Ping(ctx context.Context) error {
	wh := p.g.wh.Load()
	if wh == nil {
		return p.g.ready()
	}
	return wh.Ping(ctx)
}

// SQLAddr is the SQL listener's address.
func (g *Gateway) SQLAddr() net.Addr { return g.sqlLn.Addr() }

// HTTPAddr is the HTTP listener's address.
func (g *Gateway) HTTPAddr() net.Addr { return g.httpLn.Addr() }

// Warehouse is the warehouse the gateway queries.
func (g *Gateway) Warehouse() warehouse.Warehouse { return g.wh.Load() }

// Wait blocks until ctx ends or a listener fails.
func (g *Gateway) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-g.errc:
		return err
	}
}

// Reload re-reads what can change while serving: the model (swapped in
// atomically when valid) and the TLS certificate (new handshakes use it;
// open sessions keep theirs).
func (g *Gateway) Reload() error {
	if err := g.ReloadModel(); err != nil {
		return err
	}
	if g.certs != nil {
		if err := g.certs.reload(); err != nil {
			g.log.Error().Err(err).Msg("reload: keeping the old certificate")
			return err
		}
		g.log.Info().Msg("reload: TLS certificate reloaded")
	}
	return nil
}

// Shutdown stops accepting, lets running statements finish within the
// drain timeout (sql.drain_timeout), ends the sessions with 57P01, and
// releases everything.
func (g *Gateway) Shutdown() error {
	drain := g.cfg.SQL.DrainTimeout
	if drain <= 0 {
		drain = Defaults().SQL.DrainTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	g.setState("STOPPING")
	var errs []error
	if g.http != nil {
		errs = append(errs, g.http.Shutdown(ctx))
	}
	if g.pg != nil {
		g.log.Info().Dur("drain_timeout", drain).Msg("shutting down: draining sessions")
		errs = append(errs, g.pg.Shutdown(ctx))
	}
	return errors.Join(append(errs, g.Close())...)
}

// Close stops the listeners and releases everything.
func (g *Gateway) Close() error {
	g.setState("STOPPING")
	if g.watcher != nil {
		g.watcher.Close()
	}
	var errs []error
	if g.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, g.http.Shutdown(ctx))
		cancel()
	} else if g.httpLn != nil {
		g.httpLn.Close()
	}
	if g.pg != nil {
		errs = append(errs, g.pg.Close())
	} else if g.sqlLn != nil {
		g.sqlLn.Close()
	}
	if g.stopRetry != nil {
		select {
		case <-g.stopRetry:
		default:
			close(g.stopRetry)
		}
	}
	if wh := g.wh.Load(); wh != nil {
		errs = append(errs, wh.Close())
	}
	for _, s := range g.sources {
		errs = append(errs, s.close())
	}
	if g.Keys != nil {
		g.Keys.Close()
	}
	g.Audit.Close()
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	return errors.Join(errs...)
}

// engine runs REST queries on the model the SQL side serves.
type engine struct{ g *Gateway }

func (e engine) Model() *cubes.Model { return e.g.CurrentModel() }
func (e engine) Dialect() cubes.Dialect {
	d, _ := cubes.DialectByName(e.g.wh.Load().Dialect())
	return d
}
func (e engine) DBType() string { return e.g.wh.Load().Dialect() }
func (e engine) Query(ctx context.Context, sql string, args ...any) (httpapi.Rows, error) {
	return e.g.wh.Load().Query(ctx, sql, args...)
}

// connection is how a client reaches the gateway with credential c: host,
// port, database, username, connection string and psql command, with a
// placeholder where the password goes (it is never shown again).
func (g *Gateway) connection(c auth.Credential) map[string]any {
	host, port, err := ClientHost(g.sqlLn.Addr().String())
	if err != nil {
		return nil
	}
	connStr := ConnectionString(c.Username, "PASSWORD", host, port, c.Database)
	return map[string]any{"host": host, "port": port, "connection_string": connStr, "psql": `psql "` + connStr + `"`}
}

// MintCredential creates a SQL credential for the gateway's data source and
// returns it with its password and connection string.
func (g *Gateway) MintCredential(ctx context.Context, label string) (auth.Credential, string, string, error) {
	c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: label, Database: g.Database})
	if err != nil {
		return c, "", "", err
	}
	host, port, err := ClientHost(g.sqlLn.Addr().String())
	if err != nil {
		return c, "", "", err
	}
	return c, pw, ConnectionString(c.Username, pw, host, port, c.Database), nil
}
