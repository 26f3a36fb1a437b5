package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Notes between gateways sharing a PostgreSQL state store: Notify sends
// one on a channel (pg_notify), Listen hears every gateway's on a
// connection of its own. A SQLite store serves one gateway: there is no
// one to tell, so both do nothing there.

// Resync is the payload Listen hands its callback after it reconnected:
// notes sent while the connection was down are lost, so whatever they
// would have said must be assumed (a cache drops everything). Senders
// never send an empty payload.
const Resync = ""

// ListenOptions tune Listen; the zero value is its defaults.
type ListenOptions struct {
	// MinBackoff and MaxBackoff bound the wait between attempts to
	// reconnect (100 ms doubling up to 5 s by default).
	MinBackoff, MaxBackoff time.Duration
	// Check is how long the connection may stay silent before it is
	// pinged, so a connection that died without a word (a dropped
	// network) is noticed (30 s by default).
	Check time.Duration
	// OnError, when set, is told why the connection was lost or could
	// not be made again (the errors name no password).
	OnError func(error)
}

// Shared reports whether the store is PostgreSQL, which several gateways
// may share (Notify and Listen reach them); false on SQLite.
func (s *Store) Shared() bool { return s != nil && s.postgres }

// listenName is the application_name of the listening connections: an
// operator sees them in pg_stat_activity.
const listenName = "cubegate listener"

// Notify sends payload to the gateways listening on channel; in a
// transaction ctx carries, on its commit. Nothing on SQLite.
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if !s.postgres {
		return nil
	}
	if payload == Resync {
		return errors.New("notify: an empty payload is reserved for resynchronisation")
	}
	_, err := s.exec(ctx, "SELECT pg_notify(?, ?)", channel, payload)
	if err != nil && ctx.Value(txKey{}) == nil && ctx.Err() == nil && connectionLost(err) {
		// The pool's connection died (a restarted server): the pool has
		// dropped it, another is made. A note sent twice says nothing more.
		_, err = s.exec(ctx, "SELECT pg_notify(?, ?)", channel, payload)
	}
	return err
}

// connectionLost tells an error that ended the connection (a FATAL one
// from the server, or none from it at all) from one about the statement.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity == "FATAL" || pe.Severity == "PANIC"
	}
	return true
}

// Listen calls fn with each payload sent on channel (its own gateway's
// included), in order, from one goroutine. It returns once the channel is
// listened to (ctx bounds that first connection only); the listening goes
// on until stop is called, which waits for fn's last call. A lost
// connection is made again with back-off and fn is then called with
// Resync. On SQLite it does nothing and stop does nothing.
func (s *Store) Listen(ctx context.Context, channel string, fn func(payload string)) (stop func(), err error) {
	return s.ListenWith(ctx, channel, fn, ListenOptions{})
}

// ListenWith is Listen with options.
func (s *Store) ListenWith(ctx context.Context, channel string, fn func(payload string), o ListenOptions) (stop func(), err error) {
	if !s.postgres {
		return func() {}, nil
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Check <= 0 {
		o.Check = 30 * time.Second
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	cfg, err := s.connConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	cfg.RuntimeParams["application_name"] = listenName
	l := &listener{cfg: cfg, channel: channel, fn: fn, o: o}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(lctx, conn)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}, nil
}

// connConfig is the configuration of the store's pooled connections (its
// DSN, parsed): the listener's own connection is made like them, outside
// the pool, so it holds none of the pool's connections forever.
func (s *Store) connConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var cfg *pgx.ConnConfig
	err = c.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("state store: a %T is not a pgx connection", dc)
		}
		cfg = pc.Conn().Config() // a copy
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// The pooled connection's own buffer: the new one is to keep its
	// notifications.
	cfg.OnNotification = nil
	return cfg, nil
}

type listener struct {
	cfg     *pgx.ConnConfig
	channel string
	fn      func(string)
	o       ListenOptions
}

// connect opens a connection and listens on the channel.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// run hears notes on conn until ctx ends, making the connection again
// when it is lost.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	for {
		err := l.hear(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		l.o.OnError(fmt.Errorf("listen on %s: the connection was lost: %w", l.channel, err))
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.fn(Resync)
	}
}

// hear passes notes on to fn until the connection fails or ctx ends; a
// connection silent for o.Check is pinged.
func (l *listener) hear(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.o.Check)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n != nil:
			l.fn(n.Payload)
			continue
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		// Silent for o.Check: is the server still there?
		pctx, cancel := context.WithTimeout(ctx, min(l.o.Check, 10*time.Second))
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// reconnect makes the connection again, waiting longer after each
// failure; nil when ctx ends first.
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	wait := l.o.MinBackoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		l.o.OnError(fmt.Errorf("listen on %s: reconnecting: %w", l.channel, err))
		wait = min(2*wait, l.o.MaxBackoff)
	}
}
