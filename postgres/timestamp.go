package postgres

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Infinity stands for PostgreSQL's 'infinity' and '-infinity' timestamps
// where a time.Time is bound as a parameter: the last (first) instant of
// the four-digit years, which every warehouse driver can encode, so that
// comparisons with the times data holds come out as PostgreSQL's do.
var (
	Infinity         = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	NegativeInfinity = time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC)
)

var errTimestamp = errors.New("invalid input syntax for a timestamp")

// ErrTimestampRange is a timestamp outside PostgreSQL's range, 4713 BC to
// 294276 AD (22008).
var ErrTimestampRange = errors.New("timestamp out of range")

// ParseTimestamp reads a date or timestamp as PostgreSQL's timestamp and
// timestamptz input functions read the ISO forms (those DateStyle does
// not change): "2024-01-31", "2024-01-31 10:00", "2024-01-31T10:00:00.5",
// with an offset ("+00", "-05:30", "+0530", "+05:30:00", "Z", "UTC") or
// none — then it is a time in loc —, a trailing " BC", and 'infinity',
// '-infinity', 'epoch'. dateOnly reports a value without a time of day.
func ParseTimestamp(s string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "infinity", "+infinity":
		return Infinity, false, nil
	case "-infinity":
		return NegativeInfinity, false, nil
	case "epoch":
		return time.Unix(0, 0).UTC(), false, nil
	}
	bc := false
	if len(s) > 3 && strings.EqualFold(s[len(s)-3:], " bc") {
		bc, s = true, strings.TrimSpace(s[:len(s)-3])
	} else if len(s) > 3 && strings.EqualFold(s[len(s)-3:], " ad") {
		s = strings.TrimSpace(s[:len(s)-3])
	}
	// The date: YYYY-MM-DD (the year may have more digits).
	dash := strings.IndexByte(s[min(1, len(s)):], '-') + min(1, len(s))
	if dash <= 0 || len(s) < dash+6 || s[dash+3] != '-' {
		return time.Time{}, false, errTimestamp
	}
	year, err1 := strconv.Atoi(s[:dash])
	month, err2 := strconv.Atoi(s[dash+1 : dash+3])
	day, err3 := strconv.Atoi(s[dash+4 : dash+6])
	if err1 != nil || err2 != nil || err3 != nil || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month, bc) {
		return time.Time{}, false, errTimestamp
	}
	if bc {
		year = 1 - year // 1 BC is year 0
	}
	rest := s[dash+6:]
	hour, minute, sec, nsec := 0, 0, 0, 0
	dateOnly = true
	if rest != "" {
		if rest[0] != ' ' && rest[0] != 'T' && rest[0] != 't' {
			return time.Time{}, false, errTimestamp
		}
		rest = strings.TrimLeft(rest[1:], " ")
		// hh:mm[:ss[.frac]]
		var ok bool
		if hour, rest, ok = twoDigits(rest); !ok || len(rest) == 0 || rest[0] != ':' {
			return time.Time{}, false, errTimestamp
		}
		if minute, rest, ok = twoDigits(rest[1:]); !ok {
			return time.Time{}, false, errTimestamp
		}
		if len(rest) > 0 && rest[0] == ':' {
			if sec, rest, ok = twoDigits(rest[1:]); !ok {
				return time.Time{}, false, errTimestamp
			}
			if len(rest) > 0 && rest[0] == '.' {
				i := 1
				for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
					i++
				}
				frac := rest[1:i]
				if frac == "" {
					return time.Time{}, false, errTimestamp
				}
				// Microseconds, rounded as PostgreSQL rounds them.
				f, _ := strconv.ParseFloat("0."+frac, 64)
				nsec = int(f*1e6+0.5) * 1000
				rest = rest[i:]
			}
		}
		if hour > 24 || minute > 59 || sec > 60 || hour == 24 && (minute > 0 || sec > 0 || nsec > 0) {
			return time.Time{}, false, errTimestamp
		}
		dateOnly = false
	}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		off, ok := offset(rest)
		if !ok {
			named, err := Location(rest)
			if err != nil {
				return time.Time{}, false, errTimestamp
			}
			loc = named
		} else {
			loc = time.FixedZone("", off)
		}
		dateOnly = false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Year() < -4712 || t.Year() > 294276 {
		return time.Time{}, false, ErrTimestampRange
	}
	return t, dateOnly, nil
}

func twoDigits(s string) (int, string, bool) {
	i := 0
	for i < len(s) && i < 2 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:], true
}

// offset reads a UTC offset: Z, +hh, +hhmm, +hh:mm, +hh:mm:ss (or -).
func offset(s string) (int, bool) {
	if s == "Z" || s == "z" {
		return 0, true
	}
	if len(s) < 2 || s[0] != '+' && s[0] != '-' {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	digits := strings.ReplaceAll(s[1:], ":", "")
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	var h, m, sec int
	switch len(digits) {
	case 1, 2:
		h, _ = strconv.Atoi(digits)
	case 4:
		h, _ = strconv.Atoi(digits[:2])
		m, _ = strconv.Atoi(digits[2:])
	case 6:
		h, _ = strconv.Atoi(digits[:2])
		m, _ = strconv.Atoi(digits[2:4])
		sec, _ = strconv.Atoi(digits[4:])
	default:
		return 0, false
	}
	if h > 15 || m > 59 || sec > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60 + sec), true
}

func daysIn(year, month int, bc bool) int {
	if bc {
		year = 1 - year
	}
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
