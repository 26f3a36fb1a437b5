package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// The WebSocket transport of Cube's JavaScript client
// (@cubejs-client/ws-transport, new WebSocketTransport({authorization,
// apiUrl})). The client opens a WebSocket on its apiUrl itself
// (ws://host:port/cubejs-api/v1 as Cube's docs spell it; Cube's server
// takes the upgrade on any path of its port): cubegate takes it on
// /cubejs-api/v1, /cubejs-api/v1/ and /. On it:
//
//   - the client first sends {"authorization": TOKEN}: the key is checked
//     as REST checks it (validity, allow_ips) and the answer is
//     {"handshake": true}, or {"status", "message": {"error", "code"}}
//     (the connection stays open; every method then answers that error);
//   - each request is {"messageId", "requestId", "method", "params"}, the
//     method one of load, subscribe, sql, dry-run and meta. It runs
//     through the REST handler of the same name (withKey: the key, its
//     scope, the tenant's rate and concurrency limits, the audit log) and
//     is answered {"messageId", "status", "message": BODY}, BODY the JSON
//     REST answers, streamed as it is written; then {"messageProcessedId"}.
//   - {"unsubscribe": messageId} cancels that message if it still runs.
//
// subscribe answers once, as load: cubegate has no refresh scheduler.
// The client sends a subscription's message again every heartbeat (60 s
// by default) while it is subscribed, and each gets a fresh answer: an
// application polls at the heartbeat.
//
// Bounds, per connection: a message is at most WSLimits.MaxMessageBytes
// (past it the connection is closed with 1009, which the client reports
// as a 413 to every pending request; larger queries go over HTTP); at
// most MaxInFlight messages run at once, the others wait their turn, and
// the messages waiting or running hold at most MaxQueuedBytes (each
// counted as at least 1 KiB): past it the next message is not read until
// one ends (an {"unsubscribe"} sent meanwhile waits too); a connection not authorized within AuthTimeout, or with nothing
// running and nothing received for IdleTimeout, is closed; each write of
// an answer has Config.WriteTimeout, as over HTTP; at most MaxConnections
// connections are open (503 past it). Browsers may connect from the
// gateway's own origin only, as REST sends no CORS headers.

// WSLimits bounds the WebSocket transport; zero fields take the defaults.
type WSLimits struct {
	MaxMessageBytes int64
	MaxInFlight     int
	MaxQueuedBytes  int64
	MaxConnections  int
	IdleTimeout     time.Duration
	AuthTimeout     time.Duration
	// ContinueWait is how often a message whose answer has not begun gets
	// Cube's {"error": "Continue wait"} (status 200): the client waits on,
	// and does not take the silence for a dead connection (it closes one
	// it heard nothing from for 4 heartbeats, 240 s, and sends again).
	ContinueWait time.Duration
}

// The WebSocket transport's default bounds.
const (
	DefaultWSMaxMessageBytes = largeBody
	DefaultWSMaxInFlight     = 4
	DefaultWSMaxQueuedBytes  = largeBody
	wsMinMessageCost         = 1 << 10
	DefaultWSMaxConnections  = 256
	DefaultWSIdleTimeout     = 2 * time.Minute
	DefaultWSAuthTimeout     = 10 * time.Second
	DefaultWSContinueWait    = 30 * time.Second
)

func (l WSLimits) withDefaults() WSLimits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultWSMaxMessageBytes
	}
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = DefaultWSMaxInFlight
	}
	if l.MaxQueuedBytes <= 0 {
		l.MaxQueuedBytes = DefaultWSMaxQueuedBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultWSMaxConnections
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultWSIdleTimeout
	}
	if l.AuthTimeout <= 0 {
		l.AuthTimeout = DefaultWSAuthTimeout
	}
	if l.ContinueWait <= 0 {
		l.ContinueWait = DefaultWSContinueWait
	}
	return l
}

// wsMethod is a client method and the REST route that answers it.
type wsMethod struct {
	httpMethod, path, scope string
	// params are what Cube's SubscriptionServer passes on (methodParams).
	params  []string
	handler func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey)
}

