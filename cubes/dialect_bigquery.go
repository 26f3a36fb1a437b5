package cubes

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(BigQuery{}) }

// BigQuery is GoogleSQL for BigQuery.
//
// Time: PostgreSQL's timestamp (without time zone) is a BigQuery
// TIMESTAMP read in UTC, as Cube's BigQuery driver has its time
// dimensions: truncation, series and interval arithmetic are done in UTC
// and give TIMESTAMP, so that they compare with TIMESTAMP columns (BigQuery
// compares no TIMESTAMP with a DATETIME); a wall-clock time of a zone
// (ConvertTz) is that zone's DATETIME read back as a UTC TIMESTAMP.
// Filter values are bound as STRING parameters, which BigQuery coerces to
// the column's type.
//
// Parameters are named, @p1, @p2, …: one argument may be referred to more
// than once.
type BigQuery struct{ pgDefaults }

func (BigQuery) Name() string { return "bigquery" }

// QuoteIdent: a quoted identifier is enclosed in backticks and reads
// escape sequences, so a backslash and a backtick are escaped.
func (BigQuery) QuoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}
func (BigQuery) Param(n int) string { return "@p" + strconv.Itoa(n) }

// ILike: BigQuery has no ILIKE; LIKE's escape character is the backslash,
// as the compiler's patterns are escaped.
func (BigQuery) ILike(expr, pat string) string {
	return "LOWER(" + expr + ") LIKE LOWER(" + pat + ")"
}

// bqParts are TIMESTAMP_TRUNC's date parts by PostgreSQL granularity;
// PostgreSQL's weeks start on Monday (ISOWEEK; BigQuery's WEEK is
// Sunday's).
var bqParts = map[string]string{
	"microsecond": "MICROSECOND", "millisecond": "MILLISECOND", "milliseconds": "MILLISECOND", "microseconds": "MICROSECOND",
	"second": "SECOND", "minute": "MINUTE", "hour": "HOUR", "day": "DAY", "week": "ISOWEEK",
	"month": "MONTH", "quarter": "QUARTER", "year": "YEAR",
}

func bqTimestamp(expr string) string { return "CAST(" + expr + " AS TIMESTAMP)" }

func (BigQuery) DateTrunc(g, expr string) string {
	part, ok := bqParts[g]
	if !ok {
		part = strings.ToUpper(g)
	}
	return "TIMESTAMP_TRUNC(" + bqTimestamp(expr) + ", " + part + ", 'UTC')"
}

// ConvertTz: the wall-clock time in tz (DATETIME(timestamp, tz)), as a
// UTC TIMESTAMP.
func (BigQuery) ConvertTz(expr, tz string) string {
	return "TIMESTAMP(DATETIME(" + bqTimestamp(expr) + ", " + tz + "), 'UTC')"
}

func bqLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05") + "+00'"
}

func (BigQuery) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	x := bqTimestamp(expr)
	since := "((EXTRACT(YEAR FROM " + x + " AT TIME ZONE 'UTC') - " + strconv.Itoa(origin.Year()) + ") * 12 + EXTRACT(MONTH FROM " + x +
		" AT TIME ZONE 'UTC') - " + strconv.Itoa(int(origin.Month())) + ")"
	// DATETIME_ADD adds months as PostgreSQL does (the last day of a
	// shorter month); TIMESTAMP_ADD adds no months.
	return "TIMESTAMP(DATETIME_ADD(DATETIME(" + bqLiteral(origin) + ", 'UTC'), INTERVAL CAST(FLOOR(" + since + " / " + n + ") AS INT64) * " + n + " MONTH), 'UTC')"
}

func (BigQuery) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	// Whole seconds from origin, floored: TIMESTAMP_DIFF counts whole
	// seconds toward zero, so before origin a fraction goes one further.
	micros := "(UNIX_MICROS(" + bqTimestamp(expr) + ") - UNIX_MICROS(" + bqLiteral(origin) + "))"
	return "TIMESTAMP_ADD(" + bqLiteral(origin) + ", INTERVAL CAST(FLOOR(" + micros + " / " + strconv.FormatInt(seconds*1e6, 10) + ") AS INT64) * " + n + " SECOND)"
}

func (BigQuery) ApproxCountDistinct(expr string) string {
	return "APPROX_COUNT_DISTINCT(" + expr + ")"
}

