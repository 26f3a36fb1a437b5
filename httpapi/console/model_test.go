package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/query"
)

// exploreModel is a small model: a fact cube joined to two dimension
// cubes and to a hidden one, a hidden member, a view, and a description
// carrying an XSS payload.
const exploreModel = `
cubes:
  - name: orders
    sql_table: public.orders
    description: "Every order <img src=x onerror=alert(1)>"
    joins:
      - name: customers
        sql: "{CUBE}.customer_id = {customers}.id"
        relationship: many_to_one
      - name: products
        sql: "{CUBE}.product_id = {products}.id"
        relationship: many_to_one
      - name: internal
        sql: "{CUBE}.id = {internal}.id"
        relationship: one_to_one
    measures:
      - name: count
        type: count
        title: "Order count <script>alert(2)</script>"
      - name: total
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
      - name: created_at
        sql: created_at
        type: time
    segments:
      - name: big
        sql: "{CUBE}.amount > 100"
  - name: customers
    sql_table: public.customers
    measures:
      - name: count
        type: count
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: city
        sql: city
        type: string
      - name: secret
        sql: ssn
        type: string
        public: false
  - name: products
    sql_table: public.products
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: category
        sql: category
        type: string
  - name: internal
    sql_table: public.internal
    public: false
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
views:
  - name: sales
    cubes:
      - join_path: orders
        includes: [count, status]
      - join_path: orders.customers
        prefix: true
        includes: [city]
`

func loadExploreModel(t *testing.T) *cubes.Model {
	t.Helper()
	m, err := cubes.LoadFiles(map[string][]byte{"m.yml": []byte(exploreModel)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeExplorer answers as the gateway would, from canned answers, and
// records who asked what.
type fakeExplorer struct {
	m    *cubes.Model
	rest func(path string, body []byte) (int, []byte)
	sql  func(sql string, max int) (*SQLResult, error)

	mu    sync.Mutex
	calls []string
	who   []query.Principal
}

func (f *fakeExplorer) Model(ctx context.Context, p query.Principal, source string) (*cubes.Model, *cubes.Policy, error) {
	pol, err := p.Security.Policy(f.m)
	return f.m, pol, err
}

func (f *fakeExplorer) REST(ctx context.Context, p query.Principal, source, path string, body []byte) (int, []byte) {
	f.mu.Lock()
	f.calls, f.who = append(f.calls, path+" "+string(body)), append(f.who, p)
	f.mu.Unlock()
	return f.rest(path, body)
}

func (f *fakeExplorer) SQL(ctx context.Context, p query.Principal, source, sql string, max int) (*SQLResult, error) {
	f.mu.Lock()
	f.calls, f.who = append(f.calls, "SQL "+sql), append(f.who, p)
	f.mu.Unlock()
	return f.sql(sql, max)
}

// xBrowser is a signed-in browser of a console under test.
type xBrowser struct {
	t    *testing.T
	srv  *httptest.Server
	hc   *http.Client
	csrf string
}

var xCSRF = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]*)">`)

func newXBrowser(t *testing.T, srv *httptest.Server, key string) *xBrowser {
	hc, _ := signIn(t, srv, key, nil)
	b := &xBrowser{t: t, srv: srv, hc: hc}
	b.get("/console/status")
	return b
}

func (b *xBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := xCSRF.FindSubmatch(body); m != nil && len(m[1]) > 0 {
		b.csrf = string(m[1])
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != CSP {
		b.t.Errorf("%s %s: CSP %q", req.Method, req.URL.Path, got)
	}
	return resp, string(body)
}

func (b *xBrowser) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	return b.do(req)
}

func (b *xBrowser) post(path string, form url.Values) (*http.Response, string) {
	form.Set("csrf_token", b.csrf)
	req, _ := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.srv.URL)
	return b.do(req)
}