var wsMethods = map[string]wsMethod{
	"load":      {http.MethodPost, "/cubejs-api/v1/load", "load", []string{"query", "queryType"}, func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey) { return a.load }},
	"subscribe": {http.MethodPost, "/cubejs-api/v1/subscribe", "load", []string{"query", "queryType"}, func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey) { return a.load }},
	"sql":       {http.MethodPost, "/cubejs-api/v1/sql", "sql", []string{"query"}, func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey) { return a.sql }},
	"dry-run":   {http.MethodPost, "/cubejs-api/v1/dry-run", "load", []string{"query"}, func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey) { return a.dryRun }},
	"meta":      {http.MethodGet, "/cubejs-api/v1/meta", "meta", nil, func(a *REST) func(http.ResponseWriter, *http.Request, auth.APIKey) { return a.meta }},
}

// wsServer serves the WebSocket transport of a REST API.
type wsServer struct {
	rest         *REST
	limits       WSLimits
	writeTimeout time.Duration
	log          zerolog.Logger
	metrics      *Metrics

	mu        sync.Mutex
	conns     map[*wsConn]struct{}
	live      sync.WaitGroup        // one per connection until its serve returns
	servers   map[*http.Server]bool // whose shutdown closes the connections
	open      atomic.Int64
	closedAll bool
}

func (a *REST) registerWS(mux *http.ServeMux, cfg Config) *wsServer {
	s := &wsServer{rest: a, limits: a.WS.withDefaults(), writeTimeout: cfg.WriteTimeout, log: cfg.Log, metrics: cfg.Metrics,
		conns: map[*wsConn]struct{}{}, servers: map[*http.Server]bool{}}
	if cfg.Metrics != nil {
		cfg.Metrics.Gauge("cubegate_ws_connections", "Open WebSocket connections (Cube's ws-transport).",
			func() float64 { return float64(s.open.Load()) })
	}
	for _, p := range []string{"GET /cubejs-api/v1", "GET /cubejs-api/v1/{$}", "GET /{$}"} {
		mux.HandleFunc(p, s.serve)
	}
	return s
}

// CloseWebSockets closes the WebSocket connections (1001), cancels what
// runs on them and waits until they have ended, or ctx is done; new ones
// are refused. The gateway calls it after http.Server.Shutdown, which
// does not track them, and before it closes the warehouse and the audit
// log their queries use.
func (h handler) CloseWebSockets(ctx context.Context) error {
	if h.ws == nil {
		return nil
	}
	h.ws.closeAll()
	done := make(chan struct{})
	go func() { h.ws.live.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d WebSocket connections had not ended: %w", h.ws.open.Load(), ctx.Err())
	}
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (s *wsServer) serve(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		writeJSON(w, http.StatusUpgradeRequired, map[string]any{"error": "this path serves Cube's WebSocket transport (@cubejs-client/ws-transport); the REST API is under /cubejs-api/v1/", "code": "WEBSOCKET_REQUIRED"})
		return
	}
	s.mu.Lock()
	closing := s.closedAll
	s.mu.Unlock()
	if closing {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "the gateway is shutting down", "code": "SHUTTING_DOWN"})
		return
	}
	if n := s.open.Add(1); n > int64(s.limits.MaxConnections) {
		s.open.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": fmt.Sprintf("the gateway holds its maximum of %d WebSocket connections; retry shortly or use the REST API", s.limits.MaxConnections), "code": "WS_TOO_MANY_CONNECTIONS"})
		return
	}
	defer s.open.Add(-1)
	// A hijacked connection keeps the server's deadlines: the transport
	// sets its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, nil) // same-origin only; Accept answers the refusal
	if err != nil {
		return
	}
	ws.SetReadLimit(s.limits.MaxMessageBytes)
	ctx, cancel := context.WithCancel(r.Context())
	c := &wsConn{s: s, ws: ws, up: r, ctx: ctx, cancel: cancel, running: map[string]context.CancelFunc{}, started: time.Now()}
	c.drained = sync.NewCond(&c.mu)
	c.last.Store(time.Now().UnixNano())
	if !s.add(c, r) {
		ws.Close(websocket.StatusGoingAway, "the gateway is shutting down")
		return
	}
	defer s.remove(c)
	c.run()
}

