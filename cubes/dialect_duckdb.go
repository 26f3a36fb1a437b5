package cubes

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func init() { RegisterDialect(DuckDB{}) }

// DuckDB is DuckDB's dialect: PostgreSQL's SQL, with DuckDB's spellings
// and PostgreSQL's meaning where DuckDB's differs.
type DuckDB struct{ pgDefaults }

func (DuckDB) Name() string                  { return "duckdb" }
func (DuckDB) QuoteIdent(s string) string    { return ansiQuote(s) }
func (DuckDB) Param(n int) string            { return "$" + strconv.Itoa(n) }
func (DuckDB) ILike(expr, pat string) string { return expr + " ILIKE " + pat + ` ESCAPE '\'` }
func (DuckDB) DateTrunc(g, expr string) string {
	// DuckDB's date_trunc returns DATE for day and coarser granularities:
	// cast back so a time dimension is always a timestamp.
	return "CAST(date_trunc(" + quoteLiteral(g) + ", " + expr + ") AS TIMESTAMP)"
}
func (DuckDB) ConvertTz(expr, tz string) string {
	return "timezone(" + tz + ", CAST(" + expr + " AS TIMESTAMPTZ))"
}
func (DuckDB) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	return "(" + timestampLiteral(origin) + " + to_months(CAST(floor(" + monthsSince(expr, origin) + " / " + n + ".0) AS INTEGER) * " + n + "))"
}
func (DuckDB) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	return "(" + timestampLiteral(origin) + " + to_seconds(CAST(floor((epoch(" + expr + ") - epoch(" + timestampLiteral(origin) + ")) / " + n + ") AS BIGINT) * " + n + "))"
}
func (DuckDB) ApproxCountDistinct(expr string) string {
	return "approx_count_distinct(" + expr + ")"
}

func (DuckDB) CastType(name string, mods []string) (string, []string) {
	switch name {
	case "DOUBLE PRECISION":
		return "DOUBLE", mods
	case "NUMERIC":
		if len(mods) == 0 {
			// DuckDB's bare DECIMAL keeps 3 decimals; PostgreSQL's numeric
			// is unbounded: 28 digits and 10 decimals.
			return "DECIMAL", []string{"38", "10"}
		}
		return "DECIMAL", mods
	case "CHAR":
		return "VARCHAR", nil
	}
	return name, mods
}

