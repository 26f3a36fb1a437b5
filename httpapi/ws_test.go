package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/query"
	"github.com/cubegate/cubegate/warehouse"
)

// The WebSocket transport (ws.go) with a real WebSocket client
// (coder/websocket's Dial) against the REST fixture's gateway: a real
// key store, the real query service and an embedded DuckDB.

type wsFixtureOptions struct {
	limits       WSLimits
	writeTimeout time.Duration
	rows         int // orders rows (0: restFixture's five)
	maxLimit     int
	wrap         func(Service) Service
}

type wsFixture struct {
	*restFixture
	metrics *Metrics
}

func newWSFixture(t *testing.T, o wsFixtureOptions) *wsFixture {
	t.Helper()
	ctx := context.Background()
	m, store, keys := modelAndStore(t)
	w, err := warehouse.OpenDuckDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	table := `CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'paid', 10.5), (2, 'paid', 20), (3, 'open', 1), (4, 'open', 2), (5, 'void', 0)) t(id, status, amount)`
	if o.rows > 0 {
		table = fmt.Sprintf(`CREATE TABLE orders AS SELECT i AS id, 'status-' || (i %% 1000) AS status, i * 1.5 AS amount FROM range(%d) r(i)`, o.rows)
	}
	if _, err := w.DB().Exec(table); err != nil {
		t.Fatal(err)
	}
	audit := auth.NewAudit(store)
	t.Cleanup(audit.Close)
	var svc Service = &query.Service{Limits: auth.NewLimiter(0, 0, 0), Audit: audit}
	if o.wrap != nil {
		svc = o.wrap(svc)
	}
	maxLimit := o.maxLimit
	if maxLimit == 0 {
		maxLimit = 4
	}
	rest := &REST{Keys: keys, Engine: duckEngine{m, w}, DefaultLimit: 3, MaxLimit: maxLimit, Queries: svc, WS: o.limits}
	metrics := NewMetrics()
	srv := httptest.NewServer(NewHandler(Config{REST: rest, Version: "t", Log: zerolog.Nop(), Metrics: metrics, WriteTimeout: o.writeTimeout}))
	t.Cleanup(srv.Close)
	return &wsFixture{restFixture: &restFixture{t: t, srv: srv, keys: keys, audit: audit}, metrics: metrics}
}

// wsClient is a test's WebSocket connection.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (f *wsFixture) dial(path string) *wsClient {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+path, nil)
	if err != nil {
		f.t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	c.SetReadLimit(64 << 20)
	f.t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: f.t, c: c}
}

func (w *wsClient) sendRaw(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	w.sendRaw(string(b))
}

// recv reads one message; the error is the connection's end.
func (w *wsClient) recv() (map[string]json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not JSON: %s", b)
	}
	return m, nil
}

func (w *wsClient) mustRecv() map[string]json.RawMessage {
	w.t.Helper()
	m, err := w.recv()
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func (w *wsClient) auth(key string) {
	w.t.Helper()
	w.send(map[string]any{"authorization": key})
	if m := w.mustRecv(); string(m["handshake"]) != "true" {
		w.t.Fatalf("handshake: %v", m)
	}
}

// call sends a method and returns its answer's status and message, after
// checking {"messageProcessedId"} follows.
func (w *wsClient) call(id int, method string, params any) (int, json.RawMessage) {
	w.t.Helper()
	w.send(map[string]any{"messageId": id, "requestId": fmt.Sprintf("req-%d", id), "method": method, "params": params})
	m := w.mustRecv()
	if string(m["messageId"]) != fmt.Sprint(id) {
		w.t.Fatalf("answer to %d: %s", id, js(m))
	}
	var status int
	json.Unmarshal(m["status"], &status)
	if p := w.mustRecv(); string(p["messageProcessedId"]) != fmt.Sprint(id) {
		w.t.Fatalf("after the answer to %d: %s", id, js(p))
	}
	return status, m["message"]
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameJSON compares two answers, lastRefreshTime aside.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v in %s", what, err, want)
	}
	if !reflect.DeepEqual(dropRefresh(g), dropRefresh(w)) {
		t.Errorf("%s:\n ws   %s\n rest %s", what, got, want)
	}
}

func dropRefresh(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "lastRefreshTime")
		for k := range x {
			x[k] = dropRefresh(x[k])
		}
	case []any:
		for i := range x {
			x[i] = dropRefresh(x[i])
		}
	}
	return v
}

