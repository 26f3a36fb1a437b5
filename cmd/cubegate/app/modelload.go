package app

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/cubegate/cubegate/query"
)

// COMPILE_CONTEXT, as cubegate defines it, is what the model's Jinja
// (and {COMPILE_CONTEXT.x} in plain YAML, and JavaScript models) see at
// compile time:
//
//	{"tenant": "<the principal's tenant>",
//	 "dataSource": "<the data source queried>",
//	 "securityContext": {<the principal's security context as JSON: its
//	                     claims, allow and row_filters>}}
//
// Cube's COMPILE_CONTEXT is the request context its contextToAppId sees,
// whose securityContext is the JWT's claims (COMPILE_CONTEXT.
// securityContext.team); cubegate's principals are credentials and API
// keys, so their security context takes the JWT's place, and tenant and
// dataSource say what Cube's appId would. Where Cube compiles once per
// appId (contextToAppId), cubegate compiles once per distinct compile
// context, and only for a model whose files mention COMPILE_CONTEXT; a
// model that does not is compiled once. The model the gateway reports
// (status, rollups, the catalog of a principal with an empty context) is
// compiled with the data source's own tenant and an empty security
// context.

func warnTo(log zerolog.Logger, dir string) func(cubes.Pos, string) {
	return func(p cubes.Pos, msg string) { log.Warn().Str("model", dir).Str("file", p.File).Msg(msg) }
}

// compileContextCacheSize bounds the models kept per data source, one per
// compile context: the least recently used is dropped (and compiled again
// when its principal comes back).
const compileContextCacheSize = 64

// contextRetryBackoff is how long a compile that failed for its budget
// (cubes.ErrBudget: a JavaScript model's timeout or heap growth, which
// counts every goroutine's allocations, or a Jinja template's limits)
// stands before the context's next request compiles again: such a
// failure may be the load's, not the model's, and a runaway model is
// still not evaluated in a tight loop. Other failures (the model is
// invalid for the context) stand until a reload.
var contextRetryBackoff = 10 * time.Second

// modelContexts holds, per data source, the model files of a model that
// reads COMPILE_CONTEXT and its models compiled per context.
type modelContexts struct {
	mu       sync.Mutex
	bySource map[string]*contextModels
	// compiles counts the compiles for a principal's context (not the
	// base model's), refused ones included.
	compiles atomic.Int64
	// metrics, when set (before the listeners start), counts them too.
	metrics *httpapi.Metrics
}

// contextModels is one data source's model, as loaded by one (re)load:
// a reload replaces it, dropping every compiled context.
type contextModels struct {
	parent       *modelContexts
	log          zerolog.Logger
	source, dir  string
	files        map[string][]byte
	base         *cubes.Model
	baseKey      string
	mu           sync.Mutex
	lru          *list.List // of *contextEntry, most recently used first
	byKey        map[string]*list.Element
	evictedTotal int
}

type contextEntry struct {
	key   string
	ready chan struct{} // closed once model or err is set
	model *cubes.Model
	err   error
	// retryAt, set (under contextModels.mu) when err is a budget
	// failure, is when the next request compiles the context again.
	retryAt time.Time
	// h plans the sessions of this context, derived from the data
	// source's handler hFor (rebuilt when that handler changes).
	mu      sync.Mutex
	h, hFor *planner.Handler
}

