package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// /v1/meta and the /load annotation against what Cube answered for the
// shared oracle's model (testdata/oracle/expected/_meta.json and the
// annotation of every expected/*.json), field by field, through a real
// gateway. The oracle was recorded on Cube 0.33; cubegate answers as
// Cube 1.x does, so a field Cube 1.x adds is allowed when listed below
// with where Cube's source says so — any other difference fails.

// metaAdditions are the fields Cube 1.x's /v1/meta has that 0.33's had
// not (packages/cubejs-schema-compiler/src/compiler/CubeToMetaTransformer.js
// in Cube 1.x: transform() and measureConfig()), by where they appear.
var metaAdditions = map[string]string{
	"cube.isVisible":       "transform(): isVisible next to public",
	"cube.hierarchies":     "transform(): hierarchies (evaluatedHierarchies, [] without)",
	"cube.folders":         "transform(): folders (flat, [] without)",
	"cube.nestedFolders":   "transform(): nestedFolders ([] without)",
	"measure.public":       "transform(): public next to isVisible",
	"dimension.public":     "transform(): public next to isVisible",
	"dimension.primaryKey": "transform(): primaryKey: !!primaryKey",
	"segment.public":       "transform(): public next to isVisible",
	// A view's members: CubeEvaluator sets aliasMember on a member whose
	// SQL is one reference to another member, which is every member a
	// view includes.
	"view.measure.aliasMember":   "CubeEvaluator: aliasMember of a view's member",
	"view.dimension.aliasMember": "CubeEvaluator: aliasMember of a view's member",
	// Cube 1.x's CubeSymbols.generateIncludeMembers carries format (and
	// title, description, meta) into a view's members; 0.33 did not.
	"view.measure.format": "CubeSymbols.generateIncludeMembers: format carried into a view's member",
}

func metaGet(t *testing.T, base, key, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// testKey mints an API key of the default tenant on g with scopes and a
// security context (nil: none).
func testKey(t testing.TB, g *apptest.Gateway, sec *auth.SecurityContext, scopes ...string) string {
	t.Helper()
	k, err := g.Keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &scopes, Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyValue
}

// diffJSON compares want (Cube's) with got (cubegate's) field by field,
// at path, and returns every difference not allowed by allow(kind,
// field) for a field only cubegate has.
func diffJSON(path, kind string, want, got any, allow func(kind, field string) bool) []string {
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v, want an object", path, got)}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing (Cube: %v)", path, k, wv))
				continue
			}
			out = append(out, diffJSON(path+"."+k, kind+"."+k, wv, gv, allow)...)
		}
		for k := range g {
			if _, ok := w[k]; !ok && !allow(kind, k) {
				out = append(out, fmt.Sprintf("%s.%s: %v, which Cube does not give", path, k, g[k]))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: %v, want %v", path, got, want)}
		}
		for i := range w {
			p := fmt.Sprintf("%s[%d]", path, i)
			if m, ok := w[i].(map[string]any); ok && m["name"] != nil {
				p = fmt.Sprintf("%s[%v]", path, m["name"])
			}
			out = append(out, diffJSON(p, kind+"[]", w[i], g[i], allow)...)
		}
	default:
		if !reflect.DeepEqual(want, got) {
			out = append(out, fmt.Sprintf("%s: %v, want %v", path, got, want))
		}
	}
	return out
}

