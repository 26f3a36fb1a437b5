package cubes

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(Trino{}) }

// Trino is the dialect of Trino (and Presto): ANSI quoting, OFFSET before
// LIMIT, date_add/date_diff, sequence+UNNEST for series, NULLs last in
// both directions unless told, no ILIKE, no arrays as parameters. Its
// driver (trino-go-client) takes ? placeholders: Param keeps $n and the
// driver sets sqldb.Positional.
type Trino struct{ pgDefaults }

func (Trino) Name() string               { return "trino" }
func (Trino) QuoteIdent(s string) string { return ansiQuote(s) }
func (Trino) Param(n int) string         { return "$" + strconv.Itoa(n) }
func (Trino) ILike(expr, pat string) string {
	return "lower(" + expr + ") LIKE lower(" + pat + `) ESCAPE '\'`
}
func (Trino) DateTrunc(g, expr string) string {
	return "date_trunc(" + quoteLiteral(g) + ", " + expr + ")"
}

// ConvertTz: the UTC timestamp as an instant (with_timezone), its wall
// clock in tz (at_timezone takes a zone expression; AT TIME ZONE only a
// literal), the zone dropped.
func (Trino) ConvertTz(expr, tz string) string {
	return "CAST(at_timezone(with_timezone(CAST(" + expr + " AS TIMESTAMP), 'UTC'), " + tz + ") AS TIMESTAMP)"
}

// monthsSinceYM is monthsSince with year() and month(), which Trino and
// Snowflake have (not date_part).
func monthsSinceYM(expr string, origin time.Time) string {
	return "((year(" + expr + ") - " + strconv.Itoa(origin.Year()) + ") * 12 + month(" + expr + ") - " + strconv.Itoa(int(origin.Month())) + ")"
}

func (Trino) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	return "date_add('month', CAST(floor(CAST(" + monthsSinceYM(expr, origin) + " AS DOUBLE) / " + n + ") AS BIGINT) * " + n + ", " + timestampLiteral(origin) + ")"
}

// TruncSeconds counts milliseconds from origin (date_diff has no finer
// unit; Trino's timestamps are milliseconds unless declared finer).
func (Trino) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	return "date_add('second', CAST(floor(CAST(date_diff('millisecond', " + timestampLiteral(origin) + ", " + expr + ") AS DOUBLE) / " +
		strconv.FormatInt(seconds*1000, 10) + ") AS BIGINT) * " + n + ", " + timestampLiteral(origin) + ")"
}
func (Trino) ApproxCountDistinct(expr string) string { return "approx_distinct(" + expr + ")" }

func (Trino) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "DOUBLE PRECISION":
		return "DOUBLE", mods
	case "NUMERIC":
		if len(mods) == 0 {
			// Trino's bare DECIMAL is decimal(38,0); PostgreSQL's numeric
			// keeps every decimal.
			return "DECIMAL", []string{"38", "10"}
		}
		return "DECIMAL", mods
	case "TEXT":
		return "VARCHAR", nil
	case "TIMESTAMPTZ":
		return "TIMESTAMP WITH TIME ZONE", mods
	}
	return name, mods
}

func (Trino) CastText(expr, typ string) string { return "CAST(" + expr + " AS " + typ + ")" }

// exactDecimal renders a numeric literal as an exact decimal as wide as it
// is written (38 digits at most), else a double.
func exactDecimal(s string, bind func(any) string, decimal, double string) (string, error) {
	if intPart, frac, ok := strings.Cut(s, "."); !strings.ContainsAny(s, "eE") && len(strings.TrimLeft(intPart, "0"))+len(frac) <= 38 {
		scale := 0
		if ok {
			scale = len(frac)
		}
		prec := max(len(strings.TrimLeft(intPart, "0"))+scale, 1)
		return "CAST(" + bind(s) + " AS " + decimal + "(" + strconv.Itoa(prec) + ", " + strconv.Itoa(scale) + "))", nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid number %q", s)
	}
	return "CAST(" + bind(f) + " AS " + double + ")", nil
}

func (Trino) Decimal(s string, bind func(any) string) (string, error) {
	return exactDecimal(s, bind, "DECIMAL", "DOUBLE")
}
func (Trino) TextArrays() bool { return false }
func (Trino) ListParams() bool { return false }
func (Trino) DistinctOn() bool { return false }

// Operator: Trino's / truncates integers as PostgreSQL's does.
func (Trino) Operator(op string) string { return op }
func (Trino) Binary(op, l, r string) (string, bool) {
	if op == "^" {
		return "power(" + l + ", " + r + ")", true
	}
	return "", false
}
func (Trino) RegexMatch(op, l, r string) (string, bool) {
	if strings.Contains(op, "*") {
		r = "'(?i)' || " + r
	}
	m := "regexp_like(" + l + ", " + r + ")"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}
