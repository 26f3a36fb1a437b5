package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/planner"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// source is a data source served beside the default one (data_sources in
// the configuration): its own model, warehouse and planner, its own
// PENDING / RUNNING / ERROR state.
type source struct {
	spec    DataSourceSpec
	log     zerolog.Logger
	opts    planner.Options
	handler atomic.Pointer[planner.Handler]
	mu      sync.Mutex
	state   string
	err     string
	model   *cubes.Model
	wh      warehouse.Warehouse
	whOpts  warehouse.Options
	stop    chan struct{}
	// outage is why the warehouse stopped answering once it had (the
	// health check): the source is PENDING meanwhile.
	outage string
	// rollups builds the gateway's pre-aggregations (nil: none).
	rollups *rollups
	// inval invalidates the gateway's result cache (and the others').
	inval *invalidator
	// models are the gateway's models per COMPILE_CONTEXT.
	models *modelContexts
}

// startSources brings up the configured data sources beside the default
// one. A source whose model is invalid is ERROR, one whose warehouse does
// not answer yet is PENDING (and retried every second); neither stops the
// gateway or the other sources.
func (g *Gateway) startSources(ctx context.Context) error {
	if err := g.cfg.checkSources(); err != nil {
		return err
	}
	g.sources = map[string]*source{}
	for _, spec := range g.cfg.Sources()[1:] {
		s := &source{spec: spec, log: g.log.With().Str("data_source", spec.Name).Logger(), opts: g.plannerOpts, whOpts: g.cfg.Limits.Warehouse(), state: "PENDING", stop: make(chan struct{})}
		s.opts.Source, s.rollups, s.inval, s.models = spec.Name, g.rollups, g.inval, &g.models
		g.sources[spec.Name] = s
		m, err := s.models.load(s.log, spec)
		if err != nil {
			s.state, s.err = "ERROR", err.Error()
			logModelErrors(s.log, err, "the data source's model is invalid; ERROR until it is fixed")
			continue
		}
		s.model = m
		if err := s.connect(ctx); err != nil {
			if !unreachable(err) {
				return fmt.Errorf("data source %q: %w", spec.Name, err)
			}
			s.log.Warn().Err(err).Msg("the data source's warehouse does not answer yet; PENDING until it does")
			go s.retry()
		}
	}
	return nil
}

func (s *source) connect(ctx context.Context) error {
	wh, err := warehouse.OpenWith(ctx, s.spec.WarehouseDSN, s.whOpts)
	if err != nil {
		s.mu.Lock()
		s.err = unavailableReason(err)
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	m := s.model
	s.mu.Unlock()
	h, err := planner.NewHandler(m, wh, s.log, s.opts)
	if err != nil {
		wh.Close()
		return err
	}
	s.mu.Lock()
	s.wh, s.state, s.err = wh, "RUNNING", ""
	s.mu.Unlock()
	s.handler.Store(h)
	return nil
}

func (s *source) retry() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.connect(ctx)
			cancel()
			if err == nil {
				s.log.Info().Msg("the data source's warehouse answers: serving it")
				return
			}
		}
	}
}

// reload re-reads the source's model; a refused one keeps the previous.
func (s *source) reload() error {
	m, err := s.models.load(s.log, s.spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err.Error()
		if s.model == nil {
			s.state = "ERROR"
		}
		return fmt.Errorf("data source %q: %w", s.spec.Name, err)
	}
	s.model = m
	if h := s.handler.Load(); h != nil {
		h.SetModel(m)
		s.inval.Invalidate(query.Scope{Source: s.spec.Name})
		if s.rollups != nil {
			s.rollups.poke()
		}
		s.err = ""
	} else if s.state == "ERROR" {
		s.state, s.err = "PENDING", ""
		go func() {
			if err := s.connect(context.Background()); err != nil {
				s.retry()
			}
		}()
	}
	return nil
}

func (s *source) close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wh != nil {
		return s.wh.Close()
	}
	return nil
}

// SourceStatus is one data source's state.
type SourceStatus struct {
	Name      string `json:"name"`
	Tenant    string `json:"tenant"`
	State     string `json:"state"`
	Warehouse string `json:"warehouse,omitempty"`
	Cubes     int    `json:"cubes"`
	Error     string `json:"error,omitempty"`
}

func (s *source) status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SourceStatus{Name: s.spec.Name, Tenant: s.spec.Tenant, State: s.state, Error: s.err}
	if s.state == "RUNNING" && s.outage != "" {
		st.State, st.Error = "PENDING", s.outage
	}
	if s.wh != nil {
		st.Warehouse = s.wh.Dialect()
	}
	if s.model != nil {
		st.Cubes = len(s.model.Cubes)
	}
	return st
}

