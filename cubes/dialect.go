package cubes

import (
	"regexp"
	"sort"
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
	// Sort renders a sort key: dir is "", " ASC" or " DESC" as written,
	// nulls "", "FIRST" or "LAST"; without nulls, NULLs must sort as
	// PostgreSQL sorts them (last ascending, first descending).
	Sort(expr, dir, nulls string) string
	// SortByValue tells whether ORDER BY and GROUP BY keys naming the
	// SELECT list's columns (a name, an ordinal) are written as the
	// columns' expressions: where Sort builds expressions over the key
	// (MySQL's (x) IS NULL) and the engine refuses an output name or
	// ordinal in them, or reads an ordinal as a constant (ClickHouse
	// before 22.7).
	SortByValue() bool
	// Binary renders a binary operator the warehouse writes otherwise
	// (ok false: "(l op r)" with Operator's spelling).
	Binary(op, l, r string) (string, bool)
	// AggregateFilter tells whether aggregates take FILTER (WHERE …);
	// DistinctOn whether SELECT takes DISTINCT ON (…). Without them the
	// push-down refuses the statement (0A000).
	AggregateFilter() bool
	DistinctOn() bool
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
	// Concat concatenates text expressions (PostgreSQL's ||).
	Concat(parts ...string) string
	// LimitOffset renders a query's LIMIT and OFFSET clauses with a
	// leading space; either may be "" (absent). An OFFSET of "0" alone is
	// a fence: the warehouse must not merge the subquery it ends into
	// the statement around it.
	LimitOffset(limit, offset string) string
	// ListParams tells whether a long list of text or integer values
	// binds as one array parameter (= ANY($n)); false: value by value.
	ListParams() bool
	// OrderKey is an ORDER BY key for the select list's column at pos
	// (1-based) called alias, computed by expr, NULLs sorted as
	// PostgreSQL sorts them; GroupKey a GROUP BY key for it.
	OrderKey(pos int, alias, expr string, desc bool) string
	GroupKey(pos int, alias string) string
	// Interval adds (op '+') or subtracts ('-') an interval to a
	// timestamp expression; iv is PostgreSQL's interval text, "<n> <unit>"
	// pairs ("1 day", "0 months 604800 seconds", "1 millisecond").
	Interval(expr string, op byte, iv string) string
	// Series is a query of one column, date_from: the timestamps from
	// from to to (inclusive) in steps of step (PostgreSQL interval
	// text); from is truncated to the step's granularity g first.
	Series(g, from, to, step string) string
	// DateAdd adds n (an integer expression) units ("day", "month", …)
	// to the timestamp expression x (Redshift's DATEADD, which BI tools
	// send).
	DateAdd(unit, n, x string) string
	// Derived renders a derived table: the subquery sql (table: the name
	// of a table or WITH query) named alias whose columns are named cols,
	// in order.
	Derived(sql string, table bool, alias string, cols []string) string
	// FullJoin tells whether the warehouse has FULL JOIN (without it,
	// the rolling-window parts are joined to the union of their keys).
	FullJoin() bool

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

// Dialects are the registered dialects, by name.
func Dialects() []Dialect {
	out := make([]Dialect, 0, len(dialects))
	for _, d := range dialects {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

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

// pgDefaults are the hooks PostgreSQL and DuckDB write alike.
type pgDefaults struct{}

func (pgDefaults) Concat(parts ...string) string { return strings.Join(parts, " || ") }
func (pgDefaults) LimitOffset(limit, offset string) string {
	s := ""
	if limit != "" {
		s += " LIMIT " + limit
	}
	if offset != "" {
		s += " OFFSET " + offset
	}
	return s
}
func (pgDefaults) ListParams() bool { return true }
func (pgDefaults) OrderKey(pos int, _, _ string, desc bool) string {
	if desc {
		return strconv.Itoa(pos) + " DESC"
	}
	return strconv.Itoa(pos) + " ASC"
}
func (pgDefaults) GroupKey(pos int, _ string) string { return strconv.Itoa(pos) }
func (pgDefaults) Interval(expr string, op byte, iv string) string {
	return expr + " " + string(op) + " INTERVAL '" + iv + "'"
}
func (pgDefaults) FullJoin() bool { return true }
func (pgDefaults) DateAdd(unit, n, x string) string {
	return "(" + x + " + " + n + " * INTERVAL '1 " + unit + "')"
}

// DerivedList names a derived table's columns in a column list after its
// alias, as PostgreSQL does.
func DerivedList(d Dialect, sql string, table bool, alias string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.QuoteIdent(c)
	}
	if !table {
		sql = "(" + sql + ")"
	}
	return sql + " AS " + d.QuoteIdent(alias) + "(" + strings.Join(q, ", ") + ")"
}

// DerivedByUnion names a derived table's columns where the warehouse has
// no column list after its alias: a first, empty SELECT of NULLs named
// cols heads a UNION ALL with the subquery, whose columns take its names.
func DerivedByUnion(d Dialect, sql string, table bool, alias string, cols []string) string {
	if table {
		sql = "SELECT * FROM " + sql
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "NULL AS " + d.QuoteIdent(c)
	}
	return "(SELECT " + strings.Join(q, ", ") + " FROM (SELECT 1 AS " + d.QuoteIdent("x") + ") AS " + d.QuoteIdent("__none") +
		" WHERE 1 = 0 UNION ALL (" + sql + ")) AS " + d.QuoteIdent(alias)
}
func (pgDefaults) Binary(op, l, r string) (string, bool) { return "", false }
func (pgDefaults) SortByValue() bool                     { return false }
func (pgDefaults) AggregateFilter() bool                 { return true }
func (pgDefaults) DistinctOn() bool                      { return true }

// SortNulls renders a sort key in SQL that has NULLS FIRST and LAST,
// with def (the warehouse's) unless nulls is written.
func SortNulls(expr, dir, nulls, def string) string {
	if nulls != "" {
		return expr + dir + " NULLS " + nulls
	}
	return expr + dir + def
}

// CastAs renders CAST(expr AS the warehouse's spelling of PostgreSQL's
// type name).
func CastAs(d Dialect, expr, name string) string {
	typ, mods := d.CastType(name, nil)
	if len(mods) > 0 {
		typ += "(" + strings.Join(mods, ", ") + ")"
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

// IntervalParts reads PostgreSQL interval text as Interval receives it
// ("<n> <unit>" pairs, units singular or plural) for dialects that
// write intervals their own way.
func IntervalParts(iv string) (parts []IntervalPart, ok bool) {
	f := strings.Fields(iv)
	if len(f)%2 != 0 || len(f) == 0 {
		return nil, false
	}
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return nil, false
		}
		u := strings.TrimSuffix(strings.ToLower(f[i+1]), "s")
		switch u {
		case "microsecond", "millisecond", "second", "minute", "hour", "day", "week", "month", "year":
		default:
			return nil, false
		}
		parts = append(parts, IntervalPart{N: n, Unit: u})
	}
	return parts, true
}

// IntervalPart is one "<n> <unit>" of an interval.
type IntervalPart struct {
	N    int64
	Unit string // singular: "day", "month", "millisecond"
}

// pgSeries is generate_series over the periods, as PostgreSQL and DuckDB
// write it.
func pgSeries(d Dialect, g, from, to, step string) string {
	return "SELECT d " + d.QuoteIdent("date_from") + " FROM generate_series(" + d.DateTrunc(g, "CAST("+from+" AS TIMESTAMP)") +
		", CAST(" + to + " AS TIMESTAMP), INTERVAL '" + step + "') AS s(d)"
}

// bareParam is a LIMIT or OFFSET placeholder without the integer cast
// the compiler and the push-down write around it, for engines whose
// LIMIT takes a placeholder or a literal only.
func bareParam(s string) string {
	if m := castParam.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

var castParam = regexp.MustCompile(`^CAST\(((?:[$:@]p?)?[0-9]+) AS [A-Z]+\)$`)

// IntExpr tells whether s, as the push-down writes it, is visibly an
// integer: an integer literal, a cast to the dialect's integer type, a
// COUNT(…). Engines whose / divides integers as decimals or floats
// write such a quotient as an integer division; others, whose operand
// types the SQL text does not show, keep their /.
func IntExpr(d Dialect, s string) bool {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	if strings.HasPrefix(s, "COUNT(") && closes(s, 5) {
		return true
	}
	if !strings.HasPrefix(s, "CAST(") || !closes(s, 4) {
		return false
	}
	for _, t := range []string{"SMALLINT", "INTEGER", "BIGINT"} {
		if name, _ := d.CastType(t, nil); name != "" && strings.HasSuffix(s, " AS "+name+")") {
			return true
		}
	}
	return false
}

// NullSkipping is GREATEST or LEAST (fn) of args as PostgreSQL's, which
// skip NULLs, written for engines whose functions are NULL when an
// argument is: each argument coalesced with the others.
func NullSkipping(fn string, args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	parts := make([]string, len(args))
	for i := range args {
		rest := append([]string{args[i]}, append(append([]string{}, args[:i]...), args[i+1:]...)...)
		parts[i] = "COALESCE(" + strings.Join(rest, ", ") + ")"
	}
	return fn + "(" + strings.Join(parts, ", ") + ")"
}

// closes tells whether the parenthesis at open closes at the end of s
// (quotes skipped).
func closes(s string, open int) bool {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'', '`', '"':
			j := strings.IndexByte(s[i+1:], s[i])
			if j < 0 {
				return false
			}
			i += j + 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}