// add tracks c, and has the server's shutdown close it (hijacked
// connections are not the http.Server's any more).
func (s *wsServer) add(c *wsConn, r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedAll {
		return false
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && !s.servers[srv] {
		s.servers[srv] = true
		srv.RegisterOnShutdown(s.closeAll)
	}
	s.conns[c] = struct{}{}
	s.live.Add(1)
	return true
}

func (s *wsServer) remove(c *wsConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.live.Done()
}

// closeAll ends every connection: their running queries are canceled.
func (s *wsServer) closeAll() {
	s.mu.Lock()
	s.closedAll = true
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.closeWith(websocket.StatusGoingAway, "the gateway is shutting down")
	}
}

// wsConn is one client connection.
type wsConn struct {
	s      *wsServer
	ws     *websocket.Conn
	up     *http.Request // the upgrade: the peer's address, the data source header
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	started time.Time
	// refusals left (read loop only; see sendError)
	refusals  float64
	refusalAt time.Time
	last      atomic.Int64 // unix nanos of the last message received or answered

	mu         sync.Mutex
	token      string // the key presented; kept in memory for this connection only
	authorized bool
	authErr    *wsError                      // why the presented key was refused
	running    map[string]context.CancelFunc // the messages waiting or running
	waiting    []*wsJob                      // in the order received
	active     int                           // how many run
	queued     int64                         // their bytes (wsMinMessageCost at least each)
	drained    *sync.Cond                    // signaled when queued drops, or the connection ends
}

// wsError is an answer's error: Cube's {"error"} and cubegate's code.
type wsError struct {
	status      int
	code, error string
}

func (e *wsError) message() map[string]any {
	return map[string]any{"error": e.error, "code": e.code}
}

// wsIn is a client message.
type wsIn struct {
	Authorization json.RawMessage            `json:"authorization"`
	Unsubscribe   json.RawMessage            `json:"unsubscribe"`
	MessageID     json.RawMessage            `json:"messageId"`
	RequestID     json.RawMessage            `json:"requestId"`
	Method        *string                    `json:"method"`
	Params        map[string]json.RawMessage `json:"params"`
}

func (c *wsConn) run() {
	defer c.wg.Wait()
	defer func() {
		c.cancel()
		c.mu.Lock()
		c.drained.Broadcast()
		c.mu.Unlock()
	}()
	go c.watch()
	for {
		// The read ends when the connection is closed (by the client, the
		// read limit, watch, a failed write or the gateway's shutdown).
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			// Closed by the client, past the read limit (closed with 1009),
			// idle, or the gateway shutting down.
			c.ws.CloseNow()
			return
		}
		c.last.Store(time.Now().UnixNano())
		c.handle(typ, data)
		// Past the queue's bytes, nothing more is read until a message ends.
		c.mu.Lock()
		for c.queued >= c.s.limits.MaxQueuedBytes {
			c.drained.Wait()
		}
		c.mu.Unlock()
	}
}

// watch closes a connection left unauthorized or idle.
func (c *wsConn) watch() {
	l := c.s.limits
	tick := min(l.IdleTimeout, l.AuthTimeout) / 4
	tick = max(tick, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		authorized, running := c.authorized, len(c.running)
		c.mu.Unlock()
		switch {
		case !authorized && time.Since(c.started) > l.AuthTimeout:
			c.closeWith(websocket.StatusPolicyViolation, fmt.Sprintf("no valid authorization within %s", l.AuthTimeout))
			return
		case running == 0 && time.Since(time.Unix(0, c.last.Load())) > l.IdleTimeout:
			c.closeWith(websocket.StatusGoingAway, fmt.Sprintf("idle for %s", l.IdleTimeout))
			return
		}
	}
}

func (c *wsConn) closeWith(code websocket.StatusCode, reason string) {
	c.cancel() // the messages running end
	c.ws.Close(code, reason)
}

