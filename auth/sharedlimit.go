package auth

import (
	"context"
	"fmt"
	"time"
)

// A tenant's request rate shared by the gateways of one PostgreSQL state
// store: its token bucket is a row of rate_buckets, and each admission is
// one atomic statement there (the row's lock orders the gateways'
// admissions; the server's clock alone measures the refill). Only the
// rate is shared: running-query slots stay per gateway (a crashed
// gateway's slots would otherwise never come back).

// sharedTimeout bounds one admission's statement: past it (or on any
// error) the gateway's own bucket decides, and OnError is told.
const sharedTimeout = time.Second

// rateBuckets is the table of the shared buckets.
const rateBuckets = `CREATE TABLE IF NOT EXISTS rate_buckets (
	tenant TEXT PRIMARY KEY,
	tokens DOUBLE PRECISION NOT NULL,
	at TIMESTAMPTZ NOT NULL,
	admitted BOOLEAN NOT NULL
)`

// level is the bucket's tokens now: refilled since the row's last
// admission at the rate ($2), capped at the burst ($3). excluded.at is
// the server's clock when the statement began; a statement that began
// before the one it waited for on the row's lock refills nothing
// (greatest), so the clock never runs backwards and nothing is counted
// twice.
const level = `least($3::float8, b.tokens + $2::float8 * greatest(0, extract(epoch FROM excluded.at - b.at)::float8))`

// takeToken is one admission: a new tenant starts full (burst) less the
// token taken; a token is taken when there is a whole one, else the
// bucket is only refilled. admitted says which; tokens what is left.
const takeToken = `WITH c AS (SELECT clock_timestamp() AS t)
INSERT INTO rate_buckets AS b (tenant, tokens, at, admitted)
SELECT $1, $3::float8 - 1, c.t, true FROM c
ON CONFLICT (tenant) DO UPDATE SET
	tokens = ` + level + ` - CASE WHEN ` + level + ` >= 1 THEN 1 ELSE 0 END,
	admitted = ` + level + ` >= 1,
	at = greatest(b.at, excluded.at)
RETURNING admitted, tokens`

// Share makes the limiter's request rate one bucket per tenant for every
// gateway sharing the PostgreSQL store s: each Allow is one statement
// there. On a SQLite store, or without a rate, it changes nothing. When
// the store does not answer an admission, the gateway's own bucket
// decides it and onError (when set) is told.
func (l *Limiter) Share(ctx context.Context, s *Store, onError func(error)) error {
	if l == nil || l.rate <= 0 || s == nil || !s.postgres {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, rateBuckets); err != nil {
		// Gateways starting together race to create the table: one wins,
		// the others find it made.
		if !uniqueViolation(err) {
			return fmt.Errorf("state store: the shared rate limits: %w", err)
		}
	}
	l.shared, l.onError = s, onError
	return nil
}

// allowShared takes one request from the tenant's shared bucket.
func (l *Limiter) allowShared(tenant string) (ok bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	var tokens float64
	if err := l.shared.db.QueryRowContext(ctx, takeToken, tenant, l.rate, l.burst).Scan(&ok, &tokens); err != nil {
		return false, 0, err
	}
	if ok {
		return true, 0, nil
	}
	return false, time.Duration((1 - tokens) / l.rate * float64(time.Second)), nil
}
