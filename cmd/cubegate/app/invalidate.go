package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/query"
)

// cacheChannel is the PostgreSQL channel on which gateways sharing a
// state store tell each other what they dropped from their result
// caches.
const cacheChannel = "cubegate_cache"

// notifyTimeout bounds telling the other gateways: an invalidation is
// made from a request, a reload or a rebuild, none of which should wait
// long on a slow state store.
const notifyTimeout = 2 * time.Second

// invalidator drops answers from the result cache here and on every
// gateway sharing the state store: each invalidation is sent as a note
// on cacheChannel, and the notes of the others are applied here. On a
// SQLite store (one gateway) it is the cache alone.
type invalidator struct {
	cache *query.Cache // nil: none here (the others are still told)
	store *auth.Store
	log   zerolog.Logger
	// id tells this gateway's notes from the others' (it hears its own).
	id   string
	stop func()
}

// cacheInvalidator drops cached answers: the invalidator, or a cache
// alone.
type cacheInvalidator interface {
	Invalidate(query.Scope) int
}

// cacheNote is an invalidation as sent between gateways.
type cacheNote struct {
	From   string `json:"from"`
	Tenant string `json:"tenant,omitempty"`
	Source string `json:"source,omitempty"`
	Cube   string `json:"cube,omitempty"`
}

// newInvalidator starts hearing the other gateways' invalidations (when
// there is a cache to apply them to): on return, every note sent from
// then on is applied.
func newInvalidator(ctx context.Context, store *auth.Store, cache *query.Cache, log zerolog.Logger) (*invalidator, error) {
	b := make([]byte, 8)
	rand.Read(b)
	v := &invalidator{cache: cache, store: store, log: log, id: hex.EncodeToString(b), stop: func() {}}
	if cache == nil {
		return v, nil
	}
	stop, err := store.ListenWith(ctx, cacheChannel, v.heard, auth.ListenOptions{OnError: func(err error) {
		log.Warn().Err(err).Msg("the result cache hears no other gateway's invalidations until the state store answers again")
	}})
	if err != nil {
		return nil, err
	}
	v.stop = stop
	return v, nil
}

// Invalidate drops the answers in scope here and tells the other
// gateways to; it returns how many were dropped here. A gateway not told
// (the state store did not answer) keeps its answers until they expire:
// that is logged.
func (v *invalidator) Invalidate(scope query.Scope) int {
	if v == nil {
		return 0
	}
	n := v.cache.Invalidate(scope)
	note, _ := json.Marshal(cacheNote{From: v.id, Tenant: scope.Tenant, Source: scope.Source, Cube: scope.Cube})
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	if err := v.store.Notify(ctx, cacheChannel, string(note)); err != nil {
		v.log.Warn().Err(err).Str("tenant", scope.Tenant).Str("data_source", scope.Source).Str("cube", scope.Cube).
			Msg("the other gateways were not told of a result cache invalidation: they keep those answers until they expire")
	}
	return n
}

// heard applies another gateway's note. After a lost connection (Resync)
// notes may have been missed, and an unreadable one says nothing of its
// scope: everything is dropped then — a miss costs a query, a stale
// answer is wrong.
func (v *invalidator) heard(payload string) {
	if payload == auth.Resync {
		n := v.cache.Invalidate(query.Scope{})
		v.log.Info().Int("dropped", n).Msg("listening to the other gateways again: the result cache was emptied, invalidations may have been missed")
		return
	}
	var note cacheNote
	if err := json.Unmarshal([]byte(payload), &note); err != nil || note.From == "" {
		n := v.cache.Invalidate(query.Scope{})
		v.log.Warn().Int("dropped", n).Msg("an unreadable result cache invalidation from another gateway: the result cache was emptied")
		return
	}
	if note.From == v.id {
		return
	}
	v.cache.Invalidate(query.Scope{Tenant: note.Tenant, Source: note.Source, Cube: note.Cube})
}

// close stops hearing the other gateways.
func (v *invalidator) close() {
	if v != nil {
		v.stop()
	}
}
