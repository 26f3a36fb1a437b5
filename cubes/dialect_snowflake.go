package cubes

import (
	"strconv"
	"strings"
	"time"
)

func init() { RegisterDialect(Snowflake{}) }

// Snowflake is Snowflake's dialect. Quoted identifiers are case-sensitive
// there: cubegate's aliases are quoted where defined and where used, so
// they agree; a model's own SQL is the model's. Parameters are
// Snowflake's numbered binds (:1, :2), which gosnowflake passes.
// NULL ordering, the week start and the time zone are session settings
// in Snowflake: the SQL writes NULLS FIRST/LAST out, and the driver sets
// WEEK_START=0 and TIMEZONE=UTC.
type Snowflake struct{ pgDefaults }

func (Snowflake) Name() string               { return "snowflake" }
func (Snowflake) QuoteIdent(s string) string { return ansiQuote(s) }
func (Snowflake) Param(n int) string         { return ":" + strconv.Itoa(n) }

// ILike: Snowflake's LIKE has no default escape; a backslash is written
// '\\' in its string literals.
func (Snowflake) ILike(expr, pat string) string {
	return expr + " ILIKE " + pat + ` ESCAPE '\\'`
}
func (Snowflake) DateTrunc(g, expr string) string {
	return "DATE_TRUNC(" + quoteLiteral(g) + ", " + expr + ")"
}
func (Snowflake) ConvertTz(expr, tz string) string {
	return "CONVERT_TIMEZONE('UTC', " + tz + ", CAST(" + expr + " AS TIMESTAMP_NTZ))"
}
func (Snowflake) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	return "DATEADD(month, FLOOR(" + monthsSinceYM(expr, origin) + " / " + n + ") * " + n + ", " + timestampLiteral(origin) + ")"
}
func (Snowflake) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	return "DATEADD(second, FLOOR(DATEDIFF(microsecond, " + timestampLiteral(origin) + ", " + expr + ") / " +
		strconv.FormatInt(seconds*1000000, 10) + ") * " + n + ", " + timestampLiteral(origin) + ")"
}
func (Snowflake) ApproxCountDistinct(expr string) string {
	return "APPROX_COUNT_DISTINCT(" + expr + ")"
}

func (Snowflake) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "DOUBLE PRECISION", "REAL":
		return "DOUBLE", nil
	case "NUMERIC":
		if len(mods) == 0 {
			// Snowflake's bare NUMBER is NUMBER(38,0).
			return "NUMBER", []string{"38", "10"}
		}
		return "NUMBER", mods
	case "TEXT":
		return "VARCHAR", nil
	case "TIMESTAMP":
		return "TIMESTAMP_NTZ", mods
	case "TIMESTAMPTZ":
		return "TIMESTAMP_TZ", mods
	case "UUID":
		return "VARCHAR", []string{"36"}
	}
	return name, mods
}
func (Snowflake) CastText(expr, typ string) string { return "CAST(" + expr + " AS " + typ + ")" }
func (Snowflake) Decimal(s string, bind func(any) string) (string, error) {
	return exactDecimal(s, bind, "NUMBER", "DOUBLE")
}
func (Snowflake) TextArrays() bool      { return false }
func (Snowflake) ListParams() bool      { return false }
func (Snowflake) AggregateFilter() bool { return false }
func (Snowflake) DistinctOn() bool      { return false }
func (Snowflake) Operator(op string) string {
	return op
}
func (Snowflake) Binary(op, l, r string) (string, bool) {
	if op == "^" {
		return "POWER(" + l + ", " + r + ")", true
	}
	if op == "/" && IntExpr(Snowflake{}, l) && IntExpr(Snowflake{}, r) {
		// Snowflake's / of integers is a decimal; PostgreSQL's truncates.
		return "TRUNC(" + l + " / " + r + ")", true
	}
	return "", false
}

// RegexMatch: Snowflake's REGEXP_LIKE matches the whole string;
// PostgreSQL's ~ searches, as REGEXP_INSTR does.
func (Snowflake) RegexMatch(op, l, r string) (string, bool) {
	m := "REGEXP_INSTR(" + l + ", " + r
	if strings.Contains(op, "*") {
		m += ", 1, 1, 0, 'i'"
	}
	m += ") > 0"
	if op[0] == '!' {
		return "(NOT (" + m + "))", true
	}
	return "(" + m + ")", true
}
func (Snowflake) ArraySubquery(sub string) string {
	return "(SELECT ARRAY_AGG(x) FROM (" + sub + ") AS t(x))"
}
func (Snowflake) Sort(expr, dir, nulls string) string { return sortExplicit(expr, dir, nulls) }
func (Snowflake) OrderKey(pos int, _, _ string, desc bool) string {
	return orderKeyExplicit(pos, desc)
}

