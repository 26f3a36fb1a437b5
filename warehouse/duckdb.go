package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
)

// DuckDB is the embedded warehouse.
type DuckDB struct {
	db      *sql.DB
	conn    *duckdb.Connector
	path    string
	running executions    // statements holding DuckDB's shared memory
	retry   chan struct{} // one statement run again at a time (Query)
}

// OpenDuckDB opens (creating if needed) the DuckDB database at path, or an
// in-memory one when path is "". DuckDB settings may follow the path as a
// query (file.duckdb?memory_limit=8GB&threads=4).
//
// The database shares the gateway's process and answers its clients, so
// it is locked down: a memory limit always (withMemoryLimit), no access
// to files, URLs or extensions beyond the database itself
// (enable_external_access=false unless the DSN sets it), and, once set
// up, its configuration locked (lock_configuration): no statement,
// pushed down or not, changes a setting afterwards.
func OpenDuckDB(ctx context.Context, path string) (*DuckDB, error) {
	path = withMemoryLimit(withSetting(path, "enable_external_access", "false"))
	conn, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(conn)
	// Timestamps without a zone are UTC, whatever the machine's zone, as
	// in the Postgres warehouses the model was written for: set for every
	// connection (GLOBAL) before the configuration is locked.
	for _, set := range []string{"SET GLOBAL TimeZone = 'UTC'", "SET GLOBAL lock_configuration = true"} {
		if _, err := db.ExecContext(ctx, set); err != nil {
			db.Close()
			conn.Close()
			return nil, openError(path, err)
		}
	}
	file, _, _ := strings.Cut(path, "?")
	return &DuckDB{db: db, conn: conn, path: file, retry: make(chan struct{}, 1)}, nil
}

// openError is a DuckDB that cannot be opened: a *ConnectError (the file
// is held by another process, missing, unreadable), its path redacted of
// nothing secret (DuckDB DSNs carry no credentials).
func openError(path string, err error) error {
	return &ConnectError{Engine: "duckdb", Address: path, Err: err}
}

// withSetting adds name=value to a DuckDB DSN's settings unless it sets
// name itself.
func withSetting(path, name, value string) string {
	if strings.Contains(path, name+"=") {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + name + "=" + value
}

// withMemoryLimit gives DuckDB a memory limit when the DSN sets none: a
// quarter of the process's Go memory limit when one is set (GOMEMLIMIT,
// limits.memory_limit; the process then stays near 1.25 times that
// limit, the parser's C memory being charged to Go's), else half of the
// machine's memory. DuckDB's own
// default, 80% of the machine, is meant for a process of its own; here
// it shares the gateway's process, and a statement that outgrows it
// fails (53200) instead of the process.
func withMemoryLimit(path string) string {
	if strings.Contains(path, "memory_limit=") {
		return path
	}
	limit := physicalMemory() / 2
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		limit = lim / 4
	}
	if limit <= 0 {
		// The machine's memory is unknown: DuckDB's own default (80% of
		// it) would be no bound at all here; 1 GiB is one.
		limit = 1 << 30
	}
	return withSetting(path, "memory_limit", fmt.Sprintf("%dMB", limit>>20))
}

// physicalMemory is the machine's memory in bytes (0 when unknown).
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// DB exposes the database for loading data (demo, tests).
func (w *DuckDB) DB() *sql.DB { return w.db }

func (w *DuckDB) Dialect() string { return "duckdb" }

// Address is the database file (the DSN without its settings).
func (w *DuckDB) Address() string { return w.path }

