package cubes

import (
	"strconv"
	"strings"
	"time"
)

// Dialect renders everything that differs between warehouses in the SQL
// cubegate writes: the compiler's cube queries and the push-down's
// statements alike. A warehouse (MySQL, ClickHouse, Trino, BigQuery,
// Snowflake) is one file implementing it and registering it
// (RegisterDialect), plus its golden files; dialect_postgres.go and
// dialect_duckdb.go are the two there are.
//
// The push-down writes PostgreSQL: every method below from CastType on is
// a place where a warehouse spells or means PostgreSQL's SQL differently.
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

	// CastType spells PostgreSQL's type (its canonical name: SMALLINT,
	// INTEGER, BIGINT, REAL, DOUBLE PRECISION, NUMERIC, TEXT, VARCHAR,
	// CHAR, BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ, TIME, INTERVAL, UUID)
	// and its modifiers as the warehouse's closest equivalent.
	CastType(name string, mods []string) (string, []string)
	// CastText casts text to typ (a CastType result) reading what
	// PostgreSQL's input functions read.
	CastText(expr, typ string) string
	// Decimal renders a numeric literal with a fraction or an exponent
	// (text as written) with PostgreSQL numeric's exactness; bind binds a
	// value and returns its placeholder.
	Decimal(text string, bind func(any) string) (string, error)
	// TextArrays tells whether a list of text values binds as one array
	// parameter (long IN lists; integers always do).
	TextArrays() bool
	// Operator spells a binary operator; RegexMatch renders PostgreSQL's
	// ~, ~*, !~ and !~* (ok false: as PostgreSQL writes them).
	Operator(op string) string
	RegexMatch(op, l, r string) (string, bool)
	// ArraySubquery renders ARRAY(sub).
	ArraySubquery(sub string) string
	// DefaultNulls is what ORDER BY adds to a key without NULLS FIRST or
	// LAST so that NULLs sort as PostgreSQL sorts them (last ascending,
	// first descending).
	DefaultNulls(desc bool) string
	// DateDiff is the number of unit boundaries between timestamps a and
	// b (Redshift's DATEDIFF, which BI tools send), as a BIGINT.
	DateDiff(unit, a, b string) string
	// FunctionName is the warehouse's name for a PostgreSQL function, ""
	// when it has none (the call is refused).
	FunctionName(name string) string
	// Function renders a call of a PostgreSQL function when the warehouse
	// writes it differently; ok false writes FunctionName(args) as
	// PostgreSQL does. An *ArgError refuses one of its arguments.
	Function(c Call) (sql string, ok bool, err error)
	// JudgesPostgresInput tells whether the warehouse's verdict on input
	// PostgreSQL would refuse or accept is PostgreSQL's own (it is
	// PostgreSQL): cubegate's evaluator then defers to it.
	JudgesPostgresInput() bool
}

// Call is a call of a PostgreSQL function the push-down writes.
type Call struct {
	Name  string
	NArgs int
	// In are its arguments as the push-down renders them.
	In CallArgs
	// Quotient is set for floor, ceil and trunc of a division (Arg(0)).
	Quotient bool
}

// CallArgs are a call's arguments as the push-down renders them.
type CallArgs interface {
	// Arg renders the i-th argument for the warehouse (once: rendering
	// binds its values; an argument the dialect does not write is never
	// rendered).
	Arg(i int) (string, error)
	// Const is the i-th argument's text when it is a constant.
	Const(i int) (string, bool)
	// Bind binds a value as the statement's next argument and returns
	// its placeholder.
	Bind(v any) string
}

func (c Call) Arg(i int) (string, error)  { return c.In.Arg(i) }
func (c Call) Const(i int) (string, bool) { return c.In.Const(i) }
func (c Call) Bind(v any) string          { return c.In.Bind(v) }

// Args renders every argument.
func (c Call) Args() ([]string, error) {
	out := make([]string, c.NArgs)
	for i := range out {
		s, err := c.Arg(i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// ArgError is a dialect's refusal of a call because of one argument.
type ArgError struct {
	Arg     int
	Message string
}

func (e *ArgError) Error() string { return e.Message }

func timestampLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05") + "'"
}

// monthsSince is the number of whole months from origin to expr, as SQL
// both dialects read.
func monthsSince(expr string, origin time.Time) string {
	return "((CAST(date_part('year', " + expr + ") AS INTEGER) - " + strconv.Itoa(origin.Year()) + ") * 12 + CAST(date_part('month', " + expr + ") AS INTEGER) - " + strconv.Itoa(int(origin.Month())) + ")"
}

var dialects = map[string]Dialect{}

// RegisterDialect makes d available by its name (a dialect file's init).
func RegisterDialect(d Dialect) { dialects[d.Name()] = d }

// DialectByName returns the dialect called name.
func DialectByName(name string) (Dialect, bool) {
	d, ok := dialects[name]
	return d, ok
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