// CastType: BigQuery's types. PostgreSQL's numeric is exact and
// unbounded: BIGNUMERIC (76 digits, 38 decimals) bare, NUMERIC(p, s)
// where BigQuery's parameterized NUMERIC holds it, BIGNUMERIC(p, s) else.
func (BigQuery) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "SMALLINT", "INTEGER", "BIGINT":
		return "INT64", nil
	case "REAL", "DOUBLE PRECISION":
		return "FLOAT64", nil
	case "NUMERIC":
		if len(mods) == 0 {
			return "BIGNUMERIC", nil
		}
		p, _ := strconv.Atoi(mods[0])
		s := 0
		if len(mods) > 1 {
			s, _ = strconv.Atoi(mods[1])
		}
		ms := []string{strconv.Itoa(p), strconv.Itoa(s)}
		if s <= 9 && p >= max(1, s) && p <= s+29 {
			return "NUMERIC", ms
		}
		if s <= 38 && p >= max(1, s) && p <= s+38 {
			return "BIGNUMERIC", ms
		}
		return "BIGNUMERIC", nil
	case "TEXT", "VARCHAR", "CHAR", "UUID":
		return "STRING", nil
	case "BOOLEAN":
		return "BOOL", nil
	case "TIMESTAMPTZ":
		return "TIMESTAMP", nil
	}
	return name, mods // DATE, TIMESTAMP, TIME, INTERVAL
}

