// Package clickhouse is the ClickHouse warehouse (DSN schemes
// clickhouse:// and clickhouses://, TLS): github.com/ClickHouse/clickhouse-go/v2
// over the native protocol behind warehouse/sqldb, with the SQL written
// by the "clickhouse" dialect (cubes/dialect_clickhouse.go). Tested live
// against ClickHouse 18.16 (Debian's) and, for SQL 18.16 cannot run,
// validated against a current ClickHouse (chdb).
//
// DSN: clickhouse://user[:password]@host[:port]/database?param=…, with
//
//	secure=true|false        (TLS; clickhouses:// is secure=true;
//	                          port 9440 then, else 9000)
//	skip_verify=true         (TLS without verifying the certificate)
//	password_file=/path      (the password, trimmed; else
//	                          $CUBEGATE_WAREHOUSE_PASSWORD when the DSN
//	                          has none)
//	timeout=10s              (connect timeout)
//	max_conns=10             (the pool's statements at once)
//
// Every query runs with join_use_nulls=1 (an outer join's missing side
// is NULL, as in SQL, not the type's default value). The dialect reads
// DateTime values as UTC: the server's time zone must be UTC (18.16 has
// no per-session zone), or the server must take session_timezone (a
// current ClickHouse), which Open then sets; otherwise Open fails. Where
// the server has them, union_default_mode, intersect_default_mode and
// except_default_mode are DISTINCT (a UNION, INTERSECT or EXCEPT without
// ALL means what PostgreSQL's means; 18.16 refuses a UNION without ALL:
// 42601) and enable_positional_arguments is 1 (GROUP BY 1 is the first
// column, as the push-down writes it; 18.16 reads a constant there), and
// cast_keep_nullable is 1 (a cast of a NULL is NULL, as PostgreSQL's;
// 18.16 refuses it: 0A000).
//
// Arguments are bound client-side by the driver (values quoted and
// escaped by clickhouse-go, placeholders $n as the dialect writes them).
// A timestamp argument in the ISO text the compiler binds
// ('2023-03-10T05:00:00.000Z', which 18.16 cannot compare with a
// DateTime) is bound as a DateTime, its fraction of a second dropped:
// DateTime has whole seconds, so x <= t.999 and x > t.999 mean what
// they mean for t (x >= t.5 would not: the compiler writes .000 there).
//
// A statement whose context ends first is cancelled by the driver (the
// native protocol's Cancel packet): the server stops it.
//
// Types: ClickHouse has no boolean in 18.16 (UInt8); a UInt8 stays an
// integer (the gateway sends an integer as t/f where the member is
// boolean). UInt64 and wider integers are numeric, Enum and
// LowCardinality(String) text, DateTime timestamp (UTC).
package clickhouse

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/sqldb"
)

func init() { warehouse.Register(Open, "clickhouse", "clickhouses") }

// Options parses a DSN into the driver's options and the pool's size.
func Options(dsn string) (*clickhouse.Options, int, error) {
	fail := func(format string, a ...any) (*clickhouse.Options, int, error) {
		return nil, 0, warehouse.DSNError(dsn, format, a...)
	}
	d, err := warehouse.ParseURLDSN(dsn, "clickhouse://user:password@host:port/database", 10*time.Second)
	if err != nil {
		return nil, 0, err
	}
	u := d.URL
	secure := u.Scheme == "clickhouses"
	skipVerify := false
	o := &clickhouse.Options{
		Protocol:    clickhouse.Native,
		DialTimeout: d.Timeout,
		ReadTimeout: 24 * time.Hour, // statements end by their context
		Settings:    clickhouse.Settings{"join_use_nulls": 1},
	}
	o.Auth.Username = u.User.Username()
	if o.Auth.Username == "" {
		o.Auth.Username = "default"
	}
	o.Auth.Password = d.Password
	o.Auth.Database = strings.TrimPrefix(u.Path, "/")
	if o.Auth.Database == "" {
		o.Auth.Database = "default"
	}
	for k, v := range d.Params {
		switch k {
		case "secure", "skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("%s=%s: want true or false", k, v)
			}
			if k == "secure" {
				secure = b
			} else {
				skipVerify = b
			}
		default:
			return fail("unknown parameter %s", k)
		}
	}
	port := u.Port()
	if port == "" {
		port = "9000"
		if secure {
			port = "9440"
		}
	}
	o.Addr = []string{net.JoinHostPort(u.Hostname(), port)}
	if secure {
		o.TLS = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: skipVerify}
	}
	return o, d.MaxConns, nil
}

