package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/auth"
)

// logQueries writes n query events of tenant, alternating SQL and REST,
// every third failed (42703, refused: served by nothing), the others
// served in turn by the warehouse, the cache, nothing (the catalog) and
// a rollup, a minute apart from start; and returns their ids (oldest
// first).
func logQueries(t *testing.T, a *auth.Audit, tenant string, n int, start time.Time) []int64 {
	t.Helper()
	for i := range n {
		e := auth.AuditEvent{Time: start.Add(time.Duration(i) * time.Minute), Kind: "query", Action: "sql", Outcome: "ok", TenantID: tenant,
			Username: fmt.Sprintf("cg_user%d", i%2), Statement: fmt.Sprintf("SELECT %d FROM orders WHERE status = $1", i),
			WarehouseSQL: fmt.Sprintf("SELECT %d FROM public.orders_raw WHERE status = $1", i), Rows: int64(i), DurationMS: 1.5,
			Served: []string{"warehouse", "cache", "", "rollup:orders.by_status"}[i%4]}
		if i%2 == 1 {
			e.Action, e.Username, e.APIKeyID = "rest", "", "key"+tenant
			e.Statement = fmt.Sprintf(`{"measures":["orders.count"],"limit":%d}`, i)
			e.WarehouseSQL = fmt.Sprintf(`SELECT count(*) FROM public.orders LIMIT %d`, i)
		}
		if i%3 == 2 {
			e.Outcome, e.Error, e.Code, e.Served = "error", fmt.Sprintf("boom %d <script>", i), "42703", ""
		}
		a.Log(e)
	}
	a.Log(auth.AuditEvent{Kind: "login", Action: "sql", Outcome: "ok", TenantID: tenant}) // not a query
	a.Sync()
	events, err := a.Read(context.Background(), auth.AuditFilter{Tenant: tenant, Kind: "query"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := len(events) - 1; i >= 0; i-- {
		ids = append(ids, events[i].ID)
	}
	return ids
}

func TestHistoryFilterAndPages(t *testing.T) {
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := auth.NewAudit(store)
	defer a.Close()
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	ids := logQueries(t, a, auth.DefaultTenant, 30, start)
	logQueries(t, a, "acme", 5, start)

	read := func(q string, budget int) HistoryPage {
		t.Helper()
		v, _ := url.ParseQuery(q)
		f, err := historyFilter(v)
		if err != nil {
			t.Fatal(err)
		}
		p, err := readHistory(ctx, a, auth.DefaultTenant, f, budget)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	stmts := func(p HistoryPage) (out []string) {
		for _, e := range p.Events {
			out = append(out, regexp.MustCompile(`\d+`).FindString(e.Statement))
		}
		return out
	}

	p := read("", historyScanBudget)
	if len(p.Events) != 30 || !p.Complete || p.Total != 30 || p.Next != 0 || p.Events[0].ID != ids[29] || p.First != 1 || p.Last != 30 {
		t.Fatalf("everything: %d events, complete %v, total %d, next %d", len(p.Events), p.Complete, p.Total, p.Next)
	}
	if e := p.Events[0]; e.API != "REST" || e.Principal != "api_key:keydefault" || e.Duration != "1.5 ms" || e.Outcome != "error" || e.ShortError != "boom 29 <script>" {
		t.Errorf("newest: %+v", e)
	}

	// Filters: api, outcome, served, principal, text (a SQLSTATE too),
	// time range.
	for _, tc := range []struct {
		q     string
		total int
	}{
		{"api=sql", 15}, {"api=rest", 15}, {"outcome=error", 10}, {"outcome=ok", 20},
		{"principal=cg_user0", 15}, {"principal=KEYDEFAULT", 15}, {"principal=cg_user", 15},
		{"q=boom", 10}, {"q=orders_raw", 15}, {"q=SELECT+6+FROM", 1},
		{"from=2026-01-02T10:10&to=2026-01-02T10:19", 10}, {"from=2026-01-02T10:25", 5}, {"to=2026-01-02T10:04", 5},
		{"api=sql&outcome=error&principal=cg_user0", 5},
		{"served=warehouse", 6}, {"served=cache", 5}, {"served=rollup", 5}, {"served=cache&outcome=error", 0},
		{"q=42703", 10}, {"q=4270", 0},
	} {
		p := read(tc.q, historyScanBudget)
		if !p.Complete || p.Total != tc.total || len(p.Events) != tc.total {
			t.Errorf("%s: %d events of %d (complete %v), want %d", tc.q, len(p.Events), p.Total, p.Complete, tc.total)
		}
	}

	// Pages: 12 at a time, "showing 1–12 of 30", then 13–24, then 25–30.
	p1 := read("limit=12", historyScanBudget)
	if len(p1.Events) != 12 || p1.Total != 30 || p1.Next != ids[18] || p1.Last != 12 {
		t.Fatalf("page 1: %d events, total %d, next %d", len(p1.Events), p1.Total, p1.Next)
	}
	p2 := read(fmt.Sprintf("limit=12&before=%d&shown=12", p1.Next), historyScanBudget)
	p3 := read(fmt.Sprintf("limit=12&before=%d&shown=24", p2.Next), historyScanBudget)
	if p2.First != 13 || p2.Last != 24 || p2.Total != 30 || p3.First != 25 || p3.Last != 30 || p3.Next != 0 || len(p3.Events) != 6 {
		t.Errorf("pages 2 and 3: %d–%d of %d, %d–%d next %d", p2.First, p2.Last, p2.Total, p3.First, p3.Last, p3.Next)
	}
	all := append(append(stmts(p1), stmts(p2)...), stmts(p3)...)
	for i, s := range all {
		if s != fmt.Sprint(29-i) {
			t.Fatalf("the pages skip or repeat events: %v", all)
		}
	}

	// A search that runs out of budget says how far it got, and goes on.
	p = read("q=SELECT+2+FROM", 10)
	if p.Complete || len(p.Events) != 0 || p.Searched != 10 || p.Next != ids[20] {
		t.Errorf("budget: complete %v, %d events, searched %d, next %d (want %d)", p.Complete, len(p.Events), p.Searched, p.Next, ids[20])
	}
	p = read(fmt.Sprintf("q=SELECT+2+FROM&before=%d", p.Next), 100)
	if !p.Complete || len(p.Events) != 1 {
		t.Errorf("the search's next page: %d events", len(p.Events))
	}

	for _, bad := range []string{"api=ws", "outcome=maybe", "served=disk", "served=rollup:orders.by_status", "from=yesterday", "limit=0", "limit=100000", "before=x"} {
		v, _ := url.ParseQuery(bad)
		if _, err := historyFilter(v); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if e := historyEvent(auth.AuditEvent{Statement: strings.Repeat("x ", 200)}); !e.Cut || len([]rune(e.Short)) != listStatementLen {
		t.Errorf("a long statement is not cut for the list: %d", len([]rune(e.Short)))
	}
}

// TestHistoryPage renders the list and the detail: tenant-scoped, the
// scope audit:read required, the full statement in the detail, errors
// escaped, the fragment for the live refresh.
func TestHistoryPage(t *testing.T) {
	f := newFixture(t, nil)
	a := f.c.cfg.Admin.Audit
	start := time.Now().UTC().Add(-time.Hour)
	ids := logQueries(t, a, auth.DefaultTenant, 8, start)
	other := logQueries(t, a, "acme", 2, start)
	long := "SELECT " + strings.Repeat("a_rather_long_column_name, ", 20) + "1 FROM orders"
	a.Log(auth.AuditEvent{Kind: "query", Action: "catalog", Outcome: "ok", TenantID: auth.DefaultTenant, Username: "cg_cat", Statement: long})
	a.Sync()
	srv := httptest.NewServer(f.c)
	defer srv.Close()
	b := newXBrowser(t, srv, f.admin.KeyValue)

	resp, body := b.get("/console/queries")
	if resp.StatusCode != 200 {
		t.Fatalf("history: %d\n%s", resp.StatusCode, body)
	}
	rows := regexp.MustCompile(`<tr data-event="(\d+)"`).FindAllStringSubmatch(body, -1)
	if len(rows) != 9 || !strings.Contains(body, "Showing events 1–9 of 9 matching query events.") {
		t.Errorf("%d rows:\n%s", len(rows), body)
	}
	for _, want := range []string{`id="history-live"`, `data-live-url="/console/queries?fragment=1"`, `id="history-pause"`, `boom 2 &lt;script&gt;`,
		`(cut: the detail shows all of it)`, `id="history-filters"`, `explore.js`, `<th scope="col">Served</th>`,
		`<td class="served nowrap">result cache</td>`, `<td class="served nowrap">rollup orders.by_status</td>`, `<td class="served nowrap">warehouse</td>`,
		`<span class="error-text">error</span> <code class="sqlstate" title="SQLSTATE">42703</code>: boom 2 &lt;script&gt;`, `id="filter-served"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the history page lacks %s", want)
		}
	}
	if strings.Contains(body, "boom 2 <script>") || strings.Contains(body, long) {
		t.Error("an error is not escaped, or a long statement is not cut")
	}
	for _, id := range other {
		if strings.Contains(body, fmt.Sprintf(`data-event="%d"`, id)) {
			t.Error("another tenant's event is listed")
		}
	}

	_, frag := b.get("/console/queries?fragment=1&api=rest")
	if strings.Contains(frag, "<html") || strings.Contains(frag, `id="history-filters"`) || !strings.Contains(frag, "Showing events 1–4 of 4") {
		t.Errorf("the fragment:\n%s", frag)
	}
	_, body = b.get("/console/queries?limit=3&api=sql")
	if !strings.Contains(body, "Showing events 1–3 of 5 matching") || !strings.Contains(body, `id="history-more"`) {
		t.Errorf("paged: %s", body)
	}
	if m := regexp.MustCompile(`href="([^"]+)" id="history-more"`).FindStringSubmatch(body); m == nil {
		t.Error("no link to the next page")
	} else {
		_, body = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		if !strings.Contains(body, "Showing events 4–5 of 5 matching") || strings.Contains(body, `id="history-live"`) {
			t.Errorf("page 2:\n%s", body)
		}
	}
	if resp, body := b.get("/console/queries?outcome=maybe"); resp.StatusCode != 400 || !strings.Contains(body, `id="form-error"`) {
		t.Errorf("a bad filter: %d", resp.StatusCode)
	}
	_, body = b.get("/console/queries?served=rollup")
	if !strings.Contains(body, "Showing events 1–2 of 2 matching") || strings.Contains(body, `<td class="served nowrap">warehouse</td>`) ||
		!strings.Contains(body, `<option value="rollup" selected>`) {
		t.Errorf("served=rollup:\n%s", body)
	}

	// The detail: everything, and the warehouse SQL as kept.
	resp, body = b.get(fmt.Sprintf("/console/queries/%d", ids[2]))
	if resp.StatusCode != 200 {
		t.Fatalf("detail: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{`<pre id="event-statement" class="wrap">SELECT 2 FROM orders WHERE status = $1</pre>`, `<pre id="event-warehouse-sql" class="wrap">SELECT 2 FROM public.orders_raw WHERE status = $1</pre>`,
		`<dd id="event-principal">cg_user0</dd>`, `<pre id="event-error">boom 2 &lt;script&gt;</pre>`, `<dd id="event-api">SQL</dd>`, `data-outcome="error"`,
		`error (SQLSTATE <code id="event-code">42703</code>)`, `<dd id="event-served" data-served="">—</dd>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the detail lacks %s", want)
		}
	}
	if strings.Contains(body, `id="open-in-playground"`) {
		t.Error("a statement with placeholders is offered to the Playground")
	}
	_, body = b.get(fmt.Sprintf("/console/queries/%d", ids[3]))
	if !strings.Contains(body, `<dd id="event-served" data-served="rollup:orders.by_status">rollup orders.by_status</dd>`) || strings.Contains(body, `id="event-code"`) {
		t.Errorf("a query a rollup answered:\n%s", body)
	}
	// A catalog query's warehouse SQL: none kept, none derivable here.
	_, body = b.get("/console/queries/" + rows[0][1])
	if !strings.Contains(body, long) || !strings.Contains(body, `id="event-derive-error"`) || !strings.Contains(body, `href="/console/playground?sql=SELECT&#43;a_rather_long_column_name`) {
		t.Errorf("the catalog query's detail:\n%s", body)
	}
	if resp, _ := b.get(fmt.Sprintf("/console/queries/%d", other[0])); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant's event: %d", resp.StatusCode)
	}

	reader, err := f.keys.Create(context.Background(), auth.DefaultTenant, "test", auth.KeyInput{Scopes: &[]string{"load", "meta"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := newXBrowser(t, srv, reader.KeyValue).get("/console/queries"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a key without audit:read: %d", resp.StatusCode)
	}
}

func TestHasPlaceholder(t *testing.T) {
	for _, tc := range []struct {
		api, text string
		want      bool
	}{
		{"SQL", "SELECT * FROM t WHERE a = $1", true},
		{"SQL", "SELECT '$1' FROM t", false},
		{"SQL", `SELECT "$1" FROM t`, false},
		{"SQL", "SELECT 1", false},
		{"REST", `{"filters":[{"values":["$1"]}]}`, true},
		{"REST", `{"measures":["orders.count"]}`, false},
	} {
		if got := hasPlaceholder(tc.api, tc.text); got != tc.want {
			t.Errorf("%s %q: %v", tc.api, tc.text, got)
		}
	}
}
