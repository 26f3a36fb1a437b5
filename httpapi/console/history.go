package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/auth"
)

// The Query history page: the tenant's query events of the audit log
// (SQL and REST statements), newest first, filtered by GET parameters,
// paged by event id, refreshing itself; a detail page per event with the
// whole statement and the warehouse SQL. It needs audit:read, the scope
// GET /admin/v1/audit needs, and shows the principal's tenant only.

// History page sizes: the list shows historyPageSize events unless asked
// for another of historyPageSizes.
const historyPageSize = 50

var historyPageSizes = []int{25, 50, 100, 200}

// historyScanBudget bounds the events one request reads to fill a page:
// past it the page says how far back it searched and offers the rest
// (never a silently shorter list).
const historyScanBudget = 20000

// historyBatch is how many events are read at a time.
const historyBatch = 1000

// listStatementLen is how much of a statement the list shows (the detail
// shows all of it).
const listStatementLen = 160

// HistoryFilter is what the list shows: GET parameters principal, api
// (sql, rest), outcome (ok, error), served (warehouse, cache, rollup: any
// rollup), q (text in the statement, warehouse SQL, error or SQLSTATE),
// from and to (UTC, 2006-01-02T15:04), limit (page size) and before (an
// event id: the page of older events).
type HistoryFilter struct {
	Principal, API, Outcome, Served, Text string
	From, To                              time.Time
	FromText, ToText                      string
	Limit                                 int
	Before                                int64
	// Shown is how many events the pages before this one showed.
	Shown int
}

// historyFilter reads the filter from a request; a value it cannot read
// is an error naming the parameter.
func historyFilter(q url.Values) (HistoryFilter, error) {
	f := HistoryFilter{Principal: strings.TrimSpace(q.Get("principal")), API: q.Get("api"), Outcome: q.Get("outcome"), Served: q.Get("served"),
		Text: strings.TrimSpace(q.Get("q")), FromText: q.Get("from"), ToText: q.Get("to"), Limit: historyPageSize}
	switch f.API {
	case "", "sql", "rest":
	default:
		return f, fmt.Errorf("api is sql or rest, not %q", f.API)
	}
	switch f.Outcome {
	case "", "ok", "error":
	default:
		return f, fmt.Errorf("outcome is ok or error, not %q", f.Outcome)
	}
	switch f.Served {
	case "", "warehouse", "cache", "rollup":
	default:
		return f, fmt.Errorf("served is warehouse, cache or rollup, not %q", f.Served)
	}
	var err error
	if f.From, err = historyTime(f.FromText); err != nil {
		return f, fmt.Errorf("from: %v", err)
	}
	if f.To, err = historyTime(f.ToText); err != nil {
		return f, fmt.Errorf("to: %v", err)
	}
	if !f.To.IsZero() && len(f.ToText) <= len("2006-01-02T15:04") {
		f.To = f.To.Add(time.Minute) // to 12:30 takes in 12:30:59
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > historyPageSizes[len(historyPageSizes)-1] {
			return f, fmt.Errorf("limit is a page size from 1 to %d, not %q", historyPageSizes[len(historyPageSizes)-1], v)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil || f.Before <= 0 {
			return f, fmt.Errorf("before is an event id, not %q", v)
		}
	}
	if v := q.Get("shown"); v != "" {
		if f.Shown, err = strconv.Atoi(v); err != nil || f.Shown < 0 {
			return f, fmt.Errorf("shown is a count, not %q", v)
		}
	}
	return f, nil
}

// historyTime reads a datetime-local value (UTC), with or without
// seconds, or a date.
func historyTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2006-01-02T15:04 (UTC)", s)
}