// Open opens a ClickHouse warehouse and checks that it answers and reads
// times in UTC.
func Open(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
	opts, maxConns, err := Options(dsn)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr[0]
	w := New(openDB(opts), addr, maxConns, o)
	if err := w.Connect(ctx); err != nil {
		w.Close()
		return nil, redactConnect(err, opts.Auth.Password)
	}
	var tz, version string
	var has []string
	err = w.DB().QueryRowContext(ctx, "SELECT timezone(), version(), (SELECT groupArray(name) FROM system.settings WHERE name IN ('union_default_mode', 'intersect_default_mode', 'except_default_mode', 'enable_positional_arguments', 'cast_keep_nullable', 'aggregate_functions_null_for_empty', 'transform_null_in'))").Scan(&tz, &version, &has)
	if err != nil {
		w.Close()
		return nil, &warehouse.ConnectError{Engine: "clickhouse", Address: addr, Err: errors.New(redact(err.Error(), opts.Auth.Password))}
	}
	if isUTC(tz) && len(has) == 0 {
		return w.WithCheck(check(version)), nil
	}
	// A current ClickHouse: UNION, INTERSECT and EXCEPT without ALL are
	// PostgreSQL's (DISTINCT), ordinals in GROUP BY and ORDER BY are
	// positions, an aggregate of no rows is NULL and NULL IN/NOT IN is
	// SQL's (a NULL in the list: not true), and a session has a zone of
	// its own. (18.16 has none of these: its gaps are in the README.)
	w.Close()
	for _, name := range has {
		switch name {
		case "enable_positional_arguments", "cast_keep_nullable", "aggregate_functions_null_for_empty", "transform_null_in":
			opts.Settings[name] = 1
		default:
			opts.Settings[name] = "DISTINCT"
		}
	}
	if !isUTC(tz) {
		opts.Settings["session_timezone"] = "UTC"
	}
	w = New(openDB(opts), addr, maxConns, o).WithCheck(check(version))
	if err := w.DB().QueryRowContext(ctx, "SELECT timezone()").Scan(&tz); err != nil || !isUTC(tz) {
		w.Close()
		return nil, &warehouse.ConnectError{Engine: "clickhouse", Address: addr,
			Err: fmt.Errorf("the server's time zone is %s, not UTC, and it takes no session_timezone: set <timezone>UTC</timezone> in its config", tz)}
	}
	return w, nil
}

// isUTC tells UTC by its names.
func isUTC(tz string) bool {
	switch strings.TrimPrefix(tz, "Etc/") {
	case "UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "Greenwich":
		return true
	}
	return false
}

func redact(s, password string) string {
	if password != "" {
		s = strings.ReplaceAll(s, password, "xxxxx")
	}
	return warehouse.Redact(s)
}

func redactConnect(err error, password string) error {
	var ce *warehouse.ConnectError
	if errors.As(err, &ce) && ce.Err != nil {
		var ex *clickhouse.Exception
		if errors.As(ce.Err, &ex) {
			// The server's refusal (a wrong password, no such database),
			// as warehouse.Reason tells PostgreSQL's.
			code, ok := chStates[ex.Code]
			if !ok {
				code = pgerrcode.InternalError
			}
			ce.Err = &pgconn.PgError{Code: code, Message: redact(ex.Message, password)}
			return ce
		}
		ce.Err = errors.New(redact(ce.Err.Error(), password))
		return ce
	}
	return errors.New(redact(err.Error(), password))
}

// New puts a pool opened on clickhouse-go's database/sql driver behind
// warehouse.Warehouse (tests: a pool of their own).
func New(db *sql.DB, addr string, maxConns int, o warehouse.Options) *sqldb.Warehouse {
	return sqldb.New(sqldb.Config{
		Engine: "clickhouse", Dialect: "clickhouse", Address: addr, DB: db, MaxConns: maxConns,
		Type: columnType, Value: value, Error: mapError, Unreachable: unreachable, Arg: arg,
	}, o)
}