// Every method answers over the WebSocket the body and status REST
// answers, on each path the client may dial; an error answer leaves the
// connection usable; the queries are audited under the key.
func TestWSAnswersAsREST(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{})
	k, err := f.keys.Create(context.Background(), auth.DefaultTenant, "ws", auth.KeyInput{Scopes: &[]string{"load", "meta", "sql"}})
	if err != nil {
		t.Fatal(err)
	}
	key := k.KeyValue
	q := json.RawMessage(`{"measures":["orders.count","orders.total"],"dimensions":["orders.status"],"order":{"orders.status":"asc"}}`)
	multi := json.RawMessage(`[{"measures":["orders.count"]},{"dimensions":["orders.status"],"limit":4}]`)
	cases := []struct {
		method, restMethod, path string
		params                   map[string]any
		restBody                 string
		status                   int
	}{
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": q}, `{"query":` + string(q) + `}`, 200},
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": q, "queryType": "multi"}, `{"query":` + string(q) + `,"queryType":"multi"}`, 200},
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": multi}, `{"query":` + string(multi) + `}`, 200},
		{"subscribe", "POST", "/cubejs-api/v1/subscribe", map[string]any{"query": q, "queryType": "multi"}, `{"query":` + string(q) + `,"queryType":"multi"}`, 200},
		{"sql", "POST", "/cubejs-api/v1/sql", map[string]any{"query": q}, `{"query":` + string(q) + `}`, 200},
		{"dry-run", "POST", "/cubejs-api/v1/dry-run", map[string]any{"query": q}, `{"query":` + string(q) + `}`, 200},
		{"meta", "GET", "/cubejs-api/v1/meta", nil, "", 200},
		// Errors, each with REST's status and body.
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": json.RawMessage(`{"measures":["orders.nope"]}`)}, `{"query":{"measures":["orders.nope"]}}`, 400},
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": json.RawMessage(`{"dimensions":["orders.id"],"limit":5}`)}, `{"query":{"dimensions":["orders.id"],"limit":5}}`, 400},
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{}, `{}`, 400},
		// After the errors the connection still answers.
		{"load", "POST", "/cubejs-api/v1/load", map[string]any{"query": q}, `{"query":` + string(q) + `}`, 200},
	}
	for _, path := range []string{"/cubejs-api/v1", "/cubejs-api/v1/", "/"} {
		c := f.dial(path)
		c.auth(key)
		for i, tc := range cases {
			status, msg := c.call(i+1, tc.method, tc.params)
			rstatus, _, rbody := f.do(tc.restMethod, tc.path, key, tc.restBody, "")
			what := fmt.Sprintf("%s %s %v", path, tc.method, js(tc.params))
			if status != tc.status || rstatus != tc.status {
				t.Errorf("%s: ws %d, rest %d, want %d: %s", what, status, rstatus, tc.status, msg)
			}
			sameJSON(t, what, msg, []byte(rbody))
		}
	}
	// Each WebSocket load ran through the query service: audited as REST's.
	f.audit.Sync()
	events, err := f.audit.Recent(context.Background(), auth.DefaultTenant, "query", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.APIKeyID == k.ID && e.Action == "rest" && e.Outcome == "ok" {
			n++
		}
	}
	// Per path: 5 ok loads over each transport (one a two-query array).
	if want := 3 * 2 * 6; n != want {
		t.Errorf("%d successful queries audited, want %d", n, want)
	}
}

