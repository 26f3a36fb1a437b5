package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// cubeJSClients is the node project of Cube's JavaScript clients
// (testdata/clients/cubejs), failing the test unless node and
// @cubejs-client/pkg are installed there.
func cubeJSClients(t *testing.T, pkg string) string {
	t.Helper()
	dir := apptest.RepoPath(t, "testdata", "clients", "cubejs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cubejs-client", pkg)); err != nil {
		t.Fatalf("@cubejs-client/%s is not installed: run make deps", pkg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: run make deps")
	}
	return dir
}

// The REST API as a drop-in for Cube's JavaScript client (issue #16): the
// real @cubejs-client/core (testdata/clients/cubejs, pinned in its
// package-lock.json, installed by make deps) loads every query of the
// shared Cube oracle, and the cases of testdata/cubejs/*.json —
// compareDateRange, blending, member.granularity (predefined and custom),
// drill-down, formats, a string dateRange, the legacy filter key
// dimension — from a gateway on the oracle model over the oracle fixture
// in a throwaway PostgreSQL, and asks
// its ResultSet for tablePivot, chartPivot, seriesNames, series,
// tableColumns, totalRow, totalRows, query, pivotQuery, rawData and
// decompose, and its Meta for membersForQuery, resolveMember,
// defaultTimeDimensionNameFor and filterOperatorsForMember.
//
// What it must give is what the same client functions give on Cube's own
// answers: the same program, in its "recorded" mode, feeds the client's
// ResultSet the oracle's recorded /load answers (Cube 0.33) wrapped as
// Cube 1.x answers the client, and the answers written from Cube's source
// for the cases the oracle lacks (each file says where from), and its Meta
// the recorded /meta. Both runs must agree function by function, save the
// differences compareCubeJS explains; no load may reject unless Cube's
// does (with Cube's message), no client function may throw unless it
// throws on Cube's answer too, and no title may be missing or a raw member
// path unless Cube's own answer gives one.
func TestCubeJSClient(t *testing.T) {
	dir := cubeJSClients(t, "core")
	oracle := apptest.RepoPath(t, "testdata", "oracle")
	cases := apptest.RepoPath(t, "cmd", "cubegate", "app", "testdata", "cubejs")

	// The oracle queries and /meta run on the oracle model as Cube ran
	// them; the other cases on the test copy of it that declares drill
	// members, formats, meta and custom granularities (testdata/cubemodel),
	// over the same warehouse.
	g := apptest.Start(t, apptest.Options{
		Postgres: apptest.DemoSizes(app.DemoSizes{Orders: 100000, Customers: 1000, Products: 50}),
		ModelDir: filepath.Join(oracle, "model"),
	})
	gCases := apptest.Start(t, apptest.Options{
		DSN:      g.Config.Warehouse.DSN,
		ModelDir: apptest.RepoPath(t, "cmd", "cubegate", "app", "testdata", "cubemodel"),
	})
	key := func(g *apptest.Gateway) string {
		k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "cubejs", auth.KeyInput{Scopes: &[]string{"load", "meta"}})
		if err != nil {
			t.Fatal(err)
		}
		return k.KeyValue
	}
	apiURL := func(g *apptest.Gateway) string { return "http://" + g.HTTPAddr().String() + "/cubejs-api/v1" }

	run := func(mode string, env ...string) cubeJSOutput {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), mode, "--oracle", oracle, "--cases", cases)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("client.mjs %s: %v\n%s", mode, err, stderr.String())
		}
		t.Logf("client.mjs %s: %v", mode, time.Since(start).Round(time.Millisecond))
		if d := os.Getenv("CUBEGATE_CUBEJS_OUT"); d != "" { // to read both outputs whole
			if err := os.WriteFile(filepath.Join(d, mode+".json"), stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var out cubeJSOutput
		dec := json.NewDecoder(&stdout)
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			t.Fatalf("client.mjs %s printed no JSON: %v", mode, err)
		}
		return out
	}
	want := run("recorded")
	got := run("live",
		"CUBEJS_API_URL="+apiURL(g), "CUBEJS_TOKEN="+key(g),
		"CUBEJS_API_URL_CASES="+apiURL(gCases), "CUBEJS_TOKEN_CASES="+key(gCases))

	ordered := cubeJSOrdered(t, oracle, cases)
	viewFormats := cubeJSViewFormats(t, oracle)
	names := make([]string, 0, len(want.Cases))
	for name := range want.Cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			g, ok := got.Cases[name]
			if !ok {
				t.Fatal("no output")
			}
			for _, d := range compareCubeJS(want.Cases[name], g, ordered[name], viewFormats) {
				t.Error(d)
			}
		})
	}
	t.Run("meta", func(t *testing.T) {
		if got.MetaError != "" {
			t.Fatalf("cubeApi.meta() rejected: %s", got.MetaError)
		}
		for _, d := range cjCompareMeta("meta", want.Meta, got.Meta) {
			t.Error(d)
		}
	})
	t.Run("titles", func(t *testing.T) {
		// Titles Cube's own answers leave out (a blending query's
		// time.<granularity> column has none) are the client's, not ours.
		for _, r := range got.RawTitles {
			if !slices.Contains(want.RawTitles, r) {
				t.Errorf("a title an application would show is missing or a member path: %s", r)
			}
		}
	})
}