// send writes one small message under the write timeout; a failed write
// ends the connection.
func (c *wsConn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	ctx := c.ctx
	if c.s.writeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.s.writeTimeout)
		defer cancel()
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.ws.CloseNow()
	}
}

// sendError refuses a message before it runs (read loop only). Refusals
// are cheap to ask for: past wsRefusalBurst of them, at wsRefusalRate a
// second, the connection is closed with 1008 — a client that floods
// malformed or unauthorized messages gets no more answers.
func (c *wsConn) sendError(id json.RawMessage, e *wsError) {
	now := time.Now()
	if c.refusalAt.IsZero() {
		c.refusals = wsRefusalBurst
	} else {
		c.refusals = min(wsRefusalBurst, c.refusals+now.Sub(c.refusalAt).Seconds()*wsRefusalRate)
	}
	c.refusalAt = now
	if c.refusals < 1 {
		c.closeWith(websocket.StatusPolicyViolation, "too many refused messages")
		return
	}
	c.refusals--
	m := map[string]any{"status": e.status, "message": e.message()}
	if len(id) > 0 {
		m["messageId"] = id
	}
	c.send(m)
}

// A connection's refused messages: a burst, then a rate a second.
const (
	wsRefusalBurst = 64
	wsRefusalRate  = 8
)

// handle answers one message, or starts a goroutine that does.
func (c *wsConn) handle(typ websocket.MessageType, data []byte) {
	if typ != websocket.MessageText {
		c.sendError(nil, &wsError{http.StatusBadRequest, "WS_BAD_MESSAGE", "messages are JSON text, not binary"})
		return
	}
	var m wsIn
	if err := json.Unmarshal(data, &m); err != nil {
		c.sendError(nil, &wsError{http.StatusBadRequest, "WS_BAD_MESSAGE", fmt.Sprintf("the message is not a JSON object: %v", err)})
		return
	}
	if present(m.Authorization) {
		c.authorize(m.Authorization)
		return
	}
	if present(m.Unsubscribe) {
		c.mu.Lock()
		if cancel := c.running[idKey(m.Unsubscribe)]; cancel != nil {
			cancel()
		}
		c.mu.Unlock()
		return
	}
	if !validID(m.MessageID) {
		c.sendError(nil, &wsError{http.StatusBadRequest, "WS_BAD_MESSAGE", "messageId is required (a number or a string)"})
		return
	}
	c.mu.Lock()
	token, authorized, authErr := c.token, c.authorized, c.authErr
	c.mu.Unlock()
	if !authorized {
		if authErr == nil {
			authErr = &wsError{http.StatusUnauthorized, "API_KEY_REQUIRED", `send {"authorization": KEY} first`}
		}
		c.sendError(m.MessageID, authErr)
		return
	}
	if m.Method == nil || *m.Method == "" {
		c.sendError(m.MessageID, &wsError{http.StatusBadRequest, "WS_BAD_MESSAGE", "method is required"})
		return
	}
	switch *m.Method {
	case "unsubscribe":
		// Cube's method form of {"unsubscribe"}: nothing runs under it.
		c.send(map[string]any{"messageProcessedId": m.MessageID})
		return
	case "subscribe.queue.events":
		c.sendError(m.MessageID, &wsError{http.StatusNotImplemented, "WS_METHOD_NOT_SUPPORTED", "subscribe.queue.events is not served: cubegate has no query queue to report on"})
		return
	}
	meth, ok := wsMethods[*m.Method]
	if !ok {
		c.sendError(m.MessageID, &wsError{http.StatusBadRequest, "WS_METHOD_NOT_SUPPORTED", fmt.Sprintf("Unsupported method: %s (load, subscribe, sql, dry-run and meta are)", *m.Method)})
		return
	}
	key := idKey(m.MessageID)
	cost := max(int64(len(data)), wsMinMessageCost)
	mctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	if c.running[key] != nil {
		// The client sends a message again at its heartbeat while it waits:
		// the one waiting or running answers it.
		c.mu.Unlock()
		cancel()
		return
	}
	c.running[key] = cancel
	c.queued += cost
	c.waiting = append(c.waiting, &wsJob{m: m, meth: meth, token: token, ctx: mctx, cancel: cancel, key: key, cost: cost})
	c.dispatch()
	c.mu.Unlock()
}

