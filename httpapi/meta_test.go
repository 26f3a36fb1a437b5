package httpapi

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cubes"
)

// Titles are Cube's: camelcase's camelCase({pascalCase: true}), then
// inflection's underscore and titleize (small words stay lower case).
func TestTitleize(t *testing.T) {
	for in, want := range map[string]string{
		"count":            "Count",
		"signed_up_at":     "Signed Up at",
		"last_order_at":    "Last Order at",
		"avg_order_value":  "Avg Order Value",
		"is_active":        "Is Active",
		"orders":           "Orders",
		"customers_name":   "Customers Name",
		"id":               "Id",
		"userId":           "User Id",
		"HTTPStatus":       "Http Status",
		"order_2023_total": "Order2023 Total",
		"share_of_the_pie": "Share of the Pie",
		"of_interest":      "Of Interest",
		"in_and_out":       "In and out",
		"x":                "X",
		"__private_thing":  "Private Thing",
		"price-per-unit":   "Price Per Unit",
		"fiscal_quarter":   "Fiscal Quarter",
	} {
		if got := Titleize(in); got != want {
			t.Errorf("Titleize(%q) = %q, want %q", in, got, want)
		}
	}
}

func loadModel(t *testing.T, yml string) *cubes.Model {
	t.Helper()
	m, err := cubes.LoadFiles(map[string][]byte{"m.yml": []byte(yml)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// connectedComponent numbers the join graph's components as Cube's
// JoinGraph does: one number per cube with joins of its own, in model
// order, skipped when that cube was reached before; a cube no join
// touches and every view have none (the field is left out).
func TestMetaConnectedComponents(t *testing.T) {
	m := loadModel(t, `cubes:
  - name: a
    sql_table: a
    joins: [{name: b, sql: "{CUBE}.b = {b}.id", relationship: many_to_one}]
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
  - name: b
    sql_table: b
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
  - name: c
    sql_table: c
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
  - name: d
    sql_table: d
    joins: [{name: a, sql: "{CUBE}.a = {a}.id", relationship: many_to_one}]
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
  - name: e
    sql_table: e
    joins: [{name: f, sql: "{CUBE}.f = {f}.id", relationship: many_to_one}]
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
  - name: f
    sql_table: f
    dimensions: [{name: id, sql: id, type: number, primary_key: true, public: true}]
views:
  - name: v
    cubes: [{join_path: a, includes: [id]}]
`)
	got := map[string]int{}
	for _, c := range metaCubes(m, nil, false) {
		got[c.Name] = c.ConnectedComponent
	}
	want := map[string]int{"a": 1, "b": 1, "c": 0, "d": 1, "e": 3, "f": 3, "v": 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("components %v, want %v", got, want)
	}
	b, _ := json.Marshal(metaCubes(m, nil, false)[2])
	if strings.Contains(string(b), "connectedComponent") {
		t.Fatalf("a cube without joins: %s", b)
	}
}

const visibilityModel = `cubes:
  - name: shown_cube
    sql_table: t
    measures:
      - {name: count, type: count, drill_members: [id, status, other.name]}
      - {name: hidden, type: count, public: false}
      - {name: shown_false_public_true, type: count, shown: false, public: true}
      - {name: old_shown, type: count, shown: false}
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true}
      - {name: status, sql: status, type: string}
      - {name: secret, sql: secret, type: string}
    joins: [{name: other, sql: "{CUBE}.o = {other}.id", relationship: many_to_one}]
  - name: other
    sql_table: o
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true, public: true}
      - {name: name, sql: name, type: string}
  - name: hidden_cube
    sql_table: h
    public: false
    measures: [{name: count, type: count}]
views:
  - name: v
    cubes:
      - join_path: shown_cube
        includes: [count, status, secret]
    folders:
      - name: All
        includes: [count, status, secret]
`

// What /v1/meta leaves out: a hidden cube (its members are all hidden),
// hidden members (public wins over shown, a primary key is hidden unless
// public), and under a security context every member the key may not
// read — in drill members and folders too — and a cube left with none.
func TestMetaVisibility(t *testing.T) {
	m := loadModel(t, visibilityModel)
	names := func(cs []cubeMeta) map[string][]string {
		out := map[string][]string{}
		for _, c := range cs {
			var ns []string
			for _, x := range c.Measures {
				ns = append(ns, x.Name)
			}
			for _, x := range c.Dimensions {
				ns = append(ns, x.Name)
			}
			out[c.Name] = ns
		}
		return out
	}
	all := metaCubes(m, nil, false)
	want := map[string][]string{
		"shown_cube": {"shown_cube.count", "shown_cube.shown_false_public_true", "shown_cube.status", "shown_cube.secret"},
		"other":      {"other.id", "other.name"},
		"v":          {"v.count", "v.status", "v.secret"},
	}
	if got := names(all); !reflect.DeepEqual(got, want) {
		t.Fatalf("visible: %v\nwant %v", got, want)
	}
	if got := all[0].Measures[0].DrillMembers; !reflect.DeepEqual(got, []string{"shown_cube.id", "shown_cube.status", "other.name"}) {
		t.Fatalf("drill members (a hidden primary key among them, as Cube lists it): %v", got)
	}
	pol, err := m.NewPolicy(func(cube, member string) bool {
		return member != "secret" && cube != "other"
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	limited := metaCubes(m, pol, false)
	want = map[string][]string{
		"shown_cube": {"shown_cube.count", "shown_cube.shown_false_public_true", "shown_cube.status"},
		"v":          {"v.count", "v.status"},
	}
	if got := names(limited); !reflect.DeepEqual(got, want) {
		t.Fatalf("under a policy: %v\nwant %v", got, want)
	}
	if got := limited[0].Measures[0].DrillMembersGrouped.Dimensions; !reflect.DeepEqual(got, []string{"shown_cube.id", "shown_cube.status"}) {
		t.Fatalf("drill members under a policy: %v", got)
	}
	if got := limited[1].Folders; !reflect.DeepEqual(got, []flatFolder{{Name: "All", Members: []string{"v.count", "v.status"}}}) {
		t.Fatalf("folders under a policy: %v", got)
	}
}

func cubeByName(t *testing.T, cs []cubeMeta, name string) cubeMeta {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cube %q", name)
	return cubeMeta{}
}

// The test copy of the oracle model (cmd/cubegate/app/testdata/cubemodel)
// through /v1/meta's fields: declared titles win, formats (a link
// object as written), meta maps as written, drill members grouped,
// cumulative rolling measures, suggestFilterValues, custom
// granularities, hierarchies, and a view's members (aliasMember, a
// declared include title, a segment's title not carried) and folders.
func TestMetaFields(t *testing.T) {
	m, err := cubes.LoadDir(filepath.Join("..", "cmd", "cubegate", "app", "testdata", "cubemodel"))
	if err != nil {
		t.Fatal(err)
	}
	cs := metaCubes(m, nil, false)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	orders := cubeByName(t, cs, "orders")
	if orders.Description != "Every order placed, one row each" || js(orders.Meta) != `{"owner":"sales-analytics","tags":["fact","orders"]}` {
		t.Errorf("orders: %q %s", orders.Description, js(orders.Meta))
	}
	ms := map[string]measureMeta{}
	for _, x := range orders.Measures {
		ms[x.Name] = x
	}
	if _, ok := ms["orders.internal_amount"]; ok {
		t.Error("a public: false measure is listed")
	}
	c := ms["orders.count"]
	if js(c.DrillMembers) != `["orders.id","orders.status","orders.created_at","customers.name"]` ||
		js(c.DrillMembersGrouped) != `{"measures":[],"dimensions":["orders.id","orders.status","orders.created_at","customers.name"]}` {
		t.Errorf("drill members: %s %s", js(c.DrillMembers), js(c.DrillMembersGrouped))
	}
	if x := ms["orders.avg_order_value"]; x.Title != "Orders AOV" || x.ShortTitle != "AOV" || x.Format != "currency" || x.AggType != "number" {
		t.Errorf("declared title: %s", js(x))
	}
	if x := ms["orders.running_total"]; !x.Cumulative || !x.CumulativeTotal || x.AggType != "sum" || x.Title != "Orders Running Total Amount" {
		t.Errorf("rolling: %s", js(x))
	}
	if x := ms["orders.unique_customers"]; x.AggType != "countDistinct" || x.Type != "number" {
		t.Errorf("count_distinct: %s", js(x))
	}
	if x := ms["orders.total_amount"]; x.Description != "Sum of order amounts" || js(x.Meta) != `{"unit":"USD"}` || x.Format != "currency" {
		t.Errorf("total_amount: %s", js(x))
	}
	ds := map[string]dimensionMeta{}
	for _, x := range orders.Dimensions {
		ds[x.Name] = x
	}
	if _, ok := ds["orders.customer_id"]; ok {
		t.Error("a shown: false dimension is listed")
	}
	if x := ds["orders.id"]; x.Format != "id" || !x.PrimaryKey || !x.IsVisible {
		t.Errorf("id: %s", js(x))
	}
	if x := ds["orders.order_link"]; js(x.Format) != `{"label":"Open order","type":"link"}` {
		t.Errorf("link format: %s", js(x))
	}
	if x := ds["orders.discount"]; x.SuggestFilterValues {
		t.Errorf("suggest_filter_values: false: %s", js(x))
	}
	if x := ds["orders.is_gift"]; x.Title != "Orders Gift?" || x.ShortTitle != "Gift?" {
		t.Errorf("declared dimension title: %s", js(x))
	}
	if x := ds["orders.created_at"]; js(x.Granularities) != `[{"name":"fiscal_quarter","title":"Fiscal Quarter","interval":"3 months","origin":"2022-02-01"},{"name":"fortnight","title":"Fortnight","interval":"2 weeks"}]` || x.Title != "Orders Created at" {
		t.Errorf("granularities: %s", js(x))
	}
	if x := ds["orders.status"]; js(x.Meta) != `{"values":["completed","shipped","processing","cancelled","returned"]}` {
		t.Errorf("dimension meta: %s", js(x))
	}
	if js(orders.Segments[1]) != `{"name":"orders.large_orders","title":"Orders Large (500+)","shortTitle":"Large (500+)","description":"Orders of 500 or more","isVisible":true,"public":true}` {
		t.Errorf("segment: %s", js(orders.Segments[1]))
	}
	customers := cubeByName(t, cs, "customers")
	if js(customers.Hierarchies) != `[{"name":"customers.location","title":"Where they live","levels":["customers.country","customers.city"],"public":true}]` {
		t.Errorf("hierarchies: %s", js(customers.Hierarchies))
	}
	if x := customers.Dimensions[0]; x.Name != "customers.id" || x.Title != "Customers Id" {
		t.Errorf("customers.id: %s", js(x))
	}
	sales := cubeByName(t, cs, "sales")
	if sales.Type != "view" || sales.ConnectedComponent != 0 || sales.Description != "Orders with their customer and product" {
		t.Errorf("view: %s", js(sales))
	}
	vm := map[string]measureMeta{}
	for _, x := range sales.Measures {
		vm[x.Name] = x
	}
	if x := vm["sales.aov"]; x.Title != "Sales Average Order Value" || x.AliasMember != "orders.avg_order_value" || x.Format != "currency" {
		t.Errorf("a view member with a declared title: %s", js(x))
	}
	if x := vm["sales.count"]; len(x.DrillMembers) != 0 || x.AliasMember != "orders.count" || x.Title != "Sales Count" {
		t.Errorf("a view measure (drill members stay on the cube): %s", js(x))
	}
	if js(sales.Folders) != `[{"name":"Orders","members":["sales.count","sales.total_amount","sales.avg_amount","sales.aov","sales.status","sales.created_at"]},{"name":"Customer","members":["sales.customers_name","sales.customers_city","sales.customers_tier"]},{"name":"Product","members":["sales.products_category"]}]` {
		t.Errorf("folders: %s", js(sales.Folders))
	}
	if js(sales.NestedFolders[1]) != `{"name":"Customer","members":["sales.customers_name",{"name":"Location","members":["sales.customers_city"]},"sales.customers_tier"]}` {
		t.Errorf("nested folders: %s", js(sales.NestedFolders))
	}
}

// The annotation of a /load answer, as Cube's prepareAnnotation: a time
// dimension with a granularity under both keys (the granularity named,
// predefined or custom), under one when the query lists the dimension
// too; a segment has no type; measures carry their drill members.
func TestAnnotation(t *testing.T) {
	m, err := cubes.LoadDir(filepath.Join("..", "cmd", "cubegate", "app", "testdata", "cubemodel"))
	if err != nil {
		t.Fatal(err)
	}
	q := &cubes.Query{Measures: []string{"orders.count"}, Dimensions: []string{"orders.shipped_at"}, Segments: []string{"orders.completed"},
		TimeDimensions: []cubes.TimeDimension{{Dimension: "orders.created_at", Granularity: "fiscal_quarter"}, {Dimension: "orders.shipped_at", Granularity: "month"}}}
	b, _ := json.Marshal(annotationFor(m, q, nil))
	want := `{"dimensions":{"orders.shipped_at":{"shortTitle":"Shipped at","title":"Orders Shipped at","type":"time"}},` +
		`"measures":{"orders.count":{"drillMembers":["orders.id","orders.status","orders.created_at","customers.name"],"drillMembersGrouped":{"measures":[],"dimensions":["orders.id","orders.status","orders.created_at","customers.name"]},"shortTitle":"Count","title":"Orders Count","type":"number"}},` +
		`"segments":{"orders.completed":{"shortTitle":"Completed","title":"Orders Completed"}},` +
		`"timeDimensions":{"orders.created_at":{"shortTitle":"Created at","title":"Orders Created at","type":"time"},` +
		`"orders.created_at.fiscal_quarter":{"granularity":{"name":"fiscal_quarter","title":"Fiscal Quarter","interval":"3 months","origin":"2022-02-01"},"shortTitle":"Created at","title":"Orders Created at","type":"time"},` +
		`"orders.shipped_at.month":{"granularity":{"name":"month","title":"month","interval":"1 month"},"shortTitle":"Shipped at","title":"Orders Shipped at","type":"time"}}}`
	if string(b) != want {
		t.Fatalf("annotation\n got %s\nwant %s", b, want)
	}
}

// extended=true adds the model's SQL, so it needs the sql scope (as
// EXPLAIN's SQL does): 403 ACCESS_DENIED_PERMISSIONS without it;
// onlyViews=true lists views only.
func TestMetaExtendedAndOnlyViews(t *testing.T) {
	f := newRESTFixture(t)
	meta, metaSQL := f.key("meta"), f.key("meta", "sql")
	status, _, body := f.do("GET", "/cubejs-api/v1/meta?extended=true", meta, "", "")
	if status != http.StatusForbidden || !strings.Contains(body, "ACCESS_DENIED_PERMISSIONS") {
		t.Fatalf("extended without sql: %d %s", status, body)
	}
	status, _, body = f.do("GET", "/cubejs-api/v1/meta?extended", metaSQL, "", "")
	var ans struct {
		Cubes []struct {
			Name, SQL, FileName string
			Measures            []struct{ Name, SQL string }
			Dimensions          []struct{ Name, SQL string }
		}
	}
	if err := json.Unmarshal([]byte(body), &ans); status != 200 || err != nil || len(ans.Cubes) != 1 {
		t.Fatalf("extended: %d %s", status, body)
	}
	c := ans.Cubes[0]
	if c.SQL != "SELECT * FROM main.orders" || c.FileName != "orders.yml" || c.Measures[1].SQL != "amount" || c.Dimensions[0].SQL != "status" {
		t.Fatalf("extended fields: %s", body)
	}
	status, _, body = f.do("GET", "/cubejs-api/v1/meta?onlyViews=true", meta, "", "")
	if status != 200 || strings.TrimSpace(body) != `{"cubes":[]}` {
		t.Fatalf("onlyViews: %d %s", status, body)
	}
	status, _, body = f.do("GET", "/cubejs-api/v1/meta", meta, "", "")
	if status != 200 || strings.Contains(body, `"sql"`) || !strings.Contains(body, `"title":"Orders Total"`) {
		t.Fatalf("plain meta: %d %s", status, body)
	}
}

// Under a key's policy the annotation names no drill member the key may
// not read.
func TestAnnotationUnderPolicy(t *testing.T) {
	m, err := cubes.LoadDir(filepath.Join("..", "cmd", "cubegate", "app", "testdata", "cubemodel"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := m.NewPolicy(func(cube, member string) bool { return cube != "customers" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := annotationFor(m, &cubes.Query{Measures: []string{"orders.count"}}, pol)
	b, _ := json.Marshal(a["measures"])
	if strings.Contains(string(b), "customers.") || !strings.Contains(string(b), `"drillMembers":["orders.id","orders.status","orders.created_at"]`) {
		t.Fatalf("annotation under a policy: %s", b)
	}
}
