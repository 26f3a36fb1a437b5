package clickhouse

import (
	"testing"
	"time"
)

// Bound values as ClickHouse's DateTime reads PostgreSQL's meaning.
func TestArg(t *testing.T) {
	for _, c := range []struct {
		in   any
		want time.Time
	}{
		// Timestamp text with an offset beside a timestamp column: the
		// wall clock (PostgreSQL drops the offset).
		{"2020-06-01 12:30:00+01", time.Date(2020, 6, 1, 12, 30, 0, 0, time.UTC)},
		{"2020-06-01T12:30:00.250-05:30", time.Date(2020, 6, 1, 12, 30, 0, 0, time.UTC)},
		// Past DateTime's range: its ends, never wrapped.
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"infinity", time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)},
		{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0).UTC()},
		{"2023-03-31T23:59:59.999Z", time.Date(2023, 3, 31, 23, 59, 59, 0, time.UTC)},
	} {
		got, ok := arg(c.in).(time.Time)
		if !ok || !got.Equal(c.want) {
			t.Errorf("arg(%v) = %v, want %v", c.in, arg(c.in), c.want)
		}
	}
	if got := arg("not a time +01"); got != "not a time +01" {
		t.Errorf("text changed: %v", got)
	}
}