// Values is the filter as GET parameters (without the page cursor).
func (f HistoryFilter) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("principal", f.Principal)
	set("api", f.API)
	set("outcome", f.Outcome)
	set("served", f.Served)
	set("q", f.Text)
	set("from", f.FromText)
	set("to", f.ToText)
	if f.Limit != historyPageSize {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

// Active reports whether anything is filtered.
func (f HistoryFilter) Active() bool {
	return f.Principal != "" || f.API != "" || f.Outcome != "" || f.Served != "" || f.Text != "" || !f.From.IsZero() || !f.To.IsZero()
}

// Match reports whether e passes the filter.
func (f HistoryFilter) Match(e auth.AuditEvent) bool {
	if f.API != "" && apiOf(e) != f.API {
		return false
	}
	if f.Outcome == "ok" && e.Outcome != "ok" || f.Outcome == "error" && e.Outcome == "ok" {
		return false
	}
	if f.Served != "" && servedKind(e.Served) != f.Served {
		return false
	}
	if !f.From.IsZero() && e.Time.Before(f.From) || !f.To.IsZero() && !e.Time.Before(f.To) {
		return false
	}
	if f.Principal != "" {
		p := strings.ToLower(f.Principal)
		if !strings.Contains(strings.ToLower(principalOf(e)), p) && !strings.EqualFold(e.CredentialID, p) && !strings.EqualFold(e.APIKeyID, p) {
			return false
		}
	}
	if f.Text != "" {
		t := strings.ToLower(f.Text)
		if !strings.Contains(strings.ToLower(e.Statement), t) && !strings.Contains(strings.ToLower(e.WarehouseSQL), t) && !strings.Contains(strings.ToLower(e.Error), t) &&
			!strings.EqualFold(e.Code, f.Text) {
			return false
		}
	}
	return true
}

// apiOf is the API a query event came by: "rest", else "sql" (the SQL
// API's statements and its catalog queries).
func apiOf(e auth.AuditEvent) string {
	if e.Action == "rest" {
		return "rest"
	}
	return "sql"
}

// servedKind is what answered a query as the served filter names it:
// "warehouse", "cache", "rollup" (any), "" (nothing: refused, or
// cubegate's own catalog).
func servedKind(served string) string {
	if strings.HasPrefix(served, "rollup:") {
		return "rollup"
	}
	return served
}

// servedText says what answered a query, for people.
func servedText(served string) string {
	switch {
	case served == "warehouse":
		return "warehouse"
	case served == "cache":
		return "result cache"
	case strings.HasPrefix(served, "rollup:"):
		return "rollup " + strings.TrimPrefix(served, "rollup:")
	}
	return "—"
}

// principalOf names who ran a query: the SQL user or console user, else
// the API key or credential.
func principalOf(e auth.AuditEvent) string {
	switch {
	case e.Username != "":
		return e.Username
	case e.APIKeyID != "":
		return "api_key:" + e.APIKeyID
	case e.CredentialID != "":
		return "credential:" + e.CredentialID
	}
	return "—"
}

// HistoryPage is a page of the list.
type HistoryPage struct {
	Events []HistoryEvent
	// First and Last are the 1-based positions of the page's first and
	// last event among the matching ones.
	First, Last int
	// Total is how many events match in all, when the search read the
	// whole log (or reached From); else Complete is false, and Matched
	// is how many matched among the Searched events, back to SearchedTo.
	Total      int
	Complete   bool
	Matched    int
	Searched   int
	SearchedTo time.Time
	// Next is the before= cursor of the next page (0: none).
	Next int64
}

// HistoryEvent is a query event as the list shows it.
type HistoryEvent struct {
	auth.AuditEvent
	Principal, API, Duration string
	// ServedText says what answered it (servedText).
	ServedText string
	// Short is the statement cut for the list (Cut: it was), ShortError
	// the error cut likewise.
	Short, ShortError string
	Cut               bool
}

func historyEvent(e auth.AuditEvent) HistoryEvent {
	h := HistoryEvent{AuditEvent: e, Principal: principalOf(e), API: strings.ToUpper(apiOf(e)),
		Duration: strconv.FormatFloat(e.DurationMS, 'f', -1, 64) + " ms", ShortError: shorten(e.Error, 200),
		ServedText: servedText(e.Served)}
	h.Short = strings.Join(strings.Fields(e.Statement), " ")
	if r := []rune(h.Short); len(r) > listStatementLen {
		h.Short, h.Cut = string(r[:listStatementLen-1])+"…", true
	}
	return h
}

// readHistory fills a page of f from the tenant's query events, newest
// first, reading at most budget events.
func readHistory(ctx context.Context, a *auth.Audit, tenant string, f HistoryFilter, budget int) (HistoryPage, error) {
	p := HistoryPage{First: f.Shown + 1}
	before := f.Before
	extra := 0 // matches past the page
	for p.Searched < budget {
		events, err := a.Read(ctx, auth.AuditFilter{Tenant: tenant, Kind: "query", Limit: min(historyBatch, budget-p.Searched), BeforeID: before})
		if err != nil {
			return p, err
		}
		for _, e := range events {
			p.Searched++
			p.SearchedTo = e.Time
			before = e.ID
			if !f.From.IsZero() && e.Time.Before(f.From.Add(-time.Minute)) {
				// Older than the range (a minute's slack: events are
				// numbered as written, stamped as logged): nothing
				// further back matches.
				p.Complete = true
				break
			}
			if !f.Match(e) {
				continue
			}
			if len(p.Events) < f.Limit {
				p.Events = append(p.Events, historyEvent(e))
				p.Next = e.ID
				continue
			}
			extra++
		}
		if p.Complete || len(events) < historyBatch && p.Searched < budget {
			p.Complete = true
			break
		}
	}
	p.Matched = len(p.Events) + extra
	p.Last = f.Shown + len(p.Events)
	if p.Complete {
		p.Total = f.Shown + p.Matched
	}
	if extra == 0 && p.Complete {
		p.Next = 0
	}
	if len(p.Events) < f.Limit && !p.Complete {
		// The budget ran out before the page filled: the next page goes
		// on from where the search stopped.
		p.Next = before
	}
	return p, nil
}

// historyView is the page's data.
type historyView struct {
	Filter     HistoryFilter
	Page       HistoryPage
	PageSizes  []int
	Error      string
	Live       bool   // the first page refreshes itself
	Query      string // the filter as a query string (with ?), for links
	NextURL    string
	RefreshURL string
	// Detail is one event's page.
	Detail *historyDetail
}

// historyDetail is an event's detail page.
type historyDetail struct {
	Event HistoryEvent
	// Derived is the warehouse SQL derived again now (the audit log kept
	// none), DerivedNote how, DerivedError why it could not be.
	Derived, DerivedNote, DerivedError string
	Back                               string
	// Playground opens the statement in the Playground ("": it holds
	// placeholders for values the audit log left out).
	Playground string
}

// historyPage serves /console/queries and /console/queries/{id}.
func (c *Console) historyPage() Page {
	return Page{Path: Prefix + "/queries", Title: "Query history", Nav: true, Scope: "audit:read", Template: "history", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET here.")
			return
		}
		a := c.cfg.Admin.Audit
		if a == nil {
			c.errorPage(w, r, s, http.StatusNotFound, "This gateway keeps no audit log.")
			return
		}
		if rest := strings.TrimPrefix(r.URL.Path, Prefix+"/queries"); rest != "" && rest != "/" {
			c.historyDetail(w, r, s, a, strings.TrimPrefix(rest, "/"))
			return
		}
		v := historyView{PageSizes: historyPageSizes}
		f, err := historyFilter(r.URL.Query())
		v.Filter = f
		status := http.StatusOK
		if err != nil {
			v.Error, status = err.Error(), http.StatusBadRequest
			s.Render(w, status, v)
			return
		}
		a.Sync() // the queries just run are listed
		v.Page, err = readHistory(r.Context(), a, s.Principal.TenantID, f, historyScanBudget)
		if err != nil {
			s.Error(w, err)
			return
		}
		vals := f.Values()
		if s.Source != "" && len(s.Sources) > 1 {
			vals.Set("source", s.Source)
		}
		if q := vals.Encode(); q != "" {
			v.Query = "?" + q
		}
		v.Live = f.Before == 0
		rv := f.Values()
		rv.Set("fragment", "1")
		v.RefreshURL = Prefix + "/queries?" + rv.Encode()
		if v.Page.Next > 0 {
			nv := f.Values()
			nv.Set("before", strconv.FormatInt(v.Page.Next, 10))
			nv.Set("shown", strconv.Itoa(f.Shown+len(v.Page.Events)))
			v.NextURL = Prefix + "/queries?" + nv.Encode()
		}
		s.Render(w, status, v)
	}}
}