// check is what a server of version refuses before it runs (nil:
// nothing).
func check(version string) func(string) error {
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 20 {
		return refuseJoins(version)
	}
	return nil
}

// join is a JOIN keyword of the SQL cubegate writes (identifiers are
// backquoted, values bound).
var join = regexp.MustCompile(`(?i)\bJOIN\b`)

// refuseJoins refuses joins on ClickHouse before 20.1: 18.x and 19.x read
// a joined table's column named like one of the other table's
// (customers.id beside orders.id) as the other table's, so a join
// answers wrongly without an error (a fan-out's distinct customers were
// orders); 18.x runs one JOIN per SELECT besides.
func refuseJoins(version string) func(string) error {
	return func(sql string) error {
		if join.MatchString(sql) {
			return &warehouse.Error{Code: pgerrcode.FeatureNotSupported, Message: "joins are not available on ClickHouse " + version +
				": they need ClickHouse 20.1 or newer (before it, a joined table's column named like the other table's reads as the other's)"}
		}
		return nil
	}
}

// PostgreSQL type OIDs.
const (
	oidBool      = 16
	oidBytea     = 17
	oidInt8      = 20
	oidInt2      = 21
	oidInt4      = 23
	oidText      = 25
	oidFloat4    = 700
	oidFloat8    = 701
	oidDate      = 1082
	oidTimestamp = 1114
	oidNumeric   = 1700
	oidUUID      = 2950
)

// baseType strips Nullable(…) and LowCardinality(…) and a type's
// arguments: "Nullable(Decimal(10, 2))" is "Decimal".
func baseType(t string) string {
	for {
		switch {
		case strings.HasPrefix(t, "Nullable(") && strings.HasSuffix(t, ")"):
			t = t[len("Nullable(") : len(t)-1]
		case strings.HasPrefix(t, "LowCardinality(") && strings.HasSuffix(t, ")"):
			t = t[len("LowCardinality(") : len(t)-1]
		default:
			if i := strings.IndexByte(t, '('); i >= 0 {
				t = t[:i]
			}
			return t
		}
	}
}

func typeOID(name string) uint32 {
	switch baseType(name) {
	case "Int8", "UInt8", "Int16":
		return oidInt2
	case "UInt16", "Int32":
		return oidInt4
	case "UInt32", "Int64", "UInt64":
		// UInt64 too: count() is one, and PostgreSQL's count is a bigint;
		// a value past int8 fails to encode (22003) rather than changing.
		return oidInt8
	case "Int128", "UInt128", "Int256", "UInt256", "Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256":
		return oidNumeric
	case "Float32":
		return oidFloat4
	case "Float64":
		return oidFloat8
	case "Bool":
		return oidBool
	case "Date", "Date32":
		return oidDate
	case "DateTime", "DateTime64":
		return oidTimestamp
	case "UUID":
		return oidUUID
	}
	return oidText // String, FixedString, Enum8/16, IPv4/6, Nothing, arrays…
}

func columnType(ct *sql.ColumnType) uint32 { return typeOID(ct.DatabaseTypeName()) }

// value turns what clickhouse-go scanned (its Go types, pointers for
// Nullable columns) into the type the column's OID promises.
func value(v any, oid uint32) (any, error) {
	v = deref(v)
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		if oid == oidNumeric { // a Decimal, as its driver.Valuer gives it
			return numeric(x)
		}
	case decimal.Decimal:
		return numeric(x.String())
	case *big.Int:
		return pgtype.Numeric{Int: new(big.Int).Set(x), Valid: true}, nil
	case big.Int:
		return pgtype.Numeric{Int: new(big.Int).Set(&x), Valid: true}, nil
	case uint64:
		if oid == oidNumeric {
			return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}, nil
		}
		if x > math.MaxInt64 {
			return nil, &warehouse.Error{Code: pgerrcode.NumericValueOutOfRange, Message: "bigint out of range: " + strconv.FormatUint(x, 10)}
		}
	case time.Time:
		return x.UTC(), nil
	case net.IP:
		return x.String(), nil
	case [16]byte:
		if oid == oidUUID {
			return x, nil
		}
	}
	if oid == oidText {
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case fmt.Stringer:
			return x.String(), nil
		}
	}
	n := warehouse.Normalize(v)
	if oid == oidUUID {
		if s, ok := n.(string); ok {
			var u pgtype.UUID
			if err := u.Scan(s); err == nil {
				return u.Bytes, nil
			}
		}
	}
	return n, nil
}

