package rollup

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"
)

// Build writes one partition of a rollup from rows and swaps it in for
// the partition's previous build, if any (see the package comment). It
// reads rows to their end and closes them. When it fails, the previous
// build keeps serving and nothing of the new one is left.
//
// After the swap, partitions are evicted (least recently used first, but
// never this one) until the store fits Options.MaxBytes.
func (s *Store) Build(ctx context.Context, rollup, partition string, rows warehouse.Rows) (BuildStats, error) {
	defer rows.Close()
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return BuildStats{}, errClosed
	}
	start := time.Now()
	staging := fmt.Sprintf("%s%d", stagingPrefix, s.seq.Add(1))
	stats, err := s.load(ctx, staging, rows)
	if err == nil {
		stats.Took = time.Since(start)
		err = s.swap(ctx, key{rollup, partition}, staging, stats, start)
	}
	if err != nil {
		// The context may be what failed: the staging table goes anyway.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := s.db.ExecContext(dctx, "DROP TABLE IF EXISTS "+quote(staging)); derr != nil {
			err = errors.Join(err, fmt.Errorf("dropping %s: %w", staging, derr))
		}
		return BuildStats{}, fmt.Errorf("rollup %s partition %q: %w", rollup, partition, err)
	}
	return stats, nil
}

// swap puts staging in place of the partition k's table, in one
// transaction with the catalog's row, then evicts.
func (s *Store) swap(ctx context.Context, k key, staging string, stats BuildStats, start time.Time) error {
	s.catalog.Lock()
	defer s.catalog.Unlock()
	s.mu.Lock()
	table := ""
	if old := s.parts[k]; old != nil {
		table = old.table
	}
	s.mu.Unlock()
	if table == "" {
		table = tableName(s.seq.Add(1), k)
	}
	now := time.Now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			"DROP TABLE IF EXISTS " + quote(table),
			"ALTER TABLE " + quote(staging) + " RENAME TO " + quote(table),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+metaTable+" WHERE rollup = ? AND part = ?", k.rollup, k.partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO "+metaTable+" VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
			k.rollup, k.partition, table, stats.Rows, stats.Bytes, start, stats.Took.Microseconds(), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	s.mu.Lock()
	s.clock++
	s.parts[k] = &part{table: table, rows: stats.Rows, bytes: stats.Bytes, builtAt: start, took: stats.Took, lastUsed: now, used: s.clock}
	s.mu.Unlock()
	// The build is in: eviction and the use counts are bookkeeping whose
	// failure must not undo it (the next build tries them again).
	_ = s.evict(ctx, k)
	_ = s.writeUse(ctx)
	return nil
}

// load creates the table staging for rows' columns and appends rows to
// it through DuckDB's appender.
func (s *Store) load(ctx context.Context, staging string, rows warehouse.Rows) (BuildStats, error) {
	names, oids := rows.Columns(), rows.Types()
	if len(names) == 0 || len(names) != len(oids) {
		return BuildStats{}, fmt.Errorf("rows have %d columns and %d types", len(names), len(oids))
	}
	cols := make([]*column, len(names))
	defs := make([]string, len(names))
	for i, name := range names {
		cols[i] = newColumn(name, oids[i])
		defs[i] = quote(name) + " " + cols[i].sqlType()
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return BuildStats{}, err
	}
	defer conn.Close()
	var stats BuildStats
	err = conn.Raw(func(dc any) error {
		l := &loader{ctx: ctx, conn: dc.(driver.Conn), table: staging, cols: cols}
		if err := l.exec("CREATE TABLE " + quote(staging) + " (" + strings.Join(defs, ", ") + ")"); err != nil {
			return err
		}
		err := l.run(rows, &stats)
		if l.app != nil {
			if err != nil {
				l.app.Clear()
				l.app.Close()
			} else {
				err = l.app.CloseWithCancel(ctx)
			}
		}
		return err
	})
	return stats, err
}

// loader appends rows to a staging table on one connection.
type loader struct {
	ctx   context.Context
	conn  driver.Conn // a *duckdb.Conn
	table string
	cols  []*column
	app   *duckdb.Appender
}

func (l *loader) exec(q string) error {
	_, err := l.conn.(driver.ExecerContext).ExecContext(l.ctx, q, nil)
	return err
}

// run appends every row of rows.
func (l *loader) run(rows warehouse.Rows, stats *BuildStats) error {
	var err error
	if l.app, err = duckdb.NewAppenderFromConn(l.conn, "", l.table); err != nil {
		return err
	}
	out := make([]driver.Value, len(l.cols))
	for rows.Next() {
		// Checked once per DuckDB vector: cheap, and a canceled build stops
		// within a few thousand rows.
		if stats.Rows%2048 == 0 {
			if err := l.ctx.Err(); err != nil {
				return err
			}
		}
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		if len(vals) != len(l.cols) {
			return fmt.Errorf("row %d has %d values, want %d", stats.Rows+1, len(vals), len(l.cols))
		}
		if err := l.widen(vals); err != nil {
			return err
		}
		for i, c := range l.cols {
			v, n, err := c.value(vals[i])
			if err != nil {
				return fmt.Errorf("row %d column %q: %w", stats.Rows+1, c.name, err)
			}
			out[i] = v
			stats.Bytes += n
		}
		if err := l.app.AppendRow(out...); err != nil {
			return err
		}
		stats.Rows++
	}
	return rows.Err()
}