// TestCubeMetaOracle: /v1/meta on the oracle's model gives Cube's
// answer field by field (titles, types, aggTypes, visibility,
// connectedComponent, formats, drill members, suggestFilterValues) in
// Cube's order, with only metaAdditions beyond it.
func TestCubeMetaOracle(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.DemoSizes(app.DemoSizes{Orders: 200, Customers: 20, Products: 5}),
		ModelDir: apptest.RepoPath(t, "testdata", "oracle", "model")})
	base := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/"
	status, body := metaGet(t, base, testKey(t, g, nil, "meta"), "meta")
	if status != 200 {
		t.Fatalf("meta: %d %s", status, body)
	}
	wantB, err := os.ReadFile(filepath.Join(oracleDir, "expected", "_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(wantB, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	views := map[string]bool{}
	for _, c := range want["cubes"].([]any) {
		if c.(map[string]any)["type"] == "view" {
			views[c.(map[string]any)["name"].(string)] = true
		}
	}
	var diffs []string
	for i, wc := range want["cubes"].([]any) {
		gcs := got["cubes"].([]any)
		if i >= len(gcs) {
			diffs = append(diffs, fmt.Sprintf("cube %d missing", i))
			continue
		}
		name := wc.(map[string]any)["name"].(string)
		diffs = append(diffs, diffJSON("cubes["+name+"]", "cube", wc, gcs[i], func(kind, field string) bool {
			k := strings.NewReplacer("cube.measures[]", "measure", "cube.dimensions[]", "dimension", "cube.segments[]", "segment").Replace(kind)
			if _, ok := metaAdditions[k+"."+field]; ok {
				return true
			}
			_, ok := metaAdditions["view."+k+"."+field]
			return ok && views[name]
		})...)
	}
	if len(got["cubes"].([]any)) != len(want["cubes"].([]any)) {
		diffs = append(diffs, fmt.Sprintf("%d cubes, want %d", len(got["cubes"].([]any)), len(want["cubes"].([]any))))
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestCubeAnnotationsOracle: every oracle query's /load annotation is
// Cube's field by field; Cube 1.x's prepareAnnotation adds only the
// granularity of a time dimension's cube.dim.granularity entry
// (packages/cubejs-api-gateway/src/helpers/prepare-annotation.ts).
func TestCubeAnnotationsOracle(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.DemoSizes(app.DemoSizes{Orders: 200, Customers: 20, Products: 5}),
		ModelDir: apptest.RepoPath(t, "testdata", "oracle", "model")})
	url := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/load"
	key := testKey(t, g, nil, "load")
	n := 0
	for _, c := range loadOracle(t) {
		if c.ExpectError {
			continue
		}
		b, err := os.ReadFile(filepath.Join(oracleDir, "expected", c.Name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var want struct {
			Annotation map[string]any `json:"annotation"`
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(`{"query":`+string(c.Query)+`}`)))
		req.Header.Set("Authorization", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Annotation map[string]any `json:"annotation"`
		}
		if err := json.Unmarshal(body, &got); resp.StatusCode != 200 || err != nil {
			t.Errorf("%s: %d %.300s", c.Name, resp.StatusCode, body)
			continue
		}
		for _, d := range diffJSON(c.Name, "annotation", want.Annotation, got.Annotation, func(kind, field string) bool {
			member, isTD := strings.CutPrefix(kind, "annotation.timeDimensions.")
			if isTD && strings.Count(member, ".") == 2 && field == "granularity" {
				return true
			}
			// The oracle model's one view; Cube 1.x carries format into a
			// view's member (metaAdditions).
			return strings.HasPrefix(kind, "annotation.measures.sales.") && field == "format"
		}) {
			t.Error(d)
		}
		n++
	}
	t.Logf("%d oracle annotations compared", n)
}

// TestCubeMetaModelCopy: the test copy of the oracle model
// (testdata/cubemodel: drill members, formats, meta, titles, folders)
// through a real gateway, under a key whose security context allows
// orders and the sales view but not customers: customers is left out,
// and so are its members everywhere they would be named — drill members,
// the view's members and its folders — and the annotation of a custom
// granularity names it as /v1/meta does.
func TestCubeMetaModelCopy(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.DemoSizes(app.DemoSizes{Orders: 200, Customers: 20, Products: 5}),
		ModelDir: apptest.RepoPath(t, "cmd", "cubegate", "app", "testdata", "cubemodel")})
	base := "http://" + g.HTTPAddr().String() + "/cubejs-api/v1/"
	limited := testKey(t, g, &auth.SecurityContext{Allow: []string{"orders", "products", "sales"}}, "meta", "load")
	status, body := metaGet(t, base, limited, "meta")
	if status != 200 {
		t.Fatalf("meta: %d %s", status, body)
	}
	var meta struct {
		Cubes []struct {
			Name     string
			Measures []struct {
				Name         string
				DrillMembers []string
			}
			Dimensions []struct{ Name string }
			Folders    []struct {
				Name    string
				Members []string
			}
		}
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	var cubes []string
	for _, c := range meta.Cubes {
		cubes = append(cubes, c.Name)
		if s := fmt.Sprint(c); strings.Contains(s, "customers.") || strings.Contains(s, "_customers_") || strings.Contains(s, "sales.customers") {
			t.Errorf("%s names customers' members: %+v", c.Name, c)
		}
	}
	if fmt.Sprint(cubes) != "[orders products sales]" {
		t.Errorf("cubes %v", cubes)
	}
	if d := meta.Cubes[0].Measures[0].DrillMembers; fmt.Sprint(d) != "[orders.id orders.status orders.created_at]" {
		t.Errorf("drill members under the policy: %v", d)
	}
	q := `{"query":{"measures":["orders.count"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"fiscal_quarter"}]}}`
	req, _ := http.NewRequest("POST", base+"load", strings.NewReader(q))
	req.Header.Set("Authorization", limited)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ans struct {
		Annotation struct {
			Measures       map[string]map[string]any `json:"measures"`
			TimeDimensions map[string]map[string]any `json:"timeDimensions"`
		} `json:"annotation"`
	}
	if err := json.Unmarshal(b, &ans); resp.StatusCode != 200 || err != nil {
		t.Fatalf("load: %d %s", resp.StatusCode, b)
	}
	gr, _ := json.Marshal(ans.Annotation.TimeDimensions["orders.created_at.fiscal_quarter"]["granularity"])
	if string(gr) != `{"interval":"3 months","name":"fiscal_quarter","origin":"2022-02-01","title":"Fiscal Quarter"}` {
		t.Errorf("custom granularity annotation: %s", b)
	}
	if _, ok := ans.Annotation.TimeDimensions["orders.created_at"]; !ok {
		t.Errorf("a time dimension with a granularity is annotated under both keys: %s", b)
	}
	// The load's annotation names no drill member the key may not read.
	if d := fmt.Sprint(ans.Annotation.Measures["orders.count"]["drillMembers"]); d != "[orders.id orders.status orders.created_at]" {
		t.Errorf("drill members in the load's annotation under the policy: %s", d)
	}
	if ans.Annotation.Measures["orders.count"]["title"] != "Orders Count" {
		t.Errorf("measure annotation: %s", b)
	}
}
