// Package warehouse puts the backing engines behind one small interface,
// shaped like database/sql/driver: Postgres (pgxpool) and DuckDB (embedded,
// the default). Each engine names its SQL dialect, and rows stream from the
// engine to the caller one at a time.
package warehouse

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Warehouse runs compiled SQL.
type Warehouse interface {
	// Dialect names the SQL dialect (see cubes.DialectByName).
	Dialect() string
	// Query runs sql with bound args. Rows stream: nothing is buffered
	// beyond the driver's own chunk.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error
	Close() error
}

// Rows is a streaming result. Values normalizes every value to one of:
// nil, bool, int64, float64, string, []byte, time.Time, pgtype.Numeric,
// pgtype.Interval, [16]byte (uuid).
type Rows interface {
	Columns() []string
	// Types are the columns' PostgreSQL type OIDs (the engine's types
	// mapped to the nearest PostgreSQL type).
	Types() []uint32
	Next() bool
	// Values returns the current row; the slice is reused by the next call.
	Values() ([]any, error)
	Err() error
	Close() error
}

// Error is a warehouse's error with the SQLSTATE PostgreSQL gives the same
// failure (pgwire reads it through SQLState).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string    { return e.Message }
func (e *Error) SQLState() string { return e.Code }

// Open connects to the warehouse named by dsn:
// "duckdb:///path/file.duckdb", "duckdb::memory:" or "postgres://…".
// A warehouse that cannot be reached is a *ConnectError.
func Open(ctx context.Context, dsn string) (Warehouse, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (Warehouse, error) {
	switch {
	case dsn == "duckdb::memory:":
		return OpenDuckDB(ctx, "")
	case strings.HasPrefix(dsn, "duckdb://"):
		path := strings.TrimPrefix(dsn, "duckdb://")
		if path == "" {
			return nil, fmt.Errorf("warehouse.dsn %q: missing a file path", dsn)
		}
		return OpenDuckDB(ctx, path)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, o)
	case dsn == "":
		return nil, fmt.Errorf("warehouse.dsn is not set")
	}
	if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		if open := opener(scheme); open != nil {
			return open(ctx, dsn, o)
		}
	}
	return nil, fmt.Errorf("warehouse.dsn: unknown scheme in %q (want %s)", Redact(dsn), strings.Join(Schemes(), ", "))
}

// Redact hides the password of a DSN (a warehouse's or a state store's)
// for messages and logs: in the user part of a URL, in its password=
// query parameter, or in a key=value connection string.
func Redact(dsn string) string {
	// The user part's password first, on the text: up to the last @
	// before the query, whatever it holds (#, /, spaces: a URL parser
	// would end the user part early and show the rest).
	dsn = urlPassword.ReplaceAllString(dsn, "${1}***@")
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Opaque == "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "***")
			u.RawQuery = q.Encode()
		}
		return strings.Replace(u.String(), "%2A%2A%2A", "***", -1)
	}
	// Not a URL (a key=value string): password=.
	return keyValuePassword.ReplaceAllString(dsn, "${1}***")
}

// keyValuePassword is the password of a key=value connection string;
// urlPassword the password of a URL's user part that did not parse.
var (
	keyValuePassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)
	urlPassword      = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@?\s]*:)[^?]*@`)
)
