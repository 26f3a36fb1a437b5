package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// Status is what /admin/v1/status reports.
type Status struct {
	State     string          `json:"state"` // PENDING, RUNNING, DEGRADED, STOPPING or ERROR
	StartedAt time.Time       `json:"started_at"`
	Uptime    string          `json:"uptime"`
	Model     ModelStatus     `json:"model"`
	Warehouse WarehouseStatus `json:"warehouse"`
	Reloads   int             `json:"reloads"`
	Sessions  int             `json:"sql_sessions"`
	// DataSources are every data source's state, the default one first.
	DataSources []SourceStatus `json:"data_sources"`
	// Degraded says why the state is DEGRADED: running, but the audit log
	// cannot be written or the state file is gone.
	Degraded string `json:"degraded,omitempty"`
}

// ModelStatus is the model being served and the last reload's outcome.
type ModelStatus struct {
	Dir      string    `json:"dir"`
	Version  string    `json:"version"` // SHA-256 of the model files
	LoadedAt time.Time `json:"loaded_at"`
	Cubes    int       `json:"cubes"`
	// Error is the last refused reload (file:line), while the previous
	// model keeps serving.
	Error string `json:"error,omitempty"`
}

// WarehouseStatus is the warehouse's health.
type WarehouseStatus struct {
	Dialect string `json:"dialect"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

type modelState struct {
	mu    sync.Mutex
	whErr string // why the warehouse does not answer (PENDING)
	// outage is why the warehouse stopped answering once it had (the
	// health check): PENDING meanwhile, though the planner stays.
	outage   string
	state    string
	version  string
	loadedAt time.Time
	cubes    int
	err      string
	reloads  int
}

// modelVersion hashes the model folder's YAML files.
func modelVersion(dir string) string {
	h := sha256.New()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		rel, _ := filepath.Rel(dir, f)
		h.Write([]byte(rel + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (g *Gateway) modelLoaded(m *cubes.Model, version string) {
	g.ms.mu.Lock()
	defer g.ms.mu.Unlock()
	g.ms.version, g.ms.loadedAt, g.ms.cubes, g.ms.err = version, time.Now().UTC(), len(m.Cubes), ""
}

// ReloadModel compiles the model folder beside the model being served and
// swaps it in atomically: statements already planned finish on the model
// they started with. An invalid model is refused; the old one keeps
// serving and the status shows the error.
func (g *Gateway) ReloadModel() error { return g.reloadSources(func(string) bool { return true }) }

// ReloadTenant reloads the models of a tenant's data sources only (the
// admin API's restart: a tenant's admin reloads its own models).
func (g *Gateway) ReloadTenant(tenant string) error {
	return g.reloadSources(func(t string) bool { return t == tenant })
}

// reloadSources reloads the data sources whose tenant is chosen, and
// tells the gateways sharing the state store to reload them too (from
// their own model folders; they tell nobody).
func (g *Gateway) reloadSources(chosen func(tenant string) bool) error {
	names, err := g.reloadChosen(chosen)
	g.ctl.reloaded(names)
	return err
}

// reloadChosen reloads the data sources whose tenant is chosen and
// returns their names, refused reloads included.
func (g *Gateway) reloadChosen(chosen func(tenant string) bool) (names []string, err error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	var errs []error
	if chosen(g.cfg.Sources()[0].Tenant) {
		names = append(names, g.Database)
		errs = append(errs, g.reloadDefault())
	}
	for _, name := range g.sourceNames()[1:] {
		if !chosen(g.sources[name].spec.Tenant) {
			continue
		}
		names = append(names, name)
		if err := g.sources[name].reload(); err != nil {
			logModelErrors(g.log.With().Str("data_source", name).Logger(), err, "model reload refused; the previous model keeps serving")
			errs = append(errs, err)
		}
	}
	return names, errors.Join(errs...)
}

// reloadDefault reloads the default data source's model; reloadMu is
// held.
func (g *Gateway) reloadDefault() error {
	version := modelVersion(g.cfg.Model.Dir)
	m, err := g.models.load(g.log, g.defaultSource())
	g.ms.mu.Lock()
	g.ms.reloads++
	g.ms.mu.Unlock()
	if err != nil {
		g.ms.mu.Lock()
		g.ms.err = err.Error()
		g.ms.mu.Unlock()
		logModelErrors(g.log, err, "model reload refused; the previous model keeps serving")
		g.Metrics.Add("cubegate_model_reloads_total", "Model reloads by outcome.", 1, "outcome", "refused")
		return err
	}
	g.Model = m
	g.modelLoaded(m, version)
	if h := g.handler.Load(); h != nil {
		h.SetModel(m)
		// The old model's answers can no longer be asked for: free them.
		g.inval.Invalidate(query.Scope{Source: g.defaultSource().Name})
		if g.rollups != nil {
			g.rollups.poke() // the new model's rollups: their builds and ids
		}
	} else {
		g.setState("PENDING") // a valid model: now only the warehouse may be missing
		if err := g.tryRunLocked(); err != nil {
			return err
		}
	}
	g.Metrics.Add("cubegate_model_reloads_total", "Model reloads by outcome.", 1, "outcome", "ok")
	g.log.Info().Str("version", version).Int("cubes", len(m.Cubes)).Msg("model reloaded")
	return nil
}

// CurrentModel is the model new statements are planned against.
func (g *Gateway) CurrentModel() *cubes.Model {
	if h := g.handler.Load(); h != nil {
		return h.Model()
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.Model
}

// Status reports the gateway's state, model and warehouse.
func (g *Gateway) Status(ctx context.Context) Status {
	g.ms.mu.Lock()
	s := Status{State: g.ms.state, StartedAt: g.started, Uptime: time.Since(g.started).Round(time.Second).String(),
		Model:   ModelStatus{Dir: g.cfg.Model.Dir, Version: g.ms.version, LoadedAt: g.ms.loadedAt, Cubes: g.ms.cubes, Error: g.ms.err},
		Reloads: g.ms.reloads}
	g.ms.mu.Unlock()
	// An outage says more than a degraded audit log: PENDING first.
	if s.State == "RUNNING" && g.outage() != nil {
		s.State = "PENDING"
	}
	if err := g.Audit.Healthy(); err != nil {
		s.Degraded = err.Error()
		if s.State == "RUNNING" {
			s.State = "DEGRADED"
		}
	}
	if g.pg != nil {
		s.Sessions = g.pg.Sessions()
	}
	def := g.cfg.Sources()[0]
	primary := SourceStatus{Name: g.Database, Tenant: def.Tenant, State: s.State, Cubes: s.Model.Cubes, Error: s.Model.Error}
	if err := g.outage(); err != nil {
		primary.Error = err.Error()
	}
	if wh := g.wh.Load(); wh != nil {
		primary.Warehouse = wh.Dialect()
	}
	s.DataSources = []SourceStatus{primary}
	for _, name := range g.sourceNames()[1:] {
		s.DataSources = append(s.DataSources, g.sources[name].status())
	}
	wh := g.wh.Load()
	if wh == nil {
		s.Warehouse.Error = g.ready().Error()
		return s
	}
	s.Warehouse.Dialect = wh.Dialect()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := wh.Ping(pctx); err != nil {
		s.Warehouse.Error = err.Error()
	} else {
		s.Warehouse.OK = true
	}
	return s
}

func (g *Gateway) setState(state string) {
	g.ms.mu.Lock()
	g.ms.state = state
	g.ms.mu.Unlock()
}

// watchModel reloads the model when a file of its folder changes (after
// a quiet 200 ms, so an editor's several writes make one reload).
func (g *Gateway) watchModel() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	// Every data source's model folder: a change reloads them all (each
	// keeps its model when the new one is refused).
	seen := map[string]bool{}
	for _, src := range g.cfg.Sources() {
		if seen[src.ModelDir] {
			continue
		}
		if _, err := os.Stat(src.ModelDir); err != nil && src.Name != g.Database {
			g.log.Warn().Err(err).Str("data_source", src.Name).Msg("not watching the data source's model folder")
			continue
		}
		seen[src.ModelDir] = true
		err = filepath.WalkDir(src.ModelDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				return w.Add(p)
			}
			return nil
		})
		if err != nil {
			w.Close()
			return err
		}
	}
	g.watcher = w
	go func() {
		var timer *time.Timer
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
						w.Add(ev.Name)
					}
				}
				if timer != nil {
					timer.Stop()
				}
				timer = time.AfterFunc(200*time.Millisecond, func() { _ = g.ReloadModel() })
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				g.log.Warn().Err(err).Msg("model folder watch")
			}
		}
	}()
	return nil
}

// healthInterval is how often watchHealth pings the warehouses.
const healthInterval = time.Second

// watchHealth pings every data source's warehouse once it serves: one
// that cannot be reached (warehouse.Unavailable: refused, down, shutting
// down) makes its data source PENDING — new logins get 57P03, REST 503
// WAREHOUSE_UNAVAILABLE, the status says why — and RUNNING again once it
// answers. The log names the warehouse's address and the reason; clients
// see the reason alone. A ping that only waits (every connection busy)
// is no outage.
func (g *Gateway) watchHealth() {
	go func() {
		t := time.NewTicker(healthInterval)
		defer t.Stop()
		for range t.C {
			g.ms.mu.Lock()
			stopping := g.ms.state == "STOPPING"
			g.ms.mu.Unlock()
			if stopping {
				return
			}
			if wh := g.wh.Load(); wh != nil && g.handler.Load() != nil {
				reason, changed := setOutage(&g.ms.mu, &g.ms.outage, ping(wh))
				logOutage(g.log, g.Database, wh, reason, changed)
			}
			for _, name := range g.sourceNames()[1:] {
				s := g.sources[name]
				s.mu.Lock()
				wh := s.wh
				s.mu.Unlock()
				if wh != nil && s.handler.Load() != nil {
					reason, changed := setOutage(&s.mu, &s.outage, ping(wh))
					logOutage(g.log, name, wh, reason, changed)
				}
			}
		}
	}()
}

// ping is a warehouse's health: nil when it answers or only made the
// ping wait; an error when it cannot be reached.
func ping(wh interface{ Ping(context.Context) error }) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := wh.Ping(ctx); warehouse.Unavailable(err) {
		return err
	}
	return nil
}

// setOutage records err as the outage held in *outage (under mu):
// changed tells whether that began or ended one.
func setOutage(mu *sync.Mutex, outage *string, err error) (reason string, changed bool) {
	if err != nil {
		reason = unavailableReason(err)
	}
	mu.Lock()
	defer mu.Unlock()
	changed = *outage != reason
	*outage = reason
	return reason, changed
}

func logOutage(log zerolog.Logger, source string, wh warehouse.Warehouse, reason string, changed bool) {
	if !changed {
		return
	}
	if reason != "" {
		log.Warn().Str("data_source", source).Str("warehouse", warehouse.Address(wh)).Str("reason", reason).
			Msg("the warehouse cannot be reached: PENDING until it answers")
		return
	}
	log.Info().Str("data_source", source).Str("warehouse", warehouse.Address(wh)).Msg("the warehouse answers again: RUNNING")
}

// outage is why the default data source's warehouse stopped answering,
// nil while it answers.
func (g *Gateway) outage() error {
	g.ms.mu.Lock()
	defer g.ms.mu.Unlock()
	if g.ms.outage == "" {
		return nil
	}
	return errors.New(g.ms.outage)
}

// unavailableReason is what clients (and the status) are told of a
// warehouse that cannot be reached: the reason, never its address, user
// or DSN.
func unavailableReason(err error) string {
	var ue *warehouse.UnavailableError
	var ce *warehouse.ConnectError
	switch {
	case errors.As(err, &ue):
		return "the warehouse is not available (" + ue.Reason + ")"
	case errors.As(err, &ce) && ce.Engine != "duckdb":
		return "the warehouse is not available (" + warehouse.Reason(ce.Err) + ")"
	}
	return err.Error()
}