type cubeJSOutput struct {
	Cases     map[string]map[string]any `json:"cases"`
	Meta      map[string]any            `json:"meta"`
	MetaError string                    `json:"metaError"`
	RawTitles []string                  `json:"rawTitles"`
}

// cubeJSViewFormats maps each view member of the oracle's recorded /meta
// to the format of the cube member it includes (same name, or the name
// prefixed with its cube's), which Cube 1.x passes on to the view.
func cubeJSViewFormats(t *testing.T, oracle string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(oracle, "expected", "_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Cubes []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Measures   []struct{ Name, Format string }
			Dimensions []struct{ Name, Format string }
		} `json:"cubes"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	formats := map[string]string{}
	for _, c := range meta.Cubes {
		if c.Type == "view" {
			continue
		}
		for _, m := range append(c.Measures, c.Dimensions...) {
			if m.Format != "" {
				short := strings.TrimPrefix(m.Name, c.Name+".")
				formats[short] = m.Format
				formats[c.Name+"_"+short] = m.Format
			}
		}
	}
	out := map[string]string{}
	for _, c := range meta.Cubes {
		if c.Type != "view" {
			continue
		}
		for _, m := range append(c.Measures, c.Dimensions...) {
			if f, ok := formats[strings.TrimPrefix(m.Name, c.Name+".")]; ok {
				out[m.Name] = f
			}
		}
	}
	return out
}

// cubeJSOrdered says, for each case, whether its rows come in a defined
// order: the query has an order (or says "ordered"), as the oracle's
// compare.sh decides. Other cases' row arrays compare as multisets.
func cubeJSOrdered(t *testing.T, oracle, cases string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, c := range loadOracle(t) {
		var q struct {
			Order json.RawMessage `json:"order"`
		}
		if err := json.Unmarshal(c.Query, &q); err != nil {
			t.Fatal(err)
		}
		o := len(q.Order) > 0 && string(q.Order) != "[]" && string(q.Order) != "{}"
		if c.Ordered != nil {
			o = *c.Ordered
		}
		out[c.Name] = o
	}
	files, err := filepath.Glob(filepath.Join(cases, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Name    string `json:"name"`
			Ordered bool   `json:"ordered"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[c.Name] = c.Ordered
	}
	return out
}

