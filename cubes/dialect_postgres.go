package cubes

import (
	"strconv"
	"strings"
	"time"
)

func init() { RegisterDialect(Postgres{}) }

// Postgres is PostgreSQL's dialect: the push-down's SQL is PostgreSQL's
// own, so most of it is written as is.
type Postgres struct{ pgDefaults }

func (Postgres) Name() string                  { return "postgres" }
func (Postgres) QuoteIdent(s string) string    { return ansiQuote(s) }
func (Postgres) Param(n int) string            { return "$" + strconv.Itoa(n) }
func (Postgres) ILike(expr, pat string) string { return expr + " ILIKE " + pat + ` ESCAPE '\'` }
func (Postgres) DateTrunc(g, expr string) string {
	return "pg_catalog.date_trunc(" + quoteLiteral(g) + ", " + expr + ")"
}
func (Postgres) ConvertTz(expr, tz string) string {
	return "((" + expr + ")::timestamptz AT TIME ZONE " + tz + ")"
}
func (Postgres) TruncMonths(expr string, months int, origin time.Time) string {
	n := strconv.Itoa(months)
	return "(" + timestampLiteral(origin) + " + make_interval(months => CAST(floor(" + monthsSince(expr, origin) + " / " + n + ".0) AS INTEGER) * " + n + "))"
}
func (Postgres) TruncSeconds(expr string, seconds int64, origin time.Time) string {
	n := strconv.FormatInt(seconds, 10)
	return "(" + timestampLiteral(origin) + " + make_interval(secs => floor(extract(epoch FROM (" + expr + ") - " + timestampLiteral(origin) + ") / " + n + ") * " + n + "))"
}
func (Postgres) ApproxCountDistinct(expr string) string {
	return "count(DISTINCT " + expr + ")" // exact: Postgres has no built-in sketch
}

func (Postgres) CastType(name string, mods []string) (string, []string) { return name, mods }
func (Postgres) CastText(expr, typ string) string                       { return "CAST(" + expr + " AS " + typ + ")" }
func (Postgres) Decimal(text string, bind func(any) string) (string, error) {
	return "CAST(" + bind(text) + " AS NUMERIC)", nil
}
func (Postgres) TextArrays() bool                                 { return true }
func (Postgres) Operator(op string) string                        { return op }
func (Postgres) RegexMatch(string, string, string) (string, bool) { return "", false }
func (Postgres) ArraySubquery(sub string) string                  { return "ARRAY(" + sub + ")" }
func (Postgres) JudgesPostgresInput() bool                        { return true }
func (Postgres) Sort(expr, dir, nulls string) string              { return SortNulls(expr, dir, nulls, "") }

// FunctionName qualifies a built-in with pg_catalog: PostgreSQL resolves
// an unqualified call to the best match along the search path, so a
// warehouse function such as public.lower(integer) would answer
// lower(id) — an exact match beats pg_catalog.lower(text), which needs a
// cast. Qualified, the built-in answers or the call fails as PostgreSQL
// would (42883). COALESCE, GREATEST, LEAST and NULLIF are syntax, not
// functions, and are written as they are.
func (Postgres) FunctionName(name string) string {
	switch name {
	case "coalesce", "greatest", "least", "nullif":
		return name
	}
	return "pg_catalog." + name
}

func (p Postgres) DateDiff(unit, a, b string) string {
	part := func(f, x string) string { return "EXTRACT(" + f + " FROM " + x + ")" }
	trunc := p.FunctionName("date_trunc")
	epoch := func(x string) string { return part("EPOCH", trunc+"('"+unit+"', "+x+")") }
	var s string
	switch unit {
	case "year":
		s = part("YEAR", b) + " - " + part("YEAR", a)
	case "quarter":
		s = "(" + part("YEAR", b) + " - " + part("YEAR", a) + ") * 4 + " + part("QUARTER", b) + " - " + part("QUARTER", a)
	case "month":
		s = "(" + part("YEAR", b) + " - " + part("YEAR", a) + ") * 12 + " + part("MONTH", b) + " - " + part("MONTH", a)
	case "week":
		s = "(CAST(" + trunc + "('week', " + b + ") AS DATE) - CAST(" + trunc + "('week', " + a + ") AS DATE)) / 7"
	case "day":
		s = "CAST(" + b + " AS DATE) - CAST(" + a + " AS DATE)"
	case "hour":
		s = "(" + epoch(b) + " - " + epoch(a) + ") / 3600"
	case "minute":
		s = "(" + epoch(b) + " - " + epoch(a) + ") / 60"
	default:
		s = epoch(b) + " - " + epoch(a)
	}
	return "CAST(" + s + " AS BIGINT)"
}

func (Postgres) Function(c Call) (string, bool, error) {
	switch c.Name {
	case "extract":
		field, _ := c.Const(0)
		x, err := c.Arg(1)
		return "EXTRACT(" + field + " FROM " + x + ")", true, err
	case "timezone":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "(" + args[1] + " AT TIME ZONE " + args[0] + ")", true, nil
	case "str_to_date":
		// MySQL's STR_TO_DATE(text, format): the format is a constant.
		f, _ := c.Const(1)
		x, err := c.Arg(0)
		return "CAST(pg_catalog.to_timestamp(" + x + ", " + c.Bind(mysqlToPGFormat(f)) + ") AS TIMESTAMP)", true, err
	case "ends_with":
		args, err := c.Args()
		if err != nil {
			return "", true, err
		}
		return "(pg_catalog.right(" + args[0] + ", pg_catalog.length(" + args[1] + ")) = " + args[1] + ")", true, nil
	}
	return "", false, nil
}

// mysqlToPGFormat translates a MySQL date format into a PostgreSQL
// to_timestamp template.
func mysqlToPGFormat(f string) string {
	conv := map[byte]string{'Y': "YYYY", 'y': "YY", 'm': "MM", 'c': "FMMM", 'd': "DD", 'e': "FMDD", 'H': "HH24", 'h': "HH12",
		'i': "MI", 's': "SS", 'S': "SS", 'f': "US", 'p': "AM", 'b': "Mon", 'M': "Month", 'a': "Dy", 'W': "Day", 'j': "DDD"}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+1 < len(f) {
			if s, ok := conv[f[i+1]]; ok {
				b.WriteString(s)
				i++
				continue
			}
		}
		b.WriteByte(f[i])
	}
	return b.String()
}

func (d Postgres) Series(g, from, to, step string) string { return pgSeries(d, g, from, to, step) }

// Derived: see Dialect.
func (d Postgres) Derived(sql string, table bool, alias string, cols []string) string {
	return DerivedList(d, sql, table, alias, cols)
}