// The key is checked as REST checks it: a method before any
// authorization, an unknown key, a key lacking the method's scope, an
// address outside allow_ips and a key revoked after the handshake are
// each answered with REST's status and code, and the connection goes on.
func TestWSAuthorization(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{})
	q := map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}
	code := func(msg json.RawMessage) string {
		var e struct{ Code, Error string }
		json.Unmarshal(msg, &e)
		if e.Error == "" {
			t.Errorf("no error in %s", msg)
		}
		return e.Code
	}

	c := f.dial("/cubejs-api/v1")
	if status, msg := c.callNoAck(1, "load", q); status != 401 || code(msg) != "API_KEY_REQUIRED" {
		t.Errorf("before authorization: %d %s", status, msg)
	}
	c.send(map[string]any{"authorization": "cg_nope"})
	m := c.mustRecv()
	if string(m["status"]) != "401" || code(m["message"]) != "API_KEY_INVALID" || m["messageId"] != nil {
		t.Errorf("unknown key: %s", js(m))
	}
	if status, msg := c.callNoAck(2, "load", q); status != 401 || code(msg) != "API_KEY_INVALID" {
		t.Errorf("after a refused key: %d %s", status, msg)
	}
	// The same connection authorizes again with a key that holds meta only.
	c.auth(f.key("meta"))
	if status, msg := c.call(3, "load", q); status != 403 || code(msg) != "ACCESS_DENIED_PERMISSIONS" {
		t.Errorf("load with a meta key: %d %s", status, msg)
	}
	if status, msg := c.call(4, "meta", nil); status != 200 || !strings.Contains(string(msg), `"cubes"`) {
		t.Errorf("meta with a meta key: %d %s", status, msg)
	}

	far, err := f.keys.Create(context.Background(), auth.DefaultTenant, "far", auth.KeyInput{Scopes: &[]string{"load"}, AllowIPs: &[]string{"10.9.9.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"authorization": far.KeyValue})
	if m := c.mustRecv(); string(m["status"]) != "403" || code(m["message"]) != "ACCESS_DENIED_IP" {
		t.Errorf("key from outside allow_ips: %s", js(m))
	}

	k, err := f.keys.Create(context.Background(), auth.DefaultTenant, "ws", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	c.auth("Bearer " + k.KeyValue)
	if status, msg := c.call(5, "load", q); status != 200 {
		t.Errorf("load: %d %s", status, msg)
	}
	if _, err := f.keys.Revoke(context.Background(), auth.DefaultTenant, k.ID); err != nil {
		t.Fatal(err)
	}
	if status, msg := c.call(6, "load", q); status != 401 || code(msg) != "API_KEY_INVALID" {
		t.Errorf("after the key was revoked: %d %s", status, msg)
	}
}

// callNoAck sends a method refused before it runs: its answer has no
// {"messageProcessedId"} after it.
func (w *wsClient) callNoAck(id int, method string, params any) (int, json.RawMessage) {
	w.t.Helper()
	w.send(map[string]any{"messageId": id, "method": method, "params": params})
	m := w.mustRecv()
	if string(m["messageId"]) != fmt.Sprint(id) {
		w.t.Fatalf("answer to %d: %s", id, js(m))
	}
	var status int
	json.Unmarshal(m["status"], &status)
	return status, m["message"]
}

// Bad messages get an error answer (400 WS_BAD_MESSAGE, or
// WS_METHOD_NOT_SUPPORTED), and the connection goes on.
func TestWSBadMessages(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{})
	c := f.dial("/cubejs-api/v1")
	c.auth(f.key("load"))
	expect := func(what, wantStatus, wantCode, wantID string) {
		t.Helper()
		m := c.mustRecv()
		var e struct{ Code, Error string }
		json.Unmarshal(m["message"], &e)
		if string(m["status"]) != wantStatus || e.Code != wantCode || e.Error == "" || string(m["messageId"]) != wantID {
			t.Errorf("%s: %s", what, js(m))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageBinary, []byte(`{"messageId":1}`)); err != nil {
		t.Fatal(err)
	}
	expect("binary", "400", "WS_BAD_MESSAGE", "")
	c.sendRaw(`{"messageId":`)
	expect("not JSON", "400", "WS_BAD_MESSAGE", "")
	c.sendRaw(`[1,2]`)
	expect("an array", "400", "WS_BAD_MESSAGE", "")
	c.sendRaw(`{"method":"load","params":{}}`)
	expect("no messageId", "400", "WS_BAD_MESSAGE", "")
	c.sendRaw(`{"messageId":{"a":1},"method":"load"}`)
	expect("an object messageId", "400", "WS_BAD_MESSAGE", "")
	c.sendRaw(`{"messageId":2}`)
	expect("no method", "400", "WS_BAD_MESSAGE", "2")
	c.sendRaw(`{"messageId":3,"method":"drop"}`)
	expect("unknown method", "400", "WS_METHOD_NOT_SUPPORTED", "3")
	c.sendRaw(`{"messageId":"four","method":"subscribe.queue.events"}`)
	expect("queue events", "501", "WS_METHOD_NOT_SUPPORTED", `"four"`)
	c.sendRaw(`{"authorization":42}`)
	expect("a number as the key", "400", "WS_BAD_MESSAGE", "")
	if status, msg := c.call(5, "load", map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}); status != 200 || !strings.Contains(string(msg), `"orders.count":"5"`) {
		t.Errorf("load after the bad messages: %d %s", status, msg)
	}
}

// gateService holds every query at Start until the gate opens, and
// counts those waiting at once and those canceled.
type gateService struct {
	Service
	gate               chan struct{}
	waiting, most, off atomic.Int32
}

func (g *gateService) Run(a *query.Admission, wh query.Warehouse, st query.Statement) query.Result {
	return &gateResult{Result: g.Service.Run(a, wh, st), g: g}
}

type gateResult struct {
	query.Result
	g *gateService
}

func (r *gateResult) Start(ctx context.Context) error {
	n := r.g.waiting.Add(1)
	for {
		m := r.g.most.Load()
		if n <= m || r.g.most.CompareAndSwap(m, n) {
			break
		}
	}
	defer r.g.waiting.Add(-1)
	select {
	case <-r.g.gate:
	case <-ctx.Done():
		r.g.off.Add(1)
		return ctx.Err()
	}
	return r.Result.Start(ctx)
}

// At most MaxInFlight messages of a connection run at once (the others
// wait, none is refused); a message sent again while it runs (the
// client's heartbeat) runs once; {"unsubscribe"} cancels a running one.
func TestWSInFlightAndUnsubscribe(t *testing.T) {
	g := &gateService{gate: make(chan struct{})}
	f := newWSFixture(t, wsFixtureOptions{limits: WSLimits{MaxInFlight: 2}, wrap: func(s Service) Service { g.Service = s; return g }})
	c := f.dial("/cubejs-api/v1")
	c.auth(f.key("load"))
	load := func(id int) map[string]any {
		return map[string]any{"messageId": id, "method": "load", "params": map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}}
	}
	// 1 is unsubscribed while it waits; 2 is sent twice; 3..6 wait.
	for _, id := range []int{1, 2, 2, 3, 4, 5, 6} {
		c.send(load(id))
	}
	waitFor(t, "two queries waiting", func() bool { return g.waiting.Load() == 2 })
	c.send(map[string]any{"unsubscribe": 1})
	waitFor(t, "message 1 canceled", func() bool { return g.off.Load() == 1 })
	waitFor(t, "two queries waiting again", func() bool { return g.waiting.Load() == 2 })
	close(g.gate)
	answered := map[string]int{}
	processed := 0
	for answered["2"]+answered["3"]+answered["4"]+answered["5"]+answered["6"] < 5 || processed < 5 {
		m := c.mustRecv()
		if m["messageProcessedId"] != nil {
			processed++
		}
		if id := m["messageId"]; id != nil {
			answered[string(id)]++
			if string(m["status"]) != "200" || !strings.Contains(string(m["message"]), `"orders.count":"5"`) {
				t.Errorf("answer %s: %s", id, js(m))
			}
		}
	}
	// Nobody waits for an unsubscribed message: it gets no answer.
	if status, _ := c.call(7, "load", map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}); status != 200 {
		t.Errorf("load after: %d", status)
	}
	for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
		if want := 1; id == "1" && answered[id] != 0 || id != "1" && answered[id] != want {
			t.Errorf("message %s answered %d times", id, answered[id])
		}
	}
	if most, off := g.most.Load(), g.off.Load(); most != 2 || off != 1 {
		t.Errorf("at most %d queries ran at once (want 2), %d canceled (want 1)", most, off)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closeStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }

