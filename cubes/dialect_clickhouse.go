package cubes

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(ClickHouse{}) }

// ClickHouse is ClickHouse's dialect, written for a current ClickHouse
// with PostgreSQL's meaning and run live on 18.16 where 18.16 can (see
// warehouse/clickhouse's tests for what needs a newer server: several
// JOINs in one SELECT, correlated subqueries, inequality JOIN
// conditions). The driver (warehouse/clickhouse) sets join_use_nulls=1
// (an outer join's missing side is NULL) and requires the session's time
// zone to be UTC: DateTime values are UTC wall-clock times.
//
// Identifiers are quoted with backticks; parameters are $n, which
// clickhouse-go binds client-side (the driver quotes and escapes the
// values).
//
// What ClickHouse cannot say with PostgreSQL's meaning is refused
// (0A000) or, where the Dialect interface leaves no refusal, documented
// here:
//   - / is float division in ClickHouse; an integer divided by an integer
//     is written intDiv (truncating toward zero, as PostgreSQL) when both
//     sides are visibly integers (count(), a cast to an integer type, an
//     integer constant). Otherwise / stays: exact for floats; a Decimal
//     quotient keeps the left operand's scale (PostgreSQL's numeric
//     keeps more), and x / 0 is inf or NaN, not an error.
//   - ORDER BY and GROUP BY keys are the columns' aliases, never
//     ordinals (ClickHouse's ORDER BY 1 sorts by the constant 1); NULLs
//     are placed as PostgreSQL places them with explicit NULLS FIRST/LAST.
//   - DateTime has whole seconds (18.16 has no DateTime64): a
//     millisecond interval moves a bound to the whole second that keeps
//     x <= bound meaning what it means for whole-second x.
//   - a cast keeps a NULL only where the server has cast_keep_nullable
//     (the driver sets it); 18.16 refuses a cast of a NULL (see
//     CastType).
//   - an alias in a SELECT list is visible in its WHERE (ClickHouse
//     resolves names to aliases first): the compiler's aliases
//     (cube__member) never shadow a column.
type ClickHouse struct{}

func (ClickHouse) Name() string { return "clickhouse" }
func (ClickHouse) QuoteIdent(s string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(s) + "`"
}
func (ClickHouse) Param(n int) string { return "$" + strconv.Itoa(n) }

// ILike: LIKE of the UTF-8 lowered text (ilike exists in current
// ClickHouse only); LIKE's escape is a backslash, as PostgreSQL's.
func (ClickHouse) ILike(expr, pat string) string {
	return "lowerUTF8(" + expr + ") LIKE lowerUTF8(" + pat + ")"
}

// DateTrunc returns a DateTime; weeks start on Monday (ISO), as
// PostgreSQL's. DateTime has whole seconds: a second is the value.
func (ClickHouse) DateTrunc(g, expr string) string {
	switch g {
	case "second":
		return "toDateTime(" + expr + ")"
	case "minute":
		return "toStartOfMinute(" + expr + ")"
	case "hour":
		return "toStartOfHour(" + expr + ")"
	case "day":
		return "toStartOfDay(" + expr + ")"
	case "week":
		return "toDateTime(toMonday(" + expr + "))"
	case "month":
		return "toDateTime(toStartOfMonth(" + expr + "))"
	case "quarter":
		return "toDateTime(toStartOfQuarter(" + expr + "))"
	case "year":
		return "toDateTime(toStartOfYear(" + expr + "))"
	}
	return "toDateTime(" + expr + ")"
}

// ConvertTz: the wall-clock time in tz of a UTC DateTime, as a UTC
// DateTime (PostgreSQL's timestamp AT TIME ZONE): toTimeZone only changes
// the zone the instant is shown in, so its text is read back as UTC.
// tz is a bound value (a constant, as toTimeZone needs).
func (ClickHouse) ConvertTz(expr, tz string) string {
	return "toDateTime(toString(toTimeZone(" + expr + ", " + tz + ")), 'UTC')"
}

