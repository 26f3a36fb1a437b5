package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/pgwire"
)

// controlChannel is the PostgreSQL channel on which gateways sharing a
// state store tell each other of reloads and of cancel requests that
// reached the wrong gateway (cache invalidations have their own,
// cacheChannel, which older gateways read as invalidations only).
const controlChannel = "cubegate_control"

// Note kinds on controlChannel.
const (
	noteReload = "reload"
	noteCancel = "cancel"
)

// controlNote is a note between gateways. Reload: the data sources (by
// name) a gateway reloaded; every other gateway reloads them from its own
// model folders, and tells nobody. Cancel: the hash of a CancelRequest's
// key (pgwire.CancelHash; never its secret), which the gateway holding
// the session acts on.
type controlNote struct {
	From    string   `json:"from"`
	Kind    string   `json:"kind"`
	Sources []string `json:"sources,omitempty"`
	Hash    string   `json:"hash,omitempty"`
}

// maxForwardedCancels caps the cancel requests a gateway forwards a
// second (bursts of twice as many): a CancelRequest needs no login, and
// each forwarded one is a note every gateway reads.
const maxForwardedCancels = 100

// control sends and hears the notes of controlChannel. On a SQLite store
// (one gateway) it does nothing.
type control struct {
	g     *Gateway
	store *auth.Store
	log   zerolog.Logger
	// id tells this gateway's notes from the others' (it hears its own).
	id       string
	stop     func()
	forwards *auth.Limiter
	// pg is the SQL server, once made: the sessions a forwarded cancel
	// may stop.
	pg     atomic.Pointer[pgwire.Server]
	quiet  sync.Mutex
	warned time.Time // when a failed note was last logged
}

// newControl starts hearing the other gateways' reloads and cancels: on
// return, every note sent from then on is acted on.
func newControl(ctx context.Context, g *Gateway, log zerolog.Logger) (*control, error) {
	b := make([]byte, 8)
	rand.Read(b)
	c := &control{g: g, store: g.store, log: log, id: hex.EncodeToString(b), stop: func() {},
		forwards: auth.NewLimiter(maxForwardedCancels, 2*maxForwardedCancels, 0)}
	if !g.store.Shared() {
		return c, nil
	}
	stop, err := g.store.ListenWith(ctx, controlChannel, c.heard, auth.ListenOptions{OnError: func(err error) {
		log.Warn().Err(err).Msg("no other gateway's reloads and forwarded cancels are heard until the state store answers again")
	}})
	if err != nil {
		return nil, err
	}
	c.stop = stop
	return c, nil
}

// send publishes a note, logging (at most every 10 s) when it cannot.
func (c *control) send(n controlNote) {
	n.From = c.id
	payload, _ := json.Marshal(n)
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	if err := c.store.Notify(ctx, controlChannel, string(payload)); err != nil {
		c.quiet.Lock()
		loud := time.Since(c.warned) > 10*time.Second
		if loud {
			c.warned = time.Now()
		}
		c.quiet.Unlock()
		if loud {
			c.log.Warn().Err(err).Str("kind", n.Kind).Msg("the other gateways were not told")
		}
	}
}

// reloaded tells the other gateways which data sources were reloaded
// here (whatever asked: the admin API, SIGHUP, the folder watch).
func (c *control) reloaded(sources []string) {
	if c == nil || !c.store.Shared() || len(sources) == 0 {
		return
	}
	c.send(controlNote{Kind: noteReload, Sources: sources})
}

// forwardCancel is pgwire's ForwardCancel: a CancelRequest that stopped
// no session here, for the gateway that holds it.
func (c *control) forwardCancel(hash pgwire.CancelKeyHash) {
	if c == nil || !c.store.Shared() {
		return
	}
	if ok, _ := c.forwards.Allow(""); !ok {
		c.log.Debug().Msg("a cancel request was not forwarded: too many a second")
		return
	}
	c.send(controlNote{Kind: noteCancel, Hash: hex.EncodeToString(hash[:])})
}

// heard acts on a note. After a lost connection (Resync) reloads may
// have been missed: the default data source is reloaded when its folder
// changed, every other data source (whose served version is not known)
// is reloaded; the result cache was emptied anyway (the invalidator's
// resync). Cancels missed
// meanwhile are lost, as a cancel request is when the server is busy.
func (c *control) heard(payload string) {
	if payload == auth.Resync {
		c.log.Info().Msg("listening to the other gateways again: reloading the models that changed meanwhile")
		go c.g.reloadHeard(nil)
		return
	}
	var n controlNote
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.From == "" {
		c.log.Warn().Msg("an unreadable note from another gateway was ignored")
		return
	}
	if n.From == c.id {
		return
	}
	switch n.Kind {
	case noteReload:
		if len(n.Sources) > 0 {
			go c.g.reloadHeard(n.Sources)
		}
	case noteCancel:
		var h pgwire.CancelKeyHash
		if b, err := hex.DecodeString(n.Hash); err == nil && len(b) == len(h) {
			copy(h[:], b)
			if pg := c.pg.Load(); pg != nil && pg.CancelHashed(h) {
				c.log.Info().Msg("a cancel request another gateway received stopped a statement here")
			}
		}
	}
}

// close stops hearing the other gateways.
func (c *control) close() {
	if c != nil {
		c.stop()
	}
}

// reloadHeard reloads the data sources another gateway reloaded (all of
// them when nil), without telling anybody. A data source whose model
// folder is what it serves already (the same files: the folder watch
// got there first) is left alone.
func (g *Gateway) reloadHeard(sources []string) {
	g.ms.mu.Lock()
	stopping := g.ms.state == "STOPPING"
	g.ms.mu.Unlock()
	if stopping {
		return
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	for _, name := range g.sourceNames() {
		if sources != nil && !slices.Contains(sources, name) {
			continue
		}
		if name == g.Database {
			if g.modelCurrent() {
				continue
			}
			g.log.Info().Msg("another gateway reloaded the model: reloading it here")
			_ = g.reloadDefault() // logged there
			continue
		}
		s := g.sources[name]
		if s == nil {
			continue
		}
		g.log.Info().Str("data_source", name).Msg("another gateway reloaded the data source's model: reloading it here")
		if err := s.reload(); err != nil {
			logModelErrors(g.log.With().Str("data_source", name).Logger(), err, "model reload refused; the previous model keeps serving")
		}
	}
}

// modelCurrent tells whether the default data source serves the model
// its folder holds now, with no refused reload since (reloadMu held).
func (g *Gateway) modelCurrent() bool {
	version := modelVersion(g.cfg.Model.Dir)
	g.ms.mu.Lock()
	defer g.ms.mu.Unlock()
	return g.ms.err == "" && g.ms.version == version && g.handler.Load() != nil
}

// limitsStoreError logs, at most every 10 s, that the shared rate limit
// could not be read (the gateway's own bucket decided meanwhile).
func limitsStoreError(log zerolog.Logger) func(error) {
	var mu sync.Mutex
	var last time.Time
	return func(err error) {
		mu.Lock()
		loud := time.Since(last) > 10*time.Second
		if loud {
			last = time.Now()
		}
		mu.Unlock()
		if loud {
			log.Warn().Err(err).Msg("the state store did not answer a rate-limit admission: each gateway holds the tenant to its own bucket until it does")
		}
	}
}
