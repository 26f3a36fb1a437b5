package cubes

import (
	"slices"
	"testing"
	"time"
)

// ResolveDateRange gives the bounds Cube's REST API echoes: relative
// ranges resolved at now in the query's time zone to their first and
// last millisecond, a bare date's end at 23:59:59.999, one date taken as
// both bounds, an offset moved to UTC; what is not a date is an error.
func TestResolveDateRange(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	// Wednesday 2024-03-13 23:30 UTC, already Thursday in Paris.
	now := time.Date(2024, 3, 13, 23, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		r    DateRange
		loc  *time.Location
		want []string
	}{
		{DateRange{Relative: "last 7 days"}, time.UTC, []string{"2024-03-06T00:00:00.000", "2024-03-12T23:59:59.999"}},
		{DateRange{Relative: "this month"}, time.UTC, []string{"2024-03-01T00:00:00.000", "2024-03-31T23:59:59.999"}},
		{DateRange{Relative: "this week"}, time.UTC, []string{"2024-03-11T00:00:00.000", "2024-03-17T23:59:59.999"}},
		{DateRange{Relative: "today"}, paris, []string{"2024-03-14T00:00:00.000", "2024-03-14T23:59:59.999"}},
		{DateRange{Relative: "2023-06-15"}, time.UTC, []string{"2023-06-15T00:00:00.000", "2023-06-15T23:59:59.999"}},
		{DateRange{Pair: []string{"2023-06-15", "2023-06-20"}}, time.UTC, []string{"2023-06-15T00:00:00.000", "2023-06-20T23:59:59.999"}},
		{DateRange{Pair: []string{"2023-06-15"}}, time.UTC, []string{"2023-06-15T00:00:00.000", "2023-06-15T23:59:59.999"}},
		{DateRange{Pair: []string{"2023-06-15T10:00:00", "2023-06-15 18:30:00.25"}}, paris, []string{"2023-06-15T10:00:00.000", "2023-06-15T18:30:00.250"}},
		{DateRange{Pair: []string{"2023-06-15T10:00:00+02:00", "2023-06-16T00:00:00Z"}}, time.UTC, []string{"2023-06-15T08:00:00.000", "2023-06-16T00:00:00.000"}},
	} {
		got, err := ResolveDateRange(c.r, now, c.loc)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%+v in %v: %v %v, want %v", c.r, c.loc, got, err, c.want)
		}
	}
	for _, bad := range []DateRange{
		{Relative: "the day after"},
		{Pair: []string{"2023-13-01", "2023-12-31"}},
		{Pair: []string{"soon", "later"}},
		{Pair: []string{"2023-01-01", "2023-01-02", "2023-01-03"}},
		{Pair: []string{}},
		{Pair: []string{"infinity", "2023-01-01"}},
	} {
		if got, err := ResolveDateRange(bad, now, time.UTC); err == nil {
			t.Errorf("%+v: %v, want an error", bad, got)
		}
	}
}

func TestGranularMember(t *testing.T) {
	for name, want := range map[string][3]any{
		"orders.created_at.month":       {"orders.created_at", "month", true},
		"orders.created_at.fiscal_year": {"orders.created_at", "fiscal_year", true},
		"orders.created_at":             {"", "", false},
		"orders":                        {"", "", false},
		"a.b.c.d":                       {"", "", false},
	} {
		d, g, ok := GranularMember(name)
		if d != want[0] || g != want[1] || ok != want[2] {
			t.Errorf("%s: %q %q %v", name, d, g, ok)
		}
	}
}