// widen gives a numeric column a larger scale when a value has more
// decimal places than it holds: the appended rows are flushed, the
// column's type changed, and the appender made again.
func (l *loader) widen(vals []any) error {
	var alter []string
	for i, c := range l.cols {
		if c.kind != kindNumeric {
			continue
		}
		n, ok := vals[i].(pgtype.Numeric)
		if !ok || !n.Valid || n.NaN || n.InfinityModifier != pgtype.Finite || -n.Exp <= c.scale {
			continue
		}
		if err := c.setScale(-n.Exp); err != nil {
			return fmt.Errorf("column %q: %w", c.name, err)
		}
		alter = append(alter, "ALTER TABLE "+quote(l.table)+" ALTER COLUMN "+quote(c.name)+" TYPE "+c.sqlType())
	}
	if len(alter) == 0 {
		return nil
	}
	if err := l.app.CloseWithCancel(l.ctx); err != nil {
		l.app = nil
		return err
	}
	l.app = nil
	for _, q := range alter {
		if err := l.exec(q); err != nil {
			return err
		}
	}
	var err error
	l.app, err = duckdb.NewAppenderFromConn(l.conn, "", l.table)
	return err
}

type kind int

const (
	kindText kind = iota // VARCHAR; also any type without a column type of its own
	kindBool
	kindInt2
	kindInt4
	kindInt8
	kindFloat4
	kindFloat8
	kindNumeric
	kindDate
	kindTime
	kindTimestamp
	kindTimestamptz
	kindInterval
	kindUUID
	kindBytea
)

// column is a staging table's column: its DuckDB type, chosen from the
// PostgreSQL type of the rows, and how a value goes into it.
type column struct {
	name  string
	kind  kind
	scale int32 // numeric: DECIMAL(38, scale)
	// maxAbs is the largest unscaled numeric value appended, at scale:
	// what a larger scale must still hold.
	maxAbs *big.Int
}

// maxPrecision is DuckDB's widest DECIMAL.
const maxPrecision = 38

func newColumn(name string, oid uint32) *column {
	c := &column{name: name, kind: kindText, maxAbs: new(big.Int)}
	switch oid {
	case pgtype.BoolOID:
		c.kind = kindBool
	case pgtype.Int2OID:
		c.kind = kindInt2
	case pgtype.Int4OID:
		c.kind = kindInt4
	case pgtype.Int8OID:
		c.kind = kindInt8
	case pgtype.Float4OID:
		c.kind = kindFloat4
	case pgtype.Float8OID:
		c.kind = kindFloat8
	case pgtype.NumericOID:
		c.kind = kindNumeric
	case pgtype.DateOID:
		c.kind = kindDate
	case pgtype.TimeOID:
		c.kind = kindTime
	case pgtype.TimestampOID:
		c.kind = kindTimestamp
	case pgtype.TimestamptzOID:
		c.kind = kindTimestamptz
	case pgtype.IntervalOID:
		c.kind = kindInterval
	case pgtype.UUIDOID:
		c.kind = kindUUID
	case pgtype.ByteaOID:
		c.kind = kindBytea
	}
	return c
}

// sqlType is the column's DuckDB type. A numeric is DECIMAL(38, s), s
// the most decimal places among its values: every value is kept exactly
// (read back at the column's scale, as in a PostgreSQL numeric(38, s))
// and sums are exact.
func (c *column) sqlType() string {
	switch c.kind {
	case kindBool:
		return "BOOLEAN"
	case kindInt2:
		return "SMALLINT"
	case kindInt4:
		return "INTEGER"
	case kindInt8:
		return "BIGINT"
	case kindFloat4:
		return "FLOAT"
	case kindFloat8:
		return "DOUBLE"
	case kindNumeric:
		return fmt.Sprintf("DECIMAL(%d, %d)", maxPrecision, c.scale)
	case kindDate:
		return "DATE"
	case kindTime:
		return "TIME"
	case kindTimestamp:
		return "TIMESTAMP"
	case kindTimestamptz:
		return "TIMESTAMPTZ"
	case kindInterval:
		return "INTERVAL"
	case kindUUID:
		return "UUID"
	case kindBytea:
		return "BLOB"
	}
	return "VARCHAR"
}

