package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/planner"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
	_ "github.com/cubegate/cubegate/warehouse/drivers" // every engine's driver
	"github.com/cubegate/cubegate/warehouse/rollup"
)

// Gateway is a running cubegate.
type Gateway struct {
	cfg    Config
	log    zerolog.Logger
	memory *memoryGovernor // nil without limits.memory_limit
	Auth   *auth.Service
	Keys   *auth.KeyService
	Limits *auth.Limiter
	Audit  *auth.Audit
	// Queries runs every query of the SQL and REST APIs.
	Queries *query.Service
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
	// models are the models compiled per COMPILE_CONTEXT (modelload.go).
	models modelContexts
	// plannerOpts build the planner once the warehouse answers.
	plannerOpts planner.Options
	stopRetry   chan struct{}
	ms          modelState
	reloadMu    sync.Mutex
	started     time.Time
	watcher     interface{ Close() error }
	// sources are the data sources beside the default one, by name.
	sources map[string]*source
	// rollups builds the pre-aggregations (nil: preagg.enabled is off).
	rollups *rollups
	// inval invalidates the result cache here and on the gateways
	// sharing the state store.
	inval *invalidator
	// ctl tells the gateways sharing the state store of reloads and
	// forwarded cancel requests, and hears theirs.
	ctl *control
}

