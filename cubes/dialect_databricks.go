package cubes

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(Databricks{}) }

// Databricks is Databricks SQL (Spark SQL, ANSI mode).
//
// Time: a Spark TIMESTAMP is read in the session's time zone, which the
// driver sets to UTC: PostgreSQL's timestamp is a TIMESTAMP read in UTC,
// and a wall-clock time of a zone (ConvertTz) is from_utc_timestamp's.
//
// Parameters are named markers, :p1, :p2, …, which Databricks SQL binds
// by name (one argument may be referred to more than once).
type Databricks struct{ pgDefaults }

func (Databricks) Name() string { return "databricks" }

// QuoteIdent: backticks, an embedded backtick doubled.
func (Databricks) QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
func (Databricks) Param(n int) string { return ":p" + strconv.Itoa(n) }

// ILike: Spark's ILIKE escapes with a backslash by default, as the
// compiler's patterns are escaped.
func (Databricks) ILike(expr, pat string) string { return expr + " ILIKE " + pat }

func dbxTimestamp(expr string) string { return "CAST(" + expr + " AS TIMESTAMP)" }

// DateTrunc: date_trunc(unit, ts) gives a TIMESTAMP; its weeks start on
// Monday, as PostgreSQL's.
func (Databricks) DateTrunc(g, expr string) string {
	return "date_trunc('" + strings.ToUpper(g) + "', " + dbxTimestamp(expr) + ")"
}

func (Databricks) ConvertTz(expr, tz string) string {
	return "from_utc_timestamp(" + dbxTimestamp(expr) + ", " + tz + ")"
}

func dbxLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05") + "'"
}

func (Databricks) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	x := dbxTimestamp(expr)
	since := "((year(" + x + ") - " + strconv.Itoa(origin.Year()) + ") * 12 + month(" + x + ") - " + strconv.Itoa(int(origin.Month())) + ")"
	// / divides as a DOUBLE: floor gives the period PostgreSQL's does.
	return "timestampadd(MONTH, CAST(floor(" + since + " / " + n + ") AS INT) * " + n + ", " + dbxLiteral(origin) + ")"
}

func (Databricks) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	micros := "(unix_micros(" + dbxTimestamp(expr) + ") - unix_micros(" + dbxLiteral(origin) + "))"
	return "timestampadd(SECOND, CAST(floor(" + micros + " / " + strconv.FormatInt(seconds*1e6, 10) + ") AS BIGINT) * " + n + ", " + dbxLiteral(origin) + ")"
}

func (Databricks) ApproxCountDistinct(expr string) string {
	return "approx_count_distinct(" + expr + ")"
}

// CastType: Spark's types. Its bare DECIMAL is DECIMAL(10, 0): PostgreSQL's
// unbounded numeric is DECIMAL(38, 10) here, as on DuckDB. STRING for
// text (Spark's VARCHAR needs a length and pads nothing).
func (Databricks) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "SMALLINT", "BIGINT", "BOOLEAN", "DATE", "TIMESTAMP", "INTERVAL":
		return name, nil
	case "INTEGER":
		return "INT", nil
	case "REAL":
		return "FLOAT", nil
	case "DOUBLE PRECISION":
		return "DOUBLE", nil
	case "NUMERIC":
		if len(mods) == 0 {
			return "DECIMAL", []string{"38", "10"}
		}
		return "DECIMAL", mods
	case "TEXT", "VARCHAR", "CHAR", "UUID":
		return "STRING", nil
	case "TIMESTAMPTZ":
		return "TIMESTAMP", nil
	}
	return name, mods // TIME: Spark has none and refuses the cast
}

