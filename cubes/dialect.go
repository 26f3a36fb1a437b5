package cubes

import (
	"strconv"
	"strings"
	"time"
)

// Dialect renders the parts of SQL that differ between warehouses. Adding
// a warehouse (MySQL, ClickHouse, Trino, BigQuery, Snowflake) is one file
// implementing it.
type Dialect interface {
	// Name is the dialect's name ("postgres", "duckdb").
	Name() string
	// QuoteIdent quotes an identifier.
	QuoteIdent(s string) string
	// Param is the placeholder of the n-th (1-based) bound argument.
	Param(n int) string
	// DateTrunc truncates a timestamp expression to a granularity.
	DateTrunc(granularity, expr string) string
	// ApproxCountDistinct is the approximate distinct count of expr.
	ApproxCountDistinct(expr string) string
	// ILike is a case-insensitive LIKE.
	ILike(expr, pattern string) string
	// ConvertTz turns a UTC timestamp expression into the wall-clock time
	// of the time zone named by the parameter tz.
	ConvertTz(expr, tz string) string
	// TruncMonths buckets a timestamp into whole periods of months months
	// counted from origin (a month start); TruncSeconds into periods of
	// seconds seconds from origin.
	TruncMonths(expr string, months int, origin time.Time) string
	TruncSeconds(expr string, seconds int64, origin time.Time) string
}

func timestampLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05") + "'"
}

// monthsSince is the number of whole months from origin to expr, as SQL
// both dialects read.
func monthsSince(expr string, origin time.Time) string {
	return "((CAST(date_part('year', " + expr + ") AS INTEGER) - " + strconv.Itoa(origin.Year()) + ") * 12 + CAST(date_part('month', " + expr + ") AS INTEGER) - " + strconv.Itoa(int(origin.Month())) + ")"
}

// DialectByName returns the dialect called name.
func DialectByName(name string) (Dialect, bool) {
	switch name {
	case "postgres":
		return Postgres{}, true
	case "duckdb":
		return DuckDB{}, true
	}
	return nil, false
}

// ansiQuote double-quotes s, doubling embedded quotes.
func ansiQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral renders a model-defined string as a SQL literal. Client
// values never go through here: they are bound arguments.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Postgres is PostgreSQL's dialect.
type Postgres struct{}

func (Postgres) Name() string                  { return "postgres" }
func (Postgres) QuoteIdent(s string) string    { return ansiQuote(s) }
func (Postgres) Param(n int) string            { return "$" + strconv.Itoa(n) }
func (Postgres) ILike(expr, pat string) string { return expr + " ILIKE " + pat + ` ESCAPE '\'` }
func (Postgres) DateTrunc(g, expr string) string {
	return "date_trunc(" + quoteLiteral(g) + ", " + expr + ")"
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

// DuckDB is DuckDB's dialect.
type DuckDB struct{}

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