// TestExplore: what the explorer lists for an unrestricted principal, an
// admin (hidden members marked) and a restricted one, and the join
// diagram laid out from it.
func TestExplore(t *testing.T) {
	m := loadExploreModel(t)
	names := func(cs []cubeView) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
			for _, x := range append(append(c.Measures, c.Dimensions...), c.Segments...) {
				out = append(out, x.Full)
			}
		}
		return out
	}
	plain := explore(m, nil, false, false)
	got := names(plain)
	for _, want := range []string{"orders", "orders.count", "orders.big", "customers.city", "sales", "sales.count", "sales.customers_city"} {
		if !slices.Contains(got, want) {
			t.Errorf("the explorer lacks %s: %v", want, got)
		}
	}
	for _, hidden := range []string{"customers.secret", "internal", "internal.id"} {
		if slices.Contains(got, hidden) {
			t.Errorf("the explorer shows hidden %s to a non-admin", hidden)
		}
	}
	if j := plain[0].Joins; len(j) != 2 || j[0].Name != "customers" || j[1].Name != "products" || j[0].SQL != "" {
		t.Errorf("orders' joins %+v (none to the hidden cube, no SQL without the sql scope)", j)
	}
	admin := names(explore(m, nil, true, true))
	if !slices.Contains(admin, "customers.secret") || !slices.Contains(admin, "internal.id") {
		t.Errorf("an admin does not see the hidden members: %v", admin)
	}
	sc := auth.SecurityContext{Allow: []string{"orders.count", "orders.status"}}
	pol, err := sc.Policy(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(explore(m, pol, false, false)); strings.Join(got, " ") != "orders orders.count orders.status" {
		t.Errorf("a restricted principal sees %v", got)
	}

	d := joinDiagram(plain)
	svg := string(d.SVG())
	checkXML(t, svg)
	pos := map[string]diagramNode{}
	for _, n := range d.Nodes {
		pos[n.Name] = n
	}
	if len(d.Nodes) != 4 || pos["sales"].Kind != "view" || !(pos["sales"].Y < pos["orders"].Y && pos["orders"].Y < pos["customers"].Y && pos["customers"].Y == pos["products"].Y) {
		t.Errorf("layout %+v: the view above the fact cube above its dimensions", d.Nodes)
	}
	var edges []string
	for _, e := range d.Edges {
		edges = append(edges, e.From+">"+e.To+":"+e.Relationship)
	}
	if strings.Join(edges, " ") != "orders>customers:many_to_one orders>products:many_to_one sales>orders: sales>customers:" {
		t.Errorf("edges %v", edges)
	}
	for _, want := range []string{`data-node="orders"`, `data-from="orders" data-to="customers"`, `href="#cube-orders"`, `<title id="diagram-title">Join graph</title>`, "many_to_one", "includes"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the diagram lacks %s", want)
		}
	}
	if strings.Contains(svg, "internal") {
		t.Error("the diagram shows the hidden cube")
	}
}

// TestModelPage renders the explorer: descriptions and titles escaped,
// hidden members for an admin only, nothing the security context hides.
func TestModelPage(t *testing.T) {
	x := &fakeExplorer{m: loadExploreModel(t)}
	f := newFixture(t, func(c *Config) { c.Explore = x })
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	ctx := context.Background()

	resp, body := newXBrowser(t, srv, f.admin.KeyValue).get("/console/model")
	if resp.StatusCode != 200 {
		t.Fatalf("model page: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`id="join-diagram"`, `data-cube="orders"`, `data-member="customers.secret" data-public="false"`, `Every order &lt;img src=x onerror=alert(1)&gt;`,
		`Order count &lt;script&gt;alert(2)&lt;/script&gt;`, `<code>{CUBE}.customer_id = {customers}.id</code>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the admin's model page lacks %s", want)
		}
	}
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>alert") {
		t.Error("an XSS payload is rendered as markup")
	}

	reader, err := f.keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"meta", "load"}})
	if err != nil {
		t.Fatal(err)
	}
	_, body = newXBrowser(t, srv, reader.KeyValue).get("/console/model")
	if strings.Contains(body, "customers.secret") || strings.Contains(body, `data-cube="internal"`) || strings.Contains(body, "{CUBE}.customer_id") {
		t.Error("a non-admin key sees hidden members or the model's SQL")
	}
	if !strings.Contains(body, `data-member="customers.city"`) {
		t.Error("a non-admin key does not see public members")
	}

	restricted, err := f.keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"admin"},
		Security: &auth.SecurityContext{Allow: []string{"orders.count", "orders.status"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, body = newXBrowser(t, srv, restricted.KeyValue).get("/console/model")
	members := regexp.MustCompile(`data-member="([^"]+)"`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range members {
		got = append(got, m[1])
	}
	if strings.Join(got, " ") != "orders.count orders.status" || !strings.Contains(body, `id="model-restricted"`) {
		t.Errorf("a restricted admin key sees %v", got)
	}

	noMeta, err := f.keys.Create(ctx, auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"keys:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := newXBrowser(t, srv, noMeta.KeyValue).get("/console/model"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a key without meta: %d", resp.StatusCode)
	}
}