func (Databricks) CastText(expr, typ string) string {
	if typ == "DATE" || typ == "TIMESTAMP" {
		// PostgreSQL also reads dates written YYYYMMDD.
		return "COALESCE(try_cast(" + expr + " AS " + typ + "), CAST(try_to_timestamp(" + expr + ", 'yyyyMMdd') AS " + typ + "), CAST(" + expr + " AS " + typ + "))"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

// Decimal: an exact DECIMAL as wide as the literal (38 digits at most),
// else a DOUBLE.
func (Databricks) Decimal(s string, bind func(any) string) (string, error) {
	if intPart, frac, ok := strings.Cut(s, "."); !strings.ContainsAny(s, "eE") && len(strings.TrimLeft(intPart, "0"))+len(frac) <= 38 {
		scale := 0
		if ok {
			scale = len(frac)
		}
		prec := max(len(strings.TrimLeft(intPart, "0"))+scale, 1)
		return "CAST(" + bind(s) + " AS DECIMAL(" + strconv.Itoa(prec) + ", " + strconv.Itoa(scale) + "))", nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid number %q", s)
	}
	return "CAST(" + bind(f) + " AS DOUBLE)", nil
}

func (Databricks) TextArrays() bool { return false }
func (Databricks) ListParams() bool { return false }

// Operator: Spark's / divides integers as DOUBLE (PostgreSQL's as
// integers) and its div makes a BIGINT of decimals too; the operands'
// types are not known here, so / is written as is (see the notes).
func (Databricks) Operator(op string) string { return op }

// RegexMatch: RLIKE (Java regular expressions).
func (Databricks) RegexMatch(op, l, r string) (string, bool) {
	if strings.Contains(op, "*") {
		r = "concat('(?i)', " + r + ")"
	}
	m := "(" + l + " RLIKE " + r + ")"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}

// ArraySubquery: Spark has no ARRAY(subquery); collect_list gathers the
// subquery's values.
func (Databricks) ArraySubquery(sub string) string {
	return "(SELECT collect_list(x) FROM (" + sub + ") AS t(x))"
}

// Sort: Spark sorts NULLs first ascending and last descending;
// PostgreSQL the other way round.
func (Databricks) Sort(expr, dir, nulls string) string {
	if dir == " DESC" {
		return SortNulls(expr, dir, nulls, " NULLS FIRST")
	}
	return SortNulls(expr, dir, nulls, " NULLS LAST")
}

func (Databricks) OrderKey(pos int, _, _ string, desc bool) string {
	if desc {
		return strconv.Itoa(pos) + " DESC NULLS FIRST"
	}
	return strconv.Itoa(pos) + " ASC NULLS LAST"
}

func (Databricks) DistinctOn() bool { return false }

// LimitOffset: LIMIT and OFFSET (Databricks SQL takes OFFSET alone) of a
// literal or a parameter marker.
func (Databricks) LimitOffset(limit, offset string) string {
	return pgDefaults{}.LimitOffset(bareParam(limit), bareParam(offset))
}

// DateDiff: unit boundaries crossed (Redshift's DATEDIFF); Databricks'
// own datediff(unit, …) counts whole units elapsed instead.
func (d Databricks) DateDiff(unit, a, b string) string {
	a, b = dbxTimestamp(a), dbxTimestamp(b)
	var s string
	switch unit {
	case "year":
		s = "year(" + b + ") - year(" + a + ")"
	case "quarter":
		s = "(year(" + b + ") - year(" + a + ")) * 4 + quarter(" + b + ") - quarter(" + a + ")"
	case "month":
		s = "(year(" + b + ") - year(" + a + ")) * 12 + month(" + b + ") - month(" + a + ")"
	case "week":
		s = "datediff(CAST(" + d.DateTrunc("week", b) + " AS DATE), CAST(" + d.DateTrunc("week", a) + " AS DATE)) div 7"
	case "day":
		s = "datediff(CAST(" + b + " AS DATE), CAST(" + a + " AS DATE))"
	case "hour", "minute", "second":
		per := map[string]string{"hour": "3600", "minute": "60", "second": "1"}[unit]
		s = "(unix_seconds(" + d.DateTrunc(unit, b) + ") - unix_seconds(" + d.DateTrunc(unit, a) + ")) div " + per
	default:
		s = "unix_seconds(" + b + ") - unix_seconds(" + a + ")"
	}
	return "CAST(" + s + " AS BIGINT)"
}

// Interval: timestampadd per unit (it adds months as PostgreSQL does,
// clamped to a month's last day).
func (Databricks) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		return "(" + dbxTimestamp(expr) + " " + string(op) + " INTERVAL '" + strings.ReplaceAll(iv, "'", "") + "')"
	}
	s := dbxTimestamp(expr)
	for _, p := range parts {
		if p.N == 0 && len(parts) > 1 {
			continue
		}
		n := p.N
		if op == '-' {
			n = -n
		}
		s = "timestampadd(" + strings.ToUpper(p.Unit) + ", " + strconv.FormatInt(n, 10) + ", " + s + ")"
	}
	return s
}

