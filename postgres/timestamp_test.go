package postgres

import (
	"testing"
	"time"
)

// Inputs PostgreSQL 15's timestamptz_in accepts in the ISO forms, and the
// instant each is (SELECT $1::timestamptz AT TIME ZONE 'UTC' with
// TimeZone = 'Europe/Paris' for the ones without an offset).
func TestParseTimestamp(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	for in, want := range map[string]string{
		"2024-01-01":                       "2023-12-31T23:00:00Z",
		"2024-01-01 00:00:00+00":           "2024-01-01T00:00:00Z", // PgJDBC's setTimestamp
		"2024-01-01 00:00:00.123456+00":    "2024-01-01T00:00:00.123456Z",
		"2024-01-01 00:00:00.1234567+00":   "2024-01-01T00:00:00.123457Z",
		"2024-01-01T10:30:00Z":             "2024-01-01T10:30:00Z",
		"2024-01-01 10:30":                 "2024-01-01T09:30:00Z",
		"2024-01-01 10:30:00-05":           "2024-01-01T15:30:00Z",
		"2024-01-01 10:30:00+0530":         "2024-01-01T05:00:00Z",
		"2024-01-01 10:30:00+05:30":        "2024-01-01T05:00:00Z",
		"2024-01-01 10:30:00+05:30:30":     "2024-01-01T04:59:30Z",
		"2024-06-01 12:00:00 UTC":          "2024-06-01T12:00:00Z",
		"2024-06-01 12:00:00 Europe/Paris": "2024-06-01T10:00:00Z",
		"2024-01-01 24:00:00+00":           "2024-01-02T00:00:00Z",
		"  2024-02-29 ":                    "2024-02-28T23:00:00Z",
		"0044-03-15 12:00:00+00 BC":        "-0043-03-15T12:00:00Z",
		"10000-01-01 00:00:00+00":          "10000-01-01T00:00:00Z",
		"epoch":                            "1970-01-01T00:00:00Z",
	} {
		got, _, err := ParseTimestamp(in, paris)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if s := got.UTC().Format("2006-01-02T15:04:05.999999Z07:00"); s != want {
			t.Errorf("%q: %s, want %s", in, s, want)
		}
	}
	if got, _, _ := ParseTimestamp("infinity", nil); !got.Equal(Infinity) {
		t.Errorf("infinity: %v", got)
	}
	if got, _, _ := ParseTimestamp("-Infinity", nil); !got.Equal(NegativeInfinity) {
		t.Errorf("-infinity: %v", got)
	}
	for _, in := range []string{"4714-12-31 BC", "294277-01-01"} {
		if _, _, err := ParseTimestamp(in, nil); err != ErrTimestampRange {
			t.Errorf("%q: %v, want out of range", in, err)
		}
	}
	if _, _, err := ParseTimestamp("4713-01-01 BC", nil); err != nil {
		t.Errorf("4713 BC: %v", err)
	}
	if _, dateOnly, _ := ParseTimestamp("2024-01-01", nil); !dateOnly {
		t.Error("a date is a date")
	}
	for _, in := range []string{"", "2024", "2024-13-01", "2024-02-30", "2023-02-29", "2024-01-01 25:00", "2024-01-01 10:61",
		"2024-01-01 10:00:00+16", "2024-01-01x", "yesterday-ish", "2024-01-01 10:00:00.+00", "0000-01-01"} {
		if got, _, err := ParseTimestamp(in, nil); err == nil {
			t.Errorf("%q read as %v", in, got)
		}
	}
}