// The connection's bounds: a message past MaxMessageBytes closes it with
// 1009 (what the client reports as 413); a connection not authorized in
// AuthTimeout is closed with 1008, one idle for IdleTimeout with 1001;
// past MaxConnections an upgrade gets 503 WS_TOO_MANY_CONNECTIONS; a
// plain GET gets 426 WEBSOCKET_REQUIRED.
func TestWSBounds(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{limits: WSLimits{MaxMessageBytes: 4096, AuthTimeout: 300 * time.Millisecond, IdleTimeout: 500 * time.Millisecond, MaxConnections: 3}})
	key := f.key("load")

	big := f.dial("/cubejs-api/v1")
	big.auth(key)
	big.sendRaw(`{"messageId":1,"method":"load","params":{"query":{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["` + strings.Repeat("x", 5000) + `"]}]}}}`)
	if _, err := big.recv(); closeStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("a message past the limit: %v, want 1009", err)
	}

	silent := f.dial("/cubejs-api/v1")
	if _, err := silent.recv(); closeStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("never authorized: %v, want 1008", err)
	}

	idle := f.dial("/cubejs-api/v1")
	idle.auth(key)
	started := time.Now()
	if status, _ := idle.call(1, "load", map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}); status != 200 {
		t.Errorf("load: %d", status)
	}
	if _, err := idle.recv(); closeStatus(err) != websocket.StatusGoingAway || time.Since(started) < 500*time.Millisecond {
		t.Errorf("idle: %v after %s, want 1001 after 500ms", err, time.Since(started))
	}

	waitFor(t, "the closed connections to end", func() bool { return strings.Contains(f.scrape(), "cubegate_ws_connections 0") })
	open := make([]*wsClient, 3)
	for i := range open {
		open[i] = f.dial("/")
		open[i].auth(key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("past MaxConnections: %v %v, want 503", err, resp)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "WS_TOO_MANY_CONNECTIONS") {
		t.Errorf("past MaxConnections: %s", b)
	}

	status, _, body := f.do("GET", "/cubejs-api/v1", "", "", "")
	if status != http.StatusUpgradeRequired || !strings.Contains(body, "WEBSOCKET_REQUIRED") {
		t.Errorf("plain GET: %d %s", status, body)
	}
	// The REST routes are unchanged beside it.
	if status, _, body := f.do("GET", "/cubejs-api/v1/nope", key, "", ""); status != http.StatusNotFound {
		t.Errorf("unknown route: %d %s", status, body)
	}
}