// Series: sequence over timestamps with a make_interval step, exploded.
func (d Databricks) Series(g, from, to, step string) string {
	start := d.DateTrunc(g, from)
	end := dbxTimestamp(to)
	iv := "INTERVAL '" + strings.ReplaceAll(step, "'", "") + "'"
	if parts, ok := IntervalParts(step); ok {
		var y, mo, w, dd, h, mi, sec int64
		var frac float64
		for _, p := range parts {
			switch p.Unit {
			case "year":
				y += p.N
			case "month":
				mo += p.N
			case "week":
				w += p.N
			case "day":
				dd += p.N
			case "hour":
				h += p.N
			case "minute":
				mi += p.N
			case "second":
				sec += p.N
			case "millisecond":
				frac += float64(p.N) / 1e3
			case "microsecond":
				frac += float64(p.N) / 1e6
			}
		}
		f := func(n int64) string { return strconv.FormatInt(n, 10) }
		secs := strconv.FormatFloat(float64(sec)+frac, 'f', -1, 64)
		iv = "make_interval(" + f(y) + ", " + f(mo) + ", " + f(w) + ", " + f(dd) + ", " + f(h) + ", " + f(mi) + ", " + secs + ")"
	}
	return "SELECT d " + d.QuoteIdent("date_from") + " FROM (SELECT explode(sequence(" + start + ", " + end + ", " + iv + ")) AS d) AS s"
}

func (Databricks) JudgesPostgresInput() bool { return false }

// dbxNames are Spark's names for PostgreSQL functions where they differ;
// "" is one it does not have, or has with another meaning (collect_list
// drops the NULLs array_agg keeps; trunc truncates dates; 2-argument
// ltrim/rtrim take their arguments the other way round).
var dbxNames = map[string]string{
	"array_agg": "", "string_agg": "", "mode": "",
	"strpos": "instr", "starts_with": "startswith", "ceiling": "ceil",
	"age": "", "regexp_instr": "", "regexp_substr": "", "regexp_count": "", "regexp_like": "",
	"to_char": "", "generate_series": "", "str_to_date": "",
}

func (Databricks) FunctionName(name string) string {
	if n, ok := dbxNames[name]; ok {
		return n
	}
	return name
}

func dbxLacks(name string) error {
	return pgerr.New(pgerrcode.FeatureNotSupported, "function %s() is not available on databricks", name)
}