// compareCubeJS compares what the client gave on cubegate's answer (got)
// with what it gave on Cube's (want), function by function, and says
// every difference. Differences that are not differences:
//
//   - The recorded oracle answers are Cube 0.33's; Cube 1.x's
//     normalizeQuery (packages/cubejs-api-gateway/src/query.ts) adds
//     "cacheMode" to the query it echoes and leaves "order" out when the
//     query has none (0.33 echoed []), and its native pivotQuery leaves out
//     empty member lists: the echoes (query, pivotQuery, decompose's query)
//     compare without cacheMode and with an absent list equal to [].
//   - Cube 1.x annotates a time dimension with its granularity
//     (helpers/prepare-annotation.ts), which tableColumns passes on as
//     "granularity": a column without one in Cube 0.33's answer may carry
//     the granularity its key names.
//   - Cube 1.x gives a view's member the format of the cube member it
//     includes (CubeSymbols.generateIncludeMembers); Cube 0.33 left it out:
//     a view member's column may carry that format (viewFormats).
//   - Rows of a query without an order come in any order: for such cases
//     arrays of objects compare as multisets, and totalRow (the first
//     chartPivot row) must be one of Cube's chartPivot rows.
//   - drillDownLoaded is cubegate's answer to the drill-down query, which
//     Cube's answer was not recorded for: it must load, and nothing in it
//     may throw.
func compareCubeJS(want, got map[string]any, ordered bool, viewFormats map[string]string) []string {
	var diffs []string
	if le, ok := want["loadError"]; ok {
		ge, ok := got["loadError"]
		if !ok {
			return []string{fmt.Sprintf("load resolved, want it rejected like Cube's: %s", cjShort(le))}
		}
		w, g := le.(map[string]any), ge.(map[string]any)
		if g["message"] != w["message"] {
			diffs = append(diffs, fmt.Sprintf("load rejected with %q, want Cube's message %q", g["message"], w["message"]))
		}
		if fmt.Sprint(g["status"]) != fmt.Sprint(w["status"]) {
			diffs = append(diffs, fmt.Sprintf("load rejected with status %v, want %v", g["status"], w["status"]))
		}
		return diffs
	}
	if ge, ok := got["loadError"]; ok {
		return []string{fmt.Sprintf("cubeApi.load rejected: %s", cjShort(ge))}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, fn := range keys {
		w, g := want[fn], got[fn]
		if th, ok := cjThrew(g); ok {
			if wth, wok := cjThrew(w); !wok || wth != th {
				diffs = append(diffs, fmt.Sprintf("%s() threw %q; on Cube's answer it gives %s", fn, th, cjShort(w)))
			}
			continue
		}
		switch fn {
		case "query", "pivotQuery":
			w, g = cjNormalizeEcho(w), cjNormalizeEcho(g)
		case "decompose":
			w, g = cjNormalizeDecompose(w), cjNormalizeDecompose(g)
		case "tableColumns":
			g = cjDropGranularity(w, g, viewFormats)
		case "totalRow":
			if !ordered {
				if !cjContains(want["chartPivot"], g) {
					diffs = append(diffs, fmt.Sprintf("totalRow() = %s is none of Cube's chartPivot rows", cjShort(g)))
				}
				continue
			}
		}
		if !ordered {
			w, g = cjMultiset(w), cjMultiset(g)
		}
		if d := cjFirstDiff(fn, w, g); d != "" {
			diffs = append(diffs, d)
		}
	}
	if dl, ok := got["drillDownLoaded"]; ok {
		m, _ := dl.(map[string]any)
		if le, ok := m["loadError"]; ok {
			diffs = append(diffs, fmt.Sprintf("loading the drill-down query rejected: %s", cjShort(le)))
		}
		for fn, v := range m {
			if th, ok := cjThrew(v); ok {
				diffs = append(diffs, fmt.Sprintf("drill-down result: %s() threw %q", fn, th))
			}
		}
	}
	return diffs
}

// cjCompareMeta compares the Meta helpers' answers: every field Cube's
// recorded /meta (Cube 0.33) gives must be there with Cube's value; fields
// it does not know (Cube 1.x added some, e.g. granularities) are left to
// the /meta tests.
func cjCompareMeta(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s = %s, want %s", path, cjShort(got), cjShort(want))}
		}
		var diffs []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := g[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s is missing, want %s", path, k, cjShort(w[k])))
				continue
			}
			diffs = append(diffs, cjCompareMeta(path+"."+k, w[k], g[k])...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s = %s, want %s", path, cjShort(got), cjShort(want))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, cjCompareMeta(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return diffs
	}
	if !cjEqual(want, got) {
		return []string{fmt.Sprintf("%s = %s, want %s", path, cjShort(got), cjShort(want))}
	}
	return nil
}