// CastText reads text as PostgreSQL's input functions do where
// BigQuery's CAST reads less: booleans written t/f, yes/no, on/off, 1/0;
// numbers with blanks around them; dates written YYYYMMDD.
func (BigQuery) CastText(expr, typ string) string {
	switch {
	case typ == "BOOL":
		v := "LOWER(TRIM(" + expr + "))"
		return "CASE WHEN " + v + " IN ('t', 'true', 'y', 'yes', 'on', '1') THEN TRUE WHEN " + v +
			" IN ('f', 'false', 'n', 'no', 'off', '0') THEN FALSE ELSE CAST(" + expr + " AS BOOL) END"
	case typ == "INT64", typ == "FLOAT64", strings.HasPrefix(typ, "NUMERIC"), strings.HasPrefix(typ, "BIGNUMERIC"):
		return "CAST(TRIM(" + expr + ") AS " + typ + ")"
	case typ == "DATE":
		return "COALESCE(SAFE_CAST(" + expr + " AS DATE), SAFE.PARSE_DATE('%Y%m%d', " + expr + "), CAST(" + expr + " AS DATE))"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

// Decimal: an exact NUMERIC (29 digits, 9 decimals) or BIGNUMERIC (38
// digits, 38 decimals) read from the literal's text; past those, and
// with an exponent, a FLOAT64.
func (BigQuery) Decimal(s string, bind func(any) string) (string, error) {
	if intPart, frac, _ := strings.Cut(s, "."); !strings.ContainsAny(s, "eE") {
		digits := len(strings.TrimLeft(intPart, "0"))
		switch {
		case digits <= 29 && len(frac) <= 9:
			return "CAST(" + bind(s) + " AS NUMERIC)", nil
		case digits <= 38 && len(frac) <= 38:
			return "CAST(" + bind(s) + " AS BIGNUMERIC)", nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid number %q", s)
	}
	return "CAST(" + bind(f) + " AS FLOAT64)", nil
}

func (BigQuery) TextArrays() bool { return false }
func (BigQuery) ListParams() bool { return false }

// Operator: BigQuery's / divides integers as FLOAT64 (PostgreSQL's as
// integers); the operands' types are not known here, so / is written as
// is (see the dialect's notes).
func (BigQuery) Operator(op string) string { return op }

func (BigQuery) RegexMatch(op, l, r string) (string, bool) {
	if strings.Contains(op, "*") {
		r = "CONCAT('(?i)', " + r + ")"
	}
	m := "REGEXP_CONTAINS(" + l + ", " + r + ")"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}

func (BigQuery) ArraySubquery(sub string) string { return "ARRAY(" + sub + ")" }

// Sort: BigQuery sorts NULLs first ascending and last descending;
// PostgreSQL the other way round.
func (BigQuery) Sort(expr, dir, nulls string) string {
	if dir == " DESC" {
		return SortNulls(expr, dir, nulls, " NULLS FIRST")
	}
	return SortNulls(expr, dir, nulls, " NULLS LAST")
}

func (BigQuery) OrderKey(pos int, _, _ string, desc bool) string {
	if desc {
		return strconv.Itoa(pos) + " DESC NULLS FIRST"
	}
	return strconv.Itoa(pos) + " ASC NULLS LAST"
}

func (BigQuery) AggregateFilter() bool { return false }
func (BigQuery) DistinctOn() bool      { return false }

// LimitOffset: BigQuery takes OFFSET only after a LIMIT.
func (BigQuery) LimitOffset(limit, offset string) string {
	s := ""
	limit, offset = bareParam(limit), bareParam(offset)
	if limit == "" && offset != "" {
		limit = "9223372036854775807"
	}
	if limit != "" {
		s += " LIMIT " + limit
	}
	if offset != "" {
		s += " OFFSET " + offset
	}
	return s
}

// DateDiff: unit boundaries crossed, as DATETIME_DIFF counts them (in
// UTC); weeks start on Monday.
func (BigQuery) DateDiff(unit, a, b string) string {
	part, ok := bqParts[unit]
	if !ok {
		part = strings.ToUpper(unit)
	}
	return "DATETIME_DIFF(DATETIME(" + bqTimestamp(b) + ", 'UTC'), DATETIME(" + bqTimestamp(a) + ", 'UTC'), " + part + ")"
}

// Interval: TIMESTAMP_ADD takes units up to DAY; months and years are
// added to the UTC DATETIME (DATETIME_ADD clamps to a month's last day
// as PostgreSQL does).
func (BigQuery) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		// Not "<n> <unit>" pairs: BigQuery reads it (or refuses it).
		return "(" + bqTimestamp(expr) + " " + string(op) + " CAST('" + strings.ReplaceAll(iv, "'", "") + "' AS INTERVAL))"
	}
	s := bqTimestamp(expr)
	for _, p := range parts {
		if p.N == 0 && len(parts) > 1 {
			continue
		}
		n := p.N
		if op == '-' {
			n = -n
		}
		unit := strings.ToUpper(p.Unit)
		switch p.Unit {
		case "week":
			n, unit = n*7, "DAY"
		case "month", "year":
			s = "TIMESTAMP(DATETIME_ADD(DATETIME(" + s + ", 'UTC'), INTERVAL " + strconv.FormatInt(n, 10) + " " + unit + "), 'UTC')"
			continue
		}
		s = "TIMESTAMP_ADD(" + s + ", INTERVAL " + strconv.FormatInt(n, 10) + " " + unit + ")"
	}
	return s
}

// Series: GENERATE_TIMESTAMP_ARRAY steps up to a DAY; month, quarter and
// year steps are dates (GENERATE_DATE_ARRAY) at UTC midnight, which month
// starts are.
func (d BigQuery) Series(g, from, to, step string) string {
	start := d.DateTrunc(g, "CAST("+from+" AS TIMESTAMP)")
	end := "CAST(" + to + " AS TIMESTAMP)"
	q := d.QuoteIdent("date_from")
	if parts, ok := IntervalParts(step); ok && len(parts) == 1 {
		p := parts[0]
		switch p.Unit {
		case "month", "year":
			return "SELECT TIMESTAMP(d, 'UTC') " + q + " FROM UNNEST(GENERATE_DATE_ARRAY(DATE(" + start + ", 'UTC'), DATE(" + end + ", 'UTC'), INTERVAL " +
				strconv.FormatInt(p.N, 10) + " " + strings.ToUpper(p.Unit) + ")) AS d"
		case "week":
			p = IntervalPart{N: p.N * 7, Unit: "day"}
		}
		return "SELECT d " + q + " FROM UNNEST(GENERATE_TIMESTAMP_ARRAY(" + start + ", " + end + ", INTERVAL " +
			strconv.FormatInt(p.N, 10) + " " + strings.ToUpper(p.Unit) + ")) AS d"
	}
	return "SELECT d " + q + " FROM UNNEST(GENERATE_TIMESTAMP_ARRAY(" + start + ", " + end + ", CAST('" + strings.ReplaceAll(step, "'", "") + "' AS INTERVAL))) AS d"
}

func (BigQuery) JudgesPostgresInput() bool { return false }

// bqNames are BigQuery's names for PostgreSQL functions where they
// differ; "" is one BigQuery does not have, or has with another meaning
// (ARRAY_AGG fails on NULL elements PostgreSQL keeps; percentile_cont
// is only analytic; LOG(x) is the natural logarithm; GREATEST/LEAST
// are written by the push-down itself).
var bqNames = map[string]string{
	"every": "LOGICAL_AND", "bool_and": "LOGICAL_AND", "bool_or": "LOGICAL_OR",
	"array_agg": "", "percentile_cont": "", "percentile_disc": "", "mode": "",
	"char_length": "CHAR_LENGTH", "character_length": "CHAR_LENGTH", "octet_length": "BYTE_LENGTH",
	"substring": "SUBSTR", "substr": "SUBSTR", "btrim": "TRIM", "ceiling": "CEIL",
	"cbrt": "", "age": "", "regexp_instr": "", "regexp_substr": "", "regexp_count": "", "regexp_like": "",
	"to_char": "", "generate_series": "", "str_to_date": "",
	// date_trunc and date_part are written by the push-down as
	// name('unit', x), which BigQuery has no function for: the names stay
	// unknown to BigQuery, which refuses the call (never a STRUCT).
	"date_trunc": "date_trunc", "date_part": "date_part",
}

func (BigQuery) FunctionName(name string) string {
	if n, ok := bqNames[name]; ok {
		return n
	}
	return strings.ToUpper(name)
}

func bqLacks(name string) error {
	return pgerr.New(pgerrcode.FeatureNotSupported, "function %s() is not available on bigquery", name)
}

// bqExtract are EXTRACT's fields with PostgreSQL's meaning, of a UTC
// TIMESTAMP x.
func bqExtract(field, x string) (string, bool) {
	e := func(part string) string { return "EXTRACT(" + part + " FROM " + x + " AT TIME ZONE 'UTC')" }
	switch field {
	case "year", "month", "day", "hour", "minute", "quarter", "isoyear":
		return e(strings.ToUpper(field)), true
	case "week":
		return e("ISOWEEK"), true
	case "doy":
		return e("DAYOFYEAR"), true
	case "dow":
		return "(" + e("DAYOFWEEK") + " - 1)", true
	case "isodow":
		return "(MOD(" + e("DAYOFWEEK") + " + 5, 7) + 1)", true
	case "second":
		return "(" + e("SECOND") + " + CAST(" + e("MICROSECOND") + " AS NUMERIC) / 1000000)", true
	case "milliseconds":
		return "(" + e("SECOND") + " * 1000 + CAST(" + e("MICROSECOND") + " AS NUMERIC) / 1000)", true
	case "microseconds":
		return "(" + e("SECOND") + " * 1000000 + " + e("MICROSECOND") + ")", true
	case "epoch":
		return "(CAST(UNIX_MICROS(" + x + ") AS NUMERIC) / 1000000)", true
	case "decade":
		return "CAST(FLOOR(" + e("YEAR") + " / 10) AS INT64)", true
	}
	return "", false
}

func (d BigQuery) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "greatest", "least":
		// PostgreSQL's skip NULLs; this engine's are NULL then.
		args, err := c.Args()
		return NullSkipping(strings.ToUpper(c.Name), args), true, err
	case "extract", "date_part":
		field, _ := c.Const(0)
		x, err := c.Arg(1)
		if err != nil {
			return "", true, err
		}
		s, ok := bqExtract(field, bqTimestamp(x))
		if !ok {
			return "", true, &ArgError{Arg: 0, Message: "EXTRACT(" + field + " …) is not available on bigquery"}
		}
		return s, true, nil
	case "timezone":
		// x AT TIME ZONE zone of a timestamp without time zone: the instant
		// whose wall-clock time in zone is x.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "TIMESTAMP(DATETIME(" + bqTimestamp(args[1]) + ", 'UTC'), " + args[0] + ")", true, nil
	case "to_timestamp", "to_date", "generate_series", "str_to_date", "array_upper", "array_lower", "to_char":
		return "", true, bqLacks(c.Name)
	case "ends_with":
		args, err := c.Args()
		return "ENDS_WITH(" + strings.Join(args, ", ") + ")", true, err
	case "substring", "substr":
		// PostgreSQL counts positions before the first character (and
		// takes none of them); BigQuery reads 0 as 1 and a negative
		// position from the end.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		from := "GREATEST(" + args[1] + ", 1)"
		if len(args) == 2 {
			return "SUBSTR(" + args[0] + ", " + from + ")", true, nil
		}
		return "SUBSTR(" + args[0] + ", " + from + ", GREATEST(" + args[1] + " + " + args[2] + " - " + from + ", 0))", true, nil
	case "concat":
		// PostgreSQL's concat skips NULLs; BigQuery's CONCAT is NULL then.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		for i, a := range args {
			args[i] = "COALESCE(CAST(" + a + " AS STRING), '')"
		}
		return "CONCAT(" + strings.Join(args, ", ") + ")", true, nil
	case "concat_ws":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		for i, a := range args[1:] {
			args[i+1] = "CAST(" + a + " AS STRING)"
		}
		// ARRAY_TO_STRING leaves NULL elements out, as concat_ws does.
		return "ARRAY_TO_STRING([" + strings.Join(args[1:], ", ") + "], " + args[0] + ")", true, nil
	case "split_part":
		n, ok := c.Const(2)
		k, err := strconv.Atoi(n)
		if !ok || err != nil || k < 1 {
			return "", true, &ArgError{Arg: 2, Message: "split_part() needs a positive constant field number on bigquery"}
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "CASE WHEN " + args[0] + " IS NULL OR " + args[1] + " IS NULL THEN NULL WHEN " + args[1] + " = '' THEN IF(" + strconv.Itoa(k) + " = 1, " + args[0] +
			", '') ELSE COALESCE(SPLIT(" + args[0] + ", " + args[1] + ")[SAFE_ORDINAL(" + strconv.Itoa(k) + ")], '') END", true, nil
	case "md5":
		x, err := c.Arg(0)
		return "TO_HEX(MD5(" + x + "))", true, err
	case "regexp_replace":
		// PostgreSQL replaces the first match unless the flags say g;
		// BigQuery replaces every match.
		if f, ok := c.Const(3); !ok || f != "g" {
			return "", true, &ArgError{Arg: min(3, c.NArgs-1), Message: "regexp_replace() is available on bigquery with the flag 'g' only"}
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "REGEXP_REPLACE(" + strings.Join(args[:3], ", ") + ")", true, nil
	case "log":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 1 {
			return "LOG10(" + args[0] + ")", true, nil
		}
		return "LOG(" + args[1] + ", " + args[0] + ")", true, nil
	case "pi":
		return "ACOS(-1)", true, nil
	case "degrees":
		x, err := c.Arg(0)
		return "(" + x + " * 180 / ACOS(-1))", true, err
	case "radians":
		x, err := c.Arg(0)
		return "(" + x + " * ACOS(-1) / 180)", true, err
	case "make_date":
		args, err := c.Args()
		return "DATE(" + strings.Join(args, ", ") + ")", true, err
	case "trunc":
		if c.NArgs == 1 {
			x, err := c.Arg(0)
			return "TRUNC(" + x + ")", true, err
		}
	case "lpad", "rpad":
		if c.NArgs == 2 {
			args, err := c.Args()
			return strings.ToUpper(c.Name) + "(" + args[0] + ", " + args[1] + ", ' ')", true, err
		}
	}
	return "", false, nil
}