func (d Databricks) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "extract", "date_part":
		field, _ := c.Const(0)
		x, err := c.Arg(1)
		if err != nil {
			return "", true, err
		}
		x = dbxTimestamp(x)
		switch field {
		case "year", "quarter", "month", "day", "hour", "minute", "second", "week", "doy":
			// SECOND keeps its fraction, as PostgreSQL's does.
			return "extract(" + strings.ToUpper(field) + " FROM " + x + ")", true, nil
		case "dow":
			return "(dayofweek(" + x + ") - 1)", true, nil
		case "isodow":
			return "extract(DOW_ISO FROM " + x + ")", true, nil
		case "isoyear":
			return "extract(YEAROFWEEK FROM " + x + ")", true, nil
		case "epoch":
			return "(CAST(unix_micros(" + x + ") AS DECIMAL(38, 6)) / 1000000)", true, nil
		case "decade":
			return "CAST(floor(year(" + x + ") / 10) AS BIGINT)", true, nil
		case "milliseconds":
			return "(extract(SECOND FROM " + x + ") * 1000)", true, nil
		case "microseconds":
			return "CAST(extract(SECOND FROM " + x + ") * 1000000 AS BIGINT)", true, nil
		}
		return "", true, &ArgError{Arg: 0, Message: "EXTRACT(" + field + " …) is not available on databricks"}
	case "timezone":
		// x AT TIME ZONE zone of a timestamp without time zone: the instant
		// whose wall-clock time in zone is x.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "to_utc_timestamp(" + dbxTimestamp(args[1]) + ", " + args[0] + ")", true, nil
	case "to_timestamp", "to_date", "generate_series", "str_to_date", "array_upper", "array_lower", "to_char":
		return "", true, dbxLacks(c.Name)
	case "ends_with":
		args, err := c.Args()
		return "endswith(" + strings.Join(args, ", ") + ")", true, err
	case "substring", "substr":
		// PostgreSQL counts positions before the first character (and
		// takes none of them); Spark reads 0 as 1 and a negative position
		// from the end.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		from := "greatest(" + args[1] + ", 1)"
		if len(args) == 2 {
			return "substring(" + args[0] + ", " + from + ")", true, nil
		}
		return "substring(" + args[0] + ", " + from + ", greatest(" + args[1] + " + " + args[2] + " - " + from + ", 0))", true, nil
	case "concat":
		// concat is NULL with a NULL part; PostgreSQL's skips it, as
		// concat_ws does.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		for i, a := range args {
			args[i] = "CAST(" + a + " AS STRING)"
		}
		return "concat_ws(''," + " " + strings.Join(args, ", ") + ")", true, nil
	case "concat_ws":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		for i, a := range args[1:] {
			args[i+1] = "CAST(" + a + " AS STRING)"
		}
		return "concat_ws(" + strings.Join(args, ", ") + ")", true, nil
	case "ltrim", "rtrim":
		if c.NArgs == 2 {
			args, err := c.Args()
			side := map[string]string{"ltrim": "LEADING", "rtrim": "TRAILING"}[c.Name]
			return "trim(" + side + " " + args[1] + " FROM " + args[0] + ")", true, err
		}
	case "btrim":
		if c.NArgs == 2 {
			args, err := c.Args()
			return "trim(BOTH " + args[1] + " FROM " + args[0] + ")", true, err
		}
		x, err := c.Arg(0)
		return "trim(" + x + ")", true, err
	case "regexp_replace":
		// PostgreSQL replaces the first match unless the flags say g;
		// Spark replaces every match.
		if f, ok := c.Const(3); !ok || f != "g" {
			return "", true, &ArgError{Arg: min(3, c.NArgs-1), Message: "regexp_replace() is available on databricks with the flag 'g' only"}
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "regexp_replace(" + strings.Join(args[:3], ", ") + ")", true, nil
	case "log":
		if c.NArgs == 1 {
			x, err := c.Arg(0)
			return "log10(" + x + ")", true, err
		}
	case "trunc":
		if c.NArgs == 2 {
			return "", true, &ArgError{Arg: 1, Message: "trunc(x, n) is not available on databricks"}
		}
		x, err := c.Arg(0)
		return "CASE WHEN " + x + " < 0 THEN ceil(" + x + ") ELSE floor(" + x + ") END", true, err
	}
	return "", false, nil
}

// Derived: see Dialect.
func (d Databricks) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedList(d, sql, table, alias, cols)
}

// DateAdd: see Dialect.
func (Databricks) DateAdd(unit, n, x string) string {
	return "timestampadd(" + strings.ToUpper(unit) + ", " + n + ", " + x + ")"
}

// Binary: / of two visibly integer operands divides as PostgreSQL's
// integer / does (Spark's / is DOUBLE division).
func (Databricks) Binary(op, l, r string) (string, bool) {
	if op == "/" && IntExpr(Databricks{}, l) && IntExpr(Databricks{}, r) {
		return "(" + l + " div " + r + ")", true
	}
	return "", false
}