func cjThrew(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["threw"].(string)
	return s, ok
}

// cjNormalizeEcho removes from a query echo what only tells Cube 0.33's echo
// from Cube 1.x's (see compareCubeJS).
func cjNormalizeEcho(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if k == "cacheMode" {
			continue
		}
		if a, ok := x.([]any); ok && len(a) == 0 {
			continue
		}
		out[k] = x
	}
	return out
}

func cjNormalizeDecompose(v any) any {
	a, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(a))
	for i, x := range a {
		m, ok := x.(map[string]any)
		if !ok {
			out[i] = x
			continue
		}
		c := map[string]any{}
		for k, y := range m {
			c[k] = y
		}
		c["query"] = cjNormalizeEcho(m["query"])
		out[i] = c
	}
	return out
}

// cjDropGranularity takes out of got's columns a "granularity" Cube 0.33's
// (want) has not, when it is the one the column's key names, and a view
// member's "format" Cube 0.33 left out, when it is the included member's.
func cjDropGranularity(want, got any, viewFormats map[string]string) any {
	w, wok := want.([]any)
	g, gok := got.([]any)
	if !wok || !gok {
		return got
	}
	out := make([]any, len(g))
	for i, x := range g {
		gc, ok := x.(map[string]any)
		if !ok {
			out[i] = x
			continue
		}
		c := map[string]any{}
		for k, y := range gc {
			c[k] = y
		}
		key, _ := gc["key"].(string)
		var wc map[string]any
		for _, y := range w {
			if m, ok := y.(map[string]any); ok && m["key"] == key {
				wc = m
			}
		}
		if gr, ok := gc["granularity"].(string); ok && wc != nil && wc["granularity"] == nil && strings.HasSuffix(key, "."+gr) {
			delete(c, "granularity")
		}
		if f, ok := gc["format"].(string); ok && wc != nil && wc["format"] == nil && viewFormats[key] == f {
			delete(c, "format")
		}
		if ch, ok := gc["children"]; ok && wc != nil {
			c["children"] = cjDropGranularity(wc["children"], ch, viewFormats)
		}
		out[i] = c
	}
	return out
}

// cjMultiset sorts every array of objects by its elements' JSON, at any
// depth, but leaves query echoes alone.
func cjMultiset(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, y := range x {
			if k == "query" || k == "pivotQuery" {
				out[k] = y
				continue
			}
			out[k] = cjMultiset(y)
		}
		return out
	case []any:
		out := make([]any, len(x))
		objects := true
		for i, y := range x {
			out[i] = cjMultiset(y)
			if _, ok := y.(map[string]any); !ok {
				objects = false
			}
		}
		if objects {
			sort.Slice(out, func(i, j int) bool { return cjCanonical(out[i]) < cjCanonical(out[j]) })
		}
		return out
	}
	return v
}

func cjContains(list, v any) bool {
	a, _ := list.([]any)
	for _, x := range a {
		if cjEqual(x, v) {
			return true
		}
	}
	return false
}

func cjCanonical(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return string(b)
}

func cjEqual(a, b any) bool { return cjCanonical(a) == cjCanonical(b) }

// cjFirstDiff names the first place a and b differ, with both values.
func cjFirstDiff(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !gok:
				return fmt.Sprintf("%s.%s is missing, want %s", path, k, cjShort(wv))
			case !wok:
				return fmt.Sprintf("%s.%s = %s, which Cube's answer does not give", path, k, cjShort(gv))
			}
			if d := cjFirstDiff(path+"."+k, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		for i := 0; i < len(w) && i < len(g); i++ {
			if d := cjFirstDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s has %d elements, want %d", path, len(g), len(w))
		}
		return ""
	}
	if cjEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("%s = %s, want %s", path, cjShort(got), cjShort(want))
}

func cjShort(v any) string {
	s := cjCanonical(v)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
