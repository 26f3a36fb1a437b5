package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/rollup"
)

// preaggOwner is whose share of a warehouse's connections builds take.
var preaggOwner = warehouse.Owner{Principal: "pre-aggregations", Tenant: "system"}

// Metrics of the builds and hits.
const (
	buildsMetric, buildsHelp = "cubegate_preagg_builds_total", "Pre-aggregation builds by outcome."
	rowsMetric, rowsHelp     = "cubegate_preagg_build_rows_total", "Rows written by pre-aggregation builds."
	hitsMetric, hitsHelp     = "cubegate_preagg_hits_total", "Queries a pre-aggregation answered."
)

// defaultRollupRefresh is how often a rollup is rebuilt when neither it
// nor its cube has a refresh_key every.
const defaultRollupRefresh = time.Hour

// rollups builds the models' pre-aggregations (type rollup) into the
// rollup store and tells the query service where a built one is
// (query.Rollups). A background worker builds what is missing or stale,
// one rollup at a time; a build never blocks a query (a query a rollup
// not built yet would answer runs on the warehouse, and EXPLAIN says so);
// a rebuild swaps in atomically, then drops the cached answers of its
// cube.
//
// A rollup is known by its data source, name and a hash of the SQL that
// builds it: a model reload that leaves a rollup as it was keeps serving
// its built table; one that changes it builds anew.
type rollups struct {
	opts    rollup.Options
	log     zerolog.Logger
	cache   cacheInvalidator
	metrics *httpapi.Metrics
	// sources lists the data sources to build for: their name, model
	// and warehouse (nil while not connected).
	sources func() []rollupSource
	// schema is where rollups with external: false are built in the
	// warehouse (preagg.warehouse_schema).
	schema string

	mu     sync.Mutex
	store  *rollup.Store // opened at the first build
	states map[string]*rollupState
	ids    map[*cubes.PreAggregation]string
	// wanted are the rollups with scheduled_refresh: false a query has
	// asked for: built from then on.
	wanted  map[string]bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	started bool

	closeOnce sync.Once
	closeErr  error
}

type rollupSource struct {
	name   string
	tenant string
	model  *cubes.Model
	wh     warehouse.Warehouse
}