// historyDetail renders one event: the whole statement, the error, the
// warehouse SQL as the audit log keeps it — or, when it kept none, the
// SQL derived again now with EXPLAIN where that can be done, saying so.
func (c *Console) historyDetail(w http.ResponseWriter, r *http.Request, s *Session, a *auth.Audit, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		c.errorPage(w, r, s, http.StatusNotFound, "There is no query event "+idText+".")
		return
	}
	a.Sync()
	events, err := a.Read(r.Context(), auth.AuditFilter{Tenant: s.Principal.TenantID, Kind: "query", BeforeID: id + 1, Limit: 1})
	if err != nil {
		s.Error(w, err)
		return
	}
	if len(events) == 0 || events[0].ID != id {
		// Another tenant's event is not found either.
		c.errorPage(w, r, s, http.StatusNotFound, "There is no query event "+idText+" in this tenant's audit log.")
		return
	}
	d := &historyDetail{Event: historyEvent(events[0]), Back: Prefix + "/queries"}
	if ref := r.URL.Query().Get("back"); strings.HasPrefix(ref, "?") {
		d.Back += ref
	}
	if d.Event.Statement != "" && !hasPlaceholder(d.Event.API, d.Event.Statement) {
		param := "sql"
		if d.Event.API == "REST" {
			param = "query"
		}
		d.Playground = Prefix + "/playground?" + url.Values{param: {d.Event.Statement}}.Encode()
	}
	if d.Event.WarehouseSQL == "" && d.Event.Statement != "" {
		d.Derived, d.DerivedNote, d.DerivedError = c.deriveSQL(r, s, d.Event)
	}
	s.RenderTitled(w, http.StatusOK, fmt.Sprintf("Query %d", id), historyView{Detail: d})
}