func (w *DuckDB) Ping(ctx context.Context) error { return w.db.PingContext(ctx) }
func (w *DuckDB) Close() error {
	err := w.db.Close()
	if cerr := w.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Query runs query; one that runs out of DuckDB's shared memory while
// other statements hold it is run again once they have ended (see
// memoryRetries), one such retry at a time, so that two statements
// which ran out together do not meet again.
func (w *DuckDB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	r, err := w.query(ctx, query, args...)
	deadline := time.Now().Add(memoryRetryWait)
	for try := 1; try <= memoryRetries && outOfMemory(err); try++ {
		holders := w.running.running(OwnerFrom(ctx).Session)
		if try > 1 && len(holders) == 0 || !waitAll(ctx, holders, deadline) {
			break
		}
		select {
		case w.retry <- struct{}{}:
		case <-ctx.Done():
			return nil, err
		}
		r, err = w.query(ctx, query, args...)
		<-w.retry
	}
	return r, err
}

// query runs query once, up to its first row: an error there (DuckDB
// computes an aggregate before its first row) comes before any row is
// given, so the statement may be run again.
func (w *DuckDB) query(ctx context.Context, query string, args ...any) (Rows, error) {
	exec := w.running.start(OwnerFrom(ctx).Session)
	rows, err := w.db.QueryContext(ctx, query, args...)
	if err != nil {
		w.running.end(exec)
		return nil, duckError(err)
	}
	fail := func(err error) (Rows, error) {
		rows.Close()
		w.running.end(exec)
		return nil, err
	}
	cols, err := rows.Columns()
	if err != nil {
		return fail(err)
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return fail(err)
	}
	types := make([]uint32, len(cts))
	for i, ct := range cts {
		types[i] = duckTypeOID(ct.DatabaseTypeName())
	}
	r := &sqlRows{rows: rows, cols: cols, types: types, vals: make([]any, len(cols)), ptrs: make([]any, len(cols)), end: func() { w.running.end(exec) }}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	r.first = rows.Next()
	if !r.first {
		if err := rows.Err(); err != nil {
			return fail(duckError(err))
		}
	}
	r.peeked = true
	return r, nil
}

type sqlRows struct {
	rows   *sql.Rows
	cols   []string
	types  []uint32
	vals   []any
	ptrs   []any
	peeked bool // Next was called by query: first is its answer
	first  bool
	end    func()
}

func (r *sqlRows) Columns() []string { return r.cols }
func (r *sqlRows) Types() []uint32   { return r.types }
func (r *sqlRows) Err() error        { return duckError(r.rows.Err()) }

func (r *sqlRows) Next() bool {
	if r.peeked {
		r.peeked = false
		return r.first
	}
	return r.rows.Next()
}

func (r *sqlRows) Close() error {
	err := r.rows.Close()
	r.end()
	return err
}

func (r *sqlRows) Values() ([]any, error) {
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, duckError(err)
	}
	for i, v := range r.vals {
		r.vals[i] = normalizeDuck(v)
	}
	return r.vals, nil
}

func normalizeDuck(v any) any {
	switch x := v.(type) {
	case duckdb.Decimal:
		if x.Value == nil {
			return nil
		}
		return pgtype.Numeric{Int: new(big.Int).Set(x.Value), Exp: -int32(x.Scale), Valid: true}
	case *big.Int:
		if x == nil {
			return nil
		}
		return pgtype.Numeric{Int: new(big.Int).Set(x), Valid: true}
	case duckdb.Interval:
		return pgtype.Interval{Months: x.Months, Days: x.Days, Microseconds: x.Micros, Valid: true}
	case duckdb.UUID:
		return [16]byte(x)
	case time.Time:
		return x
	case driver.Valuer:
		if dv, err := x.Value(); err == nil {
			return normalize(dv)
		}
	}
	return normalize(v)
}

