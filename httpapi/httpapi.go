// Package httpapi serves cubegate over HTTP: the Cube-compatible REST API
// (/cubejs-api/v1/load, meta, sql, dry-run) under scoped Bearer keys, the
// admin API for keys, credentials, tenants and the audit log, the server
// status and model reload, /metrics, and the health probes (/livez,
// /readyz). It runs queries through an Engine (the model, its dialect and
// the warehouse) and applies each key's policy (auth); it knows nothing of
// the SQL planner.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// Pinger reports whether a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config configures the HTTP handler.
type Config struct {
	Warehouse Pinger
	Version   string
	// Admin serves /admin/v1/ when set.
	Admin *Admin
	// REST serves /cubejs-api/v1/ when set.
	REST *REST
	// Metrics serves /metrics and counts requests when set.
	Metrics *Metrics
	// Console serves the web console under /console when set
	// (httpapi/console).
	Console http.Handler
	// Log gets one line per request, with its request id.
	Log zerolog.Logger
	// WriteTimeout bounds each write of an answer (0: none): a client that
	// stops reading a streamed result loses its connection after it,
	// and the query is canceled.
	WriteTimeout time.Duration
}

// serveSafely serves r, and turns a panic in a handler into a 500
// INTERNAL answer (logged with its stack) for that request only.
func serveSafely(h http.Handler, w *statusWriter, r *http.Request, log zerolog.Logger) {
	defer func() {
		v := recover()
		if v == nil || v == http.ErrAbortHandler {
			if v != nil {
				panic(v)
			}
			return
		}
		log.Error().Str("panic", fmt.Sprint(v)).Str("request_id", requestID(r)).Bytes("stack", debug.Stack()).
			Msg("internal error while serving a request; it fails with 500 and the gateway goes on")
		if !w.wrote {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"meta": map[string]any{"request_id": requestID(r)},
				"error": map[string]any{"code": "INTERNAL", "message": "internal error; the gateway's log has the details"}})
		}
	}()
	h.ServeHTTP(w, r)
}

// NewHandler returns the HTTP API.
func NewHandler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": cfg.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := cfg.Warehouse.Ping(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": "warehouse: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	if cfg.Admin != nil && cfg.Admin.Keys != nil {
		cfg.Admin.register(mux)
	}
	var ws *wsServer
	if cfg.REST != nil && cfg.REST.Keys != nil {
		cfg.REST.register(mux)
		ws = cfg.REST.registerWS(mux, cfg) // Cube's ws-transport (ws.go)
	}
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.Console != nil {
		mux.Handle("/console", cfg.Console)
		mux.Handle("/console/", cfg.Console)
	}
	// Every request gets an id (X-Request-Id, the admin API's meta, the
	// log line), is counted and timed, and logged.
	return handler{ws: ws, HandlerFunc: func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDCtx, id))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, writeTimeout: cfg.WriteTimeout}
		if cfg.WriteTimeout > 0 {
			// A keep-alive connection keeps the last request's deadline:
			// each request starts without one, each write sets its own,
			// and the server's final flush gets one more.
			sw.rc = http.NewResponseController(w)
			_ = sw.rc.SetWriteDeadline(time.Time{})
			defer func() { _ = sw.rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout)) }()
		}
		serveSafely(mux, sw, r, cfg.Log)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		cfg.Metrics.Add("cubegate_http_requests_total", "HTTP requests by route and status.", 1, "route", route, "status", strconv.Itoa(sw.status))
		cfg.Metrics.Observe("cubegate_http_request_duration_seconds", "HTTP request latency by route.", time.Since(start), "route", route)
		// Scrapes and probes come every few seconds: logged at debug only.
		ev := cfg.Log.Info()
		if quietRoutes[route] {
			ev = cfg.Log.Debug()
		}
		ev.Str("request_id", id).Str("method", r.Method).Str("route", route).Int("status", sw.status).
			Dur("duration", time.Since(start)).Str("remote", r.RemoteAddr).Msg("http")
	}}
}

// handler is the HTTP API; CloseWebSockets ends its WebSocket
// connections, which http.Server.Shutdown does not wait for.
type handler struct {
	http.HandlerFunc
	ws *wsServer
}

// quietRoutes are logged at debug, not info.
var quietRoutes = map[string]bool{"GET /metrics": true, "GET /livez": true, "GET /readyz": true}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
