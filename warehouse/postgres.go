package warehouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a PostgreSQL warehouse reached through a pgx pool. Its
// connections are shared fairly (Shares): a principal or a tenant holds
// at most its share of them, and a statement waits for a connection or
// its share only as long as its context lets it.
type Postgres struct {
	pool    *pgxpool.Pool
	address string // host:port, for the log
	shares  *Shares
	dialect string // "" is postgres
}

// defaultConnectTimeout bounds a connection attempt when the DSN does not
// (connect_timeout=).
const defaultConnectTimeout = 10 * time.Second

// OpenPostgres connects a pool to dsn, with the default shares.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	return openPostgres(ctx, dsn, Options{})
}

func openPostgres(ctx context.Context, dsn string, o Options) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres warehouse %s: %w", Redact(dsn), err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "cubegate"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A host that drops packets must not hold a connection attempt
		// (and the statement waiting for it) for the kernel's minutes.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	address := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Engine: "postgres", Address: address, Err: err}
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &ConnectError{Engine: "postgres", Address: address, Err: err}
	}
	return &Postgres{pool: pool, address: address, shares: NewShares(int(cfg.MaxConns), o.PrincipalConnections)}, nil
}

// Pool exposes the pool for loading data (tests).
func (w *Postgres) Pool() *pgxpool.Pool { return w.pool }

// Shares are the pool's shares (metrics, tests).
func (w *Postgres) Shares() *Shares { return w.shares }

func (w *Postgres) Dialect() string {
	if w.dialect != "" {
		return w.dialect
	}
	return "postgres"
}

// OpenPostgresAs connects a pool to dsn for an engine that speaks
// PostgreSQL's protocol with its own SQL dialect (Redshift's).
func OpenPostgresAs(ctx context.Context, dsn string, o Options, dialect string) (*Postgres, error) {
	w, err := openPostgres(ctx, dsn, o)
	if err != nil {
		return nil, err
	}
	w.dialect = dialect
	return w, nil
}

// Address is the server's host:port (never its user or DSN).
func (w *Postgres) Address() string { return w.address }

// Ping asks the server to answer. One that does not answer in time while
// the pool had connections to spare is an outage ("timed out": a hung or
// unreachable host); with every connection busy the ping only waited.
func (w *Postgres) Ping(ctx context.Context) error {
	st := w.pool.Stat()
	spare := st.AcquiredConns() < st.MaxConns()
	err := w.pool.Ping(ctx)
	if err != nil && spare && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &UnavailableError{Engine: "postgres", Address: w.address, Reason: "timed out"}
	}
	return unavailable(ctx, "postgres", w.address, err)
}
func (w *Postgres) Close() error { w.pool.Close(); return nil }

// Query runs sql on one of the pool's connections, held until the rows
// are closed or read to their end. The connection is taken within the
// owner's share (OwnerFrom(ctx)).
func (w *Postgres) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	release, err := w.shares.Acquire(ctx, OwnerFrom(ctx))
	if err != nil {
		return nil, err
	}
	rows, err := w.pool.Query(ctx, sql, args...)
	if err != nil {
		release()
		return nil, unavailable(ctx, "postgres", w.address, err)
	}
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	types := make([]uint32, len(fds))
	for i, fd := range fds {
		cols[i], types[i] = fd.Name, fd.DataTypeOID
	}
	return &pgRows{rows: rows, cols: cols, types: types, ctx: ctx, w: w, release: release}, nil
}

type pgRows struct {
	rows    pgx.Rows
	cols    []string
	types   []uint32
	ctx     context.Context
	w       *Postgres
	release func() // the share, given back once
}

func (r *pgRows) Columns() []string { return r.cols }
func (r *pgRows) Types() []uint32   { return r.types }

func (r *pgRows) Next() bool {
	if r.rows.Next() {
		return true
	}
	r.done() // pgx has closed the rows and given the connection back
	return false
}

func (r *pgRows) Err() error { return unavailable(r.ctx, "postgres", r.w.address, r.rows.Err()) }

func (r *pgRows) Close() error {
	r.rows.Close()
	r.done()
	return r.Err()
}

func (r *pgRows) done() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

func (r *pgRows) Values() ([]any, error) {
	vals, err := r.rows.Values()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		vals[i] = normalize(v)
	}
	return vals, nil
}
