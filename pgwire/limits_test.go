package pgwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// The limits of the wire layer (issue #21): the accept loop's back-off,
// the message memory budget, the per-session caps on prepared statements
// and portals, the admission hook and 57P01 past the drain timeout, on a
// real socket with a real pgx client and real SCRAM.

const limitsPassword = "correct horse battery staple"

type limitsAuth struct{ v auth.Verifier }

type limitsExchange struct{ *auth.SCRAMServer }

func (limitsExchange) Principal() any { return "tester" }

func (a limitsAuth) SCRAM(context.Context, string, string, ChannelBinding) (SASLExchange, error) {
	s, err := auth.NewSCRAMServer(a.v, true, "")
	return limitsExchange{s}, err
}

func (limitsAuth) Password(context.Context, string, string, string) (any, bool, error) {
	return nil, false, nil
}

// limitsHandler's sessions know: "hold" (planning waits until release
// is closed: the Query message stays held), "sleep" (rows wait for the
// statement's context to end) and anything else (one row, 1). Every
// statement may be prepared, with no parameters.
type limitsHandler struct{ release chan struct{} }

func (h limitsHandler) NewSession(context.Context, SessionInfo) (Session, error) {
	return &limitsSession{h: h}, nil
}

type limitsSession struct{ h limitsHandler }

func (s *limitsSession) Parse(ctx context.Context, sql string) ([]Statement, error) {
	if strings.HasPrefix(sql, "hold") {
		select {
		case <-s.h.release:
		case <-ctx.Done():
		}
	}
	return []Statement{limitsStmt{sql: sql}}, nil
}

func (s *limitsSession) Prepare(_ context.Context, sql string, _ []uint32) (PreparedStatement, error) {
	return limitsStmt{sql: sql}, nil
}

func (s *limitsSession) TxStatus() byte   { return 'I' }
func (s *limitsSession) StatementFailed() {}
func (s *limitsSession) Close() error     { return nil }

type limitsStmt struct{ sql string }

var oneCol = []Column{{Name: "n", TypeOID: 23, TypeSize: 4, TypeMod: -1}}

func (st limitsStmt) ParamOIDs() []uint32 { return nil }
func (st limitsStmt) Columns() []Column   { return oneCol }
func (st limitsStmt) Bind(ctx context.Context) (Portal, error) {
	return st.BindParams(ctx, nil)
}
func (st limitsStmt) BindParams(context.Context, []*string) (Portal, error) {
	return &limitsPortal{sleep: st.sql == "sleep"}, nil
}

type limitsPortal struct {
	sleep, done bool
}

func (p *limitsPortal) Columns() []Column { return oneCol }
func (p *limitsPortal) Next(ctx context.Context) ([]any, error) {
	if p.sleep {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if p.done {
		return nil, io.EOF
	}
	p.done = true
	return []any{int64(1)}, nil
}
func (p *limitsPortal) Tag(n int64) string { return "SELECT 1" }
func (p *limitsPortal) Close() error       { return nil }

// serveLimits starts a server with cfg (its Auth, Handler and Logger set
// here) on a free port and returns it with a connection string.
func serveLimits(t *testing.T, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	v, err := auth.NewVerifier(limitsPassword)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth, cfg.Handler, cfg.Logger = limitsAuth{v}, h, zerolog.Nop()
	srv := NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, "postgres://tester:" + strings.ReplaceAll(limitsPassword, " ", "%20") + "@" + ln.Addr().String() + "/db?sslmode=disable"
}

func connectLimits(t *testing.T, dsn string) *pgconn.PgConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func sqlstate(err error) (code, severity string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.Severity
	}
	return "", ""
}

// flakyListener fails its first Accepts with EMFILE, as a process out of
// file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// EMFILE (and the other temporary accept errors) make the accept loop
// back off and retry instead of returning: the next login succeeds.
func TestAcceptBacksOffOnEMFILE(t *testing.T) {
	v, err := auth.NewVerifier(limitsPassword)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Config{Auth: limitsAuth{v}, Handler: limitsHandler{}, Logger: zerolog.Nop()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(5)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(fl) }()
	t.Cleanup(func() { srv.Close() })
	c := connectLimits(t, "postgres://tester:"+strings.ReplaceAll(limitsPassword, " ", "%20")+"@"+ln.Addr().String()+"/db?sslmode=disable")
	if _, err := c.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if fl.fails.Load() >= 0 {
		t.Fatal("the listener's failures were not all seen")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned: %v", err)
	default:
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		if !temporaryAccept(&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", e)}) {
			t.Errorf("%v is not temporary", e)
		}
	}
	if temporaryAccept(net.ErrClosed) {
		t.Error("a closed listener is temporary")
	}
}