func (Trino) ArraySubquery(sub string) string {
	return "(SELECT array_agg(x) FROM (" + sub + ") AS t(x))"
}

// Sort: Trino sorts NULLs last either way; PostgreSQL first descending.
func (Trino) Sort(expr, dir, nulls string) string { return sortExplicit(expr, dir, nulls) }
func (Trino) OrderKey(pos int, _, _ string, desc bool) string {
	return orderKeyExplicit(pos, desc)
}

// sortExplicit writes PostgreSQL's NULLs placement out.
func sortExplicit(expr, dir, nulls string) string {
	if dir == " DESC" {
		return SortNulls(expr, dir, nulls, " NULLS FIRST")
	}
	return SortNulls(expr, dir, nulls, " NULLS LAST")
}

func orderKeyExplicit(pos int, desc bool) string {
	if desc {
		return strconv.Itoa(pos) + " DESC NULLS FIRST"
	}
	return strconv.Itoa(pos) + " ASC NULLS LAST"
}

// LimitOffset: Trino writes OFFSET first. Its optimizer drops an OFFSET
// of 0, so the fence is a LIMIT no statement reaches: no condition or
// expression is moved across a LIMIT.
func (Trino) LimitOffset(limit, offset string) string {
	if limit == "" && offset == "0" {
		return " LIMIT 9223372036854775807"
	}
	s := ""
	if offset != "" {
		s += " OFFSET " + bareParam(offset)
	}
	if limit != "" {
		s += " LIMIT " + bareParam(limit)
	}
	return s
}

// Interval: date_add per part (months clamp to the month's end as
// PostgreSQL's do).
func (Trino) Interval(expr string, op byte, iv string) string {
	parts, ok := IntervalParts(iv)
	if !ok {
		return expr + " " + string(op) + " INTERVAL '" + iv + "'" // never: the compiler writes "<n> <unit>"
	}
	for _, p := range parts {
		n := p.N
		if op == '-' {
			n = -n
		}
		if n == 0 {
			continue
		}
		if p.Unit == "microsecond" {
			expr = "(" + expr + " + parse_duration('" + strconv.FormatInt(n, 10) + "us'))"
			continue
		}
		expr = "date_add('" + p.Unit + "', " + strconv.FormatInt(n, 10) + ", " + expr + ")"
	}
	return expr
}

// trinoInterval is an interval literal of one part.
func trinoInterval(iv string) string {
	parts, _ := IntervalParts(iv)
	if len(parts) != 1 {
		return "INTERVAL '" + iv + "'"
	}
	p := parts[0]
	n, unit := p.N, p.Unit
	if unit == "week" {
		n, unit = n*7, "day"
	}
	return "INTERVAL '" + strconv.FormatInt(n, 10) + "' " + strings.ToUpper(unit)
}

// Series: sequence() of the periods (at most 10,000 in Trino), unnested.
func (d Trino) Series(g, from, to, step string) string {
	return "SELECT d AS " + d.QuoteIdent("date_from") + " FROM UNNEST(sequence(" + d.DateTrunc(g, "CAST("+from+" AS TIMESTAMP)") +
		", CAST(" + to + " AS TIMESTAMP), " + trinoInterval(step) + ")) AS s(d)"
}

// DateDiff: Trino's date_diff counts whole units elapsed; truncated to
// the unit first, it counts the boundaries crossed (weeks from Monday,
// as PostgreSQL's date_trunc).
func (d Trino) DateDiff(unit, a, b string) string {
	return "date_diff('" + unit + "', " + d.DateTrunc(unit, a) + ", " + d.DateTrunc(unit, b) + ")"
}

func (Trino) JudgesPostgresInput() bool { return false }

// trinoNames are Trino's names for PostgreSQL functions where they
// differ; "" is a function Trino lacks (or writes with another meaning:
// string_agg's ORDER BY, to_char's template).
var trinoNames = map[string]string{
	"char_length": "length", "character_length": "length", "btrim": "trim", "pow": "power", "trunc": "truncate",
	"every": "every", "ceiling": "ceiling",
	"initcap": "", "age": "", "to_char": "", "string_agg": "", "percentile_cont": "", "percentile_disc": "",
	"mode": "", "make_date": "", "regexp_instr": "", "regexp_substr": "", "date_part": "date_part",
}

func (Trino) FunctionName(name string) string {
	if n, ok := trinoNames[name]; ok {
		return n
	}
	return name
}

