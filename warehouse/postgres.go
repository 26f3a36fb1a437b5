package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a PostgreSQL warehouse reached through a pgx pool.
type Postgres struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects a pool to dsn.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres warehouse %s: %w", Redact(dsn), err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "cubegate"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres warehouse %s: %w", Redact(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres warehouse %s: %w", Redact(dsn), err)
	}
	return &Postgres{pool: pool}, nil
}

// Pool exposes the pool for loading data (tests).
func (w *Postgres) Pool() *pgxpool.Pool { return w.pool }

func (w *Postgres) Dialect() string                { return "postgres" }
func (w *Postgres) Ping(ctx context.Context) error { return w.pool.Ping(ctx) }
func (w *Postgres) Close() error                   { w.pool.Close(); return nil }

func (w *Postgres) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	rows, err := w.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	types := make([]uint32, len(fds))
	for i, fd := range fds {
		cols[i], types[i] = fd.Name, fd.DataTypeOID
	}
	return &pgRows{rows: rows, cols: cols, types: types}, nil
}

type pgRows struct {
	rows  pgx.Rows
	cols  []string
	types []uint32
}

func (r *pgRows) Columns() []string { return r.cols }
func (r *pgRows) Types() []uint32   { return r.types }
func (r *pgRows) Next() bool        { return r.rows.Next() }
func (r *pgRows) Err() error        { return r.rows.Err() }
func (r *pgRows) Close() error      { r.rows.Close(); return r.rows.Err() }

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
