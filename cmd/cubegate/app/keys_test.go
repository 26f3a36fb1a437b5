package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

type apiAnswer struct {
	status int
	Meta   struct {
		RequestID string `json:"request_id"`
	} `json:"meta"`
	Data  json.RawMessage `json:"data"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiClient calls the admin API from a given local address.
type apiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newAPIClient(t *testing.T, base, localIP string) *apiClient {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	return &apiClient{t: t, base: base, http: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}}
}

func (c *apiClient) do(method, path, key string, body any) apiAnswer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a); err != nil {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	a.status = resp.StatusCode
	if a.Meta.RequestID == "" || resp.Header.Get("X-Request-Id") != a.Meta.RequestID {
		c.t.Errorf("%s %s: no request id", method, path)
	}
	return a
}

func (c *apiClient) expect(method, path, key string, body any, status int, code string) apiAnswer {
	c.t.Helper()
	a := c.do(method, path, key, body)
	if a.status != status || a.Error.Code != code {
		c.t.Errorf("%s %s: %d %s (%s), want %d %s", method, path, a.status, a.Error.Code, a.Error.Message, status, code)
	}
	return a
}

func decodeKey(t *testing.T, a apiAnswer) auth.APIKey {
	var k auth.APIKey
	if err := json.Unmarshal(a.Data, &k); err != nil {
		t.Fatalf("%s: %v", a.Data, err)
	}
	return k
}

// The API key lifecycle over the admin API, with every error code: scopes,
// IPv4 and IPv6 allow-lists (clients bound to 127.0.0.2 and ::1), expiry,
// disabling and revocation seen by the next request, the per-tenant
// limit, last-used times, and no key value in the state store.
func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	g := apptest.Start(t, apptest.Options{DSN: "duckdb::memory:", Log: &log, Adjust: func(c *app.Config) {
		c.HTTP.Listen = "[::]:0" // both 127.0.0.x and ::1
		c.State.DSN = "sqlite://" + filepath.Join(dir, "state.db")
	}})
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Description: ptr("admin"), Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	port := g.HTTPAddr().(*net.TCPAddr).Port
	v4 := newAPIClient(t, fmt.Sprintf("http://127.0.0.1:%d", port), "")
	bearer := "Bearer " + admin.KeyValue
	values := []string{admin.KeyValue}

	// Creation, and the errors of bad input.
	a := v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"description": "app", "scope_names": []string{"load", "meta"}}, 201, "")
	app := decodeKey(t, a)
	values = append(values, app.KeyValue)
	if !strings.HasPrefix(app.KeyValue, "cg_live_") || app.KeyStart != app.KeyValue[:12] || !auth.WellFormedKey(app.KeyValue) {
		t.Errorf("created key %+v", app)
	}
	v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"bogus"}}, 400, "API_KEY_SCOPE_NAME_INVALID")
	v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"load"}, "allow_ips": []string{"300.1.1.1"}}, 400, "API_KEY_ALLOW_IP_INVALID")
	v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"load"}, "key_type": "user"}, 400, "API_KEY_USER_INVALID")
	v4.expect("GET", "/admin/v1/api_keys/nope", bearer, nil, 404, "API_KEY_NOT_FOUND")
	v4.expect("PATCH", "/admin/v1/api_keys/nope", bearer, map[string]any{"description": "x"}, 404, "API_KEY_NOT_FOUND")
	list := v4.expect("GET", "/admin/v1/api_keys", bearer, nil, 200, "")
	if strings.Contains(string(list.Data), "key_value") || !strings.Contains(string(list.Data), app.ID) {
		t.Errorf("list: %s", list.Data)
	}

	// Authentication failures.
	v4.expect("GET", "/admin/v1/api_keys", "", nil, 401, "API_KEY_REQUIRED")
	v4.expect("GET", "/admin/v1/api_keys", "Bearer cg_live_short", nil, 401, "API_KEY_INVALID")
	last := "x"
	if strings.HasSuffix(app.KeyValue, last) {
		last = "y" // a typo, whatever the key's last character
	}
	forged := app.KeyValue[:len(app.KeyValue)-1] + last
	v4.expect("GET", "/admin/v1/api_keys", forged, nil, 401, "API_KEY_INVALID")
	v4.expect("GET", "/admin/v1/api_keys", "Bearer "+app.KeyValue, nil, 403, "ACCESS_DENIED_PERMISSIONS")
	v4.expect("GET", "/admin/v1/api_keys", admin.KeyValue, nil, 200, "") // a bare key works too

	// IP allow-lists, IPv4 and IPv6.
	a = v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"description": "reader", "scope_names": []string{"keys:read"},
		"allow_ips": []string{"127.0.0.2", "::1/128"}}, 201, "")
	reader := decodeKey(t, a)
	values = append(values, reader.KeyValue)
	v4.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 403, "ACCESS_DENIED_IP")
	from2 := newAPIClient(t, fmt.Sprintf("http://127.0.0.1:%d", port), "127.0.0.2")
	from2.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 200, "")
	v6 := newAPIClient(t, fmt.Sprintf("http://[::1]:%d", port), "")
	v6.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 200, "")
	v6.expect("GET", "/admin/v1/api_keys/"+reader.ID, reader.KeyValue, nil, 200, "")

	// Disable, expire, revoke: each seen by the next request.
	v4.expect("PATCH", "/admin/v1/api_keys/"+reader.ID, bearer, map[string]any{"is_enabled": false}, 200, "")
	from2.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 401, "API_KEY_DISABLED")
	v4.expect("PATCH", "/admin/v1/api_keys/"+reader.ID, bearer, map[string]any{"is_enabled": true, "expires_at": time.Now().Add(-time.Minute)}, 200, "")
	from2.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 401, "API_KEY_EXPIRED")
	v4.expect("PATCH", "/admin/v1/api_keys/"+reader.ID, bearer, map[string]any{"expires_at": time.Now().Add(time.Hour)}, 200, "")
	from2.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 200, "")
	v4.expect("DELETE", "/admin/v1/api_keys/"+reader.ID, bearer, nil, 200, "")
	from2.expect("GET", "/admin/v1/api_keys", reader.KeyValue, nil, 401, "API_KEY_INVALID")
	v4.expect("PATCH", "/admin/v1/api_keys/"+reader.ID, bearer, map[string]any{"description": "x"}, 404, "API_KEY_NOT_FOUND")

	// The per-tenant limit counts live keys (5 by default): admin, app and
	// three more; the sixth is refused; revoking one makes room.
	var extra []auth.APIKey
	for i := 0; i < 3; i++ {
		k := decodeKey(t, v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"meta"}}, 201, ""))
		extra = append(extra, k)
		values = append(values, k.KeyValue)
	}
	v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"meta"}}, 403, "API_KEY_LIMIT_EXCEEDED")
	v4.expect("DELETE", "/admin/v1/api_keys/"+extra[0].ID, bearer, nil, 200, "")
	values = append(values, decodeKey(t, v4.expect("POST", "/admin/v1/api_keys", bearer, map[string]any{"scope_names": []string{"meta"}}, 201, "")).KeyValue)

	// Last use is written in batches, not per request.
	g.Keys.Flush(ctx)
	if k := decodeKey(t, v4.expect("GET", "/admin/v1/api_keys/"+admin.ID, bearer, nil, 200, "")); k.LastUsedTime == nil {
		t.Error("last_used_time not recorded")
	}

	// SQL credentials over the admin API: the password only at creation
	// and rotation.
	c := v4.expect("POST", "/admin/v1/credentials", bearer, map[string]any{"label": "bi", "database": "demo"}, 201, "")
	var cred map[string]any
	json.Unmarshal(c.Data, &cred)
	pw, _ := cred["password"].(string)
	if pw == "" || !strings.HasPrefix(cred["psql"].(string), "psql ") {
		t.Fatalf("created credential: %s", c.Data)
	}
	values = append(values, pw)
	shown := v4.expect("GET", "/admin/v1/credentials/"+cred["id"].(string), bearer, nil, 200, "")
	if strings.Contains(string(shown.Data), pw) || strings.Contains(string(shown.Data), `"password"`) {
		t.Errorf("show reveals the password: %s", shown.Data)
	}
	v4.expect("POST", "/admin/v1/credentials", "Bearer "+app.KeyValue, map[string]any{"database": "demo"}, 403, "ACCESS_DENIED_PERMISSIONS")
	rot := v4.expect("POST", "/admin/v1/credentials/"+cred["id"].(string)+"/rotate", bearer, nil, 200, "")
	var rotated map[string]any
	json.Unmarshal(rot.Data, &rotated)
	values = append(values, rotated["password"].(string))
	v4.expect("DELETE", "/admin/v1/credentials/"+cred["id"].(string), bearer, nil, 200, "")
	v4.expect("GET", "/admin/v1/credentials/"+cred["id"].(string), bearer, nil, 404, "NOT_FOUND")

	// No secret in the state store or the logs.
	g.Close()
	for _, f := range []string{"state.db", "state.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret", f)
			}
		}
	}
	for _, v := range values {
		if strings.Contains(logs.String(), v) {
			t.Error("the log holds a secret")
		}
	}
}

func ptr[T any](v T) *T { return &v }
