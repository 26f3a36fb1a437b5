package postgres

// unitAliases are the spellings of date and time units PostgreSQL's
// date_trunc, date_part and intervals read ("yrs" is year).
var unitAliases = map[string]string{
	"y": "year", "yr": "year", "yrs": "year", "years": "year",
	"qtr": "quarter", "quarters": "quarter",
	"mon": "month", "mons": "month", "months": "month",
	"w": "week", "weeks": "week",
	"d": "day", "days": "day",
	"h": "hour", "hr": "hour", "hrs": "hour", "hours": "hour",
	"m": "minute", "min": "minute", "mins": "minute", "minutes": "minute",
	"s": "second", "sec": "second", "secs": "second", "seconds": "second",
	"ms": "milliseconds", "millisecond": "milliseconds", "msec": "milliseconds", "msecs": "milliseconds",
	"us": "microseconds", "microsecond": "microseconds", "usec": "microseconds", "usecs": "microseconds",
}

// Unit is a date or time unit's canonical name ("mons" → "month";
// "ms" → "milliseconds"); other words are returned as they are.
func Unit(u string) string {
	if a, ok := unitAliases[u]; ok {
		return a
	}
	return u
}
