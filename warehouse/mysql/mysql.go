// Package mysql is the MySQL and MariaDB warehouse (DSN schemes mysql://
// and mariadb://): github.com/go-sql-driver/mysql behind warehouse/sqldb,
// with the SQL written by the "mysql" dialect (cubes/dialect_mysql.go).
//
// DSN: mysql://user[:password]@host[:port]/database?param=…, with
//
//	tls=true|false|skip-verify|preferred  (go-sql-driver's own values)
//	password_file=/path                   (the password, trimmed; else
//	                                       $CUBEGATE_WAREHOUSE_PASSWORD
//	                                       when the DSN has none)
//	timeout=10s                           (connect timeout)
//	max_conns=10                          (the pool's statements at once)
//
// Each session is set to what the dialect relies on: time_zone '+00:00'
// (DATETIME values are UTC), NO_BACKSLASH_ESCAPES added to the server's
// sql_mode (string literals read as PostgreSQL's standard strings),
// div_precision_increment 30 and group_concat_max_len at its largest.
// Placeholders are the server's own (no interpolation); the dialect's $n
// are rewritten to ? (sqldb.Positional). A statement whose context ends
// first is stopped on the server with KILL CONNECTION of its session's
// CONNECTION_ID() (the session is discarded).
//
// Types: MySQL has no boolean type (BOOLEAN is TINYINT(1), and the
// protocol does not tell TINYINT(1) from TINYINT(4)): TINYINT is int2 and
// a boolean is 0 or 1. BIGINT UNSIGNED is numeric; TIME is time (a TIME
// outside a day is text).
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/sqldb"
)

func init() { warehouse.Register(Open, "mysql", "mariadb") }

// Config parses a DSN into the driver's configuration and the pool's
// size.
func Config(dsn string) (*mysql.Config, int, error) {
	fail := func(format string, a ...any) (*mysql.Config, int, error) {
		return nil, 0, warehouse.DSNError(dsn, format, a...)
	}
	d, err := warehouse.ParseURLDSN(dsn, "mysql://user:password@host:port/database", 10*time.Second)
	if err != nil {
		return nil, 0, err
	}
	u := d.URL
	c := mysql.NewConfig()
	c.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "3306"
	}
	c.Addr = net.JoinHostPort(host, port)
	c.User = u.User.Username()
	c.Passwd = d.Password
	c.DBName = strings.TrimPrefix(u.Path, "/")
	c.ParseTime = true
	c.Loc = time.UTC
	c.InterpolateParams = false
	c.Timeout = d.Timeout
	for k, v := range d.Params {
		switch k {
		case "tls":
			switch v {
			case "true", "false", "skip-verify", "preferred":
				c.TLSConfig = v
			default:
				return fail("tls=%s: want true, false, skip-verify or preferred", v)
			}
		default:
			return fail("unknown parameter %s", k)
		}
	}
	c.Params = map[string]string{
		"time_zone":               "'+00:00'",
		"sql_mode":                "CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
		"div_precision_increment": "30",
		"group_concat_max_len":    "4294967295",
	}
	return c, d.MaxConns, nil
}