func chDateTimeLiteral(t time.Time) string {
	return "toDateTime('" + t.Format("2006-01-02 15:04:05") + "')"
}

func (ClickHouse) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	since := "((toYear(" + expr + ") - " + strconv.Itoa(origin.Year()) + ") * 12 + toMonth(" + expr + ") - " + strconv.Itoa(int(origin.Month())) + ")"
	return "addMonths(" + chDateTimeLiteral(origin) + ", toInt64(floor(" + since + " / " + n + ")) * " + n + ")"
}

func (ClickHouse) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	o := strconv.FormatInt(origin.Unix(), 10)
	return "toDateTime(" + o + " + toInt64(floor((toInt64(toDateTime(" + expr + ")) - " + o + ") / " + n + ")) * " + n + ")"
}

// ApproxCountDistinct: uniq (an adaptive sample, as HLL).
func (ClickHouse) ApproxCountDistinct(expr string) string { return "uniq(" + expr + ")" }

// CastType: the modifiers are written into the type. A cast keeps a
// NULL: the driver sets cast_keep_nullable (a current ClickHouse); 18.16
// has no such setting and refuses a cast of a NULL to a plain type
// (code 349), which is still better than Nullable(T) constants there:
// coalesce(sum(x), CAST(0 AS Nullable(Int32))) over no rows crashes the
// 18.16 server (ColumnNullable::checkConsistency).
func (ClickHouse) CastType(name string, mods []string) (string, []string) {
	t := ""
	switch name {
	case "SMALLINT":
		t = "Int16"
	case "INTEGER":
		t = "Int32"
	case "BIGINT":
		t = "Int64"
	case "REAL":
		t = "Float32"
	case "DOUBLE PRECISION":
		t = "Float64"
	case "NUMERIC":
		if len(mods) == 0 {
			t = "Decimal(38, 10)"
		} else {
			p, err := strconv.Atoi(mods[0])
			if err != nil || p > 38 {
				return "", nil
			}
			s := "0"
			if len(mods) > 1 {
				s = mods[1]
			}
			t = "Decimal(" + mods[0] + ", " + s + ")"
		}
	case "TEXT":
		t = "String"
	case "VARCHAR":
		if len(mods) > 0 {
			return "", nil // no length limit to cut at
		}
		t = "String"
	case "UUID":
		t = "UUID"
	case "DATE":
		t = "Date"
	case "TIMESTAMP", "TIMESTAMPTZ":
		t = "DateTime"
	case "BOOLEAN":
		t = "UInt8"
	default:
		return "", nil // CHAR(n)'s padding, TIME, INTERVAL: none
	}
	return t, nil
}