func (d Trino) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "greatest", "least":
		// PostgreSQL's skip NULLs; this engine's are NULL then.
		args, err := c.Args()
		return NullSkipping(strings.ToUpper(c.Name), args), true, err
	case "extract", "date_part":
		field, _ := c.Const(0)
		x, err := c.Arg(1)
		return trinoExtract(field, x), true, err
	case "timezone":
		return "", true, &ArgError{Arg: 0, Message: "AT TIME ZONE is not available on trino (a timestamp and a timestamptz convert differently)"}
	case "generate_series":
		return "", true, &ArgError{Arg: 0, Message: "generate_series() is not available on trino"}
	case "array_upper", "array_lower":
		return "", true, &ArgError{Arg: 0, Message: c.Name + "() is not available on trino"}
	case "to_timestamp", "to_date", "str_to_date":
		x, err := c.Arg(0)
		if err != nil {
			return "", true, err
		}
		f, ok := c.Const(1)
		if !ok {
			return "", true, &ArgError{Arg: 1, Message: c.Name + "() needs a constant format on trino"}
		}
		if c.Name != "str_to_date" {
			if f, ok = pgToMySQLFormat(f); !ok {
				return "", true, &ArgError{Arg: 1, Message: c.Name + "() format is not available on trino"}
			}
		}
		s := "date_parse(" + x + ", " + c.Bind(f) + ")"
		if c.Name == "to_date" {
			s = "CAST(" + s + " AS DATE)"
		}
		return s, true, nil
	case "ends_with":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "(CASE WHEN length(" + args[1] + ") = 0 THEN " + args[0] + " = " + args[0] + " ELSE substr(" + args[0] + ", -length(" + args[1] + ")) = " + args[1] + " END)", true, nil
	case "concat":
		args, err := c.Args()
		return concatNonNull(args, "VARCHAR", "concat"), true, err
	case "concat_ws":
		args, err := c.Args()
		for i := 1; i < len(args); i++ {
			args[i] = "CAST(" + args[i] + " AS VARCHAR)"
		}
		return "concat_ws(" + strings.Join(args, ", ") + ")", true, err
	case "left", "right":
		args, err := c.Args()
		return leftRight(c.Name, args, "substr", "length"), true, err
	case "split_part":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		// PostgreSQL: '' past the last field; Trino: NULL.
		return "(CASE WHEN " + args[0] + " IS NULL OR " + args[1] + " IS NULL OR " + args[2] + " IS NULL THEN NULL ELSE coalesce(split_part(" +
			strings.Join(args, ", ") + "), '') END)", true, nil
	case "repeat":
		args, err := c.Args()
		return "array_join(repeat(" + strings.Join(args, ", ") + "), '')", true, err
	case "lpad", "rpad":
		args, err := c.Args()
		if len(args) == 2 {
			args = append(args, "' '")
		}
		return c.Name + "(" + strings.Join(args, ", ") + ")", true, err
	case "ltrim", "rtrim", "btrim":
		if c.NArgs == 2 {
			return "", true, &ArgError{Arg: 1, Message: c.Name + "() with characters is not available on trino"}
		}
	case "md5":
		x, err := c.Arg(0)
		return "lower(to_hex(md5(to_utf8(" + x + "))))", true, err
	case "octet_length":
		x, err := c.Arg(0)
		return "length(to_utf8(" + x + "))", true, err
	case "log":
		if c.NArgs == 1 {
			x, err := c.Arg(0)
			return "log10(" + x + ")", true, err
		}
	case "regexp_replace":
		return regexpReplaceAll(c, "trino", "regexp_replace", false)
	case "regexp_count", "regexp_like":
		if c.NArgs != 2 {
			return "", true, &ArgError{Arg: 2, Message: c.Name + "() with flags is not available on trino"}
		}
	}
	return "", false, nil
}

// trinoExtract renders EXTRACT(field FROM x) with PostgreSQL's meaning.
func trinoExtract(field, x string) string {
	switch field {
	case "dow":
		return "(day_of_week(" + x + ") % 7)" // ISO: Monday 1 … Sunday 7; PostgreSQL: Sunday 0
	case "isodow":
		return "day_of_week(" + x + ")"
	case "doy":
		return "day_of_year(" + x + ")"
	case "isoyear":
		return "year_of_week(" + x + ")"
	case "week":
		return "week(" + x + ")"
	case "epoch":
		return "to_unixtime(with_timezone(CAST(" + x + " AS TIMESTAMP), 'UTC'))"
	case "second":
		return "(second(" + x + ") + millisecond(" + x + ") / 1000.0)"
	case "milliseconds":
		return "(second(" + x + ") * 1000 + millisecond(" + x + "))"
	case "microseconds":
		return "(second(" + x + ") * 1000000 + millisecond(" + x + ") * 1000)"
	case "decade":
		return "floor(year(" + x + ") / 10.0)"
	case "century":
		return "(CASE WHEN year(" + x + ") > 0 THEN CAST(ceil(year(" + x + ") / 100.0) AS BIGINT) ELSE CAST(floor((year(" + x + ") - 1) / 100.0) AS BIGINT) END)"
	case "millennium":
		return "(CASE WHEN year(" + x + ") > 0 THEN CAST(ceil(year(" + x + ") / 1000.0) AS BIGINT) ELSE CAST(floor((year(" + x + ") - 1) / 1000.0) AS BIGINT) END)"
	}
	return field + "(" + x + ")" // year, quarter, month, day, hour, minute
}