// wsJob is a method message waiting or running.
type wsJob struct {
	m      wsIn
	meth   wsMethod
	token  string
	ctx    context.Context
	cancel context.CancelFunc
	key    string
	cost   int64
}

// dispatch starts the waiting messages, in the order received, while
// fewer than MaxInFlight run (c.mu held).
func (c *wsConn) dispatch() {
	for c.active < c.s.limits.MaxInFlight && len(c.waiting) > 0 {
		j := c.waiting[0]
		c.waiting[0] = nil
		c.waiting = c.waiting[1:]
		if j.ctx.Err() != nil {
			// Unsubscribed while it waited, or the connection ended.
			c.done(j)
			continue
		}
		c.active++
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.answer(j.ctx, j.m, j.meth, j.token)
			c.mu.Lock()
			c.active--
			c.done(j)
			c.dispatch()
			c.mu.Unlock()
		}()
	}
}

// done forgets a message (c.mu held).
func (c *wsConn) done(j *wsJob) {
	delete(c.running, j.key)
	c.queued -= j.cost
	c.drained.Broadcast()
	j.cancel()
	c.last.Store(time.Now().UnixNano())
}

// authorize checks a presented key as REST does (its scope is checked by
// each method).
func (c *wsConn) authorize(raw json.RawMessage) {
	var token string
	if err := json.Unmarshal(raw, &token); err != nil {
		c.sendError(nil, &wsError{http.StatusBadRequest, "WS_BAD_MESSAGE", "authorization must be a string: the API key"})
		return
	}
	_, err := c.s.rest.Keys.Authenticate(c.ctx, trimBearer(token), RemoteAddr(c.up), "")
	if err != nil {
		refused := &wsError{http.StatusInternalServerError, "INTERNAL", "authentication failed"}
		var ke *auth.KeyError
		if errors.As(err, &ke) {
			refused = &wsError{ke.Status, ke.Code, ke.Message}
		}
		c.mu.Lock()
		c.token, c.authorized, c.authErr = "", false, refused
		c.mu.Unlock()
		c.sendError(nil, refused)
		return
	}
	c.mu.Lock()
	c.token, c.authorized, c.authErr = token, true, nil
	c.mu.Unlock()
	c.send(map[string]any{"handshake": true})
}

