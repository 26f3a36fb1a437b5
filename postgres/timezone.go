package postgres

import (
	"fmt"
	"strings"
	"time"
)

// IsUTC reports whether a TimeZone value is UTC by one of its names
// (UTC, Etc/UTC, GMT, Z, Zulu).
func IsUTC(tz string) bool {
	switch strings.ToUpper(tz) {
	case "UTC", "ETC/UTC", "GMT", "Z", "ZULU":
		return true
	}
	return false
}

// Location reads a TimeZone value: UTC by any of its names, or an IANA
// zone name. "Local" and "" are refused: the gateway's own zone is no
// session's.
func Location(tz string) (*time.Location, error) {
	if IsUTC(tz) {
		return time.UTC, nil
	}
	if tz == "" || tz == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	return time.LoadLocation(tz)
}