// Start loads the model, opens the warehouse and the state store, and
// starts the SQL and HTTP listeners. It returns once both accept
// connections.
//
// A configuration or environment error (a busy port, a locked DuckDB file,
// a missing folder) is returned as a *SettingError naming the key, with
// everything opened so far closed again.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, errc: make(chan error, 2), Database: cfg.DataSource.Name, started: time.Now().UTC()}
	g.ms.state = "PENDING"
	if g.Database == "" {
		g.Database = Defaults().DataSource.Name
	}
	if err := g.start(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) start(ctx context.Context) (err error) {
	began := time.Now()
	cfg, log := g.cfg, g.log
	if cfg.Limits.MemoryLimit > 0 {
		// The whole process's: Go gets what DuckDB and the parser's C
		// memory leave (see memoryGovernor).
		g.memory = newMemoryGovernor(int64(cfg.Limits.MemoryLimit))
		log.Info().Str("memory_limit", cfg.Limits.MemoryLimit.String()).Msg("process memory limit set")
	}
	version := modelVersion(cfg.Model.Dir)
	if m, err := g.models.load(log, g.defaultSource()); err != nil {
		// ERROR: the listeners serve (57P03 / 503) until a reload — a
		// fixed file, SIGHUP or /admin/v1/restart — brings a valid model.
		g.ms.state, g.ms.err = "ERROR", err.Error()
		logModelErrors(log, err, "the model is invalid; serving ERROR until it is fixed")
	} else {
		g.Model = m
		g.modelLoaded(m, version)
	}
	g.store, err = auth.OpenStore(ctx, cfg.State.DSN)
	if err != nil {
		return &SettingError{Key: "state.dsn", Value: warehouse.Redact(cfg.State.DSN), Err: err}
	}
	g.Auth, err = auth.NewService(ctx, g.store)
	if err != nil {
		return &SettingError{Key: "state.dsn", Value: warehouse.Redact(cfg.State.DSN), Err: err}
	}
	g.Keys = auth.NewKeyService(g.store, cfg.APIKeys.Limit)
	for _, w := range g.store.Warnings {
		log.Warn().Msg(w)
	}
	g.Metrics = httpapi.NewMetrics()
	g.models.metrics = g.Metrics
	g.Metrics.Add(auditFailures, auditFailuresHelp, 0)
	g.Audit = auth.NewAuditWith(g.store, auth.AuditOptions{Retention: cfg.Audit.Retention, FailClosed: cfg.Audit.FailClosed,
		OnFailure: func(error) { g.Metrics.Add(auditFailures, auditFailuresHelp, 1) }, Log: auditLogger(log)})
	g.Limits = auth.NewLimiter(cfg.Limits.RequestsPerSecond, cfg.Limits.Burst, cfg.Limits.MaxConcurrentQueries)
	if err := g.Limits.Share(ctx, g.store, limitsStoreError(log)); err != nil {
		return &SettingError{Key: "state.dsn", Value: warehouse.Redact(cfg.State.DSN), Err: err}
	}
	// One query service for SQL and REST: admission, audit and metrics.
	g.Queries = &query.Service{Limits: g.Limits, Audit: g.Audit, Observe: func(e query.Event) {
		if e.Kind != "catalog" && e.Served != "" {
			g.Metrics.Observe("cubegate_warehouse_duration_seconds", "Time spent waiting on the warehouse per query, by API.", e.Wait, "api", e.API)
		}
		g.Metrics.Add("cubegate_queries_total", "Queries by API, kind and outcome.", 1, "api", e.API, "kind", e.Kind, "outcome", e.Outcome)
		g.Metrics.Observe("cubegate_query_duration_seconds", "Query latency (warehouse time included) by API.", e.Took, "api", e.API)
		g.Metrics.Add("cubegate_rows_streamed_total", "Rows sent to clients by API.", float64(e.Rows), "api", e.API)
		if e.Cached {
			g.Metrics.Add("cubegate_result_cache_hits_total", "Queries answered by the result cache, by API.", 1, "api", e.API)
		}
	}}
	if cfg.Cache.Enabled && cfg.Cache.MaxBytes > 0 {
		g.Queries.Cache = query.NewCache(int64(cfg.Cache.MaxBytes))
		c := g.Queries.Cache
		g.Metrics.Gauge("cubegate_result_cache_bytes", "Memory the result cache holds.", func() float64 { return float64(c.Stats().Bytes) })
		g.Metrics.Gauge("cubegate_result_cache_entries", "Answers the result cache holds.", func() float64 { return float64(c.Stats().Entries) })
		g.Metrics.Gauge("cubegate_result_cache_misses", "Cacheable queries the warehouse answered since start.", func() float64 { return float64(c.Stats().Misses) })
		g.Metrics.Gauge("cubegate_result_cache_evictions", "Answers dropped for the byte budget since start.", func() float64 { return float64(c.Stats().Evictions) })
	}
	if g.inval, err = newInvalidator(ctx, g.store, g.Queries.Cache, log.With().Str("component", "cache").Logger()); err != nil {
		return &SettingError{Key: "state.dsn", Value: warehouse.Redact(cfg.State.DSN), Err: err}
	}
	if cfg.PreAgg.Enabled {
		g.rollups = newRollups(rollup.Options{Dir: rollupDir(cfg), MaxBytes: int64(cfg.PreAgg.MaxBytes), MemoryLimit: int64(cfg.PreAgg.MemoryLimit)}, cfg.PreAgg.WarehouseSchema,
			log.With().Str("component", "preagg").Logger(), g.inval, g.Metrics, g.rollupSources)
		g.Queries.Rollups = g.rollups
	}
	g.plannerOpts = planner.Options{StatementTimeout: cfg.SQL.StatementTimeout, MaxStatementTimeout: cfg.SQL.statementCeiling(), Queries: g.Queries, MemberSecurity: g.Auth.MemberSecurity, Source: g.defaultSource().Name,
		Evaluator: cfg.Limits.Evaluator()}
	if g.memory != nil {
		g.plannerOpts.Evaluator.Pool.SetNativeHook(g.memory.setNative)
	}
	// The warehouse: until it answers, the gateway is PENDING (SQL logins
	// get 57P03, REST 503) and keeps trying in the background.
	if err := g.connectWarehouse(ctx); err != nil {
		if !unreachable(err) {
			return &SettingError{Key: "warehouse.dsn", Value: warehouse.Redact(cfg.Warehouse.DSN), Err: err}
		}
		g.log.Warn().Err(err).Msg("the warehouse does not answer yet; PENDING until it does")
		g.retryWarehouse()
	}
	if err := g.startSources(ctx); err != nil {
		return err
	}
	if g.rollups != nil {
		g.rollups.start()
	}
	g.watchHealth()
	if g.ctl, err = newControl(ctx, g, log.With().Str("component", "control").Logger()); err != nil {
		return &SettingError{Key: "state.dsn", Value: warehouse.Redact(cfg.State.DSN), Err: err}
	}
	if cfg.Model.Watch {
		if err := g.watchModel(); err != nil {
			return &SettingError{Key: "model.watch", Value: "true", Err: fmt.Errorf("watching %s: %w", cfg.Model.Dir, err)}
		}
	}
	// Failed SQL logins and console sign-ins count together.
	throttle := auth.NewLoginThrottle(cfg.Limits.FailedLoginWindow, cfg.Limits.FailedLoginsSlow, cfg.Limits.FailedLoginsBlock)
	pgcfg := pgwire.Config{
		Handler:                  sqlHandler{g},
		Auth:                     authenticator{svc: g.Auth, audit: g.Audit, throttle: throttle},
		Logger:                   log.With().Str("component", "pgwire").Logger(),
		ServerVersion:            planner.ServerVersion,
		MaxConnections:           cfg.SQL.MaxConnections,
		StartupTimeout:           cfg.SQL.StartupTimeout,
		IdleInTransactionTimeout: cfg.SQL.IdleInTransactionTimeout,
		MaxMessageSize:           cfg.SQL.MaxMessageSize,
		TLSRequired:              cfg.SQL.TLS.Required,
		AllowCleartext:           cfg.SQL.Auth.AllowCleartext,
		ForwardCancel:            func(h pgwire.CancelKeyHash) { g.ctl.forwardCancel(h) },
	}
	switch {
	case cfg.SQL.TLS.Cert != "" || cfg.SQL.TLS.Key != "":
		if g.certs, err = newCertStore(cfg.SQL.TLS.Cert, cfg.SQL.TLS.Key); err != nil {
			return &SettingError{Key: "sql.tls.cert", Value: cfg.SQL.TLS.Cert, Err: err}
		}
		pgcfg.TLS = g.certs.config()
	case cfg.SQL.TLS.Required:
		return settingErr("sql.tls.required", "true", "needs sql.tls.cert and sql.tls.key")
	case cfg.SQL.Auth.AllowCleartext:
		log.Warn().Msg("sql.auth.allow_cleartext has no effect without TLS: cleartext passwords are never accepted in clear")
	}
	sqlLimits(cfg, &pgcfg)
	g.pg = pgwire.NewServer(pgcfg)
	g.ctl.pg.Store(g.pg)
	g.Metrics.Gauge("cubegate_sql_sessions", "Authenticated SQL sessions.", func() float64 { return float64(g.pg.Sessions()) })
	g.Metrics.Gauge("cubegate_sql_message_memory_bytes", "Bytes of sql.message_memory the large SQL messages held now reserve.", func() float64 { return float64(g.pg.MessageMemoryUsed()) })
	g.Metrics.Gauge("cubegate_uptime_seconds", "Seconds since the gateway started.", func() float64 { return time.Since(g.started).Seconds() })
	pool := g.plannerOpts.Evaluator.Pool
	g.Metrics.Gauge("cubegate_evaluator_reserved_bytes", "Memory of the shared evaluator pool (limits.evaluator_memory) held by running statements and open results.", func() float64 { return float64(pool.Used()) })
	g.Metrics.Gauge("cubegate_go_heap_bytes", "Bytes of the Go heap in objects, live or not yet collected.", func() float64 { return float64(goMetric("/memory/classes/heap/objects:bytes")) })
	g.Metrics.Gauge("cubegate_go_memory_bytes", "Memory the Go runtime holds from the system (not released to it), against GOMEMLIMIT; DuckDB and other C memory is outside it.", func() float64 {
		return float64(goHeld())
	})
	g.sqlLn, err = net.Listen("tcp", cfg.SQL.Listen)
	if err != nil {
		return &SettingError{Key: "sql.listen", Value: cfg.SQL.Listen, Err: listenProblem(err)}
	}
	g.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return &SettingError{Key: "http.listen", Value: cfg.HTTP.Listen, Err: listenProblem(err)}
	}
	admin := &httpapi.Admin{Keys: g.Keys, Credentials: g.Auth, Connection: g.connection, Audit: g.Audit, Cache: g.Queries.Cache, Invalidate: g.inval.Invalidate, PreAggregations: g.preAggregationsAdmin(),
		Status: func(ctx context.Context, tenant string, full bool) any { return g.StatusFor(ctx, tenant, full) }, Restart: g.ReloadTenant, Ready: g.ready,
		Tenants: g.store, DataSource: func(name string) (string, bool) {
			s, ok := cfg.LookupSource(name)
			return s.Tenant, ok
		}, Model: g.sourceModel}
	rest := &httpapi.REST{Keys: g.Keys, Engine: engine{g: g}, Engines: g.engineFor, DefaultLimit: cfg.REST.DefaultLimit, MaxLimit: cfg.REST.MaxLimit, MaxFilterValues: cfg.REST.MaxFilterValues,
		Queries: g.Queries, Ready: g.ready, WS: httpapi.WSLimits{MaxConnections: cfg.REST.WebSocket.MaxConnections,
			MaxMessageBytes: int64(cfg.REST.WebSocket.MaxMessageSize), MaxInFlight: cfg.REST.WebSocket.MaxInFlight, IdleTimeout: cfg.REST.WebSocket.IdleTimeout}}
	consoleHandler, err := g.console(ctx, admin, rest, throttle, pgcfg.TLS != nil)
	if err != nil {
		return &SettingError{Key: "console.enabled", Value: "true", Err: err}
	}
	g.http = &http.Server{
		Handler: httpapi.NewHandler(httpapi.Config{Warehouse: warehousePinger{g}, Version: Version,
			Admin: admin, Console: consoleHandler,
			REST:         rest,
			Metrics:      g.Metrics,
			WriteTimeout: cfg.HTTP.WriteTimeout,
			Log:          log.With().Str("component", "http").Logger(),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
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
	return nil
}

// listenProblem says why an address cannot be listened on in words.
func listenProblem(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("the address is already in use (another cubegate or another server listens there): %w", err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("permission denied (ports below 1024 need privileges): %w", err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("no interface of this machine has that address: %w", err)
	}
	return err
}

// logModelErrors logs a model's errors one per line (each names its
// file:line), after a line saying what happens.
func logModelErrors(log zerolog.Logger, err error, msg string) {
	var lines []string
	var ves cubes.ValidationErrors
	if errors.As(err, &ves) {
		for _, e := range ves {
			lines = append(lines, e.Error())
		}
	} else {
		lines = strings.Split(strings.TrimSpace(err.Error()), "\n")
	}
	log.Error().Int("errors", len(lines)).Msg(msg)
	for _, l := range lines {
		log.Error().Msg("  " + l)
	}
}

// connectWarehouse opens the warehouse and, once it answers, the planner:
// the gateway is then RUNNING.
func (g *Gateway) connectWarehouse(ctx context.Context) error {
	wh, err := warehouse.OpenWith(ctx, g.cfg.Warehouse.DSN, g.cfg.Limits.Warehouse())
	if err != nil {
		g.ms.mu.Lock()
		g.ms.whErr = unavailableReason(err)
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
		return g.outage()
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
	sess, err := s.g.sessionFor(ctx, info)
	if err != nil {
		return nil, err
	}
	if ps, ok := sess.(*planner.Session); ok {
		return &loggedSession{Session: ps, g: s.g, info: info}, nil
	}
	return sess, nil
}

// loggedSession logs and counts every failed statement: its SQLSTATE,
// user, database and normalized text (literals replaced by $n, as the
// audit log keeps them), never a literal value or a parameter. Embedding
// the planner's session keeps every optional interface pgwire looks for
// (Locator, Timeouts, ParameterReporter, Resetter).
type loggedSession struct {
	*planner.Session
	g    *Gateway
	info pgwire.SessionInfo
}

// failed reports a statement's failure; params are the bound values,
// redacted from the message too.
func (s *loggedSession) failed(sql string, params []*string, err error) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	pe := pgerr.From(err)
	s.g.Metrics.Add("cubegate_statement_errors_total", "SQL statements that failed, by SQLSTATE.", 1, "sqlstate", pe.Code)
	norm, literals, scanned := normalizeStatement(sql)
	for _, p := range params {
		if p != nil {
			literals = append(literals, *p)
		}
	}
	msg := redactLiterals(pe.Message, literals)
	if !scanned {
		// The statement's literals are unknown: quote nothing of it.
		msg = quoted.ReplaceAllString(msg, `"…"`)
	}
	// A value may reach the message decoded ($$…$$, E'…', 'it''s') or
	// computed (upper('x')): a quoted part of it that is not a name of
	// the normalized statement (which holds no value) is blanked.
	msg = quotedSpan.ReplaceAllStringFunc(msg, func(q string) string {
		if inner := q[1 : len(q)-1]; inner != "" && inner != "…" && !strings.Contains(norm, inner) {
			return q[:1] + "…" + q[len(q)-1:]
		}
		return q
	})
	ev := s.g.log.Info()
	if strings.HasPrefix(pe.Code, "XX") || strings.HasPrefix(pe.Code, "58") {
		ev = s.g.log.Error()
	}
	ev.Str("sqlstate", pe.Code).Str("user", s.info.User).Str("database", s.info.Database).
		Str("error", msg).Str("statement", norm).Msg("statement failed")
}

func (s *loggedSession) Parse(ctx context.Context, sql string) ([]pgwire.Statement, error) {
	stmts, err := s.Session.Parse(ctx, sql)
	if err != nil {
		s.failed(sql, nil, err)
		return nil, err
	}
	for i, st := range stmts {
		stmts[i] = loggedStatement{Statement: st, s: s, sql: sql}
	}
	return stmts, nil
}

func (s *loggedSession) Prepare(ctx context.Context, sql string, paramOIDs []uint32) (pgwire.PreparedStatement, error) {
	ps, err := s.Session.Prepare(ctx, sql, paramOIDs)
	if err != nil {
		s.failed(sql, nil, err)
		return ps, err
	}
	return loggedPrepared{PreparedStatement: ps, s: s, sql: sql}, nil
}

type loggedStatement struct {
	pgwire.Statement
	s   *loggedSession
	sql string
}

func (st loggedStatement) Bind(ctx context.Context) (pgwire.Portal, error) {
	p, err := st.Statement.Bind(ctx)
	if err != nil {
		st.s.failed(st.sql, nil, err)
		return p, err
	}
	return st.s.portal(p, st.sql, nil), nil
}

type loggedPrepared struct {
	pgwire.PreparedStatement
	s   *loggedSession
	sql string
}

func (ps loggedPrepared) BindParams(ctx context.Context, values []*string) (pgwire.Portal, error) {
	p, err := ps.PreparedStatement.BindParams(ctx, values)
	if err != nil {
		ps.s.failed(ps.sql, values, err)
		return p, err
	}
	return ps.s.portal(p, ps.sql, values), nil
}

// portal wraps a portal so that an error while its rows stream is
// logged; a COPY portal stays one.
func (s *loggedSession) portal(p pgwire.Portal, sql string, params []*string) pgwire.Portal {
	if p == nil {
		return nil
	}
	lp := loggedPortal{Portal: p, s: s, sql: sql, params: params}
	if cp, ok := p.(pgwire.CopyOutPortal); ok {
		return loggedCopyPortal{loggedPortal: lp, cp: cp}
	}
	return lp
}

type loggedPortal struct {
	pgwire.Portal
	s      *loggedSession
	sql    string
	params []*string
}

func (p loggedPortal) Next(ctx context.Context) ([]any, error) {
	row, err := p.Portal.Next(ctx)
	if err != nil && err != io.EOF {
		p.s.failed(p.sql, p.params, err)
	}
	return row, err
}

type loggedCopyPortal struct {
	loggedPortal
	cp pgwire.CopyOutPortal
}

func (p loggedCopyPortal) CopyOut() (pgwire.CopyFormat, []pgwire.Column) { return p.cp.CopyOut() }

// quoted matches a double-quoted part of an error message; quotedSpan a
// double- or single-quoted one.
var (
	quoted     = regexp.MustCompile(`"[^"]*"`)
	quotedSpan = regexp.MustCompile(`"[^"]*"|'[^']*'`)
)

// isLiteral tells the scanner's literal tokens.
func isLiteral(t pg_query.Token) bool {
	switch t {
	case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_ICONST, pg_query.Token_FCONST,
		pg_query.Token_BCONST, pg_query.Token_XCONST:
		return true
	}
	return false
}

// normalizeStatement is sql with every literal replaced by $n — the
// audit log's normalization (pg_query.Normalize) — and the literals it
// replaced. A statement that does not parse is normalized token by token
// with the scanner, so a syntax error logs no literal either; one the
// scanner refuses (an unterminated quote or comment) is cut before its
// first quote, dollar or comment (scanned is then false).
func normalizeStatement(sql string) (norm string, literals []string, scanned bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		cut := len(sql)
		for _, mark := range []string{"'", "$", "/*", "--", `"`} {
			if i := strings.Index(sql, mark); i >= 0 && i < cut {
				cut = i
			}
		}
		if cut < len(sql) {
			if prefix, lits, ok := normalizeStatement(sql[:cut]); ok {
				return strings.TrimSpace(prefix + " …"), lits, false
			}
		}
		return "(statement not shown: it cannot be scanned)", nil, false
	}
	for _, t := range res.Tokens {
		if isLiteral(t.Token) {
			lit := sql[t.Start:t.End]
			literals = append(literals, lit, strings.Trim(lit, "'"))
		}
	}
	// Normalize parses: only a statement short enough that it cannot
	// nest past what libpg_query walks safely (the planner refuses longer
	// deep ones before parsing, 54001) goes through it.
	if len(sql) <= 4000 {
		if norm, err := pg_query.Normalize(sql); err == nil {
			return oneLine(norm), literals, true
		}
	}
	// A syntax error: replace the literal tokens and drop the comments.
	var b strings.Builder
	n, last := 0, int32(0)
	for _, t := range res.Tokens {
		switch {
		case isLiteral(t.Token):
			n++
			b.WriteString(sql[last:t.Start])
			fmt.Fprintf(&b, "$%d", n)
			last = t.End
		case t.Token == pg_query.Token_SQL_COMMENT || t.Token == pg_query.Token_C_COMMENT:
			b.WriteString(sql[last:t.Start])
			last = t.End
		}
	}
	b.WriteString(sql[last:])
	return oneLine(b.String()), literals, true
}

// oneLine folds whitespace runs into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// redactLiterals removes the statement's literal values from an error
// message (PostgreSQL quotes the offending value in some messages).
func redactLiterals(msg string, literals []string) string {
	sort.Slice(literals, func(i, j int) bool { return len(literals[i]) > len(literals[j]) })
	for _, l := range literals {
		if l != "" {
			msg = strings.ReplaceAll(msg, l, "…")
		}
	}
	return msg
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
	g.ctl.close()
	if g.memory != nil {
		defer g.memory.Close()
	}
	if g.watcher != nil {
		g.watcher.Close()
	}
	var errs []error
	if g.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, g.http.Shutdown(ctx))
		// WebSocket connections (hijacked) end before what they use closes.
		if ws, ok := g.http.Handler.(interface{ CloseWebSockets(context.Context) error }); ok {
			errs = append(errs, ws.CloseWebSockets(ctx))
		}
		cancel()
	} else if g.httpLn != nil {
		g.httpLn.Close()
	}
	if g.pg != nil {
		errs = append(errs, g.pg.Close())
	} else if g.sqlLn != nil {
		g.sqlLn.Close()
	}
	if g.rollups != nil {
		errs = append(errs, g.rollups.Close())
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
	g.inval.close()
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
func (e engine) Source() string { return e.g.defaultSource().Name }
func (e engine) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
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

// sourceModel is a data source's loaded model (nil: none loaded), which
// credentials' security contexts are checked against.
func (g *Gateway) sourceModel(name string) *cubes.Model {
	if name == g.Database {
		return g.CurrentModel()
	}
	if s, ok := g.sources[name]; ok {
		if h := s.handler.Load(); h != nil {
			return h.Model()
		}
	}
	return nil
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
