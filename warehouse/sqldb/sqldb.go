// Package sqldb puts an engine reached through database/sql behind
// warehouse.Warehouse: the MySQL, ClickHouse, Trino, Snowflake and
// Databricks drivers are each a Config — how the engine's result types
// map to PostgreSQL's, how its values and errors read, how a statement is
// stopped on the server — and this package does the rest the same way for
// all: fair shares of the pool, one connection per statement, rows
// streamed as the driver reads them, a server-side stop when the
// statement's context ends first, and failures to reach the server told
// from the server's refusals.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
)

// Config is what an engine's driver tells the adapter.
type Config struct {
	// Engine names the engine in errors and logs ("mysql"); Dialect is
	// its SQL dialect (cubes.DialectByName); Address its host:port,
	// never its user, password or DSN.
	Engine, Dialect, Address string
	// DB is the driver's pool. Its MaxOpenConns is set to MaxConns + 1:
	// statements hold at most MaxConns, and the one left over is for
	// stopping a statement on the server (Kill).
	DB       *sql.DB
	MaxConns int

	// Type is a result column's PostgreSQL type OID (the engine's type
	// mapped to the nearest one).
	Type func(ct *sql.ColumnType) uint32
	// Value turns a scanned value of a column of PostgreSQL type oid into
	// one warehouse.Rows promises; nil: warehouse.Normalize.
	Value func(v any, oid uint32) (any, error)
	// Error gives a driver's error the SQLSTATE PostgreSQL gives the
	// same failure (a *warehouse.Error); nil or an error it does not know:
	// returned as it is.
	Error func(err error) error
	// Unreachable tells the driver's errors that mean the server cannot
	// be reached, beyond the network's own (net.Error, EOF, a refused or
	// reset connection, driver.ErrBadConn).
	Unreachable func(err error) bool

	// Check, when set, refuses a statement the server cannot run as
	// PostgreSQL means it (an old server's known faults), before it runs.
	Check func(sql string) error
	// Arg, when set, turns a bound argument into one the driver and the
	// engine read as PostgreSQL means it.
	Arg func(v any) any
	// Positional: the driver takes ? placeholders only; the dialect's $n
	// are rewritten (Positional).
	Positional bool

	// ConnID, when set, is the server's id of a connection's session,
	// read before each statement; Kill then stops the statement running
	// in that session when the statement's context ends before it does
	// (cancel, statement_timeout): the context alone closes the client's
	// socket, and a server does not notice a closed socket until it
	// writes to it. Engines whose driver stops the server's query itself
	// (a protocol cancel) leave both nil.
	ConnID func(ctx context.Context, c *sql.Conn) (string, error)
	Kill   func(ctx context.Context, db *sql.DB, id string) error
}

// Warehouse is an engine behind database/sql.
type Warehouse struct {
	c      Config
	shares *warehouse.Shares
}

// killTimeout bounds a server-side stop.
const killTimeout = 5 * time.Second

// New makes a warehouse of c, with the pool shared by principals as o
// says.
func New(c Config, o warehouse.Options) *Warehouse {
	if c.MaxConns <= 0 {
		c.MaxConns = 10
	}
	c.DB.SetMaxOpenConns(c.MaxConns + 1)
	c.DB.SetMaxIdleConns(c.MaxConns + 1)
	c.DB.SetConnMaxIdleTime(5 * time.Minute)
	return &Warehouse{c: c, shares: warehouse.NewShares(c.MaxConns, o.PrincipalConnections)}
}

// WithCheck sets Config.Check (an opener's, once it knows the server's
// version) and returns w.
func (w *Warehouse) WithCheck(f func(sql string) error) *Warehouse {
	w.c.Check = f
	return w
}

// Connect opens (or checks) a connection; a failure is a
// *warehouse.ConnectError (an Opener's check that the DSN works).
func (w *Warehouse) Connect(ctx context.Context) error {
	if err := w.c.DB.PingContext(ctx); err != nil {
		return &warehouse.ConnectError{Engine: w.c.Engine, Address: w.c.Address, Err: err}
	}
	return nil
}

func (w *Warehouse) Dialect() string { return w.c.Dialect }

// Address is the server's host:port.
func (w *Warehouse) Address() string { return w.c.Address }

// Shares are the pool's shares (metrics, tests).
func (w *Warehouse) Shares() *warehouse.Shares { return w.shares }

// DB is the driver's pool (tests, loading data).
func (w *Warehouse) DB() *sql.DB { return w.c.DB }

func (w *Warehouse) Close() error { return w.c.DB.Close() }

// Ping asks the server to answer; one that does not answer in time is
// an outage.
func (w *Warehouse) Ping(ctx context.Context) error {
	err := w.c.DB.PingContext(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &warehouse.UnavailableError{Engine: w.c.Engine, Address: w.c.Address, Reason: "timed out"}
	}
	return w.fail(ctx, err)
}