// Concat: CONCAT is NULL when a part is, as || is in PostgreSQL.
func (BigQuery) Concat(parts ...string) string { return "CONCAT(" + strings.Join(parts, ", ") + ")" }

// Derived: see Dialect.
func (d BigQuery) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedByUnion(d, sql, table, alias, cols)
}

// DateAdd: TIMESTAMP_ADD up to days; months and years on the UTC
// datetime (clamped to the month's end, as PostgreSQL's interval is).
func (BigQuery) DateAdd(unit, n, x string) string {
	switch unit {
	case "week":
		return "TIMESTAMP_ADD(" + x + ", INTERVAL (7 * " + n + ") DAY)"
	case "month", "year":
		return "TIMESTAMP(DATETIME_ADD(DATETIME(" + x + ", 'UTC'), INTERVAL " + n + " " + strings.ToUpper(unit) + "), 'UTC')"
	}
	return "TIMESTAMP_ADD(" + x + ", INTERVAL " + n + " " + strings.ToUpper(unit) + ")"
}

// Binary: / of two visibly integer operands divides as PostgreSQL's
// integer / does (BigQuery's / is FLOAT64 division).
func (BigQuery) Binary(op, l, r string) (string, bool) {
	if op == "/" && IntExpr(BigQuery{}, l) && IntExpr(BigQuery{}, r) {
		return "DIV(" + l + ", " + r + ")", true
	}
	return "", false
}
