package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse"
)

// salesModel is a cube over the demo data with one rollup.
const salesModel = `
cubes:
  - name: sales
    sql_table: public.orders_raw
    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
    pre_aggregations:
      - name: by_status
        measures: [count, revenue]
        dimensions: [status]
`

// cliRun runs the CLI in-process and fails the test if a secret shows in
// anything it says.
type cliRun struct {
	t       *testing.T
	secrets []string
}

func (c cliRun) run(args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	all := out.String() + errOut.String()
	if err != nil {
		all += err.Error()
	}
	for _, s := range c.secrets {
		if strings.Contains(all, s) {
			c.t.Fatalf("%v printed the key: %s", args, all)
		}
	}
	return out.String(), errOut.String(), err
}

func (c cliRun) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
	}
	return out
}

func (c cliRun) fails(want string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err == nil {
		c.t.Fatalf("%v succeeded, want an error with %q:\n%s%s", args, want, out, errOut)
	}
	if !strings.Contains(err.Error(), want) {
		c.t.Fatalf("%v: %v, want %q", args, err, want)
	}
	return err.Error()
}

func mintKey(t *testing.T, g *apptest.Gateway, scopes ...string) string {
	t.Helper()
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &scopes})
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyValue
}

// TestPreaggCacheCLI: preagg list, refresh --wait, cache stats and
// invalidate against a running gateway, and a rebuild that fails.
func TestPreaggCacheCLI(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(500), Model: salesModel, Adjust: func(c *app.Config) { c.Model.Watch = false }})
	admin, load := mintKey(t, g, "admin"), mintKey(t, g, "load")
	url := "http://" + g.HTTPAddr().String()
	t.Setenv(adminKeyEnv, admin)
	cli := cliRun{t: t, secrets: []string{admin}}

	list := func() []preAgg {
		t.Helper()
		var l []preAgg
		out := cli.ok("preagg", "list", "--json", "--url", url)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return l
	}
	var first preAgg
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if l := list(); len(l) == 1 && l[0].State == "BUILT" {
			first = l[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not built within 30 s: %+v", list())
		}
	}
	if first.Name != "sales.by_status" || first.DataSource != "demo" || first.Rows <= 0 || first.Bytes <= 0 {
		t.Fatalf("list --json: %+v", first)
	}

	// The table: a header and the rollup's line, its rows as the JSON says.
	table := cli.ok("preagg", "list", "--url", url)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^NAME\s+DATA SOURCE\s+STATE\s+ROWS\s+SIZE\s+BUILT AT\s+BUILD TIME\s+HITS\s+ERROR$`).MatchString(lines[0]) {
		t.Fatalf("list:\n%s", table)
	}
	if f := strings.Fields(lines[1]); len(f) < 9 || f[0] != "sales.by_status" || f[1] != "demo" || f[2] != "BUILT" || f[3] != strconv.FormatInt(first.Rows, 10) {
		t.Fatalf("list:\n%s", table)
	}

	// refresh --wait returns after a newer build (the short name works).
	out := cli.ok("preagg", "refresh", "by_status", "--wait", "--url", url)
	if !strings.HasPrefix(out, "sales.by_status (demo) BUILT at ") || !strings.Contains(out, " rows, ") {
		t.Fatalf("refresh --wait: %q", out)
	}
	if now := list()[0]; !now.BuiltAt.After(first.BuiltAt) || now.State != "BUILT" {
		t.Fatalf("after refresh --wait: %+v, before %+v", now, first)
	}
	cli.fails(`no pre-aggregation "nope" (there are: sales.by_status)`, "preagg", "refresh", "nope", "--url", url)
	cli.fails("has no pre-aggregations in data source other", "preagg", "refresh", "--data-source", "other", "--url", url)

	// The cache: a query asked twice is one entry and a hit; invalidating
	// the cube drops it.
	for range 2 {
		req, _ := http.NewRequest("POST", url+"/cubejs-api/v1/load", strings.NewReader(`{"query":{"measures":["sales.count"],"dimensions":["sales.status"]}}`))
		req.Header.Set("Authorization", load)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("load: %d %s", resp.StatusCode, b)
		}
	}
	var st cacheStats
	if err := json.Unmarshal([]byte(cli.ok("cache", "stats", "--json", "--url", url)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Entries < 1 || st.Hits < 1 || st.MaxBytes != 256<<20 {
		t.Fatalf("cache stats --json: %+v", st)
	}
	text := cli.ok("cache", "stats", "--url", url)
	for _, want := range []string{"entries:    " + strconv.FormatInt(st.Entries, 10) + "\n", " of 256 MiB\n", "hit ratio:  "} {
		if !strings.Contains(text, want) {
			t.Fatalf("cache stats: no %q in\n%s", want, text)
		}
	}
	if out := cli.ok("cache", "invalidate", "--cube", "orders", "--url", url); out != "invalidated 0 cached answers\n" {
		t.Fatalf("invalidate another cube: %q", out)
	}
	out = cli.ok("cache", "invalidate", "--cube", "sales", "--url", url)
	if m := regexp.MustCompile(`^invalidated (\d+) cached answers?\n$`).FindStringSubmatch(out); m == nil || m[1] != strconv.FormatInt(st.Entries, 10) {
		t.Fatalf("invalidate: %q, want the %d entries", out, st.Entries)
	}
	if err := json.Unmarshal([]byte(cli.ok("cache", "stats", "--json", "--url", url)), &st); err != nil || st.Entries != 0 {
		t.Fatalf("after invalidate: %+v %v", st, err)
	}

	// A rebuild that fails: --wait exits with the build's error; asked
	// again, with the same error.
	defer func(d time.Duration) { preaggSettle = d }(preaggSettle)
	preaggSettle = 500 * time.Millisecond
	wh := g.Warehouse().(*warehouse.DuckDB)
	if _, err := wh.DB().Exec(`ALTER TABLE public.orders_raw RENAME TO orders_away`); err != nil {
		t.Fatal(err)
	}
	cli.fails("pre-aggregation sales.by_status (demo) failed to build: ", "preagg", "refresh", "sales.by_status", "--wait", "--url", url)
	// Seen BUILDING, it "failed"; between two polls, it "still fails".
	msg := cli.fails("pre-aggregation sales.by_status (demo) ", "preagg", "refresh", "--wait", "--data-source", "demo", "--url", url)
	if !regexp.MustCompile(`(failed|still fails) to build: .*orders_raw`).MatchString(msg) {
		t.Fatalf("the error does not name the table: %s", msg)
	}
	// The old build still serves: BUILT, with the error shown.
	table = cli.ok("preagg", "list", "--url", url)
	if !regexp.MustCompile(`sales\.by_status\s+demo\s+BUILT\s+\d+.*orders_raw`).MatchString(table) {
		t.Fatalf("list after a failed rebuild:\n%s", table)
	}
	if _, err := wh.DB().Exec(`ALTER TABLE public.orders_away RENAME TO orders_raw`); err != nil {
		t.Fatal(err)
	}

	// Without --wait: the count, as JSON; --timeout bounds --wait.
	if out := cli.ok("preagg", "refresh", "--json", "--url", url); strings.Join(strings.Fields(out), "") != `{"refreshing":1}` {
		t.Fatalf("refresh --json: %q", out)
	}
	cli.fails("--timeout 1ms passed: context deadline exceeded: not rebuilt yet: sales.by_status", "preagg", "refresh", "--wait", "--timeout", "1ms", "--url", url)
}

// TestPreaggCacheCLIErrors: no key, a wrong key, a key without the admin
// scope, no gateway, a gateway without pre-aggregations; the URL from
// the configuration's http.listen.
func TestPreaggCacheCLIErrors(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(100), Model: salesModel, Adjust: func(c *app.Config) {
		c.Model.Watch = false
		c.PreAgg.Enabled = false
	}})
	admin, load := mintKey(t, g, "admin"), mintKey(t, g, "load")
	addr := g.HTTPAddr().String()
	url := "http://" + addr
	t.Setenv(adminKeyEnv, "")
	t.Setenv("CUBEGATE_CONFIG", "")
	t.Setenv("CUBEGATE_HTTP_LISTEN", "")
	cli := cliRun{t: t, secrets: []string{admin, load, "cg_live_wrong"}}

	cli.fails("no API key: give one with the admin scope as --key or in $CUBEGATE_ADMIN_KEY", "cache", "stats", "--url", url)
	cli.fails("refused the key (API_KEY_INVALID: the API key is not valid); these commands need an API key with the admin scope",
		"cache", "stats", "--url", url, "--key", "cg_live_wrong")
	cli.fails("the key lacks the admin scope, which /admin/v1/cache/invalidate needs", "cache", "invalidate", "--url", url, "--key", load)
	cli.fails("the gateway at "+url+" does not serve /admin/v1/pre-aggregations: pre-aggregations (preagg.enabled) is off there",
		"preagg", "list", "--url", url, "--key", admin)

	// No gateway: the message names the URL, from --url or http.listen.
	dead := "127.0.0.1:" + freePort(t)
	cli.fails("no gateway answers at http://"+dead+" ", "cache", "stats", "--url", dead, "--key", admin)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cubegate.yaml")
	write := func(listen string) {
		if err := os.WriteFile(cfg, []byte("http:\n  listen: "+listen+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(dead)
	cli.fails("no gateway answers at http://"+dead+" ", "--config", cfg, "preagg", "list", "--key", admin)

	// The configuration's http.listen, 0.0.0.0 dialled as 127.0.0.1; the
	// key from the environment.
	write("0.0.0.0:" + addr[strings.LastIndexByte(addr, ':')+1:])
	t.Setenv(adminKeyEnv, admin)
	if out := cli.ok("--config", cfg, "cache", "stats"); !strings.HasPrefix(out, "entries:    0\n") {
		t.Fatalf("cache stats: %q", out)
	}
}

// TestPreaggWaitRebuilt: refresh --wait's reading of the states the
// gateway shows, one list per poll (the last repeats).
func TestPreaggWaitRebuilt(t *testing.T) {
	defer func(p, s time.Duration) { preaggPoll, preaggSettle = p, s }(preaggPoll, preaggSettle)
	preaggPoll, preaggSettle = time.Millisecond, 20*time.Millisecond
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	p := func(state string, built time.Time, err string) preAgg {
		return preAgg{DataSource: "demo", Name: "sales.by_status", State: state, BuiltAt: built, Error: err}
	}
	for _, c := range []struct {
		name   string
		before preAgg
		polls  []preAgg
		want   string // "" for rebuilt
	}{
		{"rebuilt", p("BUILT", t0, ""), []preAgg{p("BUILT", t0, ""), p("BUILDING", t0, ""), p("BUILT", t1, "")}, ""},
		{"rebuilt between two polls", p("BUILT", t0, ""), []preAgg{p("BUILT", t1, "")}, ""},
		{"first build", p("PENDING", time.Time{}, ""), []preAgg{p("BUILDING", time.Time{}, ""), p("BUILT", t1, "")}, ""},
		{"recovered", p("ERROR", time.Time{}, "boom"), []preAgg{p("BUILT", t1, "")}, ""},
		{"new error, old build serves", p("BUILT", t0, ""), []preAgg{p("BUILT", t0, "boom")}, "sales.by_status (demo) failed to build: boom"},
		{"another error", p("ERROR", time.Time{}, "boom"), []preAgg{p("ERROR", time.Time{}, "bang")}, "failed to build: bang"},
		{"same error, seen building", p("ERROR", time.Time{}, "boom"), []preAgg{p("BUILDING", time.Time{}, "boom"), p("ERROR", time.Time{}, "boom")}, "failed to build: boom"},
		{"same error, nothing building", p("BUILT", t0, "boom"), []preAgg{p("BUILT", t0, "boom")}, "still fails to build: boom"},
		{"gone", p("BUILT", t0, ""), []preAgg{{DataSource: "demo", Name: "other", State: "BUILDING"}}, "not rebuilt yet: sales.by_status (gone from the list)"},
		{"still building", p("BUILT", t0, ""), []preAgg{p("BUILDING", t0, "")}, "not rebuilt yet: sales.by_status (BUILDING)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
				i := min(int(n.Add(1))-1, len(c.polls)-1)
				json.NewEncoder(w).Encode(map[string]any{"data": []preAgg{c.polls[i]}})
			})
			cl := &adminClient{base: srv, key: "k", http: http.DefaultClient}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			got, err := waitRebuilt(ctx, cl, []preAgg{c.before})
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && (len(got) != 1 || !got[0].BuiltAt.Equal(t1)):
				t.Fatalf("got %+v", got)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// httptestServer serves h on a real socket until the test ends.
func httptestServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
