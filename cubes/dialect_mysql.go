package cubes

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(MySQL{}) }

// MySQL is MySQL's and MariaDB's dialect (tested on MariaDB 10.11), with
// PostgreSQL's meaning. The driver (warehouse/mysql) sets the session it
// relies on: time_zone '+00:00' (DATETIME values are UTC),
// sql_mode with NO_BACKSLASH_ESCAPES (string literals read as
// PostgreSQL's standard strings: '\' is one backslash), and
// div_precision_increment 30 (a decimal quotient keeps 30 decimals, not
// 4, so floor(a / b) is not rounded up across an integer).
//
// Identifiers are quoted with backticks, which read the same whatever
// the sql_mode (ANSI_QUOTES or not), so a model's own SQL keeps its
// double-quoted strings. Parameters are $n; the driver rewrites them to ?
// (sqldb.Positional).
//
// What MySQL cannot say with PostgreSQL's meaning is refused (0A000) or,
// where the Dialect interface leaves no refusal, documented here:
//   - an integer divided by an integer: PostgreSQL truncates, MySQL's /
//     gives a decimal. Without operand types, / is written as / (exact for
//     numeric and float operands) and as DIV (truncating toward zero, as
//     PostgreSQL does) only when both sides are visibly integers: a
//     COUNT(…), a cast to SIGNED, an integer constant.
//   - ORDER BY: MySQL has no NULLS FIRST/LAST and sorts NULLs first
//     ascending; the compiler's keys and the push-down's put (x) IS NULL
//     before each key, so NULLs sort as PostgreSQL sorts them.
//   - string comparisons follow the columns' collations: with a _ci
//     collation (MySQL's default) = and LIKE ignore case.
type MySQL struct{}

func (MySQL) Name() string { return "mysql" }
func (MySQL) QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
func (MySQL) Param(n int) string { return "$" + strconv.Itoa(n) }

// ILike: LIKE of lowered text (LIKE's own case sensitivity is the
// collation's); with NO_BACKSLASH_ESCAPES '\' is one backslash, LIKE's
// default escape as PostgreSQL's.
func (MySQL) ILike(expr, pat string) string {
	return "LOWER(" + expr + ") LIKE LOWER(" + pat + `) ESCAPE '\'`
}

// DateTrunc returns a DATETIME; weeks start on Monday (ISO), as
// PostgreSQL's.
func (MySQL) DateTrunc(g, expr string) string {
	switch g {
	case "second":
		return "CAST(DATE_FORMAT(" + expr + ", '%Y-%m-%d %H:%i:%s') AS DATETIME)"
	case "minute":
		return "CAST(DATE_FORMAT(" + expr + ", '%Y-%m-%d %H:%i:00') AS DATETIME)"
	case "hour":
		return "CAST(DATE_FORMAT(" + expr + ", '%Y-%m-%d %H:00:00') AS DATETIME)"
	case "day":
		return "CAST(CAST(" + expr + " AS DATE) AS DATETIME)"
	case "week":
		return "CAST(CAST(" + expr + " AS DATE) - INTERVAL WEEKDAY(" + expr + ") DAY AS DATETIME)"
	case "month":
		return "CAST(DATE_FORMAT(" + expr + ", '%Y-%m-01') AS DATETIME)"
	case "quarter":
		return "CAST(MAKEDATE(YEAR(" + expr + "), 1) + INTERVAL (QUARTER(" + expr + ") - 1) QUARTER AS DATETIME)"
	case "year":
		return "CAST(MAKEDATE(YEAR(" + expr + "), 1) AS DATETIME)"
	}
	return "CAST(" + expr + " AS DATETIME(6))"
}

// ConvertTz: CONVERT_TZ from UTC; named zones need the server's
// time-zone tables (mariadb-tzinfo-to-sql), without which it is NULL.
func (MySQL) ConvertTz(expr, tz string) string {
	return "CONVERT_TZ(" + expr + ", '+00:00', " + tz + ")"
}

// myFloorDiv is floor(a / b) for integers a and b > 0 (DIV truncates
// toward zero).
func myFloorDiv(a, b string) string {
	return "(" + a + " DIV " + b + " - (" + a + " MOD " + b + " < 0))"
}

func (MySQL) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	since := "((YEAR(" + expr + ") - " + strconv.Itoa(origin.Year()) + ") * 12 + MONTH(" + expr + ") - " + strconv.Itoa(int(origin.Month())) + ")"
	return "(" + timestampLiteral(origin) + " + INTERVAL (" + myFloorDiv(since, n) + " * " + n + ") MONTH)"
}