// Open opens a MySQL or MariaDB warehouse and checks that it answers.
func Open(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
	c, maxConns, err := Config(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, &warehouse.ConnectError{Engine: "mysql", Address: c.Addr, Err: errors.New(warehouse.Redact(err.Error()))}
	}
	w := New(sql.OpenDB(conn), c.Addr, maxConns, o)
	if err := w.Connect(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// New puts a pool opened on MySQL's driver behind warehouse.Warehouse
// (tests: a pool of their own).
func New(db *sql.DB, addr string, maxConns int, o warehouse.Options) *sqldb.Warehouse {
	return sqldb.New(sqldb.Config{
		Engine: "mysql", Dialect: "mysql", Address: addr, DB: db, MaxConns: maxConns,
		Type: columnType, Value: value, Error: mapError, Unreachable: unreachable,
		Positional: true, Arg: arg,
		ConnID: func(ctx context.Context, c *sql.Conn) (string, error) {
			var id int64
			err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id)
			return strconv.FormatInt(id, 10), err
		},
		Kill: func(ctx context.Context, db *sql.DB, id string) error {
			if _, err := strconv.ParseUint(id, 10, 64); err != nil {
				return err
			}
			// The whole session, not only its statement: the session is
			// discarded after a stop anyway, and KILL QUERY of a session
			// that has not begun the statement yet (its bytes still in
			// flight when the context ended) stops nothing, while a
			// killed connection runs nothing more.
			_, err := db.ExecContext(ctx, "KILL CONNECTION "+id)
			return err
		},
	}, o)
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
	oidTime      = 1083
	oidTimestamp = 1114
	oidNumeric   = 1700
)

func columnType(ct *sql.ColumnType) uint32 {
	switch ct.DatabaseTypeName() {
	case "TINYINT", "UNSIGNED TINYINT", "SMALLINT", "YEAR":
		return oidInt2
	case "UNSIGNED SMALLINT", "MEDIUMINT", "UNSIGNED MEDIUMINT", "INT":
		return oidInt4
	case "UNSIGNED INT", "BIGINT", "BIT":
		return oidInt8
	case "UNSIGNED BIGINT", "DECIMAL":
		return oidNumeric
	case "FLOAT":
		return oidFloat4
	case "DOUBLE":
		return oidFloat8
	case "DATE":
		return oidDate
	case "DATETIME", "TIMESTAMP":
		return oidTimestamp
	case "TIME":
		return oidTime
	case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
		return oidBytea
	}
	return oidText
}

// value turns what the driver scanned (text protocol: []byte; binary
// protocol: int64, float32/64, []byte, time.Time) into the type the
// column's OID promises.
func value(v any, oid uint32) (any, error) {
	b, isBytes := v.([]byte)
	if v == nil {
		return nil, nil
	}
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		if isBytes {
			if len(b) > 0 && (b[0] < '0' || b[0] > '9') && b[0] != '-' || len(b) == 8 && oid == oidInt8 && !isDigits(b) {
				// BIT(n): big-endian bytes.
				var n uint64
				for _, c := range b {
					n = n<<8 | uint64(c)
				}
				return int64(n), nil
			}
			return strconv.ParseInt(string(b), 10, 64)
		}
	case oidNumeric:
		var s string
		switch x := v.(type) {
		case []byte:
			s = string(x)
		case uint64:
			return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}, nil
		case int64:
			return pgtype.Numeric{Int: big.NewInt(x), Valid: true}, nil
		default:
			s = fmt.Sprint(v)
		}
		return parseNumeric(s)
	case oidFloat4, oidFloat8:
		if isBytes {
			return strconv.ParseFloat(string(b), 64)
		}
	case oidTime:
		if isBytes {
			if t, err := time.Parse("15:04:05.999999", string(b)); err == nil {
				return time.Date(1970, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
			}
			return string(b), nil // outside a day
		}
	case oidDate, oidTimestamp:
		if t, ok := v.(time.Time); ok {
			return t.UTC(), nil
		}
		if isBytes { // zero dates ('0000-00-00') are not times
			return string(b), nil
		}
	case oidText:
		if isBytes {
			return string(b), nil
		}
	case oidBytea:
		if isBytes {
			return append([]byte(nil), b...), nil
		}
	}
	if isBytes {
		return string(b), nil
	}
	return warehouse.Normalize(v), nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func parseNumeric(s string) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		return n, fmt.Errorf("mysql: decimal %q: %w", s, err)
	}
	return n, nil
}

