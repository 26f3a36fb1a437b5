package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/cubes"
)

func mustQueries(t *testing.T, raw string) ([]cubes.Query, []querySide, bool) {
	t.Helper()
	raw = strings.TrimSpace(raw)
	var qs []cubes.Query
	array := strings.HasPrefix(raw, "[")
	if array {
		if err := json.Unmarshal([]byte(raw), &qs); err != nil {
			t.Fatal(err)
		}
	} else {
		qs = make([]cubes.Query, 1)
		if err := json.Unmarshal([]byte(raw), &qs[0]); err != nil {
			t.Fatal(err)
		}
	}
	return qs, make([]querySide, len(qs)), array
}

func normalized(t *testing.T, raw, clientType string) (*cubeRequest, error) {
	t.Helper()
	qs, sides, array := mustQueries(t, raw)
	return normalizeRequest(qs, sides, array, clientType, time.Date(2024, 3, 13, 12, 0, 0, 0, time.UTC))
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A query normalized as Cube's normalizeQuery: member.granularity
// dimensions moved to timeDimensions (after the query's own), date ranges
// resolved, filters keyed member at every depth, timezone UTC by
// default; the echo keeps dimensions/timeDimensions/filters as arrays and
// the order only as sent.
func TestNormalizeQuery(t *testing.T) {
	req, err := normalized(t, `{"measures":["orders.count"],"dimensions":["orders.status","orders.created_at.month"],
		"timeDimensions":[{"dimension":"orders.shipped_at","dateRange":"last week"}],
		"filters":[{"dimension":"orders.status","operator":"equals","values":["a"]},{"and":[{"dimension":"orders.id","operator":"gt","values":["1"]}]}]}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if req.queryType != regularQuery || len(req.queries) != 1 {
		t.Fatalf("%+v", req)
	}
	cq := req.queries[0]
	cq.q.Limit = new(int64(10000))
	e := cq.echo()
	for k, want := range map[string]string{
		"dimensions": `["orders.status"]`,
		"filters":    `[{"member":"orders.status","operator":"equals","values":["a"]},{"and":[{"member":"orders.id","operator":"gt","values":["1"]}]}]`,
		"timezone":   `"UTC"`,
		"rowLimit":   `10000`,
		"order":      `null`,
		"segments":   `null`,
	} {
		var m map[string]any
		json.Unmarshal([]byte(asJSON(e)), &m)
		if got := asJSON(m[k]); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
	if got := asJSON(e.TimeDimensions); got != `[{"dimension":"orders.shipped_at","dateRange":["2024-03-04T00:00:00.000","2024-03-10T23:59:59.999"]},{"dimension":"orders.created_at","granularity":"month"}]` {
		t.Errorf("timeDimensions %s", got)
	}
	// The compiled query orders as Cube does by default.
	if got := asJSON(orderObject(cq.q.Order)); got != `{"orders.created_at":"asc"}` {
		t.Errorf("default order %s", got)
	}
	// An empty query still has its arrays; an empty order is echoed as
	// sent, and orders by default.
	req, _ = normalized(t, `{"measures":["orders.count"],"dimensions":["orders.status"],"order":[]}`, "")
	if e := asJSON(req.queries[0].echo()); !strings.Contains(e, `"timeDimensions":[]`) || !strings.Contains(e, `"filters":[]`) || !strings.Contains(e, `"order":[]`) {
		t.Errorf("echo %s", e)
	}
	if got := asJSON(orderObject(req.queries[0].q.Order)); got != `{"orders.count":"desc"}` {
		t.Errorf("empty order: %s", got)
	}
	if _, err := normalized(t, `{"measures":["orders.count"],"timezone":"Mars/Olympus"}`, ""); err == nil {
		t.Error("unknown time zone accepted")
	}
}

// Cube's default order: the first time dimension with a granularity
// ascending, else the first measure descending when there are dimensions,
// else the first dimension ascending, else none.
func TestDefaultOrder(t *testing.T) {
	for q, want := range map[string]string{
		`{"measures":["m.a"],"dimensions":["m.d"],"timeDimensions":[{"dimension":"m.t"},{"dimension":"m.u","granularity":"day"}]}`: `{"m.u":"asc"}`,
		`{"measures":["m.a","m.b"],"dimensions":["m.d"]}`:                                                                          `{"m.a":"desc"}`,
		`{"dimensions":["m.d","m.e"]}`:                   `{"m.d":"asc"}`,
		`{"measures":["m.a"]}`:                           `{}`,
		`{"measures":["m.a"],"dimensions":["m.t.year"]}`: `{"m.t":"asc"}`,
		`{"measures":["m.a"],"order":{"m.a":"asc"}}`:     `{"m.a":"asc"}`,
	} {
		req, err := normalized(t, q, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := asJSON(orderObject(req.queries[0].q.Order)); got != want {
			t.Errorf("%s: %s, want %s", q, got, want)
		}
	}
}

// compareDateRange: one query per range (strings resolved, pairs
// normalized), each without compareDateRange; only one time dimension
// may have it, not with dateRange, not in an array.
func TestCompareDateRangeRequest(t *testing.T) {
	req, err := normalized(t, `{"measures":["m.a"],"dimensions":["m.d"],"timeDimensions":[{"dimension":"m.t","granularity":"day","compareDateRange":["this week",["2024-01-01","2024-01-07"]]}]}`, "multi")
	if err != nil || req.queryType != compareDateRangeQuery || len(req.queries) != 2 {
		t.Fatalf("%v %+v", err, req)
	}
	if got := req.queries[0].compareRange; got != "2024-03-11T00:00:00.000 - 2024-03-17T23:59:59.999" {
		t.Errorf("first range %q", got)
	}
	if got := asJSON(req.queries[1].echo().TimeDimensions); got != `[{"dimension":"m.t","dateRange":["2024-01-01T00:00:00.000","2024-01-07T23:59:59.999"],"granularity":"day"}]` {
		t.Errorf("second query %s", got)
	}
	if p := asJSON(req.pivotQuery()); !strings.Contains(p, `"dimensions":["compareDateRange","m.d"]`) || !strings.Contains(p, `"queryType":"compareDateRangeQuery"`) {
		t.Errorf("pivotQuery %s", p)
	}
	for _, bad := range []string{
		`{"measures":["m.a"],"timeDimensions":[{"dimension":"m.t","compareDateRange":["today"]},{"dimension":"m.u","compareDateRange":["today"]}]}`,
		`{"measures":["m.a"],"timeDimensions":[{"dimension":"m.t","dateRange":"today","compareDateRange":["today"]}]}`,
		`{"measures":["m.a"],"timeDimensions":[{"dimension":"m.t","compareDateRange":[]}]}`,
		`{"measures":["m.a"],"timeDimensions":[{"dimension":"m.t","compareDateRange":["someday"]}]}`,
		`[{"measures":["m.a"],"timeDimensions":[{"dimension":"m.t","granularity":"day","compareDateRange":["today","yesterday"]}]}]`,
	} {
		var se *statusError
		if _, err := normalized(t, bad, "multi"); !errors.As(err, &se) || se.status != http.StatusBadRequest {
			t.Errorf("%s: %v, want a 400", bad, err)
		}
	}
}

// Blending: the first time dimension of every query at one granularity,
// rows then carry time.<granularity>; the pivot query merges measures
// and dimensions.
func TestBlendingRequest(t *testing.T) {
	req, err := normalized(t, `[{"measures":["a.x"],"dimensions":["a.d"],"timeDimensions":[{"dimension":"a.t","granularity":"month"}]},{"measures":["b.y","a.x"],"dimensions":["b.t.month"]}]`, "multi")
	if err != nil || req.queryType != blendingQuery {
		t.Fatalf("%v %+v", err, req)
	}
	if err := req.checkBlending(); err != nil {
		t.Fatal(err)
	}
	if req.queries[0].blendKey != "time.month" || req.queries[1].blendKey != "time.month" {
		t.Errorf("blend keys %q %q", req.queries[0].blendKey, req.queries[1].blendKey)
	}
	p := req.pivotQuery()
	if asJSON(p.Measures) != `["a.x","b.y"]` || asJSON(p.Dimensions) != `["a.d"]` || asJSON(p.TimeDimensions) != `[{"dimension":"time","granularity":"month"}]` || p.QueryType != blendingQuery {
		t.Errorf("pivotQuery %s", asJSON(p))
	}
	for _, bad := range []string{
		`[{"measures":["a.x"],"timeDimensions":[{"dimension":"a.t","granularity":"month"}]},{"measures":["b.y"],"timeDimensions":[{"dimension":"b.t","granularity":"day"}]}]`,
		`[{"measures":["a.x"]},{"measures":["b.y"]}]`,
	} {
		req, err := normalized(t, bad, "multi")
		if err != nil {
			t.Fatal(err)
		}
		if err := req.checkBlending(); err == nil {
			t.Errorf("%s blended", bad)
		}
	}
}

// Filter values Cube takes as numbers and booleans are read as text; a
// query sent as a JSON string is read too.
func TestLenientQueries(t *testing.T) {
	qs, array, err := lenientQueries(json.RawMessage(`{"measures":["m.a"],"filters":[{"member":"m.n","operator":"equals","values":[3, 2.5, true]},{"or":[{"member":"m.b","operator":"equals","values":[false]}]}]}`))
	if err != nil || array || asJSON(qs[0].Filters) != `[{"member":"m.n","operator":"equals","values":["3","2.5","true"]},{"or":[{"member":"m.b","operator":"equals","values":["false"]}]}]` {
		t.Errorf("%v %v %s", err, array, asJSON(qs))
	}
	if _, _, err := lenientQueries(json.RawMessage(`{"measures":["m.a"],"filters":[{"member":"m.n","operator":"equals","values":[{"x":1}]}]}`)); err == nil {
		t.Error("an object as a filter value accepted")
	}
}

// rowsModel is one cube o with a count n, a key id and a time t.
func rowsModel(t *testing.T) *cubes.Model {
	t.Helper()
	m, err := cubes.LoadFiles(map[string][]byte{"m.yml": []byte(`cubes:
  - name: o
    sql_table: t
    measures:
      - name: n
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: t
        sql: t
        type: time
`)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Rows keyed as Cube keys them: a granular time dimension also under its
// bare name, the finest when there are several, not when the dimension
// itself is asked for; a compareDateRange part's range and a blending
// part's time axis on every row.
func TestRowPlan(t *testing.T) {
	m := rowsModel(t)
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, c := range []struct {
		query, clientType string
		vals              []any
		want              string
	}{
		{`{"measures":["o.n"],"dimensions":["o.t.year","o.t.month"]}`, "", []any{ts, ts, int64(3)},
			`{"o.t.year":"2024-05-06T07:08:09.000","o.t.month":"2024-05-06T07:08:09.000","o.t":"2024-05-06T07:08:09.000","o.n":"3"}`},
		{`{"dimensions":["o.t","o.t.day"]}`, "", []any{ts, ts},
			`{"o.t":"2024-05-06T07:08:09.000","o.t.day":"2024-05-06T07:08:09.000"}`},
		{`{"measures":["o.n"],"timeDimensions":[{"dimension":"o.t","granularity":"day","compareDateRange":[["2024-01-01","2024-01-31"]]}]}`, "multi", []any{ts, int64(3)},
			`{"o.t.day":"2024-05-06T07:08:09.000","o.t":"2024-05-06T07:08:09.000","o.n":"3","compareDateRange":"2024-01-01T00:00:00.000 - 2024-01-31T23:59:59.999"}`},
		{`[{"measures":["o.n"],"timeDimensions":[{"dimension":"o.t","granularity":"week"}]}]`, "multi", []any{ts, int64(3)},
			`{"o.t.week":"2024-05-06T07:08:09.000","o.t":"2024-05-06T07:08:09.000","o.n":"3","time.week":"2024-05-06T07:08:09.000"}`},
	} {
		req, err := normalized(t, c.query, c.clientType)
		if err == nil && c.clientType != "" {
			err = req.checkBlending()
		}
		if err != nil {
			t.Fatal(err)
		}
		cq := req.queries[0]
		if cq.c, err = m.Compile(&cq.q, cubes.DuckDB{}); err != nil {
			t.Fatal(err)
		}
		if got := string(newRowPlan(cq).appendRow(nil, c.vals)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.query, got, c.want)
		}
	}
}

// A query that fails once its rows are on the way (the status is sent)
// still answers whole JSON, its error in "error": one query, queryType
// multi, an array without queryType, the compact format.
func TestRESTErrorsKeepJSONWhole(t *testing.T) {
	f := newServiceFixture(t)
	key := f.key("load")
	q := `{"measures":["orders.count"],"dimensions":["orders.status"]}`
	for _, c := range []struct{ name, body string }{
		{"one query", `{"query":` + q + `}`},
		{"multi", `{"query":` + q + `,"queryType":"multi"}`},
		{"array", `{"query":[` + q + `,` + q + `]}`},
		{"compact", `{"query":{"measures":["orders.count"],"dimensions":["orders.status"],"responseFormat":"compact"},"queryType":"multi"}`},
	} {
		f.svc.rows, f.svc.rowErr = [][]any{{"open", int64(1)}, {"paid", int64(2)}}, errors.New("the warehouse failed on the way")
		status, _, body := f.do("POST", "/cubejs-api/v1/load", key, c.body, "")
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil || status != http.StatusOK || !strings.Contains(asJSON(v), "failed on the way") {
			t.Errorf("%s: %d %v %s", c.name, status, err, body)
		}
	}
}

// Cube's compact format: the members once (columns, bare time keys, the
// compareDateRange), each row an array in their order.
func TestCompactRows(t *testing.T) {
	m := rowsModel(t)
	req, err := normalized(t, `{"measures":["o.n"],"timeDimensions":[{"dimension":"o.t","granularity":"day","compareDateRange":[["2024-01-01","2024-01-31"]]}]}`, "multi")
	if err != nil {
		t.Fatal(err)
	}
	cq := req.queries[0]
	if cq.c, err = m.Compile(&cq.q, cubes.DuckDB{}); err != nil {
		t.Fatal(err)
	}
	p := newRowPlan(cq)
	ts := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	if got := asJSON(p.members()); got != `["o.t.day","o.n","o.t","compareDateRange"]` {
		t.Errorf("members %s", got)
	}
	if got := string(p.appendCompact(nil, []any{ts, int64(4)})); got != `["2024-01-02T00:00:00.000","4","2024-01-02T00:00:00.000","2024-01-01T00:00:00.000 - 2024-01-31T23:59:59.999"]` {
		t.Errorf("row %s", got)
	}
}

// Over HTTP: a query sent as a JSON string, filter values sent as
// numbers, the POST body's queryType, GET's queryType parameter.
func TestRESTLenientRequests(t *testing.T) {
	f := newRESTFixture(t)
	key := f.key("load")
	q := `{"measures":["orders.count"],"filters":[{"member":"orders.id","operator":"lte","values":[2]}]}`
	quoted, _ := json.Marshal(q)
	for name, c := range map[string]struct{ method, path, body string }{
		"POST, values as numbers":     {"POST", "/cubejs-api/v1/load", `{"query":` + q + `,"queryType":"multi"}`},
		"POST, the query as a string": {"POST", "/cubejs-api/v1/load", `{"query":` + string(quoted) + `,"queryType":"multi"}`},
		"GET, values as numbers":      {"GET", "/cubejs-api/v1/load?queryType=multi&query=" + url.QueryEscape(q), ""},
	} {
		status, _, body := f.do(c.method, c.path, key, c.body, "")
		var v map[string]any
		json.Unmarshal([]byte(body), &v)
		res, _ := v["results"].([]any)
		if status != http.StatusOK || v["queryType"] != regularQuery || len(res) != 1 || !strings.Contains(body, `"orders.count":"2"`) || !strings.Contains(body, `"values":["2"]`) {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	// What is not a query still is a 400.
	if status, _, body := f.do("POST", "/cubejs-api/v1/load", key, `{"query":"not a query"}`, ""); status != http.StatusBadRequest {
		t.Errorf("a string that is no query: %d %s", status, body)
	}
}