func (DuckDB) CastText(expr, typ string) string {
	if typ == "DATE" || typ == "TIMESTAMP" {
		// PostgreSQL also reads dates written YYYYMMDD; DuckDB does not.
		return "CASE WHEN " + expr + " IS NULL OR TRY_CAST(" + expr + " AS " + typ + ") IS NOT NULL THEN CAST(" + expr + " AS " + typ +
			") ELSE CAST(strptime(" + expr + ", '%Y%m%d') AS " + typ + ") END"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

func (DuckDB) Decimal(s string, bind func(any) string) (string, error) {
	// An exact decimal as wide as the literal, as PostgreSQL's numeric
	// keeps it (a double would move bucket boundaries).
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

// TextArrays: DuckDB's driver binds integer lists only.
func (DuckDB) TextArrays() bool { return false }

func (DuckDB) Operator(op string) string {
	if op == "/" {
		// DuckDB's / divides integers as floats; // divides them as
		// PostgreSQL's / does (toward zero) and other numbers as /.
		return "//"
	}
	return op
}

func (DuckDB) RegexMatch(op, l, r string) (string, bool) {
	m := "regexp_matches(" + l + ", " + r
	if strings.Contains(op, "*") {
		m += ", 'i'"
	}
	m += ")"
	if op[0] == '!' {
		return "(NOT " + m + ")", true
	}
	return m, true
}

func (DuckDB) ArraySubquery(sub string) string { return "(SELECT list(x) FROM (" + sub + ") AS t(x))" }

// Sort: DuckDB sorts NULLs last either way; PostgreSQL first descending.
func (DuckDB) Sort(expr, dir, nulls string) string {
	if dir == " DESC" {
		return SortNulls(expr, dir, nulls, " NULLS FIRST")
	}
	return SortNulls(expr, dir, nulls, " NULLS LAST")
}

func (DuckDB) DateDiff(unit, a, b string) string {
	return "date_diff('" + unit + "', " + a + ", " + b + ")"
}

func (DuckDB) JudgesPostgresInput() bool { return false }

// duckNames are DuckDB's names for PostgreSQL functions where they
// differ; "" is a function DuckDB does not have.
var duckNames = map[string]string{
	"every": "bool_and", "char_length": "length", "character_length": "length", "octet_length": "strlen",
	"btrim": "trim", "pow": "power",
	"initcap": "", "age": "", "regexp_instr": "", "regexp_substr": "", "regexp_count": "", "regexp_like": "",
}

func (DuckDB) FunctionName(name string) string {
	if n, ok := duckNames[name]; ok {
		return n
	}
	return name
}

// maxEmbeddedValue bounds the values repeat, lpad, rpad, replace and
// regexp_replace build in the embedded DuckDB: it shares the gateway's
// process and evaluates 2,048 rows at a time per thread outside its
// memory limit, so rpad(x, 100000000) over a table took the process's
// memory; 64 KiB × 2,048 is 128 MiB a thread.
const maxEmbeddedValue = 64 << 10

func (d DuckDB) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "extract":
		x, err := c.Arg(1)
		field, _ := c.Const(0)
		return "date_part('" + field + "', " + x + ")", true, err
	case "to_char":
		x, err := c.Arg(0)
		if err != nil {
			return "", true, err
		}
		tmpl, ok := c.Const(1)
		if !ok {
			return "", true, &ArgError{Arg: 1, Message: "to_char() needs a constant template on this warehouse"}
		}
		return toCharDuck(x, tmpl, c.Bind), true, nil
	case "to_timestamp", "to_date":
		x, err := c.Arg(0)
		if err != nil {
			return "", true, err
		}
		f, ok := c.Const(1)
		if !ok {
			return "", true, &ArgError{Arg: 1, Message: fmt.Sprintf("%s() needs a constant format on this warehouse", c.Name)}
		}
		s := "strptime(" + x + ", " + c.Bind(strptimeFormat(f)) + ")"
		if c.Name == "to_date" {
			s = "CAST(" + s + " AS DATE)"
		}
		return s, true, nil
	case "generate_series":
		// As a set-returning function in a select list. DuckDB's
		// generate_series() list is built in one call no interrupt
		// reaches: a billion values ran minutes past statement_timeout,
		// cancel and SIGTERM. Its table function streams and is
		// interrupted between chunks; list() gathers its values, in
		// order, for unnest.
		args, err := c.Args()
		return "unnest((SELECT list(g ORDER BY i) FROM generate_series(" + strings.Join(args, ", ") + ") WITH ORDINALITY AS __series(g, i)))", true, err
	case "str_to_date":
		// MySQL's STR_TO_DATE(text, format): the format is a constant.
		f, _ := c.Const(1)
		x, err := c.Arg(0)
		return "strptime(" + x + ", " + c.Bind(strings.NewReplacer("%i", "%M", "%s", "%S").Replace(f)) + ")", true, err
	case "array_upper", "array_lower":
		x, err := c.Arg(0)
		if c.Name == "array_lower" {
			return "CASE WHEN len(" + x + ") > 0 THEN 1 END", true, err
		}
		return "CASE WHEN len(" + x + ") > 0 THEN len(" + x + ") END", true, err
	case "repeat", "lpad", "rpad", "replace", "regexp_replace":
		if c.NArgs < 2 || c.NArgs < 3 && strings.Contains(c.Name, "replace") {
			return "", false, nil
		}
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return d.FunctionName(c.Name) + "(" + boundedLength(c.Name, args) + ")", true, nil
	}
	if c.Quotient {
		// floor(a / b): DuckDB's decimal division is a double's, so a
		// quotient PostgreSQL's numeric gives exactly (3982) arrives as
		// 3981.9999999999995; 13 significant digits put it back.
		s, err := c.Arg(0)
		return c.Name + "(round(" + s + ", 12 - CAST(floor(log10(abs(" + s + ") + 1e-300)) AS INTEGER)))", true, err
	}
	return "", false, nil
}

// boundedLength writes the arguments of repeat/lpad/rpad/replace/
// regexp_replace with a bound on what the call builds checked first: past
// maxEmbeddedValue the statement fails (22023) instead. The bound is the
// size asked (lpad/rpad), the copies (repeat), or the most replacements
// the text allows (replace: one per occurrence of the searched text;
// regexp_replace: one per position).
func boundedLength(name string, parts []string) string {
	long := func(s string) string { return "CAST(length(" + s + ") AS BIGINT)" }
	limit := strconv.Itoa(maxEmbeddedValue)
	guarded, size := 1, "CAST("+parts[1]+" AS BIGINT)"
	switch name {
	case "repeat":
		size = long(parts[0]) + " * " + size
	case "replace":
		guarded, size = 2, long(parts[0])+" * "+long(parts[2])+" / greatest("+long(parts[1])+", 1)"
	case "regexp_replace":
		guarded, size = 2, "("+long(parts[0])+" + 1) * "+long(parts[2])
	}
	parts[guarded] = "CASE WHEN " + size + " > " + limit +
		" THEN error('requested length too large: values built by " + name + "() are limited to 64 KiB on the embedded warehouse') ELSE " + parts[guarded] + " END"
	return strings.Join(parts, ", ")
}

// strptimeFormat translates a PostgreSQL to_timestamp template into
// strptime's.
func strptimeFormat(f string) string {
	tokens := []struct{ pg, c string }{
		{"YYYY", "%Y"}, {"HH24", "%H"}, {"HH12", "%I"}, {"MONTH", "%B"}, {"MON", "%b"}, {"DAY", "%A"}, {"DY", "%a"},
		{"YY", "%y"}, {"MM", "%m"}, {"DD", "%d"}, {"HH", "%I"}, {"MI", "%M"}, {"SS", "%S"}, {"US", "%f"}, {"MS", "%g"},
		{"AM", "%p"}, {"PM", "%p"}, {"TZ", "%Z"},
	}
	var b strings.Builder
outer:
	for i := 0; i < len(f); {
		for _, t := range tokens {
			if len(f)-i >= len(t.pg) && strings.EqualFold(f[i:i+len(t.pg)], t.pg) {
				b.WriteString(t.c)
				i += len(t.pg)
				continue outer
			}
		}
		if f[i] == '%' {
			b.WriteString("%%")
		} else {
			b.WriteByte(f[i])
		}
		i++
	}
	return b.String()
}

// toCharDuck renders PostgreSQL's to_char(timestamp, template) with
// DuckDB's strftime: names padded to 9 characters unless FM, their case
// as the pattern's (Day, DAY, day), FM numbers without leading zeros,
// "quoted" text as is. NULL stays NULL (|| propagates it).
func toCharDuck(x, tmpl string, bind func(any) string) string {
	var parts []string
	var fmtb strings.Builder // strftime directives gathered so far
	flush := func() {
		if fmtb.Len() > 0 {
			parts = append(parts, "strftime("+x+", "+bind(fmtb.String())+")")
			fmtb.Reset()
		}
	}
	name := func(directive string, pad bool, upper, lower bool) {
		flush()
		s := "strftime(" + x + ", " + bind(directive) + ")"
		switch {
		case upper:
			s = "upper(" + s + ")"
		case lower:
			s = "lower(" + s + ")"
		}
		if pad {
			s = "rpad(" + s + ", 9, ' ')"
		}
		parts = append(parts, s)
	}
	numbers := []struct{ pg, c, fm string }{
		{"YYYY", "%Y", "%Y"}, {"HH24", "%H", "%-H"}, {"HH12", "%I", "%-I"}, {"YY", "%y", "%-y"}, {"MM", "%m", "%-m"},
		{"DD", "%d", "%-d"}, {"HH", "%I", "%-I"}, {"MI", "%M", "%-M"}, {"SS", "%S", "%-S"}, {"MS", "%g", "%g"},
		{"US", "%f", "%f"}, {"TZ", "%Z", "%Z"},
	}
	fm := false
outer:
	for i := 0; i < len(tmpl); {
		rest := tmpl[i:]
		if strings.HasPrefix(rest, "FM") || strings.HasPrefix(rest, "fm") {
			fm = true
			i += 2
			continue
		}
		if rest[0] == '"' { // quoted literal text
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				end = len(rest) - 1
			}
			for _, ch := range rest[1 : end+1] {
				if ch == '%' {
					fmtb.WriteString("%%")
				} else {
					fmtb.WriteRune(ch)
				}
			}
			i += end + 2
			continue
		}
		for _, w := range []struct {
			pg, directive string
			full          bool
		}{{"Month", "%B", true}, {"Day", "%A", true}, {"Mon", "%b", false}, {"Dy", "%a", false}} {
			if len(rest) >= len(w.pg) && strings.EqualFold(rest[:len(w.pg)], w.pg) {
				word := rest[:len(w.pg)]
				upper, lower := word == strings.ToUpper(word), word == strings.ToLower(word)
				name(w.directive, !fm && w.full, upper, lower)
				fm = false
				i += len(w.pg)
				continue outer
			}
		}
		for _, w := range []string{"AM", "PM", "am", "pm"} {
			if strings.HasPrefix(rest, w) {
				name("%p", false, false, w[0] == 'a' || w[0] == 'p')
				i += 2
				continue outer
			}
		}
		if rest[0] == 'Q' {
			flush()
			parts = append(parts, "CAST(quarter("+x+") AS VARCHAR)")
			i++
			continue
		}
		for _, n := range numbers {
			if strings.HasPrefix(strings.ToUpper(rest), n.pg) {
				if fm {
					fmtb.WriteString(n.fm)
				} else {
					fmtb.WriteString(n.c)
				}
				fm = false
				i += len(n.pg)
				continue outer
			}
		}
		if rest[0] == '%' {
			fmtb.WriteString("%%")
		} else {
			fmtb.WriteByte(rest[0])
		}
		i++
	}
	flush()
	if len(parts) == 0 {
		return "CAST(" + bind("") + " AS VARCHAR)"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

func (d DuckDB) Series(g, from, to, step string) string { return pgSeries(d, g, from, to, step) }

// Derived: see Dialect.
func (d DuckDB) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedList(d, sql, table, alias, cols)
}