// CastText reads text as PostgreSQL's input functions: booleans' words,
// timestamps in ISO forms (parseDateTimeBestEffort).
func (ClickHouse) CastText(expr, typ string) string {
	switch typ {
	case "UInt8":
		// A word that is no boolean fails (throwIf), as PostgreSQL's
		// boolin; every branch is evaluated, so the check is one.
		l := "lower(" + chTrim("btrim", expr) + ")"
		return "CAST(multiIf(throwIf(isNotNull(" + expr + ") AND NOT (" + l + " IN ('t', 'true', 'y', 'yes', 'on', '1', 'f', 'false', 'n', 'no', 'off', '0'))) != 0, NULL, isNull(" + expr + "), NULL, " + l + " IN ('t', 'true', 'y', 'yes', 'on', '1')) AS UInt8)"
	case "DateTime":
		return "parseDateTimeBestEffort(" + expr + ")"
	case "Date":
		return "toDate(parseDateTimeBestEffort(" + expr + "))"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

// chTrim trims spaces as btrim, ltrim or rtrim (name) do.
func chTrim(name, x string) string {
	re := map[string]string{"btrim": "^ +| +$", "ltrim": "^ +", "rtrim": " +$"}[name]
	return "replaceRegexpAll(" + x + ", '" + re + "', '')"
}

func (ClickHouse) Decimal(s string, bind func(any) string) (string, error) {
	if intPart, frac, ok := strings.Cut(s, "."); !strings.ContainsAny(s, "eE") && len(strings.TrimLeft(intPart, "0"))+len(frac) <= 38 {
		scale := 0
		if ok {
			scale = len(frac)
		}
		return "toDecimal128(" + bind(s) + ", " + strconv.Itoa(scale) + ")", nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid number %q", s)
	}
	return "toFloat64(" + bind(f) + ")", nil
}

func (ClickHouse) TextArrays() bool { return false }
func (ClickHouse) ListParams() bool { return false }

func (ClickHouse) Operator(op string) string { return op }

// RegexMatch: match (RE2), case-insensitive with (?i).
func (ClickHouse) RegexMatch(op, l, r string) (string, bool) {
	if strings.Contains(op, "*") {
		r = "concat('(?i)', " + r + ")"
	}
	m := "match(" + l + ", " + r + ")"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}

// ArraySubquery: written as PostgreSQL's, which ClickHouse refuses
// (42601): never a wrong answer.
func (ClickHouse) ArraySubquery(sub string) string { return "ARRAY(" + sub + ")" }

// Sort: ClickHouse puts NULLs last either way; PostgreSQL first
// descending.
func (ClickHouse) Sort(expr, dir, nulls string) string {
	def := " NULLS LAST"
	if dir == " DESC" {
		def = " NULLS FIRST"
	}
	return SortNulls(expr, dir, nulls, def)
}

// SortByValue: an ordinal is a constant in ClickHouse's ORDER BY.
func (ClickHouse) SortByValue() bool { return true }

// isChIntExpr tells an expression that is visibly an integer.
func isChIntExpr(s string) bool {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	for _, t := range []string{"Int16", "Int32", "Int64"} {
		if strings.HasPrefix(s, "CAST(") && strings.HasSuffix(s, " AS "+t+")") && closes(s, 4) {
			return true
		}
	}
	return (strings.HasPrefix(s, "count(") || strings.HasPrefix(s, "COUNT(")) && closes(s, 5)
}

func (ClickHouse) Binary(op, l, r string) (string, bool) {
	switch op {
	case "||":
		return "concat(" + l + ", " + r + ")", true
	case "^":
		return "pow(" + l + ", " + r + ")", true
	case "/":
		if isChIntExpr(l) && isChIntExpr(r) {
			return "intDiv(" + l + ", " + r + ")", true
		}
	case "LIKE", "NOT LIKE":
		return "(" + l + " " + op + " " + r + ")", true
	case "ILIKE", "NOT ILIKE":
		return "(lowerUTF8(" + l + ") " + strings.TrimSuffix(op, "ILIKE") + "LIKE lowerUTF8(" + r + "))", true
	case "IS DISTINCT FROM":
		// NULLs equal: compared as equal when both are NULL.
		return "(NOT ((" + l + " IS NULL AND " + r + " IS NULL) OR ifNull(" + l + " = " + r + ", 0)))", true
	case "IS NOT DISTINCT FROM":
		return "((" + l + " IS NULL AND " + r + " IS NULL) OR ifNull(" + l + " = " + r + ", 0))", true
	}
	return "", false
}

func (ClickHouse) AggregateFilter() bool { return false }
func (ClickHouse) DistinctOn() bool      { return false }

// DateDiff: ClickHouse's dateDiff counts unit boundaries crossed (weeks
// from Monday), as Redshift's DATEDIFF.
func (ClickHouse) DateDiff(unit, a, b string) string {
	switch unit {
	case "year", "quarter", "month", "week", "day", "hour", "minute":
	default:
		unit = "second"
	}
	return "toInt64(dateDiff('" + unit + "', " + a + ", " + b + "))"
}

// chNames are ClickHouse's names for PostgreSQL functions where they
// differ; "" is a function ClickHouse does not have with PostgreSQL's
// meaning.
var chNames = map[string]string{
	"count": "count", "sum": "sum", "avg": "avg", "min": "min", "max": "max",
	"stddev": "stddevSamp", "stddev_samp": "stddevSamp", "stddev_pop": "stddevPop",
	"variance": "varSamp", "var_samp": "varSamp", "var_pop": "varPop",
	// Booleans are 0 and 1.
	"bool_and": "min", "bool_or": "max", "every": "min",
	"lower": "lowerUTF8", "upper": "upperUTF8", "length": "lengthUTF8", "char_length": "lengthUTF8",
	"character_length": "lengthUTF8", "octet_length": "length", "reverse": "reverseUTF8",
	"md5": "", "replace": "replaceAll",
	"abs": "abs", "sqrt": "sqrt", "cbrt": "cbrt", "power": "pow", "pow": "pow", "exp": "exp", "ln": "log",
	"log10": "log10", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
	"coalesce": "coalesce", "nullif": "nullIf", "round": "",
	// Not with PostgreSQL's meaning or not in ClickHouse 18.16.
	"string_agg": "", "array_agg": "", "percentile_cont": "", "percentile_disc": "", "mode": "",
	// Window functions: row_number, rank and dense_rank as PostgreSQL's
	// (a current ClickHouse; 18.16 has no windows); lag and lead are
	// lagInFrame and leadInFrame there, within the frame only.
	"percent_rank": "", "cume_dist": "", "ntile": "",
	"lag": "", "lead": "", "first_value": "", "last_value": "", "nth_value": "",
	"initcap": "", "split_part": "", "to_char": "", "age": "", "make_date": "", "sign": "",
	"regexp_count": "", "regexp_like": "", "regexp_instr": "", "regexp_substr": "", "repeat": "",
	"degrees": "", "radians": "", "atan2": "", "mod": "", "concat_ws": "", "lpad": "", "rpad": "",
	"date_trunc": "", "date_part": "", "generate_series": "", "array_upper": "", "array_lower": "",
	"to_timestamp": "", "to_date": "",
}

func (ClickHouse) FunctionName(name string) string {
	if n, ok := chNames[name]; ok {
		return n
	}
	return name
}

// chFields are EXTRACT's fields as ClickHouse expressions of x.
var chFields = map[string]string{
	"year": "toYear(x)", "month": "toMonth(x)", "day": "toDayOfMonth(x)", "hour": "toHour(x)", "minute": "toMinute(x)",
	"second": "toSecond(x)", "quarter": "toQuarter(x)", "week": "toISOWeek(x)", "isodow": "toDayOfWeek(x)",
	"dow": "(toDayOfWeek(x) % 7)",
	"doy": "toDayOfYear(x)", "isoyear": "toISOYear(x)",
	"epoch": "toInt64(toDateTime(x))", "milliseconds": "(toSecond(x) * 1000)", "microseconds": "(toSecond(x) * 1000000)",
	"decade": "intDiv(toYear(x), 10)", "century": "(intDiv(toYear(x) - 1, 100) + 1)", "millennium": "(intDiv(toYear(x) - 1, 1000) + 1)",
}

func (d ClickHouse) Function(c Call) (string, bool, error) {
	lacks := func(i int, what string) (string, bool, error) {
		return "", true, &ArgError{Arg: i, Message: what + " is not available on clickhouse"}
	}
	switch c.Name {
	case "extract", "date_part":
		field, _ := c.Const(0)
		f, ok := chFields[strings.ToLower(field)]
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
		return lacks(0, "AT TIME ZONE")
	case "strpos":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "toInt64(positionUTF8(" + args[0] + ", " + args[1] + "))", true, nil
	case "starts_with", "ends_with":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		side := "right"
		if c.Name == "starts_with" {
			side = "left"
		}
		return "(substring(" + args[0] + ", " + map[string]string{"left": "1", "right": "greatest(toInt64(length(" + args[0] + ")) - toInt64(length(" + args[1] + ")) + 1, 1)"}[side] + ", length(" + args[1] + ")) = " + args[1] + ")", true, nil
	case "concat":
		// PostgreSQL's concat skips NULLs.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		for i := range args {
			args[i] = "ifNull(toString(" + args[i] + "), '')"
		}
		if len(args) == 1 {
			return args[0], true, nil
		}
		return "concat(" + strings.Join(args, ", ") + ")", true, nil
	case "greatest", "least":
		// PostgreSQL's skip NULLs; ClickHouse 18.16 has two arguments.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		out := args[0]
		for _, a := range args[1:] {
			out = "coalesce(" + c.Name + "(" + out + ", " + a + "), " + out + ", " + a + ")"
		}
		return out, true, nil
	case "substring", "substr":
		// PostgreSQL counts from a start before 1.
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		from := "greatest(toInt64(" + args[1] + "), 1)"
		if c.NArgs == 2 {
			return "substringUTF8(" + args[0] + ", " + from + ")", true, nil
		}
		return "substringUTF8(" + args[0] + ", " + from + ", toUInt64(greatest(toInt64(" + args[1] + ") + toInt64(" + args[2] + ") - " + from + ", 0)))", true, nil
	case "left", "right":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if c.Name == "left" {
			return "substringUTF8(" + args[0] + ", 1, toUInt64(greatest(toInt64(" + args[1] + "), 0)))", true, nil
		}
		return "substringUTF8(" + args[0] + ", toInt64(greatest(toInt64(lengthUTF8(" + args[0] + ")) - toInt64(" + args[1] + "), 0)) + 1)", true, nil
	case "btrim", "ltrim", "rtrim":
		if c.NArgs == 2 {
			return lacks(1, c.Name+"(text, characters)")
		}
		x, err := c.Arg(0)
		// Spaces, as PostgreSQL's; by regex: 18.16 has no trim functions.
		return chTrim(c.Name, x), true, err
	case "log":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 1 {
			return "log10(" + args[0] + ")", true, nil
		}
		return "(log(" + args[1] + ") / log(" + args[0] + "))", true, nil
	case "floor", "ceil", "ceiling":
		x, err := c.Arg(0)
		name := "floor"
		if c.Name != "floor" {
			name = "ceil"
		}
		return name + "(" + x + ")", true, err
	case "trunc":
		if c.NArgs == 2 {
			return lacks(1, "trunc(x, n)")
		}
		x, err := c.Arg(0)
		return "trunc(" + x + ")", true, err
	case "pi":
		return "pi()", true, nil
	case "str_to_date", "regexp_replace", "generate_series", "array_upper", "array_lower", "to_timestamp", "to_date", "round":
		return lacks(0, c.Name+"()")
	}
	return "", false, nil
}

func (ClickHouse) Concat(parts ...string) string { return "concat(" + strings.Join(parts, ", ") + ")" }

// LimitOffset: LIMIT takes a literal (the driver's bound value); an
// OFFSET needs a LIMIT; ClickHouse does not push predicates into a
// subquery with a LIMIT (the fence).
func (ClickHouse) LimitOffset(limit, offset string) string {
	limit, offset = chBare(limit), chBare(offset)
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

// chBare is a LIMIT or OFFSET placeholder without its cast.
func chBare(s string) string {
	s = bareParam(s)
	if strings.HasPrefix(s, "CAST($") && strings.HasSuffix(s, ")") {
		if p, _, ok := strings.Cut(s[len("CAST("):], " AS "); ok {
			return p
		}
	}
	return s
}

// OrderKey: by the column's alias (an ordinal is a constant), NULLs as
// PostgreSQL sorts them.
func (d ClickHouse) OrderKey(pos int, alias, expr string, desc bool) string {
	k := d.QuoteIdent(alias)
	if alias == "" {
		k = expr
	}
	if desc {
		return k + " DESC NULLS FIRST"
	}
	return k + " ASC NULLS LAST"
}

func (d ClickHouse) GroupKey(pos int, alias string) string { return d.QuoteIdent(alias) }

// chIntervalFuncs are ClickHouse's interval constructors by unit.
var chIntervalFuncs = map[string]string{"year": "toIntervalYear", "month": "toIntervalMonth", "week": "toIntervalWeek",
	"day": "toIntervalDay", "hour": "toIntervalHour", "minute": "toIntervalMinute", "second": "toIntervalSecond"}

// Interval adds PostgreSQL interval text as ClickHouse intervals, months
// before days before time as PostgreSQL adds them; milliseconds and
// microseconds in whole seconds (see the type's comment): subtracted
// rounded up, added rounded down.
func (ClickHouse) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		return "(" + expr + " " + string(op) + " INTERVAL '" + iv + "')"
	}
	var us int64
	var b strings.Builder
	b.WriteString("(" + expr)
	rank := map[string]int{"year": 0, "month": 0, "week": 1, "day": 1}
	for pass := 0; pass < 3; pass++ {
		for _, p := range parts {
			r, ok := rank[p.Unit]
			if !ok {
				r = 2
			}
			if r != pass {
				continue
			}
			switch p.Unit {
			case "millisecond":
				us += p.N * 1000
				continue
			case "microsecond":
				us += p.N
				continue
			}
			b.WriteString(" " + string(op) + " " + chIntervalFuncs[p.Unit] + "(" + strconv.FormatInt(p.N, 10) + ")")
		}
	}
	if us != 0 {
		s := us / 1000000
		if op == '-' && us%1000000 > 0 {
			s++
		}
		if s != 0 {
			b.WriteString(" " + string(op) + " toIntervalSecond(" + strconv.FormatInt(s, 10) + ")")
		}
	}
	b.WriteString(")")
	return b.String()
}