func (f *wsFixture) scrape() string {
	rec := httptest.NewRecorder()
	f.metrics.ServeHTTP(rec, nil)
	return rec.Body.String()
}

// A client that stops reading a large answer loses its connection after
// the write timeout, as over HTTP, and its query ends; the gateway serves
// another connection meanwhile.
func TestWSWriteTimeout(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{writeTimeout: 300 * time.Millisecond, rows: 1000000, maxLimit: 1000000})
	key := f.key("load")
	stuck := f.dial("/cubejs-api/v1")
	stuck.auth(key)
	stuck.send(map[string]any{"messageId": 1, "method": "load", "params": map[string]any{"query": json.RawMessage(`{"dimensions":["orders.id","orders.status"],"limit":1000000}`)}})
	// The client reads nothing: the gateway's writes stall, then it gives up.
	waitFor(t, "the stalled connection to be closed", func() bool { return strings.Contains(f.scrape(), "cubegate_ws_connections 0") })
	other := f.dial("/cubejs-api/v1")
	other.auth(key)
	if status, msg := other.call(1, "load", map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}); status != 200 || !strings.Contains(string(msg), `"1000000"`) {
		t.Errorf("another connection: %d %.200s", status, msg)
	}
	// The stalled client reads what was buffered, then the connection's end.
	var err error
	for err == nil {
		_, err = stuck.recv()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the stalled connection is still open: %v", err)
	}
}

// The server's Shutdown closes the WebSocket connections (hijacked, they
// are not the http.Server's any more) with 1001 and cancels what runs on
// them; CloseWebSockets waits until they have ended, and refuses new ones.
func TestWSShutdown(t *testing.T) {
	g := &gateService{gate: make(chan struct{})}
	f := newWSFixture(t, wsFixtureOptions{wrap: func(s Service) Service { g.Service = s; return g }})
	srv := &http.Server{Handler: f.srv.Config.Handler}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/cubejs-api/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	w := &wsClient{t: t, c: c}
	w.auth(f.key("load"))
	w.send(map[string]any{"messageId": 1, "method": "load", "params": map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}})
	waitFor(t, "the query to wait", func() bool { return g.waiting.Load() == 1 })
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.recv(); closeStatus(err) != websocket.StatusGoingAway {
		t.Errorf("after Shutdown: %v, want 1001", err)
	}
	// As the gateway does before closing the warehouse and the audit log.
	if err := srv.Handler.(interface{ CloseWebSockets(context.Context) error }).CloseWebSockets(ctx); err != nil {
		t.Fatal(err)
	}
	if off, open := g.off.Load(), f.scrape(); off != 1 || !strings.Contains(open, "cubegate_ws_connections 0") {
		t.Errorf("after CloseWebSockets: %d queries canceled (want 1), %s", off, open)
	}
	// A new connection is refused with 503 (the handler still serves, as
	// a server being shut down may).
	f2 := httptest.NewServer(srv.Handler)
	defer f2.Close()
	if _, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f2.URL, "http")+"/", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("an upgrade after CloseWebSockets: %v %v, want 503", err, resp)
	}
	t.Logf("closed %s after Shutdown", time.Since(start).Round(time.Millisecond))
}