// LimitOffset: the fence is a LIMIT no statement reaches (nothing moves
// across a LIMIT).
func (Snowflake) LimitOffset(limit, offset string) string {
	if limit == "" && offset == "0" {
		return " LIMIT 9223372036854775807"
	}
	if limit != "" {
		limit = bareParam(limit)
	}
	if offset != "" {
		offset = bareParam(offset)
	}
	return pgDefaults{}.LimitOffset(limit, offset)
}

func (Snowflake) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		return expr + " " + string(op) + " INTERVAL '" + iv + "'"
	}
	for _, p := range parts {
		n := p.N
		if op == '-' {
			n = -n
		}
		if n != 0 {
			expr = "DATEADD(" + p.Unit + ", " + strconv.FormatInt(n, 10) + ", " + expr + ")"
		}
	}
	return expr
}

// Series: the period numbers from ARRAY_GENERATE_RANGE, flattened.
func (d Snowflake) Series(g, from, to, step string) string {
	unit, n := g, 1
	if parts, ok := IntervalParts(step); ok && len(parts) == 1 {
		unit, n = parts[0].Unit, int(parts[0].N)
	}
	start := d.DateTrunc(g, "CAST("+from+" AS TIMESTAMP_NTZ)")
	count := "DATEDIFF(" + unit + ", " + start + ", CAST(" + to + " AS TIMESTAMP_NTZ)) + 1"
	ns := strconv.Itoa(n)
	return "SELECT DATEADD(" + unit + ", s.VALUE * " + ns + ", " + start + ") AS " + d.QuoteIdent("date_from") +
		" FROM TABLE(FLATTEN(ARRAY_GENERATE_RANGE(0, " + count + ", " + ns + "))) AS s"
}

// DateDiff: Snowflake's DATEDIFF counts boundaries (weeks by WEEK_START,
// 0: Monday, which the driver sets).
func (Snowflake) DateDiff(unit, a, b string) string {
	return "CAST(DATEDIFF(" + unit + ", " + a + ", " + b + ") AS BIGINT)"
}

func (Snowflake) JudgesPostgresInput() bool { return false }

var snowflakeNames = map[string]string{
	"char_length": "LENGTH", "character_length": "LENGTH", "btrim": "TRIM", "pow": "POWER", "starts_with": "STARTSWITH",
	"every": "BOOLAND_AGG", "bool_and": "BOOLAND_AGG", "bool_or": "BOOLOR_AGG", "make_date": "DATE_FROM_PARTS",
	"concat_ws": "", "age": "", "string_agg": "", "array_agg": "", "mode": "", "to_char": "", "strpos": "STRPOS",
}

func (Snowflake) FunctionName(name string) string {
	if n, ok := snowflakeNames[name]; ok {
		return n
	}
	return strings.ToUpper(name)
}