func trimBearer(h string) string {
	h = strings.TrimSpace(h)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return h
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func validID(raw json.RawMessage) bool {
	if !present(raw) {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch x := v.(type) {
	case float64:
		return true
	case string:
		return x != ""
	}
	return false
}

// idKey is a messageId as a map key: 7 and "7" are the same message.
func idKey(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// answer runs a method through its REST handler and streams the body.
func (c *wsConn) answer(ctx context.Context, m wsIn, meth wsMethod, token string) {
	started := time.Now()
	id := newRequestID()
	body := map[string]json.RawMessage{}
	for _, p := range meth.params {
		if v, ok := m.Params[p]; ok && present(v) {
			body[p] = v
		}
	}
	var rd io.Reader = http.NoBody
	if meth.httpMethod == http.MethodPost {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.WithValue(ctx, requestIDCtx, id), meth.httpMethod, meth.path, rd)
	req.RemoteAddr = c.up.RemoteAddr
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	if ds := c.up.Header.Get("X-Cubegate-Data-Source"); ds != "" {
		req.Header.Set("X-Cubegate-Data-Source", ds)
	}
	w := &wsAnswer{c: c, mctx: ctx, id: m.MessageID, header: http.Header{}}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(c.s.limits.ContinueWait)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if w.begun.Load() {
				return
			}
			c.send(map[string]any{"messageId": m.MessageID, "status": http.StatusOK, "message": map[string]any{"error": "Continue wait"}})
		}
	}()
	func() {
		defer func() {
			if v := recover(); v != nil {
				c.s.log.Error().Str("panic", fmt.Sprint(v)).Str("request_id", id).Bytes("stack", debug.Stack()).
					Msg("internal error while answering a WebSocket message; it fails with 500 and the gateway goes on")
				if w.out == nil && w.err == nil {
					w.status = http.StatusInternalServerError
					w.Write([]byte(`{"error":"internal error; the gateway's log has the details","code":"INTERNAL"}`))
				} else {
					w.fail(errors.New("panic"))
				}
			}
		}()
		c.s.rest.withKey(meth.scope, meth.handler(c.s.rest))(w, req)
	}()
	err := w.finish()
	if err == nil {
		c.send(map[string]any{"messageProcessedId": m.MessageID})
	}
	status := w.status
	if w.dropped {
		status, err = 499, errors.New("unsubscribed before its answer: none is sent")
	}
	method := "ws " + *m.Method
	c.s.metrics.Add("cubegate_ws_messages_total", "WebSocket messages by method and status.", 1, "method", *m.Method, "status", strconv.Itoa(status))
	c.s.metrics.Observe("cubegate_ws_message_duration_seconds", "WebSocket message latency by method.", time.Since(started), "method", *m.Method)
	ev := c.s.log.Info().Str("request_id", id).Str("method", method).Int("status", status).
		Dur("duration", time.Since(started)).Str("remote", c.up.RemoteAddr)
	var rid string
	if json.Unmarshal(m.RequestID, &rid) == nil && rid != "" && len(rid) <= 128 {
		ev = ev.Str("client_request_id", rid)
	}
	if err != nil {
		ev = ev.Str("error", err.Error())
	}
	ev.Msg("ws")
}

// wsAnswer is the http.ResponseWriter a method's REST handler writes
// to: the body becomes the message {"messageId","status","message"},
// streamed frame by frame, each write under the write timeout.
type wsAnswer struct {
	c    *wsConn
	mctx context.Context // the message's: canceled by {"unsubscribe"}
	// dropped: the message was canceled before its answer began; nobody
	// waits for it.
	dropped bool
	begun   atomic.Bool // the answer is being written: no more Continue wait
	id      json.RawMessage
	header  http.Header
	status  int
	out     io.WriteCloser
	wctx    context.Context
	cancel  context.CancelFunc
	err     error
}

func (w *wsAnswer) Header() http.Header { return w.header }

func (w *wsAnswer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *wsAnswer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.dropped {
		return len(p), nil
	}
	if w.out == nil && w.mctx.Err() != nil {
		w.dropped = true
		return len(p), nil
	}
	if w.out == nil {
		w.begun.Store(true)
		// Waits while another answer is being written.
		w.wctx, w.cancel = context.WithCancel(w.c.ctx)
		out, err := w.c.ws.Writer(w.wctx, websocket.MessageText)
		if err != nil {
			return 0, w.fail(err)
		}
		w.out = out
		head := `{"messageId":` + string(w.id) + `,"status":` + strconv.Itoa(w.status) + `,"message":`
		if err := w.timed([]byte(head)); err != nil {
			return 0, err
		}
	}
	if err := w.timed(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// timed writes p; past the write timeout the connection is closed, as
// an HTTP client that stops reading loses its connection.
func (w *wsAnswer) timed(p []byte) error {
	return w.within(func() error { _, err := w.out.Write(p); return err })
}

func (w *wsAnswer) within(f func() error) error {
	if d := w.c.s.writeTimeout; d > 0 {
		t := time.AfterFunc(d, w.cancel)
		defer t.Stop()
	}
	if err := f(); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *wsAnswer) fail(err error) error {
	if w.err == nil {
		w.err = err
		// A message half written cannot be finished: the connection ends.
		w.c.ws.CloseNow()
		w.c.cancel()
	}
	return w.err
}

var errDropped = errors.New("dropped")

// finish ends the message.
func (w *wsAnswer) finish() error {
	if w.dropped {
		return errDropped
	}
	if w.out == nil && w.err == nil {
		if _, err := w.Write([]byte("null")); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	defer w.cancel()
	if err := w.timed([]byte("}")); err != nil {
		return err
	}
	return w.within(w.out.Close)
}