// deref reads a Nullable column's pointer.
func deref(v any) any {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case *int8:
		if x == nil {
			return nil
		}
		return *x
	case *int16:
		if x == nil {
			return nil
		}
		return *x
	case *int32:
		if x == nil {
			return nil
		}
		return *x
	case *int64:
		if x == nil {
			return nil
		}
		return *x
	case *uint8:
		if x == nil {
			return nil
		}
		return *x
	case *uint16:
		if x == nil {
			return nil
		}
		return *x
	case *uint32:
		if x == nil {
			return nil
		}
		return *x
	case *uint64:
		if x == nil {
			return nil
		}
		return *x
	case *float32:
		if x == nil {
			return nil
		}
		return *x
	case *float64:
		if x == nil {
			return nil
		}
		return *x
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case *time.Time:
		if x == nil {
			return nil
		}
		return *x
	case *decimal.Decimal:
		if x == nil {
			return nil
		}
		return *x
	case **big.Int:
		if x == nil || *x == nil {
			return nil
		}
		return *x
	}
	return v
}

func numeric(s string) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		return n, fmt.Errorf("clickhouse: decimal %q: %w", s, err)
	}
	return n, nil
}

// chStates are the SQLSTATEs PostgreSQL gives the failures ClickHouse's
// exception codes tell (src/Common/ErrorCodes.cpp).
var chStates = map[int32]string{
	60:  pgerrcode.UndefinedTable,                         // UNKNOWN_TABLE
	81:  pgerrcode.InvalidCatalogName,                     // UNKNOWN_DATABASE
	47:  pgerrcode.UndefinedColumn,                        // UNKNOWN_IDENTIFIER
	16:  pgerrcode.UndefinedColumn,                        // NO_SUCH_COLUMN_IN_TABLE
	179: pgerrcode.DuplicateAlias,                         // MULTIPLE_EXPRESSIONS_FOR_ALIAS
	207: pgerrcode.AmbiguousColumn,                        // AMBIGUOUS_COLUMN_NAME
	352: pgerrcode.AmbiguousColumn,                        // AMBIGUOUS_COLUMN_NAME (newer)
	62:  pgerrcode.SyntaxError,                            // SYNTAX_ERROR
	46:  pgerrcode.UndefinedFunction,                      // UNKNOWN_FUNCTION
	42:  pgerrcode.UndefinedFunction,                      // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
	43:  pgerrcode.UndefinedFunction,                      // ILLEGAL_TYPE_OF_ARGUMENT (no such operator)
	386: pgerrcode.DatatypeMismatch,                       // NO_COMMON_TYPE
	53:  pgerrcode.DatatypeMismatch,                       // TYPE_MISMATCH
	70:  pgerrcode.NumericValueOutOfRange,                 // CANNOT_CONVERT_TYPE
	69:  pgerrcode.NumericValueOutOfRange,                 // ARGUMENT_OUT_OF_BOUND
	407: pgerrcode.NumericValueOutOfRange,                 // DECIMAL_OVERFLOW
	153: pgerrcode.DivisionByZero,                         // ILLEGAL_DIVISION
	6:   pgerrcode.InvalidTextRepresentation,              // CANNOT_PARSE_TEXT
	27:  pgerrcode.InvalidTextRepresentation,              // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	72:  pgerrcode.InvalidTextRepresentation,              // CANNOT_PARSE_NUMBER
	38:  pgerrcode.InvalidDatetimeFormat,                  // CANNOT_PARSE_DATE
	41:  pgerrcode.InvalidDatetimeFormat,                  // CANNOT_PARSE_DATETIME
	131: pgerrcode.StringDataRightTruncationDataException, // TOO_LARGE_STRING_SIZE
	427: pgerrcode.InvalidRegularExpression,               // CANNOT_COMPILE_REGEXP
	125: pgerrcode.CardinalityViolation,                   // INCORRECT_RESULT_OF_SCALAR_SUBQUERY
	159: pgerrcode.QueryCanceled,                          // TIMEOUT_EXCEEDED
	394: pgerrcode.QueryCanceled,                          // QUERY_WAS_CANCELLED
	516: pgerrcode.InvalidPassword,                        // AUTHENTICATION_FAILED
	192: pgerrcode.InvalidPassword,                        // UNKNOWN_USER
	193: pgerrcode.InvalidPassword,                        // WRONG_PASSWORD
	194: pgerrcode.InvalidPassword,                        // REQUIRED_PASSWORD
	195: pgerrcode.InvalidAuthorizationSpecification,      // IP_ADDRESS_NOT_ALLOWED
	497: pgerrcode.InsufficientPrivilege,                  // ACCESS_DENIED
	164: pgerrcode.ReadOnlySQLTransaction,                 // READONLY
	241: pgerrcode.OutOfMemory,                            // MEMORY_LIMIT_EXCEEDED
	202: pgerrcode.TooManyConnections,                     // TOO_MANY_SIMULTANEOUS_QUERIES
	203: pgerrcode.TooManyConnections,                     // NO_FREE_CONNECTION
	57:  pgerrcode.DuplicateTable,                         // TABLE_ALREADY_EXISTS
	48:  pgerrcode.FeatureNotSupported,                    // NOT_IMPLEMENTED
	1:   pgerrcode.FeatureNotSupported,                    // UNSUPPORTED_METHOD
	403: pgerrcode.FeatureNotSupported,                    // INVALID_JOIN_ON_EXPRESSION
	115: pgerrcode.SyntaxError,                            // UNKNOWN_SETTING
	215: pgerrcode.GroupingError,                          // NOT_AN_AGGREGATE
	184: pgerrcode.GroupingError,                          // ILLEGAL_AGGREGATION
	210: pgerrcode.ConnectionFailure,                      // NETWORK_ERROR
	209: pgerrcode.ConnectionFailure,                      // SOCKET_TIMEOUT
}

