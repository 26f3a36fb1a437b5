package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// TestRESTOracle runs the shared oracle's compare.sh against cubegate's
// /cubejs-api/v1/load on the fixture in a throwaway PostgreSQL: every
// query answers as the real Cube does.
func TestRESTOracle(t *testing.T) {
	g := apptest.Start(t, apptest.Options{Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50})})
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.HTTPAddr().String()
	out, err := exec.Command("bash", filepath.Join(oracleDir, "compare.sh"), base, k.KeyValue).CombinedOutput()
	t.Logf("\n%s", out)
	if err != nil {
		t.Fatalf("compare.sh: %v", err)
	}
	m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed`).FindStringSubmatch(string(out))
	if m == nil || m[2] != "0" || m[1] != "52" {
		t.Fatalf("oracle: %v", m)
	}
}

func restGet(t *testing.T, url, key, accept string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The REST API around /load: the default limit is applied and said so,
// a limit above the maximum is a 400, NDJSON streams a row per line,
// scopes and key errors are 401/403, and meta, sql and dry-run answer.
func TestRESTAPI(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	key := func(scopes ...string) string {
		k, err := g.Keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyValue
	}
	load, meta := key("load"), key("meta", "sql")
	base := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/"
	q := func(query string) string { return "query=" + strings.ReplaceAll(query, " ", "%20") }

	status, hdr, body := restGet(t, base+"load?"+q(`{"dimensions":["orders.id"]}`), "Bearer "+load, "")
	var ans struct {
		Data     []map[string]any `json:"data"`
		RowLimit struct {
			Limit     int  `json:"limit"`
			Default   bool `json:"default"`
			Truncated bool `json:"truncated"`
		} `json:"rowLimit"`
	}
	if err := json.Unmarshal([]byte(body), &ans); status != 200 || err != nil {
		t.Fatalf("%d %v %.300s", status, err, body)
	}
	if len(ans.Data) != 10000 || !ans.RowLimit.Default || !ans.RowLimit.Truncated || hdr.Get("X-Cubegate-Row-Limit") != "10000; default" {
		t.Errorf("default limit: %d rows, %+v, header %q", len(ans.Data), ans.RowLimit, hdr.Get("X-Cubegate-Row-Limit"))
	}
	status, _, body = restGet(t, base+"load?"+q(`{"dimensions":["orders.id"],"limit":20000}`), load, "")
	json.Unmarshal([]byte(body), &ans)
	if status != 200 || len(ans.Data) != 20000 || ans.RowLimit.Truncated || ans.RowLimit.Default {
		t.Errorf("explicit limit: %d, %d rows, %+v", status, len(ans.Data), ans.RowLimit)
	}
	if status, _, body = restGet(t, base+"load?"+q(`{"dimensions":["orders.id"],"limit":2000000}`), load, ""); status != 400 || !strings.Contains(body, "maximum") {
		t.Errorf("limit above the maximum: %d %s", status, body)
	}
	status, hdr, body = restGet(t, base+"load?"+q(`{"measures":["orders.count"],"dimensions":["orders.status"]}`), load, "application/x-ndjson")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if status != 200 || hdr.Get("Content-Type") != "application/x-ndjson" || len(lines) != 5 || !strings.HasPrefix(lines[0], `{"orders.status":`) {
		t.Errorf("ndjson: %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	want := direct(t, g, `SELECT count(*) FROM public.orders_raw`)[0][0]
	if _, _, body = restGet(t, base+"load?"+q(`{"measures":["orders.count"]}`), load, ""); !strings.Contains(body, fmt.Sprintf(`"orders.count":"%s"`, want)) {
		t.Errorf("count: %.300s", body)
	}
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"load?" + q(`{"measures":["orders.count"]}`), "", 401},
		{"load?" + q(`{"measures":["orders.count"]}`), "cg_live_nope", 401},
		{"load?" + q(`{"measures":["orders.count"]}`), meta, 403},
		{"meta", load, 403},
		{"load?" + q(`{"measures":["orders.nope"]}`), load, 400},
		{"load?query=nonsense", load, 400},
		{"meta", meta, 200},
		{"sql?" + q(`{"measures":["orders.count"]}`), meta, 200},
		{"dry-run?" + q(`{"measures":["orders.count"]}`), load, 200},
	} {
		status, _, body := restGet(t, base+c.path, c.key, "")
		if status != c.status {
			t.Errorf("%s with %.12s: %d, want %d: %.300s", c.path, c.key, status, c.status, body)
		}
		if status >= 400 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: error without an error field: %s", c.path, body)
		}
	}
	// An array of queries.
	req, _ := http.NewRequest("POST", base+"load", strings.NewReader(`{"query":[{"measures":["orders.count"]},{"measures":["customers.count"]}]}`))
	req.Header.Set("Authorization", load)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var multi struct {
		QueryType string            `json:"queryType"`
		Results   []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(b, &multi); err != nil || multi.QueryType != "multi" || len(multi.Results) != 2 {
		t.Errorf("multi: %v %.300s", err, b)
	}
}