// sourceNames lists every data source's name, the default one first.
func (g *Gateway) sourceNames() []string {
	names := []string{g.Database}
	var more []string
	for n := range g.sources {
		more = append(more, n)
	}
	sort.Strings(more)
	return append(names, more...)
}

// sessionFor opens a SQL session on the data source the client named as
// its database.
func (g *Gateway) sessionFor(ctx context.Context, info pgwire.SessionInfo) (pgwire.Session, error) {
	database := info.Database
	if p, ok := info.Principal.(auth.Principal); ok && postgres.Maintenance(database) {
		// postgres and template1 open the credential's own data source.
		database = p.Database
	}
	if database == g.Database {
		h := g.handler.Load()
		if h == nil {
			return nil, pgerr.Fatal(pgerrcode.CannotConnectNow, "the database system is starting up").WithDetail("%v", g.ready())
		}
		if err := g.outage(); err != nil {
			return nil, pgerr.Fatal(pgerrcode.CannotConnectNow, "the warehouse is not available").WithDetail("data source %s is PENDING: %v", g.Database, err)
		}
		return g.newSession(ctx, g.Database, h, info)
	}
	s, ok := g.sources[database]
	if !ok {
		return nil, pgerr.Fatal(pgerrcode.InvalidCatalogName, "database %q does not exist", info.Database).
			WithHint("the data sources are: %s", strings.Join(g.sourceNames(), ", "))
	}
	h := s.handler.Load()
	if st := s.status(); h == nil || st.State != "RUNNING" {
		msg := "the database system is starting up"
		if h != nil {
			msg = "the warehouse is not available"
		}
		return nil, pgerr.Fatal(pgerrcode.CannotConnectNow, "%s", msg).WithDetail("data source %s is %s: %s", st.Name, st.State, st.Error)
	}
	return g.newSession(ctx, s.spec.Name, h, info)
}

// engineFor is the REST engine of a tenant's data source: the one named,
// or its first in the configuration.
func (g *Gateway) engineFor(tenant, name string) (httpapi.Engine, error) {
	if def := g.cfg.Sources()[0]; def.Tenant == tenant && (name == "" || name == def.Name) {
		if g.handler.Load() != nil {
			if err := g.outage(); err != nil {
				return nil, &httpapi.EngineError{Status: 503, Code: "WAREHOUSE_UNAVAILABLE", Msg: fmt.Sprintf("data source %s is PENDING: %v", g.Database, err)}
			}
		}
		return engine{g: g}, nil
	}
	for _, spec := range g.cfg.Sources()[1:] { // the configuration's order
		s := g.sources[spec.Name]
		if s.spec.Tenant != tenant || name != "" && name != spec.Name {
			continue
		}
		h := s.handler.Load()
		if st := s.status(); h == nil || st.State != "RUNNING" {
			code := "DATA_SOURCE_NOT_READY"
			if h != nil {
				code = "WAREHOUSE_UNAVAILABLE"
			}
			return nil, &httpapi.EngineError{Status: 503, Code: code, Msg: fmt.Sprintf("data source %s is %s: %s", st.Name, st.State, st.Error)}
		}
		return sourceEngine{s: s, h: h}, nil
	}
	if name != "" {
		return nil, &httpapi.EngineError{Status: 404, Code: "DATA_SOURCE_NOT_FOUND", Msg: fmt.Sprintf("tenant %s has no data source %q", tenant, name)}
	}
	return nil, &httpapi.EngineError{Status: 404, Code: "DATA_SOURCE_NOT_FOUND", Msg: fmt.Sprintf("tenant %s has no data source", tenant)}
}

// defaultSource is the gateway's own data source (model.dir and
// warehouse.dsn, named by data_source.name).
func (g *Gateway) defaultSource() DataSourceSpec { return g.cfg.Sources()[0] }

// sourceEngine runs REST queries on a data source.
type sourceEngine struct {
	s *source
	h *planner.Handler
}

func (e sourceEngine) Model() *cubes.Model { return e.h.Model() }
func (e sourceEngine) Dialect() cubes.Dialect {
	d, _ := cubes.DialectByName(e.DBType())
	return d
}
func (e sourceEngine) Source() string { return e.s.spec.Name }
func (e sourceEngine) DBType() string {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.wh.Dialect()
}
func (e sourceEngine) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
	e.s.mu.Lock()
	wh := e.s.wh
	e.s.mu.Unlock()
	return wh.Query(ctx, sql, args...)
}