func mapError(err error) error {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return err
	}
	code, ok := chStates[ex.Code]
	if !ok {
		code = pgerrcode.InternalError
	}
	return &warehouse.Error{Code: code, Message: fmt.Sprintf("%s (ClickHouse code %d)", strings.TrimSpace(ex.Message), ex.Code)}
}

// unreachable: the server went away or is shutting down.
func unreachable(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 209, 210, 279: // SOCKET_TIMEOUT, NETWORK_ERROR, ALL_CONNECTION_TRIES_FAILED
			return true
		}
		return false
	}
	return errors.Is(err, clickhouse.ErrAcquireConnTimeout)
}

// offsetTime is timestamp text with a UTC offset.
var offsetTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([+-]\d{2}(:?\d{2})?)$`)

// isoTime is the ISO text the compiler binds a timestamp as.
var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$`)

// arg binds the compiler's ISO timestamps as DateTime (whole seconds,
// UTC; see the package comment) and PostgreSQL's infinite timestamps as
// DateTime's last and first second.
func arg(v any) any {
	if t, ok := v.(time.Time); ok {
		// DateTime holds 1970 to early 2106 in whole seconds, and a bound
		// past its end wraps to 1970 (2106-02-07 06:28:15 is read back as
		// 1970-01-01 06:28:15 on 18.16): a bound past 2105 (PostgreSQL's
		// infinity, a date range's far end) is 2105's last second.
		switch first, last := time.Unix(0, 0).UTC(), time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC); {
		case t.Before(first):
			return first
		case t.After(last):
			return last
		}
		return t.UTC().Truncate(time.Second)
	}
	s, ok := v.(string)
	if !ok {
		return v
	}
	if isoTime.MatchString(s) {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() >= 1970 && t.Year() <= 2105 {
			return t.UTC().Truncate(time.Second)
		}
		return v
	}
	if m := offsetTime.FindStringSubmatchIndex(s); m != nil {
		// Timestamp text with an offset, as PgJDBC's setTimestamp sends
		// an unknown-typed parameter ('2022-03-01 00:00:00+01'), which
		// ClickHouse does not read as a DateTime. Compared with a
		// timestamp column (a time dimension), PostgreSQL reads it as a
		// timestamp: the offset is dropped, the wall clock kept.
		if t, _, err := postgres.ParseTimestamp(s[:m[4]], time.UTC); err == nil {
			return arg(t)
		}
	}
	switch strings.ToLower(s) {
	case "infinity", "+infinity":
		return time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)
	case "-infinity":
		return time.Unix(0, 0).UTC()
	}
	return v
}