// setScale makes a numeric column's scale s, if the values appended
// still fit in DECIMAL(38, s).
func (c *column) setScale(s int32) error {
	if s > maxPrecision {
		return fmt.Errorf("numeric with %d decimal places: DECIMAL holds at most %d", s, maxPrecision)
	}
	grown := new(big.Int).Mul(c.maxAbs, pow10(s-c.scale))
	if grown.CmpAbs(pow10(maxPrecision)) >= 0 {
		return fmt.Errorf("numeric with %d decimal places beside values of %d digits: more than DECIMAL(%d) holds", s, len(c.maxAbs.String()), maxPrecision)
	}
	c.maxAbs, c.scale = grown, s
	return nil
}

// value is v as the appender takes it for c, and the bytes it takes in
// a DuckDB vector (valueBytes).
func (c *column) value(v any) (driver.Value, int64, error) {
	if v == nil {
		return nil, valueBytes(c.kind, nil), nil
	}
	bad := func() (driver.Value, int64, error) {
		return nil, 0, fmt.Errorf("%T value in a %s column", v, c.sqlType())
	}
	switch c.kind {
	case kindBool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case kindInt2, kindInt4, kindInt8, kindFloat4, kindFloat8:
		switch v.(type) {
		case int64, float64:
		default:
			return bad()
		}
	case kindNumeric:
		var n pgtype.Numeric
		switch x := v.(type) {
		case pgtype.Numeric:
			n = x
		case int64:
			n = pgtype.Numeric{Int: big.NewInt(x), Valid: true}
		default:
			return bad()
		}
		u, err := c.unscaled(n)
		if err != nil {
			return nil, 0, err
		}
		if u == nil {
			return nil, valueBytes(c.kind, nil), nil
		}
		if u.IsInt64() {
			return u.Int64(), valueBytes(c.kind, v), nil
		}
		return u, valueBytes(c.kind, v), nil
	case kindDate:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		// DuckDB counts the days of t's instant: the date's midnight in
		// UTC, whatever t's zone, is that date.
		v = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case kindTime, kindTimestamp, kindTimestamptz:
		if _, ok := v.(time.Time); !ok {
			return bad()
		}
	case kindInterval:
		i, ok := v.(pgtype.Interval)
		if !ok {
			return bad()
		}
		if !i.Valid {
			return nil, valueBytes(c.kind, nil), nil
		}
		v = duckdb.Interval{Months: i.Months, Days: i.Days, Micros: i.Microseconds}
	case kindUUID:
		u, ok := v.([16]byte)
		if !ok {
			return bad()
		}
		v = duckdb.UUID(u)
	case kindBytea:
		switch v.(type) {
		case []byte, string:
		default:
			return bad()
		}
	default:
		switch x := v.(type) {
		case string:
		case []byte:
			v = string(x)
		default:
			v = fmt.Sprint(x)
		}
	}
	return v, valueBytes(c.kind, v), nil
}

// unscaled is n times 10^scale, exact, or nil for a NULL.
func (c *column) unscaled(n pgtype.Numeric) (*big.Int, error) {
	if !n.Valid {
		return nil, nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return nil, errors.New("NaN or infinite numeric: DECIMAL holds neither")
	}
	u := n.Int
	if e := n.Exp + c.scale; e != 0 {
		// widen made e >= 0.
		u = new(big.Int).Mul(n.Int, pow10(e))
	}
	if u.CmpAbs(c.maxAbs) > 0 {
		if u.CmpAbs(pow10(maxPrecision)) >= 0 {
			return nil, fmt.Errorf("numeric %s: more than DECIMAL(%d, %d) holds", n.Int, maxPrecision, c.scale)
		}
		c.maxAbs.Abs(u)
	}
	return u, nil
}

var pow10s = func() []*big.Int {
	p := make([]*big.Int, 2*maxPrecision+1)
	p[0] = big.NewInt(1)
	for i := 1; i < len(p); i++ {
		p[i] = new(big.Int).Mul(p[i-1], big.NewInt(10))
	}
	return p
}()

func pow10(e int32) *big.Int {
	if int(e) < len(pow10s) {
		return pow10s[e]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)
}

// valueBytes is the size of a value in DuckDB's vectors, uncompressed:
// its fixed width, and for a string or blob longer than the 12 bytes
// DuckDB inlines, its bytes too. The size of a partition is the sum:
// what it takes in memory, an upper bound of its (compressed) share of
// the file.
func valueBytes(k kind, v any) int64 {
	switch k {
	case kindBool:
		return 1
	case kindInt2:
		return 2
	case kindInt4, kindFloat4, kindDate:
		return 4
	case kindInt8, kindFloat8, kindTime, kindTimestamp, kindTimestamptz:
		return 8
	case kindNumeric, kindInterval, kindUUID:
		return 16
	}
	n := 0
	switch x := v.(type) {
	case string:
		n = len(x)
	case []byte:
		n = len(x)
	}
	if n <= 12 {
		return 16
	}
	return 16 + int64(n)
}
