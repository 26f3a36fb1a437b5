package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Cube's WebSocket transport (issue #16): the real @cubejs-client/core
// with @cubejs-client/ws-transport (testdata/clients/cubejs, pinned in its
// package-lock.json), new WebSocketTransport({authorization, apiUrl:
// ws://…/cubejs-api/v1}), against a gateway on the oracle model in a
// throwaway PostgreSQL, answers as the same client over HTTP does: every
// oracle query's tablePivot and annotation titles, the oracle's error
// queries' messages and statuses, subscribe (one answer), meta, sql,
// dryRun, and an unknown key's rejection (401 and its message).
func TestCubeJSWebSocket(t *testing.T) {
	dir := cubeJSClients(t, "ws-transport")
	oracle := apptest.RepoPath(t, "testdata", "oracle")
	g := apptest.Start(t, apptest.Options{
		Postgres: apptest.Demo(5000),
		ModelDir: filepath.Join(oracle, "model"),
	})
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "cubejs-ws", auth.KeyInput{Scopes: &[]string{"load", "meta", "sql"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := g.HTTPAddr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "ws.mjs"), "--oracle", oracle)
	cmd.Env = append(os.Environ(), "CUBEJS_API_URL=http://"+addr+"/cubejs-api/v1",
		"CUBEJS_WS_URL=ws://"+addr+"/cubejs-api/v1", "CUBEJS_TOKEN="+k.KeyValue)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("ws.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("ws.mjs: %v", time.Since(start).Round(time.Millisecond))
	var out struct {
		HTTP, WS map[string]json.RawMessage
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("ws.mjs printed no JSON: %v\n%s", err, stderr.String())
	}

	type result struct {
		TablePivot []map[string]any  `json:"tablePivot"`
		Annotation []json.RawMessage `json:"annotation"`
		LoadError  *struct {
			Message string `json:"message"`
			Status  any    `json:"status"`
		} `json:"loadError"`
	}
	cases := func(raw json.RawMessage) map[string]result {
		var m map[string]result
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	httpCases, wsCases := cases(out.HTTP["cases"]), cases(out.WS["cases"])
	names := make([]string, 0, len(httpCases))
	for name := range httpCases {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 50 {
		t.Fatalf("%d oracle queries loaded", len(names))
	}
	loaded, failed := 0, 0
	for _, name := range names {
		h, w := httpCases[name], wsCases[name]
		if !reflect.DeepEqual(h, w) {
			hb, _ := json.Marshal(h)
			wb, _ := json.Marshal(w)
			t.Errorf("%s:\n http %.600s\n ws   %.600s", name, hb, wb)
			continue
		}
		switch {
		case strings.HasPrefix(name, "err_"):
			// Cube's error, with its status, rejects the load on both.
			if w.LoadError == nil || w.LoadError.Message == "" || w.LoadError.Status != float64(400) {
				t.Errorf("%s: %+v, want a 400 rejection", name, w.LoadError)
			}
			failed++
		case w.LoadError != nil:
			t.Errorf("%s rejected: %+v", name, *w.LoadError)
		default:
			if len(w.Annotation) == 0 || !strings.Contains(string(w.Annotation[0]), `"title"`) {
				t.Errorf("%s: no annotation titles: %s", name, w.Annotation)
			}
			loaded++
		}
	}
	t.Logf("%d loads answered alike over both transports, %d errors alike", loaded, failed)
	if failed < 3 {
		t.Errorf("%d error queries, want the oracle's 3", failed)
	}

	for _, part := range []string{"subscribe", "meta", "sql", "dryRun", "badKey"} {
		h, w := out.HTTP[part], out.WS[part]
		var hv, wv any
		json.Unmarshal(h, &hv)
		json.Unmarshal(w, &wv)
		if len(h) == 0 || !reflect.DeepEqual(hv, wv) {
			t.Errorf("%s:\n http %.600s\n ws   %.600s", part, h, w)
		}
		if part != "badKey" && strings.Contains(string(w), `"loadError"`) {
			t.Errorf("%s rejected: %.300s", part, w)
		}
	}
	var bad struct{ LoadError struct{ Message, Status any } }
	if json.Unmarshal(out.WS["badKey"], &bad); bad.LoadError.Status != float64(401) || !strings.Contains(fmt.Sprint(bad.LoadError.Message), "not valid") {
		t.Errorf("an unknown key over the WebSocket: %s, want a 401 rejection", out.WS["badKey"])
	}
	// The WebSocket answered them (the transport has no HTTP fallback;
	// the gateway counts its messages).
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, m := range []string{`cubegate_ws_messages_total{method="load",status="200"}`, `cubegate_ws_messages_total{method="load",status="400"} 3`,
		`cubegate_ws_messages_total{method="subscribe",status="200"}`, `cubegate_ws_messages_total{method="meta",status="200"} 1`,
		`cubegate_ws_messages_total{method="sql",status="200"} 1`, `cubegate_ws_messages_total{method="dry-run",status="200"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("no %s in /metrics", m)
		}
	}
}

// The rest.websocket settings reach the gateway: max_connections (503
// WS_TOO_MANY_CONNECTIONS past it) and max_message_size (a larger message
// closes the connection with 1009); a negative one is refused at startup.
func TestWebSocketSettings(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.REST.WebSocket.MaxConnections = 1
		c.REST.WebSocket.MaxMessageSize = 2048
	}})
	url := "ws://" + g.HTTPAddr().String() + "/cubejs-api/v1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second connection past max_connections 1: %v %v, want 503", err, resp)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"authorization":"`+strings.Repeat("k", 3000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("a message past max_message_size 2KiB: %v, want 1009", err)
	}

	cfg := app.Defaults()
	cfg.REST.WebSocket.MaxInFlight = -1
	var se *app.SettingError
	if err := cfg.Validate(); !errors.As(err, &se) || se.Key != "rest.websocket.max_in_flight" {
		t.Errorf("a negative rest.websocket.max_in_flight: %v", err)
	}
}

// A WebSocket flood on loopback, bounded (3 s): 80 attackers (more than
// max_connections, 64) each send unauthorized loads and malformed JSON as
// fast as they can and dial again when closed; past its burst of refused
// messages a connection is closed with 1008, and an upgrade past the
// limit gets 503. Meanwhile a bystander's WebSocket (of
// the same gateway, authorized) and its REST loads keep answering within
// fairBystanderBound, and the process's memory stays bounded.
func TestWebSocketFlood(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.REST.WebSocket.MaxConnections = 64
	}})
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "bystander", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := g.HTTPAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	by, _, err := websocket.Dial(ctx, "ws://"+addr+"/cubejs-api/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer by.CloseNow()
	by.SetReadLimit(1 << 20)
	if err := by.Write(ctx, websocket.MessageText, []byte(`{"authorization":"`+k.KeyValue+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := by.Read(ctx); err != nil || !strings.Contains(string(b), "handshake") {
		t.Fatalf("bystander handshake: %s %v", b, err)
	}
	rssBefore, _, _ := procMemory("/proc/self/status")

	stop := make(chan struct{})
	var answered, refused, dialed atomic.Int64
	var wg sync.WaitGroup
	var closed atomic.Int64 // connections the gateway closed with 1008
	for i := 0; i < 80; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each attacker dials again when closed, until the flood ends.
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/cubejs-api/v1", nil)
				if err != nil {
					if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
						refused.Add(1)
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				dialed.Add(1)
				ended := make(chan struct{})
				go func() {
					defer close(ended)
					for {
						if _, _, err := c.Read(ctx); err != nil {
							if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
								closed.Add(1)
							}
							return
						}
						answered.Add(1)
					}
				}()
			send:
				for n := 0; ; n++ {
					select {
					case <-stop:
						break send
					case <-ended:
						break send
					default:
					}
					msg := fmt.Sprintf(`{"messageId":%d,"method":"load","params":{"query":{"measures":["orders.count"]}}}`, n)
					if n%2 == 1 {
						msg = `{"messageId":`
					}
					if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
						break
					}
				}
				c.CloseNow()
				<-ended
			}
		}()
	}

	var wsLat, restLat []time.Duration
	load := `{"measures":["orders.count"],"dimensions":["orders.status"]}`
	deadline := time.Now().Add(3 * time.Second)
	for id := 1; time.Now().Before(deadline); id++ {
		time.Sleep(50 * time.Millisecond)
		began := time.Now()
		if err := by.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"messageId":%d,"method":"load","params":{"query":%s}}`, id, load))); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := by.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), fmt.Sprintf(`"messageProcessedId":%d`, id)) {
				break
			}
			if strings.HasPrefix(string(b), fmt.Sprintf(`{"messageId":%d,"status":`, id)) && !strings.Contains(string(b), `"status":200`) {
				t.Fatalf("bystander's WebSocket load: %.300s", b)
			}
		}
		wsLat = append(wsLat, time.Since(began))

		began = time.Now()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/cubejs-api/v1/load", strings.NewReader(`{"query":`+load+`}`))
		req.Header.Set("Authorization", k.KeyValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("bystander's REST load: %d", resp.StatusCode)
		}
		restLat = append(restLat, time.Since(began))
	}
	close(stop)
	wg.Wait()
	rssAfter, hwm, _ := procMemory("/proc/self/status")

	wsP50, wsWorst := latencies(wsLat)
	restP50, restWorst := latencies(restLat)
	t.Logf("flood: %d connections (%d closed with 1008), %d upgrades refused (503), %d error answers; bystander WebSocket p50 %v worst %v (%d loads), REST p50 %v worst %v; RSS %d → %d MiB (peak %d MiB)",
		dialed.Load(), closed.Load(), refused.Load(), answered.Load(), wsP50, wsWorst, len(wsLat), restP50, restWorst, rssBefore>>20, rssAfter>>20, hwm>>20)
	if refused.Load() == 0 || closed.Load() == 0 || answered.Load() == 0 {
		t.Errorf("%d upgrades refused, %d connections closed for their refused messages, %d answered: want some of each", refused.Load(), closed.Load(), answered.Load())
	}
	if wsWorst > fairBystanderBound || restWorst > fairBystanderBound {
		t.Errorf("a bystander's load took %v (WebSocket) / %v (REST), want under %v", wsWorst, restWorst, fairBystanderBound)
	}
	if grew := rssAfter - rssBefore; grew > 256<<20 {
		t.Errorf("the process grew by %d MiB during the flood", grew>>20)
	}
}