// msgReader hands pgproto3 the same messages the client sent, start-up
// packets (SSLRequest refused, then StartupMessage) included, and a
// large message reserves twice its length until take.
func TestMessageReaderFraming(t *testing.T) {
	var stream []byte
	var err error
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.SSLRequest{},
		&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}},
	} {
		if stream, err = m.Encode(stream); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("x", 200<<10)
	typed := []pgproto3.FrontendMessage{
		&pgproto3.Query{String: "SELECT 1"},
		&pgproto3.Parse{Name: "s", Query: big},
		&pgproto3.Sync{},
		&pgproto3.Query{String: big},
		&pgproto3.Terminate{},
	}
	for _, m := range typed {
		if stream, err = m.Encode(stream); err != nil {
			t.Fatal(err)
		}
	}
	mr := newMsgReader(bytes.NewReader(stream))
	b := newBudget(1 << 20)
	be := pgproto3.NewBackend(mr, io.Discard)
	for _, want := range []string{"*pgproto3.SSLRequest", "*pgproto3.StartupMessage"} {
		m, err := be.ReceiveStartupMessage()
		if err != nil {
			t.Fatal(err)
		}
		if got := typeName(m); got != want {
			t.Fatalf("start-up: %s, want %s", got, want)
		}
	}
	mr.maxBody, mr.budget, mr.ctx, mr.wait = 1<<20, b, context.Background(), time.Second
	mr.holding = make(chan struct{}, 1)
	for i, want := range typed {
		m, err := be.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if typeName(m) != typeName(want) {
			t.Fatalf("message %d: %s, want %s", i, typeName(m), typeName(want))
		}
		reserved := mr.take()
		enc, _ := want.Encode(nil)
		var wantReserved int64
		if body := len(enc) - 5; body > largeMessage {
			wantReserved = 2 * int64(body)
		}
		if reserved != wantReserved {
			t.Fatalf("%s of %d bytes reserved %d, want %d", typeName(m), len(enc), reserved, wantReserved)
		}
		if q, ok := m.(*pgproto3.Query); ok && q.String != want.(*pgproto3.Query).String {
			t.Fatalf("message %d: the query differs", i)
		}
		if p, ok := m.(*pgproto3.Parse); ok && p.Query != big {
			t.Fatalf("message %d: the statement differs", i)
		}
		if b.Used() != reserved {
			t.Fatalf("the budget holds %d, the message %d", b.Used(), reserved)
		}
		mr.release(reserved)
	}
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }

// The budget is handed out in arrival order, and a waiter gives up when
// its context ends without holding anything.
func TestBudgetOrderAndGivingUp(t *testing.T) {
	b := newBudget(100)
	if err := b.acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	granted := make(chan int, 2)
	go func() {
		if b.acquire(context.Background(), 50) == nil {
			granted <- 50
		}
	}()
	for !b.waiting(1) {
		time.Sleep(time.Millisecond)
	}
	// A small request behind a waiting large one waits too (no
	// starvation of the large one).
	go func() {
		if b.acquire(context.Background(), 10) == nil {
			granted <- 10
		}
	}()
	for !b.waiting(2) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.acquire(ctx, 30); err == nil {
		t.Fatal("a canceled waiter was granted")
	}
	if len(granted) != 0 || !b.waiting(2) {
		t.Fatal("a request was granted past an earlier waiting one")
	}
	b.release(60)
	if first, second := <-granted, <-granted; first+second != 60 {
		t.Fatalf("granted %d and %d, want 50 and 10", first, second)
	}
	if b.Used() != 60 {
		t.Fatalf("used %d, want 60", b.Used())
	}
}

// waiting reports whether n requests wait.
func (b *budget) waiting(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters) == n
}

