package clickhouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// connector wraps clickhouse-go's database/sql connector for two things
// the driver does not do with every server:
//
//   - A connection that received an exception is discarded: ClickHouse
//     18.16 answers a statement it refuses before reading the client's
//     closing data block, and then reads that block as the next query's
//     first packet ("Unexpected packet Data received from client",
//     code 101).
//   - A statement's deadline is turned into a cancel: with a deadline the
//     driver sets the socket's and gives up reading, leaving the query
//     running on the server; a cancelled context makes it send the
//     native protocol's Cancel packet, which stops the query.
type connector struct{ c driver.Connector }

// openDB opens a pool on clickhouse-go's connector wrapped as connector.
func openDB(o *clickhouse.Options) *sql.DB {
	return sql.OpenDB(connector{clickhouse.Connector(o)})
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: dc}, nil
}

func (c connector) Driver() driver.Driver { return c.c.Driver() }

type conn struct {
	driver.Conn
	bad bool // an exception came back: not reused
}

// noDeadline is ctx without its deadline, cancelled when ctx ends.
func noDeadline(ctx context.Context) (context.Context, func()) {
	if _, ok := ctx.Deadline(); !ok {
		return ctx, func() {}
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	return nctx, func() { stop(); cancel() }
}

func (c *conn) check(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		c.bad = true
	}
	return err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	nctx, done := noDeadline(ctx)
	r, err := c.Conn.(driver.QueryerContext).QueryContext(nctx, query, args)
	if err != nil {
		done()
		return nil, c.check(err)
	}
	return &rows{Rows: r, c: c, done: done}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	nctx, done := noDeadline(ctx)
	defer done()
	r, err := c.Conn.(driver.ExecerContext).ExecContext(nctx, query, args)
	return r, c.check(err)
}

func (c *conn) Ping(ctx context.Context) error {
	return c.check(c.Conn.(driver.Pinger).Ping(ctx))
}

func (c *conn) ResetSession(ctx context.Context) error {
	if c.bad {
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool { return !c.bad }

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return nil }

type rows struct {
	driver.Rows
	c    *conn
	done func()
}

func (r *rows) Next(dest []driver.Value) error { return r.c.check(r.Rows.Next(dest)) }

func (r *rows) Close() error {
	err := r.Rows.Close()
	r.done()
	return r.c.check(err)
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeNullable(i int) (bool, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return x.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