// A message whose answer has not begun gets Cube's {"error": "Continue
// wait"} (status 200) every ContinueWait, then its answer.
func TestWSContinueWait(t *testing.T) {
	g := &gateService{gate: make(chan struct{})}
	f := newWSFixture(t, wsFixtureOptions{limits: WSLimits{ContinueWait: 100 * time.Millisecond}, wrap: func(s Service) Service { g.Service = s; return g }})
	c := f.dial("/cubejs-api/v1")
	c.auth(f.key("load"))
	c.send(map[string]any{"messageId": 1, "method": "load", "params": map[string]any{"query": json.RawMessage(`{"measures":["orders.count"]}`)}})
	for i := 0; i < 2; i++ {
		if m := c.mustRecv(); string(m["messageId"]) != "1" || string(m["status"]) != "200" || string(m["message"]) != `{"error":"Continue wait"}` {
			t.Fatalf("while the query waits: %s", js(m))
		}
	}
	close(g.gate)
	for {
		m := c.mustRecv()
		if string(m["message"]) == `{"error":"Continue wait"}` {
			continue
		}
		if string(m["messageId"]) != "1" || !strings.Contains(string(m["message"]), `"orders.count":"5"`) {
			t.Fatalf("the answer: %s", js(m))
		}
		break
	}
	if m := c.mustRecv(); string(m["messageProcessedId"]) != "1" {
		t.Fatalf("after the answer: %s", js(m))
	}
}

// The real client (@cubejs-client/ws-transport under node, from
// testdata/clients/cubejs) takes Continue wait as Cube's: it reports
// progress and waits on for the answer.
func TestWSCubeJSClientContinueWait(t *testing.T) {
	dir := filepath.Join("..", "testdata", "clients", "cubejs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cubejs-client", "ws-transport")); err != nil {
		t.Fatal("@cubejs-client/ws-transport is not installed: run make deps")
	}
	g := &gateService{gate: make(chan struct{})}
	f := newWSFixture(t, wsFixtureOptions{limits: WSLimits{ContinueWait: 100 * time.Millisecond}, wrap: func(s Service) Service { g.Service = s; return g }})
	key := f.key("load")
	go func() {
		// The query waits a second, then runs.
		for deadline := time.Now().Add(30 * time.Second); g.waiting.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Second)
		close(g.gate)
	}()
	script := `import cube from '@cubejs-client/core';
import WebSocketTransport from '@cubejs-client/ws-transport';
const transport = new WebSocketTransport({ authorization: process.env.CUBEJS_TOKEN, apiUrl: process.env.CUBEJS_WS_URL });
let progress = 0;
const rs = await cube({ transport }).load({ measures: ['orders.count'] }, { progressCallback: () => progress++ });
process.stdout.write(JSON.stringify({ tablePivot: rs.tablePivot(), progress }), () => process.exit(0));`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CUBEJS_TOKEN="+key, "CUBEJS_WS_URL=ws"+strings.TrimPrefix(f.srv.URL, "http")+"/cubejs-api/v1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		TablePivot []map[string]any
		Progress   int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Progress < 2 || len(got.TablePivot) != 1 || got.TablePivot[0]["orders.count"] != "5" {
		t.Errorf("the client got %s, want progress reports then the count", out)
	}
}

// A connection that floods refused messages gets wsRefusalBurst answers,
// then is closed with 1008.
func TestWSRefusalFlood(t *testing.T) {
	f := newWSFixture(t, wsFixtureOptions{})
	c := f.dial("/cubejs-api/v1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 2*wsRefusalBurst; i++ {
		if c.c.Write(ctx, websocket.MessageText, []byte(`{"messageId":`)) != nil {
			break // closed already
		}
	}
	answers := 0
	for {
		m, err := c.recv()
		if err != nil {
			if closeStatus(err) != websocket.StatusPolicyViolation {
				t.Errorf("after the flood: %v, want 1008", err)
			}
			break
		}
		if string(m["status"]) != "400" {
			t.Errorf("answer: %s", js(m))
		}
		answers++
	}
	// The burst, and what refilled while they were read (8 a second).
	if answers < wsRefusalBurst || answers > wsRefusalBurst+8 {
		t.Errorf("%d answers before the close, want about %d", answers, wsRefusalBurst)
	}
}