// rollupState is a rollup as /admin/v1/pre-aggregations shows it.
type rollupState struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"-"`
	DataSource string    `json:"data_source"`
	Name       string    `json:"name"`
	State      string    `json:"state"` // PENDING (never built), BUILDING, BUILT, ERROR
	Rows       int64     `json:"rows"`
	Bytes      int64     `json:"bytes"`
	BuiltAt    time.Time `json:"built_at,omitzero"`
	BuildMS    float64   `json:"build_ms"`
	Hits       int64     `json:"hits"`
	Error      string    `json:"error,omitempty"`
	Every      string    `json:"refresh_every"`
	// Partitions counts a partitioned rollup's partitions (0: one table).
	Partitions int      `json:"partitions"`
	parts      []string // a partitioned rollup's partitions, all built
	stale      bool     // rebuild now (asked by the admin API)
	every      time.Duration
	attempted  time.Time // the last build's start
	// table is the warehouse table a rollup with external: false is read
	// from ("" none yet), built for epoch.
	table string
	epoch int64
	// keyValue is the refresh_key sql's value the build was made at,
	// keyChecked when it was last read.
	keyValue   string
	keyChecked time.Time
}

func newRollups(o rollup.Options, schema string, log zerolog.Logger, cache cacheInvalidator, metrics *httpapi.Metrics, sources func() []rollupSource) *rollups {
	ctx, cancel := context.WithCancel(context.Background())
	r := &rollups{opts: o, schema: schema, log: log, cache: cache, metrics: metrics, sources: sources,
		states: map[string]*rollupState{}, ids: map[*cubes.PreAggregation]string{}, wanted: map[string]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	return r
}

// start starts the worker (once the data sources are set up).
func (r *rollups) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started = true
		go r.run()
	}
}

// rollupDir is where the rollup store keeps its file: preagg.dir, else
// beside a SQLite state store, else nowhere (in memory: rebuilt after a
// restart).
func rollupDir(cfg Config) string {
	if cfg.PreAgg.Dir != "" {
		return cfg.PreAgg.Dir
	}
	if path, ok := strings.CutPrefix(cfg.State.DSN, "sqlite://"); ok && path != "" && !strings.HasPrefix(path, ":memory:") {
		return filepath.Join(filepath.Dir(path), "rollups")
	}
	return ""
}

// id names pa's build for its data source (see rollups).
func (r *rollups) id(source string, pa *cubes.PreAggregation, d cubes.Dialect, m *cubes.Model) (string, error) {
	r.mu.Lock()
	id, ok := r.ids[pa]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	c, err := buildQuery(m, pa, d)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c.String()))
	id = source + "/" + pa.FullName() + "/" + hex.EncodeToString(sum[:6])
	r.mu.Lock()
	r.ids[pa] = id
	r.mu.Unlock()
	return id, nil
}

// buildQuery is the statement that builds pa: a rollup's query, or for
// original_sql its cube's rows as they are.
func buildQuery(m *cubes.Model, pa *cubes.PreAggregation, d cubes.Dialect) (*cubes.Compiled, error) {
	if pa.Type != cubes.PreAggOriginalSQL {
		return m.CompileRollup(pa, d)
	}
	if pa.Cube.SQLTable != "" {
		return &cubes.Compiled{SQL: "SELECT * FROM " + pa.Cube.SQLTable}, nil
	}
	return &cubes.Compiled{SQL: "SELECT * FROM (" + pa.Cube.SQL + ") AS " + d.QuoteIdent("t")}, nil
}

// Tables are the warehouse tables of the source's built original_sql
// pre-aggregations, read in place of their cubes' tables (query.Rollups).
func (r *rollups) Tables(source string, m *cubes.Model) map[string]string {
	var out map[string]string
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range m.Cubes {
		for _, pa := range c.PreAggregations {
			if pa.Type != cubes.PreAggOriginalSQL {
				continue
			}
			id, ok := r.ids[pa]
			if !ok {
				continue
			}
			if st := r.states[id]; st != nil && st.DataSource == source {
				if t := currentTable(st, now); t != "" {
					if out == nil {
						out = map[string]string{}
					}
					out[c.Name] = t
				}
			}
		}
	}
	return out
}

// Table is where pa's built rows are read (query.Rollups).
func (r *rollups) Table(source string, pa *cubes.PreAggregation) (query.Engine, string, bool) {
	r.mu.Lock()
	store := r.store
	id, ok := r.ids[pa]
	r.mu.Unlock()
	if !ok {
		return nil, "", false
	}
	r.mu.Lock()
	var parts []string
	st := r.states[id]
	if st == nil && !pa.ScheduledRefresh && !r.wanted[id] {
		// scheduled_refresh: false — the first query that would read it
		// asks for its build (and runs on the warehouse meanwhile).
		r.wanted[id] = true
		defer r.poke()
	}
	if st != nil {
		parts = st.parts
		if !pa.External {
			table := currentTable(st, time.Now())
			if table != "" {
				st.Hits++
			}
			r.mu.Unlock()
			if table == "" {
				return nil, "", false
			}
			r.metrics.Add(hitsMetric, hitsHelp, 1, "pre_aggregation", pa.FullName())
			return nil, table, true
		}
	}
	r.mu.Unlock()
	if store == nil {
		return nil, "", false
	}
	var table string
	if parts != nil {
		// Every partition, as one: the query's own date range picks
		// the rows.
		table, ok = store.Tables(id, parts)
	} else {
		table, ok = store.Table(id, "")
	}
	if !ok {
		return nil, "", false
	}
	r.mu.Lock()
	if st != nil {
		st.Hits++
	}
	r.mu.Unlock()
	r.metrics.Add(hitsMetric, hitsHelp, 1, "pre_aggregation", pa.FullName())
	return store, table, true
}

// Refresh asks for the named rollups ("" every one) of a tenant's data
// source ("" every one) to be rebuilt now; it returns how many it found.
func (r *rollups) Refresh(tenant, source, name string) int {
	n := 0
	r.mu.Lock()
	for _, st := range r.states {
		if st.Tenant == tenant && (source == "" || st.DataSource == source) && (name == "" || st.Name == name) {
			st.stale = true
			n++
		}
	}
	r.mu.Unlock()
	r.poke()
	return n
}

func (r *rollups) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// List is a tenant's rollups' states, by data source and name.
func (r *rollups) List(tenant string) []rollupState {
	r.mu.Lock()
	defer r.mu.Unlock()
	sizes := map[string]rollup.PartitionInfo{}
	if r.store != nil {
		for _, p := range r.store.Partitions() {
			sum := sizes[p.Rollup]
			sum.Rows, sum.Bytes = sum.Rows+p.Rows, sum.Bytes+p.Bytes
			sizes[p.Rollup] = sum
		}
	}
	out := make([]rollupState, 0, len(r.states))
	for _, st := range r.states {
		if st.Tenant != tenant {
			continue
		}
		s := *st
		if p, ok := sizes[s.ID]; ok {
			s.Rows, s.Bytes = p.Rows, p.Bytes
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DataSource+out[i].Name < out[j].DataSource+out[j].Name })
	return out
}

// Close stops the worker, cancels a build under way and closes the store.
// Closing twice is harmless (Shutdown closes, and so may its caller).
func (r *rollups) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.cancel()
		r.mu.Lock()
		started := r.started
		r.mu.Unlock()
		if started {
			<-r.done
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.store != nil {
			r.closeErr = r.store.Close()
		}
	})
	return r.closeErr
}

// run builds what is missing or stale: at start, when poked (a reload,
// the admin API), and every second for what has come due.
func (r *rollups) run() {
	defer close(r.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.pass()
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// pass builds every rollup that is due, one at a time, then forgets
// (and drops) those no model has any more.
func (r *rollups) pass() {
	seen := map[*cubes.PreAggregation]bool{}
	defer r.prune(seen)
	for _, src := range r.sources() {
		if src.model == nil {
			continue
		}
		var d cubes.Dialect
		if src.wh != nil {
			d, _ = cubes.DialectByName(src.wh.Dialect())
		}
		for _, c := range src.model.Cubes {
			for _, pa := range c.PreAggregations {
				if pa.Type != cubes.PreAggRollup && pa.Type != cubes.PreAggOriginalSQL {
					continue
				}
				seen[pa] = true
				if d == nil {
					continue // the warehouse is not connected (yet)
				}
				if !pa.ScheduledRefresh {
					// Built once a query asks for it (Table), then kept.
					id, err := r.id(src.name, pa, d, src.model)
					r.mu.Lock()
					wanted := err == nil && r.wanted[id]
					r.mu.Unlock()
					if !wanted {
						continue
					}
				}
				select {
				case <-r.stop:
					return
				default:
				}
				r.maybeBuild(src, d, pa)
			}
		}
	}
}

// prune forgets the rollups of models no longer served, and drops the
// builds no rollup of theirs reads any more.
func (r *rollups) prune(seen map[*cubes.PreAggregation]bool) {
	select {
	case <-r.stop:
		return // a pass cut short has not seen everything
	default:
	}
	live := map[string]bool{}
	r.mu.Lock()
	for pa, id := range r.ids {
		if seen[pa] {
			live[id] = true
		} else {
			delete(r.ids, pa)
		}
	}
	var gone []string
	for id := range r.states {
		if !live[id] {
			delete(r.states, id)
		}
	}
	for id := range r.wanted {
		if !live[id] {
			delete(r.wanted, id)
		}
	}
	store := r.store
	r.mu.Unlock()
	if store != nil {
		for _, p := range store.Partitions() {
			if !live[p.Rollup] && !slices.Contains(gone, p.Rollup) {
				gone = append(gone, p.Rollup)
			}
		}
	}
	for _, id := range gone {
		if err := store.Drop(r.ctx, id, ""); err != nil {
			r.log.Warn().Err(err).Str("pre_aggregation", id).Msg("an unused pre-aggregation could not be dropped")
		}
	}
}

// refreshEvery is how often pa is rebuilt (or, with a refresh_key sql,
// its key read): its refresh_key every, else its cube's, else an hour
// (10 s for a key's sql, as Cube).
func refreshEvery(pa *cubes.PreAggregation) time.Duration {
	if k := pa.RefreshKey; k != nil && k.EveryDuration > 0 {
		return k.EveryDuration
	}
	if k := pa.Cube.RefreshKey; k != nil && k.EveryDuration > 0 {
		return k.EveryDuration
	}
	if keySQL(pa) != "" {
		return query.DefaultRefresh
	}
	return defaultRollupRefresh
}

func (r *rollups) maybeBuild(src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation) {
	id, err := r.id(src.name, pa, d, src.model)
	if err != nil {
		r.log.Warn().Err(err).Str("pre_aggregation", pa.FullName()).Msg("pre-aggregation cannot be built")
		return
	}
	every := refreshEvery(pa)
	if tok := src.model.RollupQueryContext(pa); tok != "" {
		// Built without claims, it would hold every principal's rows;
		// MatchRollup never reads it. Said once (the state's error).
		st, _ := r.stateOf(id, src, pa, every)
		if st.Error == "" {
			r.fail(st, pa, fmt.Errorf("not built: its SQL reads the query-time context (%s), which a rollup is built without; queries read the cubes", tok))
		}
		return
	}
	if pa.Type == cubes.PreAggOriginalSQL && pa.External {
		st, _ := r.stateOf(id, src, pa, every)
		if st.Error == "" {
			r.fail(st, pa, fmt.Errorf("an original_sql pre-aggregation is read with the warehouse's other tables: set external: false"))
		}
		return
	}
	if !pa.External {
		st, _ := r.stateOf(id, src, pa, every)
		r.buildInWarehouse(src, d, pa, id, st)
		return
	}
	store, err := r.open()
	if err != nil {
		r.log.Warn().Err(err).Msg("the rollup store cannot be opened")
		return
	}
	st, created := r.stateOf(id, src, pa, every)
	r.mu.Lock()
	if created {
		var parts []string
		for _, p := range store.Partitions() {
			if p.Rollup == id {
				// Built before a restart or a reload: it serves, as old
				// as the store says.
				st.State, st.attempted = "BUILT", p.BuiltAt
				if st.BuiltAt.IsZero() || p.BuiltAt.Before(st.BuiltAt) {
					st.BuiltAt = p.BuiltAt
				}
				parts = append(parts, p.Partition)
			}
		}
		if partitioned(pa) && len(parts) > 0 {
			sort.Strings(parts)
			st.parts, st.Partitions = parts, len(parts)
		}
	}
	due := st.stale
	switch {
	case st.attempted.IsZero():
		due = true
	case st.Error != "":
		// A failed build is tried again a minute later (or its interval,
		// if shorter); the previous build, if any, serves meanwhile.
		due = due || time.Since(st.attempted) >= min(time.Minute, st.every)
	case keySQL(pa) != "":
		// A refresh_key sql: rebuilt when its value changes, read every
		// interval (10 s without one).
		if time.Since(st.keyChecked) >= st.every {
			st.keyChecked = time.Now()
			r.mu.Unlock()
			v, err := r.scalar(src, keySQL(pa))
			r.mu.Lock()
			if err == nil && v != st.keyValue {
				due = true
			}
		}
	default:
		due = due || time.Since(st.BuiltAt) >= st.every
	}
	if !due && st.State == "BUILT" && !partitioned(pa) {
		// Evicted for the store's size (Table says so): rebuilt now,
		// on demand, not at its next interval.
		if _, ok := store.Table(id, ""); !ok {
			due = true
		}
	}
	r.mu.Unlock()
	if !due {
		return
	}
	if k := keySQL(pa); k != "" {
		// The value before the build: a change during it rebuilds again.
		if v, err := r.scalar(src, k); err == nil {
			r.mu.Lock()
			st.keyValue, st.keyChecked = v, time.Now()
			r.mu.Unlock()
		}
	}
	r.build(store, src, d, pa, id, st)
}

// stateOf is the state of rollup id, made PENDING when there is none yet
// (created).
func (r *rollups) stateOf(id string, src rollupSource, pa *cubes.PreAggregation, every time.Duration) (st *rollupState, created bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st = r.states[id]; st == nil {
		st = &rollupState{ID: id, Tenant: src.tenant, DataSource: src.name, Name: pa.FullName(), State: "PENDING", every: every, Every: every.String()}
		r.states[id] = st
		created = true
	}
	return st, created
}

// keySQL is pa's refresh_key sql, else its cube's ("" none).
func keySQL(pa *cubes.PreAggregation) string {
	if k := pa.RefreshKey; k != nil {
		return k.SQL
	}
	if k := pa.Cube.RefreshKey; k != nil {
		return k.SQL
	}
	return ""
}

// scalar reads a refresh key's value on the source's warehouse.
func (r *rollups) scalar(src rollupSource, sql string) (string, error) {
	return query.Scalar(warehouse.WithOwner(r.ctx, preaggOwner), src.wh, sql)
}

func (r *rollups) build(store *rollup.Store, src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation, id string, st *rollupState) {
	if partitioned(pa) {
		r.buildPartitions(store, src, d, pa, id, st)
		return
	}
	c, err := src.model.CompileRollup(pa, d)
	if err != nil {
		r.fail(st, pa, err)
		return
	}
	started := time.Now()
	r.mu.Lock()
	prev := st.State
	st.State, st.stale, st.attempted = "BUILDING", false, started
	r.mu.Unlock()
	rows, err := src.wh.Query(warehouse.WithOwner(r.ctx, preaggOwner), c.SQL, c.Args...)
	var stats rollup.BuildStats
	if err == nil {
		stats, err = store.Build(r.ctx, id, "", rows)
	}
	if err != nil {
		r.mu.Lock()
		st.State = prev
		r.mu.Unlock()
		r.fail(st, pa, err)
		return
	}
	r.mu.Lock()
	// The whole build: the warehouse's query (its aggregation comes
	// before the first row) and the store's writes.
	st.State, st.Error, st.BuiltAt, st.BuildMS = "BUILT", "", time.Now(), float64(time.Since(started).Microseconds())/1000
	r.mu.Unlock()
	// Cached answers read the old build or the warehouse: the new one
	// answers from now on.
	r.cache.Invalidate(query.Scope{Source: src.name, Cube: pa.Cube.Name})
	r.metrics.Add(buildsMetric, buildsHelp, 1, "outcome", "ok")
	r.metrics.Add(rowsMetric, rowsHelp, float64(stats.Rows))
	r.log.Info().Str("pre_aggregation", pa.FullName()).Str("data_source", src.name).Int64("rows", stats.Rows).
		Dur("took", time.Since(started)).Msg("pre-aggregation built")
}

func (r *rollups) fail(st *rollupState, pa *cubes.PreAggregation, err error) {
	if r.ctx.Err() != nil {
		return // shutting down
	}
	r.mu.Lock()
	if st.State != "BUILT" {
		st.State = "ERROR"
	}
	st.Error, st.stale = err.Error(), false
	if st.attempted.IsZero() {
		st.attempted = time.Now()
	}
	r.mu.Unlock()
	r.metrics.Add(buildsMetric, buildsHelp, 1, "outcome", "error")
	r.log.Warn().Err(err).Str("pre_aggregation", pa.FullName()).Msg("pre-aggregation build failed; the previous build (if any) keeps serving")
}

// partitioned reports a rollup built in partitions.
func partitioned(pa *cubes.PreAggregation) bool {
	return pa.PartitionGranularity != "" && pa.TimeDimension != nil
}

// partitionKey names the partition of the period starting at t.
func partitionKey(t time.Time) string { return t.UTC().Format("20060102T150405") }

// buildPartitions (re)builds a partitioned rollup: one partition per
// period of its partition_granularity with rows (or within its
// build_range_start/end), each built by the rollup's query over that
// period alone. An incremental rollup (refresh_key incremental: true)
// rebuilds only its partitions within update_window of now (the last
// one without a window) and those never built; others rebuild every
// partition. The partitions serve as one once all are built; until a
// refresh completes, the previous set serves.
func (r *rollups) buildPartitions(store *rollup.Store, src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation, id string, st *rollupState) {
	started := time.Now()
	r.mu.Lock()
	prev := st.State
	st.State, st.stale, st.attempted = "BUILDING", false, started
	r.mu.Unlock()
	failed := func(err error) {
		r.mu.Lock()
		st.State = prev
		r.mu.Unlock()
		r.fail(st, pa, err)
	}
	periods, err := r.periods(src, d, pa)
	if err != nil {
		failed(err)
		return
	}
	incremental, window := false, time.Duration(0)
	if k := pa.RefreshKey; k != nil {
		incremental, window = k.Incremental, k.UpdateWindowDuration
	}
	ctx := warehouse.WithOwner(r.ctx, preaggOwner)
	keys := make([]string, len(periods))
	var total rollup.BuildStats
	for i, from := range periods {
		to, _ := cubes.NextPeriod(from, pa.PartitionGranularity)
		keys[i] = partitionKey(from)
		_, built := store.Table(id, keys[i])
		recent := window > 0 && to.After(started.Add(-window)) || window == 0 && i == len(periods)-1
		if built && incremental && !recent {
			continue
		}
		c, err := src.model.CompileRollupPartition(pa, d, from, to)
		if err != nil {
			failed(err)
			return
		}
		rows, err := src.wh.Query(ctx, c.SQL, c.Args...)
		var stats rollup.BuildStats
		if err == nil {
			stats, err = store.Build(r.ctx, id, keys[i], rows)
		}
		if err != nil {
			failed(fmt.Errorf("partition %s: %w", keys[i], err))
			return
		}
		total.Rows += stats.Rows
	}
	r.mu.Lock()
	st.State, st.Error, st.BuiltAt = "BUILT", "", time.Now()
	st.BuildMS = float64(time.Since(started).Microseconds()) / 1000
	st.parts, st.Partitions = keys, len(keys)
	r.mu.Unlock()
	// Partitions whose period no longer has rows go.
	live := map[string]bool{}
	for _, k := range keys {
		live[k] = true
	}
	for _, p := range store.Partitions() {
		if p.Rollup == id && !live[p.Partition] {
			if err := store.Drop(r.ctx, id, p.Partition); err != nil {
				r.log.Warn().Err(err).Str("pre_aggregation", pa.FullName()).Msg("an old partition could not be dropped")
			}
		}
	}
	r.cache.Invalidate(query.Scope{Source: src.name, Cube: pa.Cube.Name})
	r.metrics.Add(buildsMetric, buildsHelp, 1, "outcome", "ok")
	r.metrics.Add(rowsMetric, rowsHelp, float64(total.Rows))
	r.log.Info().Str("pre_aggregation", pa.FullName()).Str("data_source", src.name).Int("partitions", len(keys)).
		Int64("rows", total.Rows).Dur("took", time.Since(started)).Msg("pre-aggregation built")
}

// periods are the starts of a partitioned rollup's partitions: from its
// build range when it has one, else each period its time dimension has
// rows in.
func (r *rollups) periods(src rollupSource, d cubes.Dialect, pa *cubes.PreAggregation) ([]time.Time, error) {
	g := pa.PartitionGranularity
	if pa.BuildRangeStart != "" && pa.BuildRangeEnd != "" {
		from, err := r.scalarTime(src, pa.BuildRangeStart)
		if err != nil {
			return nil, fmt.Errorf("build_range_start: %w", err)
		}
		to, err := r.scalarTime(src, pa.BuildRangeEnd)
		if err != nil {
			return nil, fmt.Errorf("build_range_end: %w", err)
		}
		var out []time.Time
		for t := truncPeriod(from, g); !t.After(to); {
			out = append(out, t)
			next, ok := cubes.NextPeriod(t, g)
			if !ok || len(out) > 100000 {
				return nil, fmt.Errorf("build range %s – %s: too many %s partitions", from, to, g)
			}
			t = next
		}
		return out, nil
	}
	c, err := src.model.CompileWith(src.model.PartitionsQuery(pa, g), d, cubes.Options{})
	if err != nil {
		return nil, err
	}
	rows, err := src.wh.Query(warehouse.WithOwner(r.ctx, preaggOwner), c.SQL, c.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		if t, ok := vals[0].(time.Time); ok {
			out = append(out, t.UTC())
		}
	}
	return out, rows.Err()
}

// scalarTime runs a build range's SQL and reads its one value as a time.
func (r *rollups) scalarTime(src rollupSource, sql string) (time.Time, error) {
	rows, err := src.wh.Query(r.ctx, sql)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return time.Time{}, err
		}
		return time.Time{}, fmt.Errorf("no row")
	}
	vals, err := rows.Values()
	if err != nil {
		return time.Time{}, err
	}
	switch v := vals[0].(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%v is not a time", vals[0])
}

// truncPeriod is the start of the period of granularity g holding t (as
// date_trunc: weeks start on Monday).
func truncPeriod(t time.Time, g string) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch g {
	case "year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	case "quarter":
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case "week":
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "day":
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case "hour":
		return t.Truncate(time.Hour)
	case "minute":
		return t.Truncate(time.Minute)
	}
	return t.Truncate(time.Second)
}

// open opens the store at the first build.
func (r *rollups) open() (*rollup.Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		return r.store, nil
	}
	s, err := rollup.Open(r.ctx, r.opts)
	if err != nil {
		return nil, err
	}
	r.store = s
	return s, nil
}

// rollupSources are the gateway's data sources, for the rollup worker.
func (g *Gateway) rollupSources() []rollupSource {
	def := g.defaultSource()
	out := []rollupSource{{name: def.Name, tenant: def.Tenant, model: g.CurrentModel(), wh: g.wh.Load()}}
	for _, s := range g.sources {
		s.mu.Lock()
		out = append(out, rollupSource{name: s.spec.Name, tenant: s.spec.Tenant, model: s.model, wh: s.wh})
		s.mu.Unlock()
	}
	return out
}

// preAggregationsAdmin is /admin/v1/pre-aggregations (nil without
// pre-aggregations).
func (g *Gateway) preAggregationsAdmin() *httpapi.PreAggregations {
	if g.rollups == nil {
		return nil
	}
	return &httpapi.PreAggregations{
		List:    func(tenant string) any { return g.rollups.List(tenant) },
		Refresh: g.rollups.Refresh,
	}
}