// load reads a data source's model folder and compiles it with the
// source's own compile context. A folder whose files mention
// COMPILE_CONTEXT is kept to be compiled again per principal.
func (r *modelContexts) load(log zerolog.Logger, spec DataSourceSpec) (*cubes.Model, error) {
	files, err := cubes.ReadDir(spec.ModelDir)
	if err != nil {
		return nil, err
	}
	cc := compileContext(spec.Tenant, spec.Name, auth.SecurityContext{})
	m, err := cubes.LoadFilesWith(files, cubes.LoadOptions{CompileContext: cc, Warn: warnTo(log, spec.ModelDir)})
	if err != nil {
		var ves cubes.ValidationErrors
		if !errors.As(err, &ves) {
			err = fmt.Errorf("model dir %s: %w", spec.ModelDir, err)
		}
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySource == nil {
		r.bySource = map[string]*contextModels{}
	}
	if !cubes.MentionsCompileContext(files) {
		delete(r.bySource, spec.Name)
		return m, nil
	}
	r.bySource[spec.Name] = &contextModels{parent: r, log: log, source: spec.Name, dir: spec.ModelDir, files: files, base: m,
		baseKey: contextKey(cc), lru: list.New(), byKey: map[string]*list.Element{}}
	log.Info().Str("model", spec.ModelDir).Int("cache_size", compileContextCacheSize).
		Msg("the model reads COMPILE_CONTEXT: it is compiled once per compile context (tenant, data source, security context)")
	return m, nil
}

// compileContext is COMPILE_CONTEXT for a principal of tenant querying
// data source source.
func compileContext(tenant, source string, sec auth.SecurityContext) map[string]any {
	if tenant == "" {
		tenant = auth.DefaultTenant
	}
	sc := map[string]any{}
	if s := sec.String(); s != "" {
		_ = json.Unmarshal([]byte(s), &sc)
		if sc == nil {
			sc = map[string]any{}
		}
	}
	return map[string]any{"tenant": tenant, "dataSource": source, "securityContext": sc}
}

// contextKey identifies a compile context (JSON sorts map keys).
func contextKey(cc map[string]any) string {
	b, _ := json.Marshal(cc)
	return string(b)
}

func (r *modelContexts) get(source string) *contextModels {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bySource[source]
}

// model is the model compiled for a principal's context, compiled on
// first use: nil for the base context's (the data source's model as
// loaded).
func (cm *contextModels) model(tenant string, sec auth.SecurityContext) (e *contextEntry) {
	cc := compileContext(tenant, cm.source, sec)
	key := contextKey(cc)
	if key == cm.baseKey {
		return nil
	}
	cm.mu.Lock()
	if el, ok := cm.byKey[key]; ok {
		e := el.Value.(*contextEntry)
		if e.retryAt.IsZero() || time.Now().Before(e.retryAt) {
			cm.lru.MoveToFront(el)
			cm.mu.Unlock()
			<-e.ready
			return e
		}
		// A budget failure whose backoff is over: compiled again.
		cm.lru.Remove(el)
		delete(cm.byKey, key)
	}
	e = &contextEntry{key: key, ready: make(chan struct{})}
	cm.byKey[key] = cm.lru.PushFront(e)
	evicted := 0
	for cm.lru.Len() > compileContextCacheSize {
		old := cm.lru.Back()
		cm.lru.Remove(old)
		delete(cm.byKey, old.Value.(*contextEntry).key)
		evicted++
	}
	cm.evictedTotal += evicted
	cached, evictedTotal := cm.lru.Len(), cm.evictedTotal
	cm.mu.Unlock()

	start := time.Now()
	e.model, e.err = cubes.LoadFilesWith(cm.files, cubes.LoadOptions{CompileContext: cc})
	transient := errors.Is(e.err, cubes.ErrBudget)
	if transient {
		cm.mu.Lock()
		e.retryAt = time.Now().Add(contextRetryBackoff)
		cm.mu.Unlock()
	}
	close(e.ready)
	cm.parent.compiles.Add(1)
	if m := cm.parent.metrics; m != nil {
		outcome := "ok"
		switch {
		case transient:
			outcome = "budget"
		case e.err != nil:
			outcome = "refused"
		}
		m.Add("cubegate_model_context_compiles_total", "Models compiled for a principal's COMPILE_CONTEXT, by outcome.", 1, "outcome", outcome)
	}
	// The context's id, not the context: its claims may be sensitive.
	sum := sha256.Sum256([]byte(key))
	ev := cm.log.Info()
	if e.err != nil {
		ev = cm.log.Warn().Str("error", firstLine(e.err))
	}
	if transient {
		ev = ev.Dur("retry_in", contextRetryBackoff)
	}
	ev.Str("data_source", cm.source).Str("tenant", fmt.Sprint(cc["tenant"])).Str("context", hex.EncodeToString(sum[:6])).
		Dur("took", time.Since(start)).Int("cached", cached).Int("evicted", evictedTotal).
		Msg("model compiled for a compile context")
	return e
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// handler is the handler planning a principal's sessions on data source
// source, whose handler is hb: hb itself unless the model reads
// COMPILE_CONTEXT.
func (r *modelContexts) handler(source string, hb *planner.Handler, tenant string, sec auth.SecurityContext) (*planner.Handler, error) {
	cm := r.get(source)
	if cm == nil || hb == nil || cm.base != hb.Model() {
		return hb, nil
	}
	e := cm.model(tenant, sec)
	if e == nil {
		return hb, nil
	}
	if e.err != nil {
		return nil, e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hFor != hb {
		e.h, e.hFor = hb.WithModel(e.model), hb
	}
	return e.h, nil
}

// modelFor is the model a principal queries on data source source, whose
// model is base.
func (r *modelContexts) modelFor(source string, base *cubes.Model, tenant string, sec auth.SecurityContext) (*cubes.Model, error) {
	cm := r.get(source)
	if cm == nil || base == nil || cm.base != base {
		return base, nil
	}
	if e := cm.model(tenant, sec); e != nil {
		return e.model, e.err
	}
	return base, nil
}

// ContextCompiles counts the model compiles made for a principal's
// compile context since the gateway started (tests).
func (g *Gateway) ContextCompiles() int64 { return g.models.compiles.Load() }

// newSession opens a SQL session on data source source (handler h),
// planned on the principal's model when the model reads COMPILE_CONTEXT.
// A model that does not compile for the principal's context answers
// each of its statements with the model's errors; other principals are
// not affected.
func (g *Gateway) newSession(ctx context.Context, source string, h *planner.Handler, info pgwire.SessionInfo) (pgwire.Session, error) {
	p, _ := info.Principal.(auth.Principal)
	ch, err := g.models.handler(source, h, p.TenantID, p.Security)
	if err != nil {
		return modelErrorSession{contextModelError(err)}, nil
	}
	return ch.NewSession(ctx, info)
}

func contextModelError(err error) *pgerr.Error {
	return pgerr.New(pgerrcode.InternalError, "the data model does not compile for this security context").
		WithDetail("%s", strings.TrimSpace(err.Error())).
		WithHint("COMPILE_CONTEXT made the model invalid for this credential only; fix the model files and reload")
}

// modelErrorSession answers every statement with the model's error.
type modelErrorSession struct{ err *pgerr.Error }

func (s modelErrorSession) Parse(context.Context, string) ([]pgwire.Statement, error) {
	return nil, s.err
}
func (s modelErrorSession) Prepare(context.Context, string, []uint32) (pgwire.PreparedStatement, error) {
	return nil, s.err
}
func (modelErrorSession) TxStatus() byte   { return 'I' }
func (modelErrorSession) StatementFailed() {}
func (modelErrorSession) Close() error     { return nil }

// ForPrincipal implements httpapi.PrincipalEngine: a REST request reads
// its principal's model.
func (e engine) ForPrincipal(p query.Principal) (httpapi.Engine, error) {
	return withModel(e, &e.g.models, e.g.defaultSource().Name, p)
}

// ForPrincipal implements httpapi.PrincipalEngine.
func (e sourceEngine) ForPrincipal(p query.Principal) (httpapi.Engine, error) {
	return withModel(e, e.s.models, e.s.spec.Name, p)
}

// withModel is e on its principal's model (e itself when the model
// does not read COMPILE_CONTEXT).
func withModel(e httpapi.Engine, r *modelContexts, source string, p query.Principal) (httpapi.Engine, error) {
	m, err := r.modelFor(source, e.Model(), p.TenantID, p.Security)
	if err != nil {
		return nil, &httpapi.EngineError{Status: 500, Code: "MODEL_INVALID",
			Msg: "the data model does not compile for this security context: " + strings.TrimSpace(err.Error())}
	}
	if m == e.Model() {
		return e, nil
	}
	return modelEngine{Engine: e, m: m}, nil
}

// modelEngine is an engine answering on another model of its data source
// (a principal's compile context).
type modelEngine struct {
	httpapi.Engine
	m *cubes.Model
}

func (e modelEngine) Model() *cubes.Model { return e.m }