// mysqlStates are the SQLSTATEs PostgreSQL gives the failures MySQL's
// error numbers tell.
var mysqlStates = map[uint16]string{
	1146: pgerrcode.UndefinedTable,         // ER_NO_SUCH_TABLE
	1051: pgerrcode.UndefinedTable,         // ER_BAD_TABLE_ERROR
	1049: pgerrcode.InvalidCatalogName,     // ER_BAD_DB_ERROR
	1054: pgerrcode.UndefinedColumn,        // ER_BAD_FIELD_ERROR
	1052: pgerrcode.AmbiguousColumn,        // ER_NON_UNIQ_ERROR
	1066: pgerrcode.DuplicateAlias,         // ER_NONUNIQ_TABLE
	1064: pgerrcode.SyntaxError,            // ER_PARSE_ERROR
	1149: pgerrcode.SyntaxError,            // ER_SYNTAX_ERROR
	1241: pgerrcode.SyntaxError,            // ER_OPERAND_COLUMNS
	1242: pgerrcode.CardinalityViolation,   // ER_SUBQUERY_NO_1_ROW
	1305: pgerrcode.UndefinedFunction,      // ER_SP_DOES_NOT_EXIST
	1630: pgerrcode.UndefinedFunction,      // ER_FUNC_INEXISTENT_NAME_COLLISION
	1582: pgerrcode.UndefinedFunction,      // ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT
	1583: pgerrcode.UndefinedFunction,      // ER_WRONG_PARAMETERS_TO_NATIVE_FCT
	1317: pgerrcode.QueryCanceled,          // ER_QUERY_INTERRUPTED
	1028: pgerrcode.QueryCanceled,          // ER_FILSORT_ABORT
	1969: pgerrcode.QueryCanceled,          // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
	3024: pgerrcode.QueryCanceled,          // ER_QUERY_TIMEOUT (MySQL max_execution_time)
	1045: pgerrcode.InvalidPassword,        // ER_ACCESS_DENIED_ERROR
	1044: pgerrcode.InsufficientPrivilege,  // ER_DBACCESS_DENIED_ERROR
	1142: pgerrcode.InsufficientPrivilege,  // ER_TABLEACCESS_DENIED_ERROR
	1143: pgerrcode.InsufficientPrivilege,  // ER_COLUMNACCESS_DENIED_ERROR
	1227: pgerrcode.InsufficientPrivilege,  // ER_SPECIFIC_ACCESS_DENIED_ERROR
	1365: pgerrcode.DivisionByZero,         // ER_DIVISION_BY_ZERO
	1690: pgerrcode.NumericValueOutOfRange, // ER_DATA_OUT_OF_RANGE
	1264: pgerrcode.NumericValueOutOfRange, // ER_WARN_DATA_OUT_OF_RANGE
	1292: pgerrcode.InvalidDatetimeFormat,  // ER_TRUNCATED_WRONG_VALUE
	1411: pgerrcode.InvalidDatetimeFormat,  // ER_WRONG_VALUE_FOR_TYPE
	1139: pgerrcode.InvalidRegularExpression,
	1048: pgerrcode.NotNullViolation,                       // ER_BAD_NULL_ERROR
	1062: pgerrcode.UniqueViolation,                        // ER_DUP_ENTRY
	1205: pgerrcode.LockNotAvailable,                       // ER_LOCK_WAIT_TIMEOUT
	1213: pgerrcode.DeadlockDetected,                       // ER_LOCK_DEADLOCK
	1040: pgerrcode.TooManyConnections,                     // ER_CON_COUNT_ERROR
	1203: pgerrcode.TooManyConnections,                     // ER_TOO_MANY_USER_CONNECTIONS
	1037: pgerrcode.OutOfMemory,                            // ER_OUTOFMEMORY
	1038: pgerrcode.OutOfMemory,                            // ER_OUT_OF_SORTMEMORY
	1041: pgerrcode.OutOfMemory,                            // ER_OUT_OF_RESOURCES
	1114: pgerrcode.DiskFull,                               // ER_RECORD_FILE_FULL
	1050: pgerrcode.DuplicateTable,                         // ER_TABLE_EXISTS_ERROR
	1053: pgerrcode.AdminShutdown,                          // ER_SERVER_SHUTDOWN
	1290: pgerrcode.ReadOnlySQLTransaction,                 // ER_OPTION_PREVENTS_STATEMENT
	1235: pgerrcode.FeatureNotSupported,                    // ER_NOT_SUPPORTED_YET
	1178: pgerrcode.FeatureNotSupported,                    // ER_CHECK_NOT_IMPLEMENTED
	1406: pgerrcode.StringDataRightTruncationDataException, // ER_DATA_TOO_LONG
}

func mapError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	code, ok := mysqlStates[me.Number]
	if !ok {
		code = pgerrcode.InternalError
		if s := string(me.SQLState[:]); len(s) == 5 && s != "HY000" && s != "00000" && !strings.HasPrefix(s, "42S") {
			code = s // the standard's own class
		}
	}
	return &warehouse.Error{Code: code, Message: me.Message}
}

// unreachable: the server went away (2006/2013 are the client's, which
// go-sql-driver reports as ErrInvalidConn) or killed the session.
func unreachable(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 2002, 2003, 2006, 2013, 1927, 1077, 1152, 1158, 1159, 1160, 1161:
			return true
		}
	}
	return false
}

// arg reads PostgreSQL's infinite timestamps, which PgJDBC's setTimestamp
// sends as the text of an unknown-typed parameter ('infinity',
// '-infinity'), as MySQL's last and first DATETIME: MySQL has no infinite
// timestamp, and would compare a DATETIME with the text as an invalid
// date (no row).
func arg(v any) any {
	s, ok := v.(string)
	if !ok || len(s) < 8 || len(s) > 9 {
		return v
	}
	switch strings.ToLower(s) {
	case "infinity", "+infinity":
		return "9999-12-31 23:59:59.999999"
	case "-infinity":
		return "1000-01-01 00:00:00"
	}
	return v
}