func (MySQL) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	us := strconv.FormatInt(seconds*1000000, 10)
	since := "TIMESTAMPDIFF(MICROSECOND, " + timestampLiteral(origin) + ", " + expr + ")"
	return "(" + timestampLiteral(origin) + " + INTERVAL (" + myFloorDiv(since, us) + " * " + n + ") SECOND)"
}

// ApproxCountDistinct is exact: MySQL has no sketch.
func (MySQL) ApproxCountDistinct(expr string) string { return "COUNT(DISTINCT " + expr + ")" }

func (MySQL) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "SMALLINT", "INTEGER", "BIGINT":
		return "SIGNED", nil
	case "REAL":
		return "FLOAT", nil
	case "DOUBLE PRECISION":
		return "DOUBLE", nil
	case "NUMERIC":
		if len(mods) == 0 {
			// PostgreSQL's numeric is unbounded: MySQL's widest decimal.
			return "DECIMAL", []string{"65", "30"}
		}
		return "DECIMAL", mods
	case "TEXT", "VARCHAR", "CHAR":
		return "CHAR", mods
	case "UUID":
		return "CHAR", []string{"36"}
	case "DATE":
		return "DATE", nil
	case "TIMESTAMP", "TIMESTAMPTZ":
		return "DATETIME", []string{"6"}
	case "TIME":
		return "TIME", []string{"6"}
	case "BOOLEAN":
		// MySQL's booleans are integers (TRUE is 1); text is read by
		// CastText.
		return "SIGNED", nil
	case "INTERVAL":
		return "", nil // MySQL has no interval values: refused (0A000)
	}
	return name, mods
}