// A large message that finds the message memory held by another
// session's waits, then its session ends with FATAL 53200; one larger
// than the whole budget ends its session at once with FATAL 54000;
// small messages are not held back, and once the holder is done the
// budget is whole again.
func TestMessageMemoryBudget(t *testing.T) {
	h := limitsHandler{release: make(chan struct{})}
	srv, dsn := serveLimits(t, Config{MessageMemory: 1 << 20, MessageMemoryWait: 300 * time.Millisecond}, h)
	ctx := context.Background()
	holder, waiter, small := connectLimits(t, dsn), connectLimits(t, dsn), connectLimits(t, dsn)
	held := make(chan error, 1)
	// 400 KiB: reserves 800 KiB of the 1 MiB while it is handled.
	go func() { _, err := holder.Exec(ctx, "hold"+strings.Repeat(" ", 400<<10)).ReadAll(); held <- err }()
	reserving(t, srv, 1)
	_, err := waiter.Exec(ctx, "SELECT"+strings.Repeat(" ", 200<<10)).ReadAll()
	if code, sev := sqlstate(err); code != "53200" || sev != "FATAL" {
		t.Fatalf("a message without budget: %v, want FATAL 53200", err)
	}
	if _, err := small.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("a small message while the budget is held: %v", err)
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatalf("the holder: %v", err)
	}
	released(t, srv)
	_, err = small.Exec(ctx, "SELECT"+strings.Repeat(" ", 600<<10)).ReadAll()
	if code, sev := sqlstate(err); code != "54000" || sev != "FATAL" {
		t.Fatalf("a message larger than the budget: %v, want FATAL 54000", err)
	}
	if _, err := holder.Exec(ctx, "SELECT"+strings.Repeat(" ", 300<<10)).ReadAll(); err != nil {
		t.Fatalf("a large message once the budget is free: %v", err)
	}
	released(t, srv)
}

// reserving waits until at least n bytes of message memory are held.
func reserving(t *testing.T, srv *Server, n int64) {
	t.Helper()
	for start := time.Now(); srv.MessageMemoryUsed() < n; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d bytes of message memory reserved after 10s, want at least %d", srv.MessageMemoryUsed(), n)
		}
	}
}

// One session holds one large message's reservation at a time (review of
// issue #21): a session pipelining six large Queries while its first is
// blocked reserves for the first only — its reader waits for that one to
// be released before reserving the next — so another session's large
// message still finds room (before, the pipelining session reserved all
// six ahead, took the whole budget and the other got FATAL 53200).
func TestMessageMemoryOneLargeMessagePerSession(t *testing.T) {
	h := limitsHandler{release: make(chan struct{})}
	const body = 300 << 10 // reserves 600 KiB
	srv, dsn := serveLimits(t, Config{MessageMemory: 2 << 20, MessageMemoryWait: 500 * time.Millisecond}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	hj, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer hj.Conn.Close()
	var pipeline []byte
	for range 6 {
		if pipeline, err = (&pgproto3.Query{String: "hold" + strings.Repeat(" ", body)}).Encode(pipeline); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan error, 1)
	go func() { _, err := hj.Conn.Write(pipeline); sent <- err }()
	reserving(t, srv, 1)
	// Give the reader every chance to reserve ahead: the whole pipeline
	// written (or a second, if the socket holds the rest back).
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
	}
	time.Sleep(200 * time.Millisecond)
	if used := srv.MessageMemoryUsed(); used > 2*(body+4+5) {
		t.Fatalf("a session pipelining large messages holds %d bytes of message memory, more than one message's %d", used, 2*(body+4+5))
	}
	other := connectLimits(t, dsn)
	if _, err := other.Exec(ctx, "SELECT"+strings.Repeat(" ", body)).ReadAll(); err != nil {
		t.Fatalf("another session's large message while one session pipelines: %v", err)
	}
	close(h.release)
	hj.Conn.Close()
	released(t, srv)
}

// released waits until no message holds message memory: a message's
// reservation ends just after its answer is sent.
func released(t *testing.T, srv *Server) {
	t.Helper()
	for start := time.Now(); srv.MessageMemoryUsed() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d bytes still reserved after the messages were handled", srv.MessageMemoryUsed())
		}
	}
}