// duckTypeOID maps a DuckDB type name to the PostgreSQL type clients see.
func duckTypeOID(name string) uint32 {
	if strings.HasSuffix(name, "[]") {
		switch duckTypeOID(strings.TrimSuffix(name, "[]")) {
		case pgtype.Int2OID:
			return pgtype.Int2ArrayOID
		case pgtype.Int4OID:
			return pgtype.Int4ArrayOID
		case pgtype.Int8OID:
			return pgtype.Int8ArrayOID
		case pgtype.Float8OID:
			return pgtype.Float8ArrayOID
		case pgtype.NumericOID:
			return pgtype.NumericArrayOID
		case pgtype.BoolOID:
			return pgtype.BoolArrayOID
		}
		return pgtype.TextArrayOID
	}
	if strings.HasPrefix(name, "DECIMAL") {
		return pgtype.NumericOID
	}
	switch name {
	case "BOOLEAN":
		return pgtype.BoolOID
	case "TINYINT", "SMALLINT", "UTINYINT":
		return pgtype.Int2OID
	case "INTEGER", "USMALLINT":
		return pgtype.Int4OID
	case "BIGINT", "UINTEGER":
		return pgtype.Int8OID
	case "UBIGINT", "HUGEINT", "UHUGEINT":
		return pgtype.NumericOID
	case "FLOAT":
		return pgtype.Float4OID
	case "DOUBLE":
		return pgtype.Float8OID
	case "DATE":
		return pgtype.DateOID
	case "TIME":
		return pgtype.TimeOID
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return pgtype.TimestampOID
	case "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ":
		return pgtype.TimestamptzOID
	case "INTERVAL":
		return pgtype.IntervalOID
	case "UUID":
		return pgtype.UUIDOID
	case "BLOB":
		return pgtype.ByteaOID
	case "JSON":
		return pgtype.JSONOID
	}
	return pgtype.TextOID
}

// duckErrorCodes give DuckDB's error types (*duckdb.Error.Type) the
// SQLSTATE PostgreSQL uses for the same class of failure.
var duckErrorCodes = map[duckdb.ErrorType]string{
	duckdb.ErrorTypeConversion:           pgerrcode.InvalidTextRepresentation,
	duckdb.ErrorTypeInvalidInput:         pgerrcode.InvalidParameterValue,
	duckdb.ErrorTypeOutOfRange:           pgerrcode.NumericValueOutOfRange,
	duckdb.ErrorTypeDivideByZero:         pgerrcode.DivisionByZero,
	duckdb.ErrorTypeMismatchType:         pgerrcode.DatatypeMismatch,
	duckdb.ErrorTypeInvalidType:          pgerrcode.DatatypeMismatch,
	duckdb.ErrorTypeBinder:               pgerrcode.SyntaxErrorOrAccessRuleViolation,
	duckdb.ErrorTypeCatalog:              pgerrcode.UndefinedTable,
	duckdb.ErrorTypeParser:               pgerrcode.SyntaxError,
	duckdb.ErrorTypeSyntax:               pgerrcode.SyntaxError,
	duckdb.ErrorTypeNotImplemented:       pgerrcode.FeatureNotSupported,
	duckdb.ErrorTypeInterrupt:            pgerrcode.QueryCanceled,
	duckdb.ErrorTypeOutOfMemory:          pgerrcode.OutOfMemory,
	duckdb.ErrorTypeConstraint:           pgerrcode.IntegrityConstraintViolation,
	duckdb.ErrorTypePermission:           pgerrcode.InsufficientPrivilege,
	duckdb.ErrorTypeParameterNotResolved: pgerrcode.IndeterminateDatatype,
	duckdb.ErrorTypeIO:                   pgerrcode.IOError,
	duckdb.ErrorTypeTransaction:          pgerrcode.SerializationFailure,
}

// duckError turns a DuckDB error into a PostgreSQL-shaped one: its type
// (not its text) as a SQLSTATE, its first line without the type's name as
// the message.
func duckError(err error) error {
	var de *duckdb.Error
	if err == nil || !errors.As(err, &de) {
		return err
	}
	code, ok := duckErrorCodes[de.Type]
	if !ok {
		return err
	}
	text := de.Msg
	if _, rest, ok := strings.Cut(text, " Error: "); ok {
		text = rest
	}
	text, _, _ = strings.Cut(text, "\n")
	return &Error{Code: code, Message: text}
}
