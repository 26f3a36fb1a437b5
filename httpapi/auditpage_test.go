package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// /admin/v1/audit pages explicitly (review of issue #21: a limit above
// 10,000 silently became 1,000, and there was no paging): a page of
// limit events, newest first, meta.next_before_id where the next one
// starts (absent on the last), before_id to read it — 25 events in pages
// of 10 are 10, 10, 5, each once, in order; a limit above the maximum is
// 400 AUDIT_LIMIT_TOO_LARGE naming it, a malformed one 400 BAD_REQUEST.
func TestAdminAuditPaging(t *testing.T) {
	f := newAdminFixture(t)
	audit := auth.NewAudit(f.store)
	t.Cleanup(audit.Close)
	srv := httptest.NewServer(NewHandler(Config{Admin: &Admin{Keys: f.keys, Credentials: f.creds, Audit: audit}, Version: "t", Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	f.srv = srv
	reader := f.key(auth.DefaultTenant, []string{"audit:read"}, auth.KeyInput{})
	for i := range 25 {
		audit.Log(auth.AuditEvent{Kind: "query", Action: "sql", Outcome: "ok", Rows: int64(i)})
	}
	page := func(path string) (events []auth.AuditEvent, next int64) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+reader.KeyValue)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Meta struct {
				Next *int64 `json:"next_before_id"`
			} `json:"meta"`
			Data []auth.AuditEvent `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		if body.Meta.Next != nil {
			next = *body.Meta.Next
			if next == 0 {
				t.Fatalf("%s: next_before_id 0", path)
			}
		}
		return body.Data, next
	}
	var sizes []int
	var rows []int64
	path := "/admin/v1/audit?kind=query&limit=10"
	for range 10 {
		events, next := page(path)
		sizes = append(sizes, len(events))
		for _, e := range events {
			rows = append(rows, e.Rows)
		}
		if next == 0 {
			break
		}
		if last := events[len(events)-1].ID; next != last {
			t.Fatalf("next_before_id %d, want the page's last id %d", next, last)
		}
		path = fmt.Sprintf("/admin/v1/audit?kind=query&limit=10&before_id=%d", next)
	}
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("pages of %v, want [10 10 5]", sizes)
	}
	for i, r := range rows {
		if r != int64(24-i) {
			t.Fatalf("the events over the pages, newest first: %v", rows)
		}
	}
	// Without a limit, a page of 1,000: all 25, no next page.
	if events, next := page("/admin/v1/audit?kind=query"); len(events) != 25 || next != 0 {
		t.Fatalf("the default page: %d events, next %d", len(events), next)
	}
	if events, _ := page(fmt.Sprintf("/admin/v1/audit?limit=%d", auth.MaxAuditPage)); len(events) == 0 {
		t.Fatal("a page of the maximum")
	}
	// Above the maximum: refused, naming it (it was cut to 1,000).
	a := f.expect("GET", fmt.Sprintf("/admin/v1/audit?limit=%d", auth.MaxAuditPage+1), reader, nil, http.StatusBadRequest, "AUDIT_LIMIT_TOO_LARGE")
	if !strings.Contains(a.Error.Message, "10000") {
		t.Errorf("the refusal does not name the maximum: %q", a.Error.Message)
	}
	for _, q := range []string{"limit=abc", "limit=0", "limit=-5", "before_id=x", "before_id=0"} {
		f.expect("GET", "/admin/v1/audit?"+q, reader, nil, http.StatusBadRequest, "BAD_REQUEST")
	}
}