// Query runs sql on a connection of its own, held (with the owner's
// share) until the rows are closed or read to their end.
func (w *Warehouse) Query(ctx context.Context, query string, args ...any) (warehouse.Rows, error) {
	if w.c.Positional {
		var err error
		if query, args, err = Positional(query, args); err != nil {
			return nil, err
		}
	}
	if w.c.Check != nil {
		if err := w.c.Check(query); err != nil {
			return nil, err
		}
	}
	if w.c.Arg != nil {
		args = slices.Clone(args)
		for i, a := range args {
			args[i] = w.c.Arg(a)
		}
	}
	release, err := w.shares.Acquire(ctx, warehouse.OwnerFrom(ctx))
	if err != nil {
		return nil, err
	}
	r := &rows{w: w, ctx: ctx, release: release}
	if r.conn, err = w.c.DB.Conn(ctx); err != nil {
		r.done()
		return nil, w.fail(ctx, err)
	}
	if w.c.ConnID != nil && w.c.Kill != nil {
		id, err := w.c.ConnID(ctx, r.conn)
		if err != nil {
			r.done()
			return nil, w.fail(ctx, err)
		}
		r.killed = make(chan struct{})
		r.kill = func() {
			defer close(r.killed)
			kctx, cancel := context.WithTimeout(context.Background(), killTimeout)
			defer cancel()
			w.c.Kill(kctx, w.c.DB, id) // best effort: the session may have ended
		}
		r.stopKill = context.AfterFunc(ctx, r.kill)
	}
	if r.rows, err = r.conn.QueryContext(ctx, query, args...); err != nil {
		r.done()
		return nil, w.fail(ctx, err)
	}
	cts, err := r.rows.ColumnTypes()
	if err != nil {
		r.done()
		return nil, w.fail(ctx, err)
	}
	r.cols = make([]string, len(cts))
	r.types = make([]uint32, len(cts))
	r.scales = make([]int32, len(cts))
	for i, ct := range cts {
		r.cols[i], r.types[i] = ct.Name(), w.c.Type(ct)
		if _, scale, ok := ct.DecimalSize(); ok && r.types[i] == pgtype.NumericOID && scale > 0 && scale < 1000 {
			r.scales[i] = int32(scale)
		}
	}
	r.vals = make([]any, len(cts))
	r.ptrs = make([]any, len(cts))
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

// fail turns a failure to reach the server into an
// *warehouse.UnavailableError and an engine's refusal into its
// SQLSTATE; a statement whose context ended keeps its error (the
// gateway reports the cancel or the timeout).
func (w *Warehouse) fail(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case w.unreachable(err):
		return &warehouse.UnavailableError{Engine: w.c.Engine, Address: w.c.Address, Reason: warehouse.Reason(err)}
	case w.c.Error != nil:
		return w.c.Error(err)
	}
	return err
}

func (w *Warehouse) unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, driver.ErrBadConn) {
		return true
	}
	return w.c.Unreachable != nil && w.c.Unreachable(err)
}

type rows struct {
	w        *Warehouse
	ctx      context.Context
	conn     *sql.Conn
	rows     *sql.Rows
	cols     []string
	types    []uint32
	scales   []int32 // a DECIMAL(p,s) column's s: its values are written with s decimals
	vals     []any
	ptrs     []any
	out      []any
	err      error
	release  func()
	stopKill func() bool
	kill     func()        // the server-side stop (Kill), run once
	killed   chan struct{} // closed when a started Kill has ended
}

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Types() []uint32   { return r.types }

func (r *rows) Next() bool {
	if r.rows == nil {
		return false
	}
	if r.rows.Next() {
		return true
	}
	r.err = r.rows.Err()
	r.done()
	return false
}

func (r *rows) Values() ([]any, error) {
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, r.w.fail(r.ctx, err)
	}
	if r.out == nil {
		r.out = make([]any, len(r.vals))
	}
	for i, v := range r.vals {
		if v == nil {
			r.out[i] = nil
			continue
		}
		if r.w.c.Value == nil {
			r.out[i] = warehouse.Normalize(v)
			continue
		}
		x, err := r.w.c.Value(v, r.types[i])
		if err != nil {
			return nil, err
		}
		if n, ok := x.(pgtype.Numeric); ok && r.scales[i] > 0 {
			x = rescale(n, r.scales[i])
		}
		r.out[i] = x
	}
	return r.out, nil
}

func (r *rows) Err() error { return r.w.fail(r.ctx, r.err) }

func (r *rows) Close() error {
	r.done()
	return r.Err()
}

// done gives back, once, what the statement held: its rows, the
// server-side stop, its connection and its share.
func (r *rows) done() {
	if r.rows != nil {
		if err := r.rows.Close(); err != nil && r.err == nil {
			r.err = err
		}
		r.rows = nil
	}
	if r.stopKill != nil {
		stopped := r.stopKill()
		if stopped && r.ctx.Err() != nil {
			// The context has ended but its AfterFunc had not started
			// yet (a context is done before its AfterFuncs are started:
			// the driver saw it first, closed the socket and the rows
			// ended here): stopping the AfterFunc must not skip the
			// stop, the statement still runs on the server.
			r.kill()
			stopped = false
		}
		if !stopped && r.conn != nil {
			// The stop ran: the session must not serve another
			// statement before it has ended, nor after (a late KILL
			// would stop someone else's query) — it is discarded.
			<-r.killed
			r.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		r.stopKill = nil
	}
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

// rescale writes n with scale decimals, as PostgreSQL writes a
// numeric(p, scale) (a driver's decimal drops trailing zeros: 166461.90
// came as 166461.9).
func rescale(n pgtype.Numeric, scale int32) pgtype.Numeric {
	if !n.Valid || n.NaN || n.InfinityModifier != pgtype.Finite || n.Int == nil || n.Exp <= -scale {
		return n
	}
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.Exp+scale)), nil)
	return pgtype.Numeric{Int: new(big.Int).Mul(n.Int, m), Exp: -scale, Valid: true}
}