func (d Snowflake) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "greatest", "least":
		// PostgreSQL's skip NULLs; this engine's are NULL then.
		args, err := c.Args()
		return NullSkipping(strings.ToUpper(c.Name), args), true, err
	case "extract", "date_part":
		field, _ := c.Const(0)
		x, err := c.Arg(1)
		return snowflakeExtract(field, x), true, err
	case "timezone":
		return "", true, &ArgError{Arg: 0, Message: "AT TIME ZONE is not available on snowflake (a timestamp and a timestamptz convert differently)"}
	case "generate_series":
		return "", true, &ArgError{Arg: 0, Message: "generate_series() is not available on snowflake"}
	case "array_upper", "array_lower":
		return "", true, &ArgError{Arg: 0, Message: c.Name + "() is not available on snowflake"}
	case "to_timestamp", "to_date":
		x, err := c.Arg(0)
		if err != nil {
			return "", true, err
		}
		f, ok := c.Const(1)
		if !ok || !snowflakeFormat(f) {
			return "", true, &ArgError{Arg: 1, Message: c.Name + "() takes YYYY, MM, DD, HH24, MI and SS on snowflake"}
		}
		if c.Name == "to_date" {
			return "TO_DATE(" + x + ", " + c.Bind(f) + ")", true, nil
		}
		return "TO_TIMESTAMP_NTZ(" + x + ", " + c.Bind(f) + ")", true, nil
	case "str_to_date":
		f, _ := c.Const(1)
		pf := mysqlToPGFormat(f)
		if !snowflakeFormat(pf) {
			return "", true, &ArgError{Arg: 1, Message: "str_to_date() takes %Y, %m, %d, %H, %i and %s on snowflake"}
		}
		x, err := c.Arg(0)
		return "TO_TIMESTAMP_NTZ(" + x + ", " + c.Bind(pf) + ")", true, err
	case "strpos":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "POSITION(" + args[1] + ", " + args[0] + ")", true, nil
	case "ends_with":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "ENDSWITH(" + args[0] + ", " + args[1] + ")", true, nil
	case "concat":
		args, err := c.Args()
		return concatNonNull(args, "VARCHAR", "CONCAT"), true, err
	case "left", "right":
		args, err := c.Args()
		return leftRight(c.Name, args, "SUBSTR", "LENGTH"), true, err
	case "log":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		if len(args) == 1 {
			return "LOG(10, " + args[0] + ")", true, nil
		}
		return "LOG(" + args[0] + ", " + args[1] + ")", true, nil
	case "log10":
		x, err := c.Arg(0)
		return "LOG(10, " + x + ")", true, err
	case "regexp_like":
		if c.NArgs != 2 {
			return "", true, &ArgError{Arg: 2, Message: "regexp_like() with flags is not available on snowflake"}
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "(REGEXP_INSTR(" + args[0] + ", " + args[1] + ") > 0)", true, nil
	case "regexp_replace":
		flags := ""
		if c.NArgs == 4 {
			f, ok := c.Const(3)
			if !ok || strings.Trim(f, "gi") != "" {
				return "", true, &ArgError{Arg: 3, Message: "regexp_replace() takes the constant flags g and i on snowflake"}
			}
			flags = f
		}
		args := make([]string, 3)
		for i := range args {
			s, err := c.Arg(i)
			if err != nil {
				return "", true, err
			}
			args[i] = s
		}
		occurrence := "1" // PostgreSQL replaces the first match unless 'g'
		if strings.Contains(flags, "g") {
			occurrence = "0"
		}
		params := "'c'"
		if strings.Contains(flags, "i") {
			params = "'i'"
		}
		return "REGEXP_REPLACE(" + strings.Join(args, ", ") + ", 1, " + occurrence + ", " + params + ")", true, nil
	}
	return "", false, nil
}

// snowflakeFormat tells whether a PostgreSQL template reads the same in
// Snowflake's TO_TIMESTAMP: its numeric fields and separators only.
func snowflakeFormat(f string) bool {
	rest := f
	for rest != "" {
		matched := false
		for _, t := range []string{"YYYY", "HH24", "MM", "DD", "MI", "SS"} {
			if strings.HasPrefix(rest, t) {
				rest, matched = rest[len(t):], true
				break
			}
		}
		if matched {
			continue
		}
		if !strings.ContainsRune("-/:. T", rune(rest[0])) {
			return false
		}
		rest = rest[1:]
	}
	return true
}

// snowflakeExtract renders EXTRACT(field FROM x) with PostgreSQL's
// meaning, independent of WEEK_START and WEEK_OF_YEAR_POLICY.
func snowflakeExtract(field, x string) string {
	switch field {
	case "dow":
		return "MOD(DAYOFWEEKISO(" + x + "), 7)"
	case "isodow":
		return "DAYOFWEEKISO(" + x + ")"
	case "doy":
		return "DAYOFYEAR(" + x + ")"
	case "isoyear":
		return "YEAROFWEEKISO(" + x + ")"
	case "week":
		return "WEEKISO(" + x + ")"
	case "epoch":
		return "(DATE_PART(epoch_microsecond, CAST(" + x + " AS TIMESTAMP_NTZ)) / 1000000)"
	case "second":
		return "(SECOND(" + x + ") + DATE_PART(nanosecond, " + x + ") / 1000000000)"
	case "milliseconds":
		return "(SECOND(" + x + ") * 1000 + DATE_PART(nanosecond, " + x + ") / 1000000)"
	case "microseconds":
		return "(SECOND(" + x + ") * 1000000 + DATE_PART(nanosecond, " + x + ") / 1000)"
	case "decade":
		return "FLOOR(YEAR(" + x + ") / 10)"
	case "century":
		return "IFF(YEAR(" + x + ") > 0, CEIL(YEAR(" + x + ") / 100), FLOOR((YEAR(" + x + ") - 1) / 100))"
	case "millennium":
		return "IFF(YEAR(" + x + ") > 0, CEIL(YEAR(" + x + ") / 1000), FLOOR((YEAR(" + x + ") - 1) / 1000))"
	}
	return strings.ToUpper(field) + "(" + x + ")" // YEAR, QUARTER, MONTH, DAY, HOUR, MINUTE
}

// Derived: see Dialect.
func (d Snowflake) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedList(d, sql, table, alias, cols)
}

// DateAdd: see Dialect.
func (Snowflake) DateAdd(unit, n, x string) string {
	return "DATEADD(" + unit + ", " + n + ", " + x + ")"
}
