package cubes

import (
	"encoding/json"
	"strings"
	"testing"
)

// A rollup is built without claims: wherever the query-time context is
// read on the way to the rollup's or the query's rows — a join on the
// path, a member of another cube a dimension references, a segment, the
// time dimension — the rollup neither answers (EXPLAIN says why) nor is
// built.
func TestRollupRefusedWhenContextIsRendered(t *testing.T) {
	cases := []struct {
		dir, query, rollup, reason string
	}{
		{"join", `{"measures":["orders.count"],"dimensions":["customers.city"]}`, "orders.by_city",
			"{SECURITY_CONTEXT.tenant.filter('{customers}.tenant_id')} in cube orders"},
		{"join", `{"measures":["orders.count"]}`, "orders.by_city",
			"the rollup's SQL reads the query-time context ({SECURITY_CONTEXT.tenant.filter('{customers}.tenant_id')} in cube orders)"},
		{"ref", `{"measures":["orders.count"],"dimensions":["orders.city"]}`, "orders.by_city",
			"the rollup's SQL reads the query-time context ({SECURITY_CONTEXT.tenant.filter('tenant_id')} in cube customers)"},
		{"segment", `{"measures":["orders.count"],"dimensions":["orders.status"],"segments":["orders.mine"]}`, "orders.by_status",
			"{SECURITY_CONTEXT.tenant.filter('{CUBE}.tenant_id')} in cube orders"},
		{"segment", `{"measures":["orders.count"],"dimensions":["orders.status"]}`, "orders.by_status",
			"the rollup's SQL reads the query-time context"},
		{"timedim", `{"measures":["orders.count"],"dimensions":["orders.status"],"timeDimensions":[{"dimension":"orders.created_at","granularity":"day"}]}`, "orders.by_status_day",
			"{SECURITY_CONTEXT.tenant.filter('tenant_id')} in cube orders"},
		{"timedim", `{"measures":["orders.count"],"dimensions":["orders.status"]}`, "orders.by_status_day",
			"the rollup's SQL reads the query-time context"},
	}
	for _, tc := range cases {
		m, err := LoadDir("testdata/ctxrollup/" + tc.dir)
		if err != nil {
			t.Fatal(err)
		}
		var q Query
		if err := json.Unmarshal([]byte(tc.query), &q); err != nil {
			t.Fatal(err)
		}
		pa, reasons := m.MatchRollup(&q, Options{Now: matchNow})
		if pa != nil {
			t.Errorf("%s %s: %s answers from a rollup built without the context: %v", tc.dir, tc.query, pa.FullName(), reasons)
			continue
		}
		want := tc.rollup + ": no — "
		if len(reasons) != 1 || !strings.HasPrefix(reasons[0], want) || !strings.Contains(reasons[0], tc.reason) {
			t.Errorf("%s %s: reasons %q, want %q…%q", tc.dir, tc.query, reasons, want, tc.reason)
		}
		// Nor is it read when asked for by name.
		if _, err := m.CompileFromRollup(&q, m.preAgg(t, tc.rollup), `"t"`, Postgres{}, Options{Now: matchNow}); err == nil || !strings.Contains(err.Error(), "query-time context") {
			t.Errorf("%s %s: CompileFromRollup: %v", tc.dir, tc.query, err)
		}
		// Nor built.
		if tok := m.RollupQueryContext(m.preAgg(t, tc.rollup)); !strings.Contains(tok, "SECURITY_CONTEXT.tenant") {
			t.Errorf("%s: RollupQueryContext(%s) = %q", tc.dir, tc.rollup, tok)
		}
	}
	// Without the token, the same shapes match and are built.
	m, err := LoadDir("testdata/ctxrollup/plain")
	if err != nil {
		t.Fatal(err)
	}
	q := &Query{Measures: []string{"orders.count"}, Dimensions: []string{"orders.city"}}
	if pa, reasons := m.MatchRollup(q, Options{Now: matchNow}); pa == nil || pa.FullName() != "orders.by_city" {
		t.Errorf("plain model: %v %v", pa, reasons)
	}
	if tok := m.RollupQueryContext(m.preAgg(t, "orders.by_city")); tok != "" {
		t.Errorf("plain model: RollupQueryContext = %q", tok)
	}
}

// A query whose own SQL reads the context where the rollup's does not (a
// row filter of the policy on a member that reads it) is not answered
// from the rollup either.
func TestRollupRefusedWhenQueryRendersContext(t *testing.T) {
	m, err := LoadDir("testdata/ctxrollup/plain")
	if err != nil {
		t.Fatal(err)
	}
	q := &Query{Measures: []string{"orders.count"}, Dimensions: []string{"orders.city"}}
	// The query's rendering is checked as such.
	if tok, err := m.contextRead(q, Options{}); tok != "" || err != nil {
		t.Fatalf("plain query: %q %v", tok, err)
	}
	j, err := LoadDir("testdata/ctxrollup/join")
	if err != nil {
		t.Fatal(err)
	}
	q = &Query{Measures: []string{"orders.count"}, Dimensions: []string{"customers.city"}}
	if tok, _ := j.contextRead(q, Options{}); !strings.Contains(tok, "SECURITY_CONTEXT.tenant") {
		t.Errorf("join query: contextRead = %q", tok)
	}
	// The orders cube alone (no join on the path) reads no context.
	if tok, _ := j.contextRead(&Query{Measures: []string{"orders.count"}}, Options{}); tok != "" {
		t.Errorf("orders alone: contextRead = %q", tok)
	}
}

func (m *Model) preAgg(t *testing.T, name string) *PreAggregation {
	t.Helper()
	for _, c := range m.Cubes {
		for _, pa := range c.PreAggregations {
			if pa.FullName() == name {
				return pa
			}
		}
	}
	t.Fatalf("no pre-aggregation %s", name)
	return nil
}
