package pgwire_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/pgwire"
)

// The wire layer on its own: a handler whose statements answer one row,
// or panic where a bug in a planner would (while binding, while
// producing rows), behind real SCRAM and a real pgx client.

const testPassword = "correct horse battery staple"

type scramAuth struct{ v auth.Verifier }

type exchange struct{ *auth.SCRAMServer }

func (exchange) Principal() any { return "tester" }

func (a scramAuth) SCRAM(_ context.Context, _, _ string, _ pgwire.ChannelBinding) (pgwire.SASLExchange, error) {
	s, err := auth.NewSCRAMServer(a.v, true, "")
	return exchange{s}, err
}

func (scramAuth) Password(context.Context, string, string, string) (any, bool, error) {
	return nil, false, nil
}

type panicHandler struct{}

func (panicHandler) NewSession(context.Context, pgwire.SessionInfo) (pgwire.Session, error) {
	return &panicSession{}, nil
}

type panicSession struct{ failed int }

func (s *panicSession) Parse(_ context.Context, sql string) ([]pgwire.Statement, error) {
	return []pgwire.Statement{stmt(strings.TrimSpace(sql))}, nil
}

func (s *panicSession) Prepare(_ context.Context, sql string, _ []uint32) (pgwire.PreparedStatement, error) {
	return prepared(strings.TrimSpace(sql)), nil
}

func (s *panicSession) TxStatus() byte   { return 'I' }
func (s *panicSession) StatementFailed() { s.failed++ }
func (s *panicSession) Close() error     { return nil }

type stmt string

func (st stmt) Bind(ctx context.Context) (pgwire.Portal, error) {
	if st == "work in bind" {
		// A statement answered while it is planned (the catalog,
		// constants): it ends when its context does, else after 30 s.
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(30 * time.Second):
			return nil, errors.New("not canceled")
		}
	}
	if st == "panic in bind" {
		panic("a bug in a planner")
	}
	return &portal{kind: string(st)}, nil
}

type prepared string

func (p prepared) ParamOIDs() []uint32      { return nil }
func (p prepared) Columns() []pgwire.Column { return (&portal{}).Columns() }
func (p prepared) BindParams(ctx context.Context, _ []*string) (pgwire.Portal, error) {
	return stmt(p).Bind(ctx)
}

type portal struct {
	kind string
	n    int
}

func (p *portal) Columns() []pgwire.Column {
	return []pgwire.Column{{Name: "n", TypeOID: 23, TypeSize: 4, TypeMod: -1}}
}

func (p *portal) Next(context.Context) ([]any, error) {
	p.n++
	if p.kind == "panic in rows" && p.n == 3 {
		var rows []int
		_ = rows[p.n] // index out of range
	}
	if p.n > 5 {
		return nil, io.EOF
	}
	return []any{int64(p.n)}, nil
}

func (p *portal) Tag(rows int64) string { return "SELECT " + itoa(rows) }
func (p *portal) Close() error          { return nil }

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// serveTest starts a pgwire server with handler h on a free loopback
// port and returns the connection string of its user.
func serveTest(t *testing.T, h pgwire.Handler) string {
	t.Helper()
	v, err := auth.NewVerifier(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	srv := pgwire.NewServer(pgwire.Config{Auth: scramAuth{v}, Handler: h, Logger: zerolog.Nop()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "postgres://tester:" + strings.ReplaceAll(testPassword, " ", "%20") + "@" + ln.Addr().String() + "/db?sslmode=disable"
}

func TestPanicFailsOnlyTheStatement(t *testing.T) {
	dsn := serveTest(t, panicHandler{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		bystander, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{"panic in bind", "panic in rows"} {
			rows, err := conn.Query(ctx, sql, mode)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "XX000" {
				t.Fatalf("%v %q: %v, want XX000", mode, sql, err)
			}
			// The same session, and another one, still answer.
			for _, c := range []*pgx.Conn{conn, bystander} {
				var n int
				if err := c.QueryRow(ctx, "five rows", mode).Scan(&n); err != nil || n != 1 {
					t.Fatalf("%v after %q: %v (n=%d)", mode, sql, err, n)
				}
			}
		}
		conn.Close(ctx)
		bystander.Close(ctx)
	}
}

// TestCancelWhileBinding: a CancelRequest stops a statement while it is
// being planned (the catalog answers there), on both protocols, with
// 57014; the session goes on.
func TestCancelWhileBinding(t *testing.T) {
	dsn := serveTest(t, panicHandler{})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 10 * time.Second}
	}
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		// pgx sends a CancelRequest when the context ends mid-query.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := conn.Exec(ctx, "work in bind", mode)
		cancel()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("%v: %v, want 57014", mode, err)
		}
		var n int
		if err := conn.QueryRow(context.Background(), "five rows", mode).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%v after the cancel: %v", mode, err)
		}
	}
}