// CastText reads booleans as PostgreSQL's boolin does (NULL for text it
// would refuse) and dates written YYYYMMDD.
func (MySQL) CastText(expr, typ string) string {
	if typ == "SIGNED" {
		// A cast to an integer type or to BOOLEAN: text that is a
		// boolean is one.
		l := "LOWER(TRIM(" + expr + "))"
		return "CASE WHEN " + l + " IN ('t', 'true', 'y', 'yes', 'on') THEN 1 WHEN " + l + " IN ('f', 'false', 'n', 'no', 'off') THEN 0 ELSE CAST(" + expr + " AS SIGNED) END"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

func (MySQL) Decimal(s string, bind func(any) string) (string, error) {
	if intPart, frac, ok := strings.Cut(s, "."); !strings.ContainsAny(s, "eE") && len(frac) <= 30 && len(strings.TrimLeft(intPart, "0"))+len(frac) <= 65 {
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

func (MySQL) TextArrays() bool { return false }
func (MySQL) ListParams() bool { return false }

func (MySQL) Operator(op string) string { return op }

// RegexMatch: PCRE2 (MariaDB 10.5+) with the case sensitivity forced,
// whatever the collation.
func (MySQL) RegexMatch(op, l, r string) (string, bool) {
	flag := "'(?-i)'"
	if strings.Contains(op, "*") {
		flag = "'(?i)'"
	}
	m := "(" + l + " REGEXP CONCAT(" + flag + ", " + r + "))"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}

// ArraySubquery: MySQL has no arrays. The push-down writes it only for
// ARRAY(…), which the statement then cannot have; an always-failing
// subquery would be wrong, so the text says so to the server: a syntax
// error (42601).
func (MySQL) ArraySubquery(sub string) string { return "ARRAY(" + sub + ")" }

// Sort places NULLs as PostgreSQL does (last ascending, first
// descending) with a leading IS NULL key; MySQL has no NULLS FIRST/LAST
// and sorts NULLs first ascending.
func (MySQL) Sort(expr, dir, nulls string) string {
	desc := dir == " DESC"
	if nulls == "" {
		nulls = "LAST"
		if desc {
			nulls = "FIRST"
		}
	}
	switch {
	case nulls == "FIRST" && !desc, nulls == "LAST" && desc:
		return expr + dir // MySQL's own order
	case nulls == "FIRST":
		return "(" + expr + ") IS NULL DESC, " + expr + dir
	}
	return "(" + expr + ") IS NULL, " + expr + dir
}

func (MySQL) Binary(op, l, r string) (string, bool) {
	switch op {
	case "||":
		return "CONCAT(" + l + ", " + r + ")", true
	case "^":
		return "POWER(" + l + ", " + r + ")", true
	case "/":
		if IntExpr(MySQL{}, l) && IntExpr(MySQL{}, r) {
			return "(" + l + " DIV " + r + ")", true
		}
	case "LIKE", "NOT LIKE":
		// PostgreSQL's LIKE escapes with a backslash; the session's
		// NO_BACKSLASH_ESCAPES makes '\' one character.
		return "(" + l + " " + op + " " + r + " ESCAPE '\\')", true
	case "ILIKE", "NOT ILIKE":
		return "(LOWER(" + l + ") " + strings.TrimSuffix(op, "ILIKE") + "LIKE LOWER(" + r + ") ESCAPE '\\')", true
	case "IS DISTINCT FROM":
		return "(NOT (" + l + " <=> " + r + "))", true
	case "IS NOT DISTINCT FROM":
		return "(" + l + " <=> " + r + ")", true
	}
	return "", false
}

func (MySQL) AggregateFilter() bool { return false }
func (MySQL) DistinctOn() bool      { return false }

// DateDiff counts unit boundaries crossed (Redshift's DATEDIFF), not
// whole units elapsed (TIMESTAMPDIFF's).
func (d MySQL) DateDiff(unit, a, b string) string {
	var s string
	switch unit {
	case "year":
		s = "YEAR(" + b + ") - YEAR(" + a + ")"
	case "quarter":
		s = "(YEAR(" + b + ") - YEAR(" + a + ")) * 4 + QUARTER(" + b + ") - QUARTER(" + a + ")"
	case "month":
		s = "(YEAR(" + b + ") - YEAR(" + a + ")) * 12 + MONTH(" + b + ") - MONTH(" + a + ")"
	case "week":
		s = "DATEDIFF(" + d.DateTrunc("week", b) + ", " + d.DateTrunc("week", a) + ") DIV 7"
	case "day":
		s = "DATEDIFF(" + b + ", " + a + ")"
	case "hour", "minute":
		s = "TIMESTAMPDIFF(" + strings.ToUpper(unit) + ", " + d.DateTrunc(unit, a) + ", " + d.DateTrunc(unit, b) + ")"
	default:
		s = "TIMESTAMPDIFF(SECOND, " + d.DateTrunc("second", a) + ", " + d.DateTrunc("second", b) + ")"
	}
	return "CAST(" + s + " AS SIGNED)"
}

// mysqlNames are MySQL's names for PostgreSQL functions where they
// differ; "" is a function MySQL does not have with PostgreSQL's meaning.
var mysqlNames = map[string]string{
	// PostgreSQL's stddev and variance are the samples'; MySQL's the
	// population's.
	"stddev": "STDDEV_SAMP", "variance": "VAR_SAMP",
	// Booleans are 0 and 1.
	"bool_and": "MIN", "bool_or": "MAX", "every": "MIN",
	"length": "CHAR_LENGTH", "strpos": "INSTR", "pow": "POWER", "ceil": "CEILING", "log10": "LOG10",
	// string_agg's ORDER BY and DISTINCT would be lost in GROUP_CONCAT
	// written by Function (a Call has neither) and its result is cut at
	// group_concat_max_len.
	"string_agg": "", "array_agg": "", "percentile_cont": "", "percentile_disc": "", "mode": "",
	"initcap": "", "split_part": "", "cbrt": "", "to_char": "", "age": "", "make_date": "",
	"regexp_count": "", "regexp_like": "",
	// No date_trunc or date_part in MySQL: the push-down writes them as
	// calls of FunctionName's name, which cannot be refused (see
	// Function for the rendering a Call would allow).
	"date_trunc": "", "date_part": "",
	"generate_series": "", "array_upper": "", "array_lower": "", "to_timestamp": "", "to_date": "",
}

func (MySQL) FunctionName(name string) string {
	if n, ok := mysqlNames[name]; ok {
		return n
	}
	return strings.ToUpper(name)
}

// mysqlFields are EXTRACT's fields as MySQL expressions of x.
var mysqlFields = map[string]string{
	"year": "YEAR(x)", "month": "MONTH(x)", "day": "DAYOFMONTH(x)", "hour": "HOUR(x)", "minute": "MINUTE(x)",
	"second":       "(SECOND(x) + MICROSECOND(x) / 1000000)",
	"milliseconds": "(SECOND(x) * 1000 + MICROSECOND(x) / 1000)",
	"microseconds": "(SECOND(x) * 1000000 + MICROSECOND(x))",
	"quarter":      "QUARTER(x)", "week": "WEEK(x, 3)", "dow": "(DAYOFWEEK(x) - 1)", "isodow": "(WEEKDAY(x) + 1)",
	"doy": "DAYOFYEAR(x)", "isoyear": "(YEARWEEK(x, 3) DIV 100)",
	"epoch":   "(TIMESTAMPDIFF(MICROSECOND, TIMESTAMP '1970-01-01 00:00:00', x) / 1000000)",
	"decade":  "(YEAR(x) DIV 10)",
	"century": "((YEAR(x) - 1) DIV 100 + 1)", "millennium": "((YEAR(x) - 1) DIV 1000 + 1)",
}

func (d MySQL) Function(c Call) (string, bool, error) {
	lacks := func(i int, what string) (string, bool, error) {
		return "", true, &ArgError{Arg: i, Message: what + " is not available on mysql"}
	}
	switch c.Name {
	case "extract", "date_part":
		field, _ := c.Const(0)
		f, ok := mysqlFields[strings.ToLower(field)]
		if !ok {
			return lacks(0, "EXTRACT("+field+" FROM …)")
		}
		x, err := c.Arg(1)
		return strings.ReplaceAll(f, "x", "("+x+")"), true, err
	case "date_trunc":
		unit, _ := c.Const(0)
		if !Granularities[unit] {
			return lacks(0, "date_trunc('"+unit+"', …)")
		}
		x, err := c.Arg(1)
		return d.DateTrunc(unit, x), true, err
	case "timezone":
		// x AT TIME ZONE z means one thing for a timestamp and another for
		// a timestamptz, which MySQL does not tell apart.
		return lacks(0, "AT TIME ZONE")
	case "str_to_date":
		f, _ := c.Const(1)
		x, err := c.Arg(0)
		return "CAST(STR_TO_DATE(" + x + ", " + c.Bind(f) + ") AS DATETIME(6))", true, err
	case "ends_with", "starts_with":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		side := "RIGHT"
		if c.Name == "starts_with" {
			side = "LEFT"
		}
		// BINARY: exact, as PostgreSQL's = (a _ci collation is not).
		return "(BINARY " + side + "(" + args[0] + ", CHAR_LENGTH(" + args[1] + ")) = BINARY " + args[1] + ")", true, nil
	case "concat":
		// PostgreSQL's concat skips NULLs; MySQL's CONCAT is NULL then.
		args, err := c.Args()
		return "CONCAT_WS(''" + prefixed(args) + ")", true, err
	case "greatest", "least":
		// PostgreSQL's skip NULLs; MySQL's are NULL then.
		args, err := c.Args()
		return NullSkipping(strings.ToUpper(c.Name), args), true, err
	case "substring", "substr":
		// PostgreSQL counts from a start before 1 (substring('abc', 0, 2)
		// is 'a'); MySQL's counts a start below 1 from the end.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		from := "GREATEST(" + args[1] + ", 1)"
		if c.NArgs == 2 {
			return "SUBSTRING(" + args[0] + ", " + from + ")", true, nil
		}
		return "SUBSTRING(" + args[0] + ", " + from + ", GREATEST(" + args[1] + " + " + args[2] + " - " + from + ", 0))", true, nil
	case "btrim", "ltrim", "rtrim":
		if c.NArgs == 2 {
			// PostgreSQL trims any of the characters; MySQL's TRIM the
			// string.
			return lacks(1, c.Name+"(text, characters)")
		}
		x, err := c.Arg(0)
		return map[string]string{"btrim": "TRIM", "ltrim": "LTRIM", "rtrim": "RTRIM"}[c.Name] + "(" + x + ")", true, err
	case "lpad", "rpad":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 2 {
			args = append(args, "' '")
		}
		return strings.ToUpper(c.Name) + "(" + strings.Join(args, ", ") + ")", true, nil
	case "log":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 1 {
			return "LOG10(" + args[0] + ")", true, nil // PostgreSQL's log(x) is base 10
		}
		return "LOG(" + args[0] + ", " + args[1] + ")", true, nil
	case "trunc":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 1 {
			return "TRUNCATE(" + args[0] + ", 0)", true, nil
		}
		return "TRUNCATE(" + args[0] + ", " + args[1] + ")", true, nil
	case "pi":
		return "(PI() + 0e0)", true, nil // PI() alone is sent with 6 decimals
	case "lag", "lead":
		if c.NArgs == 3 {
			return lacks(2, c.Name+"()'s default")
		}
	case "regexp_replace":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		flags := ""
		if c.NArgs == 4 {
			f, ok := c.Const(3)
			if !ok || strings.Trim(f, "gi") != "" {
				return lacks(3, "regexp_replace()'s flags other than g and i")
			}
			flags = f
		}
		if !strings.Contains(flags, "g") {
			// MySQL replaces every match; PostgreSQL the first without g.
			return lacks(0, "regexp_replace() of the first match only")
		}
		return "REGEXP_REPLACE(" + args[0] + ", CONCAT(" + regexFlag(flags) + ", " + args[1] + "), " + args[2] + ")", true, nil
	case "regexp_instr", "regexp_substr":
		if c.NArgs > 2 {
			return lacks(2, c.Name+"() with more than two arguments")
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		pat := "CONCAT('(?-i)', " + args[1] + ")"
		if c.Name == "regexp_instr" {
			return "REGEXP_INSTR(" + args[0] + ", " + pat + ")", true, nil
		}
		// PostgreSQL's is NULL without a match; MySQL's ''.
		return "CASE WHEN " + args[0] + " REGEXP " + pat + " THEN REGEXP_SUBSTR(" + args[0] + ", " + pat + ") END", true, nil
	case "generate_series", "array_upper", "array_lower", "to_timestamp", "to_date":
		return lacks(0, c.Name+"()")
	}
	return "", false, nil
}

func regexFlag(flags string) string {
	if strings.Contains(flags, "i") {
		return "'(?i)'"
	}
	return "'(?-i)'"
}

func prefixed(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(", " + a)
	}
	return b.String()
}

func (MySQL) Concat(parts ...string) string { return "CONCAT(" + strings.Join(parts, ", ") + ")" }

// LimitOffset: MySQL's OFFSET needs a LIMIT; a derived table with a
// LIMIT is never merged into the query around it (the fence).
func (MySQL) LimitOffset(limit, offset string) string {
	limit, offset = bareParam(limit), bareParam(offset)
	if offset != "" && limit == "" {
		limit = "18446744073709551615"
	}
	s := ""
	if limit != "" {
		s += " LIMIT " + limit
	}
	if offset != "" {
		s += " OFFSET " + offset
	}
	return s
}

// OrderKey: NULLs last ascending and first descending, as PostgreSQL
// sorts them, by the column's expression (MariaDB refuses an expression
// over an aggregate's alias: error 1247).
func (MySQL) OrderKey(pos int, _, expr string, desc bool) string {
	if desc {
		return "(" + expr + ") IS NULL DESC, " + strconv.Itoa(pos) + " DESC"
	}
	return "(" + expr + ") IS NULL, " + strconv.Itoa(pos) + " ASC"
}
func (MySQL) GroupKey(pos int, _ string) string { return strconv.Itoa(pos) }

// Interval adds PostgreSQL interval text as MySQL's INTERVAL n UNIT
// terms, months before days before time as PostgreSQL adds them.
func (MySQL) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		// Not interval text the compiler writes: left for the server to
		// refuse.
		return "(" + expr + " " + string(op) + " INTERVAL '" + iv + "')"
	}
	rank := map[string]int{"year": 0, "month": 0, "week": 1, "day": 1}
	var b strings.Builder
	b.WriteString("(" + expr)
	for pass := 0; pass < 3; pass++ {
		for _, p := range parts {
			r, ok := rank[p.Unit]
			if !ok {
				r = 2
			}
			if r != pass {
				continue
			}
			n, unit := p.N, strings.ToUpper(p.Unit)
			if p.Unit == "millisecond" {
				n, unit = n*1000, "MICROSECOND"
			}
			fmt.Fprintf(&b, " %c INTERVAL %d %s", op, n, unit)
		}
	}
	b.WriteString(")")
	return b.String()
}

// Series is a recursive CTE in a derived table (MariaDB 10.2+, MySQL 8;
// MySQL's cte_max_recursion_depth, 1000 by default, bounds its rows
// there, MariaDB's max_recursive_iterations is 2^32).
func (d MySQL) Series(g, from, to, step string) string {
	next := d.Interval("`s`.`d`", '+', step)
	return "SELECT `s`.`d` " + d.QuoteIdent("date_from") + " FROM (WITH RECURSIVE `s` (`d`) AS (SELECT " +
		d.DateTrunc(g, "CAST("+from+" AS DATETIME(6))") + " UNION ALL SELECT CAST(" + next + " AS DATETIME) FROM `s` WHERE " +
		next + " <= CAST(" + to + " AS DATETIME(6))) SELECT `d` FROM `s`) AS `s`"
}

func (MySQL) FullJoin() bool            { return false }
func (MySQL) JudgesPostgresInput() bool { return false }

// Derived: see Dialect.
func (d MySQL) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedByUnion(d, sql, table, alias, cols)
}

// DateAdd: see Dialect.
func (MySQL) DateAdd(unit, n, x string) string {
	return "TIMESTAMPADD(" + strings.ToUpper(unit) + ", " + n + ", " + x + ")"
}

// SortByValue: Sort writes (x) IS NULL before each key; MariaDB refuses
// an output name of an aggregate in an expression (error 1247) and reads
// an ordinal in one as a constant.
func (MySQL) SortByValue() bool { return true }