// Past MaxPreparedStatements a Parse gets 54000 and past MaxPortals a
// Bind does; the session stays usable, and closing one makes room.
func TestSessionCaps(t *testing.T) {
	_, dsn := serveLimits(t, Config{MaxPreparedStatements: 3, MaxPortals: 2}, limitsHandler{})
	ctx := context.Background()
	c := connectLimits(t, dsn)
	for _, name := range []string{"a", "b", "c"} {
		if _, err := c.Prepare(ctx, name, "SELECT 1", nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Prepare(ctx, "d", "SELECT 1", nil)
	if code, sev := sqlstate(err); code != "54000" || sev != "ERROR" || !strings.Contains(errHint(err), "MaxPreparedStatements") {
		t.Fatalf("a fourth prepared statement: %v, want 54000 naming the setting", err)
	}
	// The unnamed statement replaces itself: not a new one.
	if _, err := c.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("the session after 54000: %v", err)
	}
	if err := c.Deallocate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prepare(ctx, "d", "SELECT 1", nil); err != nil {
		t.Fatalf("after closing one: %v", err)
	}

	// Portals, on the raw protocol: Bind named ones in one batch (a Sync
	// outside a transaction block closes them).
	hj, err := c.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer hj.Conn.Close()
	batch := func(msgs ...pgproto3.FrontendMessage) error {
		for _, m := range msgs {
			hj.Frontend.Send(m)
		}
		hj.Frontend.Send(&pgproto3.Sync{})
		if err := hj.Frontend.Flush(); err != nil {
			return err
		}
		var first error
		for {
			m, err := hj.Frontend.Receive()
			if err != nil {
				return err
			}
			switch m := m.(type) {
			case *pgproto3.ErrorResponse:
				if first == nil {
					first = pgconn.ErrorResponseToPgError(m)
				}
			case *pgproto3.ReadyForQuery:
				return first
			}
		}
	}
	p1, p2, p3 := &pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "b"}, &pgproto3.Bind{DestinationPortal: "p2", PreparedStatement: "b"},
		&pgproto3.Bind{DestinationPortal: "p3", PreparedStatement: "b"}
	if err := batch(p1, p2); err != nil {
		t.Fatalf("two portals: %v", err)
	}
	err = batch(p1, p2, p3)
	if code, _ := sqlstate(err); code != "54000" || !strings.Contains(errHint(err), "MaxPortals") {
		t.Fatalf("a third portal: %v, want 54000 naming the setting", err)
	}
	// The session goes on; closing a portal makes room for another.
	if err := batch(p1, p2, &pgproto3.Close{ObjectType: 'P', Name: "p1"}, p3, &pgproto3.Execute{Portal: "p3"}); err != nil {
		t.Fatalf("after closing one: %v", err)
	}
}

func errHint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Hint
	}
	return ""
}

// Admit is asked after authentication; its error refuses the login, and
// the release it returned runs once when the session ends, whether by
// Terminate, a dropped socket or a FATAL error.
func TestAdmitReleasedHoweverSessionEnds(t *testing.T) {
	var open atomic.Int32
	admit := func(_ context.Context, info SessionInfo) (func(), error) {
		if info.Principal != "tester" {
			return nil, errors.New("no principal")
		}
		if open.Load() >= 2 {
			return nil, pgerrFatalTooMany()
		}
		open.Add(1)
		var released atomic.Bool
		return func() {
			if released.Swap(true) {
				t.Error("released twice")
			}
			open.Add(-1)
		}, nil
	}
	_, dsn := serveLimits(t, Config{Admit: admit, MessageMemory: 1 << 20}, limitsHandler{})
	ctx := context.Background()
	a, b := connectLimits(t, dsn), connectLimits(t, dsn)
	if _, err := pgconn.Connect(ctx, dsn); func() string { c, _ := sqlstate(err); return c }() != "53300" {
		t.Fatalf("a third session: %v, want 53300", err)
	}
	eventually := func(want int32) {
		t.Helper()
		for start := time.Now(); open.Load() != want; time.Sleep(5 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%d sessions counted, want %d", open.Load(), want)
			}
		}
	}
	a.Close(ctx) // Terminate
	eventually(1)
	hj, err := b.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	hj.Conn.Close() // the socket dropped
	eventually(0)
	c := connectLimits(t, dsn)
	// A message larger than the message memory: FATAL 54000.
	if _, err := c.Exec(ctx, "SELECT"+strings.Repeat(" ", 600<<10)).ReadAll(); func() string { c, _ := sqlstate(err); return c }() != "54000" {
		t.Fatalf("oversized message: %v", err)
	}
	eventually(0)
	connectLimits(t, dsn)
	eventually(1)
}

func pgerrFatalTooMany() error {
	return errTooManyClients()
}

// Past the drain timeout a running statement ends with FATAL 57P01 (not
// 57014) and its session closes; Shutdown returns.
func TestShutdownPastDrainTimeout57P01(t *testing.T) {
	srv, dsn := serveLimits(t, Config{}, limitsHandler{})
	ctx := context.Background()
	c := connectLimits(t, dsn)
	result := make(chan error, 1)
	go func() { _, err := c.Exec(ctx, "sleep").ReadAll(); result <- err }()
	for srv.busySessions() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	err := <-result
	if code, sev := sqlstate(err); code != "57P01" || sev != "FATAL" {
		t.Fatalf("the running statement: %v, want FATAL 57P01", err)
	}
	select {
	case <-c.CleanupDone():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
}

// busySessions counts sessions executing a message.
func (s *Server) busySessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.sessions {
		c.mu.Lock()
		if c.busy {
			n++
		}
		c.mu.Unlock()
	}
	return n
}