// deriveSQL derives a statement's warehouse SQL again with EXPLAIN — the
// SQL API's for a SQL statement, /v1/sql for a REST query — as the
// signed-in principal on the current model. It cannot when the audit
// log's text holds placeholders for the literals it left out.
func (c *Console) deriveSQL(r *http.Request, s *Session, e HistoryEvent) (sql, note, why string) {
	x := c.cfg.Explore
	switch {
	case x == nil:
		return "", "", "The audit log keeps no warehouse SQL for this statement, and this console cannot run EXPLAIN."
	case !s.Principal.Holds("sql"):
		return "", "", "The audit log keeps no warehouse SQL for this statement; deriving it with EXPLAIN needs the sql scope."
	case hasPlaceholder(e.API, e.Statement):
		return "", "", "The audit log keeps no warehouse SQL for this statement, and its text has placeholders ($n) for the values it left out: EXPLAIN cannot derive it again."
	}
	p := queryPrincipal(s, r)
	note = "The audit log keeps no warehouse SQL for this statement (cubegate answered it itself, or it was refused before it ran). This is EXPLAIN's answer now, as you, on the current model — not necessarily what ran."
	if e.API == "REST" {
		sql, params, err := explainREST(r.Context(), x, p, s.Source, []byte(e.Statement))
		if err != nil {
			return "", "", "EXPLAIN could not derive it again: " + err.Error()
		}
		if len(params) > 0 {
			sql += "\n\n-- " + strings.Join(params, "\n-- ")
		}
		return sql, note, ""
	}
	res, err := x.SQL(r.Context(), p, s.Source, "EXPLAIN "+e.Statement, 10000)
	if err != nil {
		return "", "", "EXPLAIN could not derive it again: " + errorText(err)
	}
	return res.Lines(), note, ""
}

// hasPlaceholder reports whether a statement's text as the audit log
// keeps it holds a placeholder for a value it left out: $n outside
// quotes in SQL, a "$n" string in a REST query's JSON.
func hasPlaceholder(api, text string) bool {
	if api == "REST" {
		return restPlaceholder.MatchString(text)
	}
	var quote rune
	rs := []rune(text)
	for i, r := range rs {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '$' && i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9':
			return true
		}
	}
	return false
}

var restPlaceholder = regexp.MustCompile(`"\$[0-9]+"`)