// Series: an array of the periods' starts, from from truncated to g, by
// step, as many as fit before to (bounded by the step's shortest length:
// a month is at least 28 days), unnested with arrayJoin.
func (d ClickHouse) Series(g, from, to, step string) string {
	parts, _ := IntervalParts(step)
	var months, secs int64
	for _, p := range parts {
		switch p.Unit {
		case "year":
			months += 12 * p.N
		case "month":
			months += p.N
		case "week":
			secs += 7 * 86400 * p.N
		case "day":
			secs += 86400 * p.N
		case "hour":
			secs += 3600 * p.N
		case "minute":
			secs += 60 * p.N
		case "second":
			secs += p.N
		}
	}
	least := months*28*86400 + secs
	if least <= 0 {
		least = 1
	}
	start := d.DateTrunc(g, "toDateTime("+from+")")
	end := "toDateTime(" + to + ")"
	n := "toUInt64(greatest(intDiv(dateDiff('second', " + start + ", " + end + "), " + strconv.FormatInt(least, 10) + ") + 1, 0))"
	el := "addSeconds(addMonths(" + start + ", i * " + strconv.FormatInt(months, 10) + "), i * " + strconv.FormatInt(secs, 10) + ")"
	return "SELECT `s`.`d` " + d.QuoteIdent("date_from") + " FROM (SELECT arrayJoin(arrayMap(i -> " + el + ", range(" + n + "))) AS `d`) AS `s` WHERE `s`.`d` <= " + end
}

func (ClickHouse) FullJoin() bool            { return true }
func (ClickHouse) JudgesPostgresInput() bool { return false }

// Derived: ClickHouse has no column list after a derived table's alias;
// a UNION ALL under an empty header of NULLs names the columns (a NULL
// column's type, Nullable(Nothing), takes the subquery's).
func (d ClickHouse) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedByUnion(d, sql, table, alias, cols)
}

// DateAdd: x plus n units.
func (ClickHouse) DateAdd(unit, n, x string) string {
	f, ok := chIntervalFuncs[unit]
	if !ok {
		switch unit {
		case "quarter":
			return "(" + x + " + toIntervalMonth(3 * (" + n + ")))"
		case "millisecond":
			// Whole seconds: DateTime has no fraction.
			return "(" + x + " + toIntervalSecond(intDiv(" + n + ", 1000)))"
		}
		f = "toIntervalSecond"
	}
	return "(" + x + " + " + f + "(" + n + "))"
}