// TestPlayground runs the builder, its JSON and the SQL box against a
// fake gateway: the request sent, the table (exact decimals, NULL, the
// rows past the page size counted), the chart, the warehouse SQL, and
// errors with their SQLSTATE or status.
func TestPlayground(t *testing.T) {
	var loads []string
	x := &fakeExplorer{m: loadExploreModel(t)}
	x.rest = func(path string, body []byte) (int, []byte) {
		switch path {
		case "/cubejs-api/v1/load":
			loads = append(loads, string(body))
			if strings.Contains(string(body), "products.category") {
				return 403, []byte(`{"error":"this key may not read products.category"}`)
			}
			return 200, []byte(`{"query":{},"data":{"members":["orders.created_at.month","orders.status","orders.total","orders.created_at"],"dataset":[
				["2024-01-01T00:00:00.000","completed","12345678901234567890.123","2024-01-01T00:00:00.000"],
				["2024-01-01T00:00:00.000","shipped",null,"2024-01-01T00:00:00.000"],
				["2024-02-01T00:00:00.000","completed","5.50","2024-02-01T00:00:00.000"]]},
				"annotation":{"measures":{"orders.total":{"title":"Orders Total","type":"number"}},"dimensions":{"orders.status":{"title":"Orders Status <b>","type":"string"}},
				"segments":{},"timeDimensions":{"orders.created_at.month":{"title":"Orders Created at","type":"time"},"orders.created_at":{"title":"Orders Created at","type":"time"}}},
				"rowLimit":{"limit":3,"default":false,"truncated":false}}`)
		case "/cubejs-api/v1/sql":
			return 200, []byte(`{"sql":{"sql":["SELECT status FROM public.orders WHERE status = $1",["a'b"]]}}`)
		}
		return 404, []byte(`{"error":"no"}`)
	}
	x.sql = func(sql string, max int) (*SQLResult, error) {
		switch {
		case strings.HasPrefix(sql, "EXPLAIN "):
			return &SQLResult{Columns: []SQLColumn{{Name: "QUERY PLAN", Type: "text", OID: 25}}, Rows: [][]*string{{strp("Cube query")}, {strp("  SELECT 1")}}}, nil
		case strings.Contains(sql, "nope"):
			return nil, pgerr.New(pgerrcode.UndefinedTable, `relation "nope" does not exist`)
		}
		rows := [][]*string{{strp("a"), strp("99999999999999999999.99")}, {strp("b"), nil}}
		return &SQLResult{Columns: []SQLColumn{{Name: "status", Type: "text", OID: 25}, {Name: "n", Type: "numeric", OID: 1700}}, Rows: rows[:min(max, 2)], More: int64(2 - min(max, 2) + 5)}, nil
	}
	f := newFixture(t, func(c *Config) { c.Explore = x })
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	b := newXBrowser(t, srv, f.admin.KeyValue)
	resp, body := b.get("/console/playground")
	if resp.StatusCode != 200 || !strings.Contains(body, `<option value="orders.count">`) || !strings.Contains(body, `id="run-sql"`) {
		t.Fatalf("playground: %d\n%s", resp.StatusCode, body)
	}

	t.Run("builder", func(t *testing.T) {
		resp, body := b.post("/console/playground", url.Values{"run": {"builder"}, "measures": {"orders.total"}, "dimensions": {"orders.status"},
			"time_dimension": {"orders.created_at"}, "granularity": {"month"}, "date_from": {"2024-01-01"}, "date_to": {"2024-12-31"},
			"filter_member_0": {"orders.status"}, "filter_op_0": {"equals"}, "filter_values_0": {"completed, shipped"},
			"order_member_0": {"orders.created_at"}, "order_dir_0": {"desc"}, "limit": {"3"}, "page_size": {"50"}})
		if resp.StatusCode != 200 {
			t.Fatalf("builder: %d\n%s", resp.StatusCode, body)
		}
		var sent struct {
			Query map[string]any `json:"query"`
		}
		if err := json.Unmarshal([]byte(loads[len(loads)-1]), &sent); err != nil {
			t.Fatal(err)
		}
		q, _ := json.Marshal(sent.Query)
		if want := `{"dimensions":["orders.status"],"filters":[{"member":"orders.status","operator":"equals","values":["completed","shipped"]}],"limit":3,"measures":["orders.total"],"order":[["orders.created_at","desc"]],"responseFormat":"compact","timeDimensions":[{"dateRange":["2024-01-01","2024-12-31"],"dimension":"orders.created_at","granularity":"month"}]}`; string(q) != want {
			t.Errorf("the builder sent\n%s\nwant\n%s", q, want)
		}
		for _, want := range []string{`id="result-table"`, `<td class="num">12345678901234567890.123</td>`, `<span class="null">NULL</span>`, `<td class="num">5.50</td>`,
			`data-column="orders.created_at.month"`, `id="result-chart"`, `data-kind="line"`, `id="limit-note"`, "3 rows.",
			`SELECT status FROM public.orders WHERE status = $1`, `<pre id="warehouse-params" aria-labelledby="warehouse-params-title">$1 = &#34;a&#39;b&#34;</pre>`, `Orders Status &lt;b&gt;`, `(/cubejs-api/v1/sql)`} {
			if !strings.Contains(body, want) {
				t.Errorf("the builder's answer lacks %s", want)
			}
		}
		if strings.Contains(body, `data-column="orders.created_at"`) {
			t.Error("the bare time dimension is a column too")
		}
		if strings.Contains(body, "<b>") {
			t.Error("a title is rendered as markup")
		}
	})

	t.Run("page size", func(t *testing.T) {
		_, body := b.post("/console/playground", url.Values{"run": {"json"}, "query_json": {`{"measures":["orders.total"],"limit":3}`}, "page_size": {"50"}})
		if !strings.Contains(body, "3 rows.") {
			t.Error("the JSON query did not run")
		}
		// An invented page size is ignored (the default applies).
		_, body = b.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT status, n FROM t"}, "page_size": {"7"}})
		if !strings.Contains(body, "Showing the first 2 of 7 rows") || !strings.Contains(body, `id="result-more"`) || !strings.Contains(body, "5 more rows are not shown") {
			t.Errorf("the SQL answer does not count its rows past the page:\n%s", body)
		}
		if !strings.Contains(body, `id="limit" name="limit" type="number" min="1" value="1000"`) {
			t.Error("running the SQL box emptied the builder's limit")
		}
		if !strings.Contains(body, `<input type="hidden" name="sql" value="SELECT status, n FROM t">`) {
			t.Error("the builder's form does not carry the SQL box's text")
		}
		if !strings.Contains(body, `<td class="num">99999999999999999999.99</td>`) || !strings.Contains(body, "Cube query\n  SELECT 1") || !strings.Contains(body, `(EXPLAIN)`) {
			t.Error("the SQL answer's exact text or EXPLAIN is missing")
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, body := b.post("/console/playground", url.Values{"run": {"sql"}, "sql": {"SELECT * FROM nope"}})
		if !strings.Contains(body, `<code id="query-sqlstate">SQLSTATE 42P01</code>`) || !strings.Contains(body, `relation &#34;nope&#34; does not exist`) {
			t.Errorf("a SQL error:\n%s", body)
		}
		_, body = b.post("/console/playground", url.Values{"run": {"builder"}, "dimensions": {"products.category"}})
		if !strings.Contains(body, `<code id="query-status">HTTP 403</code>`) || !strings.Contains(body, "this key may not read products.category") {
			t.Errorf("a REST refusal:\n%s", body)
		}
		resp, body := b.post("/console/playground", url.Values{"run": {"builder"}, "time_dimension": {"orders.created_at"}, "date_from": {"2024-01-01"}})
		if resp.StatusCode != 400 || !strings.Contains(body, "a date range needs both its start and its end") {
			t.Errorf("a half date range: %d", resp.StatusCode)
		}
		resp, _ = b.post("/console/playground", url.Values{"run": {"json"}, "query_json": {`[1`}})
		if resp.StatusCode != 400 {
			t.Errorf("bad JSON: %d", resp.StatusCode)
		}
	})

	t.Run("principal and CSRF", func(t *testing.T) {
		for _, p := range x.who {
			if p.APIKeyID != f.admin.ID || p.TenantID != auth.DefaultTenant || p.Username != "api_key:"+f.admin.ID {
				t.Fatalf("ran as %+v", p)
			}
		}
		n := len(x.calls)
		form := url.Values{"run": {"sql"}, "sql": {"SELECT 1"}}
		req, _ := http.NewRequest("POST", srv.URL+"/console/playground", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden || len(x.calls) != n {
			t.Errorf("a POST without the CSRF token: %d, ran %v", resp.StatusCode, len(x.calls) != n)
		}
	})
}

func TestRestFailure(t *testing.T) {
	e := restFailure(503, []byte(`{"error":"the warehouse is not available","code":"WAREHOUSE_UNAVAILABLE"}`))
	if e.Status != 503 || e.Code != "WAREHOUSE_UNAVAILABLE" || e.Message != "the warehouse is not available" {
		t.Errorf("%+v", e)
	}
	if e := restFailure(500, []byte("plain")); e.Message != "plain" {
		t.Errorf("%+v", e)
	}
	var re *RunError
	if !errors.As(error(e), &re) {
		t.Error("not a *RunError")
	}
}
