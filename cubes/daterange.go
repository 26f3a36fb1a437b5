package cubes

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	relUnit  = regexp.MustCompile(`^(this|last|next)\s+(second|minute|hour|day|week|month|quarter|year)$`)
	relN     = regexp.MustCompile(`^(last|next)\s+(\d+)\s+(second|minute|hour|day|week|month|quarter|year)s?$`)
	relAgo   = regexp.MustCompile(`^(\d+)\s+(second|minute|hour|day|week|month|quarter|year)s?\s+ago$`)
	relFromT = regexp.MustCompile(`^from\s+(.+?)\s+to\s+(.+)$`)
)

// relativeRange resolves a relative date range ("last 7 days", "this
// month", "yesterday", "from 3 days ago to now", "2023-01-15") at now in
// loc, as Cube reads them: whole units, weeks from Monday, the end at the
// unit's last millisecond.
func relativeRange(s string, now time.Time, loc *time.Location) (from, to time.Time, err error) {
	if loc == nil {
		loc = time.UTC
	}
	now = now.In(loc)
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "today":
		return startOf(now, "day"), endOf(now, "day"), nil
	case s == "yesterday":
		d := now.AddDate(0, 0, -1)
		return startOf(d, "day"), endOf(d, "day"), nil
	case s == "tomorrow":
		d := now.AddDate(0, 0, 1)
		return startOf(d, "day"), endOf(d, "day"), nil
	}
	if m := relUnit.FindStringSubmatch(s); m != nil {
		shift := map[string]int{"this": 0, "last": -1, "next": 1}[m[1]]
		t := add(now, m[2], shift)
		return startOf(t, m[2]), endOf(t, m[2]), nil
	}
	if m := relN.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "last" {
			return startOf(add(now, m[3], -n), m[3]), endOf(add(now, m[3], -1), m[3]), nil
		}
		return startOf(add(now, m[3], 1), m[3]), endOf(add(now, m[3], n), m[3]), nil
	}
	if m := relFromT.FindStringSubmatch(s); m != nil {
		a, errA := pointInTime(m[1], now, loc)
		b, errB := pointInTime(m[2], now, loc)
		if errA != nil || errB != nil {
			return from, to, fmt.Errorf("cannot read date range %q", s)
		}
		g := "day"
		for _, u := range []string{"second", "minute", "hour"} {
			if strings.Contains(s, u) {
				g = u
			}
		}
		return startOf(a, g), endOf(b, g), nil
	}
	if t, err := pointInTime(s, now, loc); err == nil {
		return startOf(t, "day"), endOf(t, "day"), nil
	}
	return from, to, fmt.Errorf("cannot read date range %q", s)
}

// pointInTime reads "now", "today", "N units ago", or a date/timestamp.
func pointInTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "now", "today":
		return now, nil
	case "yesterday":
		return now.AddDate(0, 0, -1), nil
	case "tomorrow":
		return now.AddDate(0, 0, 1), nil
	}
	if m := relAgo.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return add(now, m[2], -n), nil
	}
	t, err := parseTime(s, false, loc)
	return t.In(loc), err
}

func add(t time.Time, unit string, n int) time.Time {
	switch unit {
	case "second":
		return t.Add(time.Duration(n) * time.Second)
	case "minute":
		return t.Add(time.Duration(n) * time.Minute)
	case "hour":
		return t.Add(time.Duration(n) * time.Hour)
	case "day":
		return t.AddDate(0, 0, n)
	case "week":
		return t.AddDate(0, 0, 7*n)
	case "month":
		return t.AddDate(0, n, 0)
	case "quarter":
		return t.AddDate(0, 3*n, 0)
	}
	return t.AddDate(n, 0, 0)
}

// startOf truncates t to the start of its unit, in t's location.
func startOf(t time.Time, unit string) time.Time {
	y, mo, d := t.Date()
	loc := t.Location()
	switch unit {
	case "second":
		return t.Truncate(time.Second)
	case "minute":
		return time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, loc)
	case "hour":
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, loc)
	case "day":
		return time.Date(y, mo, d, 0, 0, 0, 0, loc)
	case "week": // ISO weeks start on Monday
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(y, mo, d-back, 0, 0, 0, 0, loc)
	case "month":
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc)
	case "quarter":
		return time.Date(y, mo-(mo-1)%3, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, 1, 1, 0, 0, 0, 0, loc)
}

// endOf is the last millisecond of t's unit.
func endOf(t time.Time, unit string) time.Time {
	return add(startOf(t, unit), unit, 1).Add(-time.Millisecond)
}
