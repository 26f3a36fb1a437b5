package query

import (
	"strings"
	"testing"
)

// A REST query is audited like SQL: every value replaced by $n (filter
// values at any depth, row filters' values, date ranges), the members
// and operators kept; queries differing only in values share a
// fingerprint.
func TestNormalizeREST(t *testing.T) {
	q := `{"measures":["orders.count"],"filters":[{"member":"orders.status","operator":"equals","values":["topsecret","x"]},
		{"or":[{"member":"orders.channel","operator":"equals","values":["rowfilter-web"]},{"member":"orders.amount","operator":"gt","values":["12345"]}]}],
		"timeDimensions":[{"dimension":"orders.created_at","granularity":"month","dateRange":["2024-01-01","2024-03-31"],"compareDateRange":["last week",["2023-01-01","2023-02-01"]]}],
		"segments":["orders.big"],"limit":5}`
	norm, fp := NormalizeREST(q)
	for _, secret := range []string{"topsecret", "rowfilter-web", "12345", "2024-01-01", "2023-02-01", "last week"} {
		if strings.Contains(norm, secret) {
			t.Errorf("%q is in the normalized query: %s", secret, norm)
		}
	}
	for _, kept := range []string{"orders.status", "equals", "orders.channel", `"values":["$1","$2"]`, "$9", "orders.created_at", "month", "orders.big"} {
		if !strings.Contains(norm, kept) {
			t.Errorf("%q is not in the normalized query: %s", kept, norm)
		}
	}
	other := strings.NewReplacer("topsecret", "other", "12345", "1", "2024-01-01", "2020-01-01").Replace(q)
	if _, fp2 := NormalizeREST(other); fp2 != fp || fp == "" {
		t.Errorf("fingerprints of the same query with other values: %s, %s", fp, fp2)
	}
	if _, fp3 := NormalizeREST(`{"measures":["orders.count"]}`); fp3 == fp {
		t.Error("another query has the same fingerprint")
	}
	if s, _ := NormalizeREST("not json"); s != "" {
		t.Errorf("not JSON: %q", s)
	}
}