// concatNonNull is PostgreSQL's concat(): NULL arguments are skipped.
func concatNonNull(args []string, text, fn string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = "coalesce(CAST(" + a + " AS " + text + "), '')"
	}
	if fn == "||" {
		return "(" + strings.Join(parts, " || ") + ")"
	}
	return fn + "(" + strings.Join(parts, ", ") + ")"
}

// leftRight is PostgreSQL's left(s, n) and right(s, n), a negative n
// counting from the other end.
func leftRight(name string, a []string, substr, length string) string {
	if len(a) != 2 {
		return ""
	}
	s, n := a[0], a[1]
	if name == "left" {
		return "(CASE WHEN " + n + " >= 0 THEN " + substr + "(" + s + ", 1, " + n + ") ELSE " + substr + "(" + s + ", 1, greatest(" + length + "(" + s + ") + " + n + ", 0)) END)"
	}
	return "(CASE WHEN " + n + " >= 0 THEN " + substr + "(" + s + ", greatest(" + length + "(" + s + ") - " + n + " + 1, 1)) ELSE " + substr + "(" + s + ", 1 - " + n + ") END)"
}

// regexpReplaceAll writes PostgreSQL's regexp_replace where the engine's
// replaces every match: only with the 'g' flag (constant), and a constant
// replacement without back references (their syntax differs).
func regexpReplaceAll(c Call, dialect, fn string, caseFlag bool) (string, bool, error) {
	flags := ""
	if c.NArgs == 4 {
		f, ok := c.Const(3)
		if !ok {
			return "", true, &ArgError{Arg: 3, Message: "regexp_replace() needs constant flags on " + dialect}
		}
		flags = f
	}
	if !strings.Contains(flags, "g") || strings.Trim(flags, "gi") != "" || strings.Contains(flags, "i") && !caseFlag {
		return "", true, &ArgError{Arg: min(c.NArgs-1, 3), Message: "regexp_replace() replaces only with the flag 'g' on " + dialect}
	}
	if r, ok := c.Const(2); !ok || strings.ContainsAny(r, `\$`) {
		return "", true, &ArgError{Arg: 2, Message: "regexp_replace() needs a constant replacement without back references on " + dialect}
	}
	args := make([]string, 3)
	for i := range args {
		s, err := c.Arg(i)
		if err != nil {
			return "", true, err
		}
		args[i] = s
	}
	s := fn + "(" + strings.Join(args, ", ")
	if strings.Contains(flags, "i") {
		s += ", 1, 'i'"
	}
	return s + ")", true, nil
}

// pgToMySQLFormat translates a PostgreSQL to_timestamp template into a
// MySQL date format (Trino's date_parse); ok false for what it cannot.
func pgToMySQLFormat(f string) (string, bool) {
	tokens := []struct{ pg, my string }{
		{"YYYY", "%Y"}, {"HH24", "%H"}, {"HH12", "%h"}, {"MONTH", "%M"}, {"MON", "%b"}, {"DAY", "%W"}, {"DY", "%a"},
		{"YY", "%y"}, {"MM", "%m"}, {"DD", "%d"}, {"HH", "%h"}, {"MI", "%i"}, {"SS", "%s"}, {"US", "%f"},
		{"AM", "%p"}, {"PM", "%p"},
	}
	var b strings.Builder
outer:
	for i := 0; i < len(f); {
		for _, t := range tokens {
			if len(f)-i >= len(t.pg) && strings.EqualFold(f[i:i+len(t.pg)], t.pg) {
				b.WriteString(t.my)
				i += len(t.pg)
				continue outer
			}
		}
		switch c := f[i]; {
		case c == '%':
			b.WriteString("%%")
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '"':
			return "", false // a template pattern not translated
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String(), true
}

// Derived: see Dialect.
func (d Trino) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedList(d, sql, table, alias, cols)
}

// DateAdd: see Dialect.
func (Trino) DateAdd(unit, n, x string) string {
	return "date_add('" + unit + "', " + n + ", " + x + ")"
}
