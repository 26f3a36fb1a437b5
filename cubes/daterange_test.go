package cubes

import (
	"testing"
	"time"
)

func TestRelativeRanges(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	// Wednesday 2024-03-13 15:04:05 in New York.
	now := time.Date(2024, 3, 13, 15, 4, 5, 0, ny)
	f := "2006-01-02T15:04:05.000"
	cases := []struct{ in, from, to string }{
		{"today", "2024-03-13T00:00:00.000", "2024-03-13T23:59:59.999"},
		{"yesterday", "2024-03-12T00:00:00.000", "2024-03-12T23:59:59.999"},
		{"this week", "2024-03-11T00:00:00.000", "2024-03-17T23:59:59.999"},
		{"last week", "2024-03-04T00:00:00.000", "2024-03-10T23:59:59.999"},
		{"this month", "2024-03-01T00:00:00.000", "2024-03-31T23:59:59.999"},
		{"last month", "2024-02-01T00:00:00.000", "2024-02-29T23:59:59.999"},
		{"this quarter", "2024-01-01T00:00:00.000", "2024-03-31T23:59:59.999"},
		{"last quarter", "2023-10-01T00:00:00.000", "2023-12-31T23:59:59.999"},
		{"last year", "2023-01-01T00:00:00.000", "2023-12-31T23:59:59.999"},
		{"next month", "2024-04-01T00:00:00.000", "2024-04-30T23:59:59.999"},
		{"last 7 days", "2024-03-06T00:00:00.000", "2024-03-12T23:59:59.999"},
		{"Last 3 Months", "2023-12-01T00:00:00.000", "2024-02-29T23:59:59.999"},
		{"next 2 weeks", "2024-03-18T00:00:00.000", "2024-03-31T23:59:59.999"},
		{"last 2 hours", "2024-03-13T13:00:00.000", "2024-03-13T14:59:59.999"},
		{"from 3 days ago to now", "2024-03-10T00:00:00.000", "2024-03-13T23:59:59.999"},
		{"from 2024-01-01 to 2024-01-31", "2024-01-01T00:00:00.000", "2024-01-31T23:59:59.999"},
		{"2024-02-29", "2024-02-29T00:00:00.000", "2024-02-29T23:59:59.999"},
	}
	for _, c := range cases {
		from, to, err := relativeRange(c.in, now, ny)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if from.Format(f) != c.from || to.Format(f) != c.to || from.Location() != ny {
			t.Errorf("%s = [%s, %s] (%v), want [%s, %s]", c.in, from.Format(f), to.Format(f), from.Location(), c.from, c.to)
		}
	}
	for _, bad := range []string{"sometime", "last fortnight", "from a to b"} {
		if _, _, err := relativeRange(bad, now, ny); err == nil {
			t.Errorf("%q was read", bad)
		}
	}
}
