package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Server. The zero values of the limits are safe
// defaults.
type Config struct {
	Auth    Authenticator
	Handler Handler
	Logger  zerolog.Logger
	// ServerVersion is reported as server_version (default "15.0").
	ServerVersion string
	// StartupTimeout bounds the time from accept to a finished login
	// (default 10 s): a slow client cannot hold a connection open.
	StartupTimeout time.Duration
	// MaxMessageSize caps a message once authenticated (default 64 MiB).
	// Before authentication the cap is 16 KiB.
	MaxMessageSize int
	// MaxConnections caps authenticated sessions (default 100); past it a
	// login is refused with 53300. Cancel requests are always served.
	MaxConnections int
	// IdleInTransactionTimeout ends a session idle inside a transaction
	// block (25P03) unless the session sets its own; 0 is off.
	IdleInTransactionTimeout time.Duration
	// TLS, when set, answers SSLRequest with 'S'. Its GetCertificate may
	// change the certificate at any time (reload).
	TLS *tls.Config
	// TLSRequired refuses logins without TLS (28000).
	TLSRequired bool
	// AllowCleartext authenticates TLS connections with a cleartext
	// password instead of SCRAM, for clients that cannot do SCRAM. Never
	// without TLS.
	AllowCleartext bool
	// MaxPreparedStatements caps the prepared statements one session
	// holds, the protocol's and SQL PREPARE's together (default 10,000);
	// past it Parse and PREPARE get 54000 and the session goes on.
	MaxPreparedStatements int
	// MaxPortals caps the open portals of one session, the protocol's
	// and SQL cursors together (default 1,000); past it Bind and DECLARE
	// get 54000.
	MaxPortals int
	// MessageMemory is the server-wide budget for the messages sessions
	// hold (default 256 MiB): a message over 64 KiB reserves twice its
	// length (the read buffer and its decoded copy) before its body is
	// read, until it has been handled. A message that finds no budget
	// waits (its bytes stay in the socket) for MessageMemoryWait
	// (default 10 s), then its session ends with 53200; one needing more
	// than the whole budget ends its session at once with 54000.
	MessageMemory     int64
	MessageMemoryWait time.Duration
	// Admit, when set, is asked after authentication whether the
	// principal may open one more session (per-credential and per-tenant
	// slots); its error (53300) refuses the login. release is called once
	// when the session ends, however it ends.
	Admit func(ctx context.Context, info SessionInfo) (release func(), err error)
	// Settings name the configuration keys of these limits in the
	// errors that refuse past them; empty: the Config field's name.
	Settings LimitSettings
	// ForwardCancel, when set, is called with a CancelRequest that stopped
	// no session of this server: behind a load balancer the session may
	// be another server's. It gets CancelHash(pid, secret), never the
	// secret itself; the server holding the session stops its statement
	// with CancelHashed. Called on the cancel request's own goroutine.
	ForwardCancel func(hash CancelKeyHash)
}

// LimitSettings are the configuration keys of Config's limits, as the
// errors refusing past a limit name them.
type LimitSettings struct {
	MaxPreparedStatements, MaxPortals, MessageMemory, MaxMessageSize string
}

const (
	defaultServerVersion  = "15.0"
	defaultStartupTimeout = 10 * time.Second
	startupMaxBody        = 16 << 10
	defaultMaxBody        = 64 << 20
	defaultMaxConnections = 100
	defaultMaxPrepared    = 10_000
	defaultMaxPortals     = 1_000
	defaultMessageMemory  = 256 << 20
	defaultMessageWait    = 10 * time.Second
	// largeMessage is the body size from which a message reserves from
	// the message memory budget.
	largeMessage = 64 << 10
)

// Server accepts PostgreSQL connections.
type Server struct {
	cfg Config
	log zerolog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[uint32]*conn        // authenticated, by process id
	hashes    map[CancelKeyHash]*conn // authenticated, by CancelHash
	conns     map[*conn]struct{}      // every open connection
	closed    bool
	// draining is closed when a shutdown starts: sessions end between
	// statements.
	draining  chan struct{}
	drainOnce sync.Once
	wg        sync.WaitGroup
	// messages is the budget of large messages held (MessageMemory).
	messages *budget
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = defaultServerVersion
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = defaultStartupTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaultMaxBody
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = defaultMaxConnections
	}
	if cfg.MaxPreparedStatements <= 0 {
		cfg.MaxPreparedStatements = defaultMaxPrepared
	}
	if cfg.MaxPortals <= 0 {
		cfg.MaxPortals = defaultMaxPortals
	}
	if cfg.MessageMemory <= 0 {
		cfg.MessageMemory = defaultMessageMemory
	}
	if cfg.MessageMemoryWait <= 0 {
		cfg.MessageMemoryWait = defaultMessageWait
	}
	st := &cfg.Settings
	for p, name := range map[*string]string{&st.MaxPreparedStatements: "MaxPreparedStatements", &st.MaxPortals: "MaxPortals",
		&st.MessageMemory: "MessageMemory", &st.MaxMessageSize: "MaxMessageSize"} {
		if *p == "" {
			*p = name
		}
	}
	return &Server{
		cfg:       cfg,
		messages:  newBudget(cfg.MessageMemory),
		log:       cfg.Logger,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[uint32]*conn{},
		hashes:    map[CancelKeyHash]*conn{},
		conns:     map[*conn]struct{}{},
		draining:  make(chan struct{}),
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pgwire: server closed")

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if !temporaryAccept(err) {
				return err
			}
			// Out of file descriptors (EMFILE, ENFILE), memory or a
			// connection aborted before it was accepted: wait and try
			// again, as net/http does, instead of stopping the listener.
			// Waiting connections stay in the kernel's backlog.
			if delay == 0 {
				s.log.Warn().Err(err).Msg("accepting connections failed; retrying with back-off until it works again")
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		if delay != 0 {
			s.log.Info().Msg("accepting connections again")
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
		}()
	}
}

// temporaryAccept tells an accept error that may pass (the process or
// system out of file descriptors or buffers, a connection aborted or a
// timeout) from a listener that is gone.
func temporaryAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS, syscall.ENOMEM, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close stops accepting, cancels running statements, closes every
// connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting connections and drains: idle sessions end at
// once with 57P01, running statements may finish until ctx is done, then
// they are canceled and every session ends. It returns when all are gone.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true // no new connections
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.drainOnce.Do(func() { close(s.draining) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.Close()
		return nil
	case <-ctx.Done():
	}
	// Past the drain timeout: cancel what still runs; its statement
	// fails with FATAL 57P01 and the session ends.
	s.mu.Lock()
	for _, c := range s.sessions {
		c.cancelStatement(errAdminShutdown)
	}
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return s.Close()
}

// Sessions is the number of authenticated sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// full reports whether the session limit is reached.
func (s *Server) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions) >= s.cfg.MaxConnections
}

// register assigns a process id and secret key for cancel requests;
// false when the session limit is reached.
func (s *Server) register(c *conn) bool {
	var b [8]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= s.cfg.MaxConnections {
		return false
	}
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff // a positive int4, like a real pid
		if _, taken := s.sessions[pid]; pid == 0 || taken {
			continue
		}
		c.pid, c.secret = pid, binary.BigEndian.Uint32(b[4:])
		c.hash = CancelHash(c.pid, c.secret)
		s.sessions[pid] = c
		s.hashes[c.hash] = c
		return true
	}
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[c.pid] == c {
		delete(s.sessions, c.pid)
	}
	if s.hashes[c.hash] == c {
		delete(s.hashes, c.hash)
	}
}

// cancel handles a CancelRequest: the running statement of the session
// with that process id stops, if the secret matches (compared in constant
// time). Like Postgres, the requester learns nothing either way. A
// request that stopped no session here is handed to ForwardCancel, as
// its hash.
func (s *Server) cancel(pid, secret uint32) {
	s.mu.Lock()
	c := s.sessions[pid]
	s.mu.Unlock()
	if c != nil {
		var want, got [4]byte
		binary.BigEndian.PutUint32(want[:], c.secret)
		binary.BigEndian.PutUint32(got[:], secret)
		if subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
			c.cancelStatement(errUserCancel)
			return
		}
	}
	if s.cfg.ForwardCancel != nil {
		s.cfg.ForwardCancel(CancelHash(pid, secret))
	}
}

// CancelKeyHash is a session's cancel key (process id and secret) hashed:
// what servers sharing a load balancer may tell each other of a cancel
// request without telling its secret.
type CancelKeyHash [sha256.Size]byte

// CancelHash is SHA-256 of the process id and the secret, each 4 bytes
// big-endian (as BackendKeyData sends them).
func CancelHash(pid, secret uint32) CancelKeyHash {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], pid)
	binary.BigEndian.PutUint32(b[4:], secret)
	return sha256.Sum256(b[:])
}

// CancelHashed stops the running statement (57014) of the session whose
// CancelHash is hash, as a CancelRequest with its key would: another
// server's ForwardCancel handed over. It reports whether a session of
// this server has that key (it may be idle: nothing is stopped then).
func (s *Server) CancelHashed(hash CancelKeyHash) bool {
	s.mu.Lock()
	c := s.hashes[hash]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.cancelStatement(errUserCancel)
	return true
}

// track records an open connection; false once the server is closed.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) serveConn(nc net.Conn) {
	c := &conn{srv: s, nc: nc, log: s.log.With().Str("remote", nc.RemoteAddr().String()).Logger()}
	defer nc.Close()
	defer func() {
		// A panic outside a statement (start-up, authentication, the
		// end of a session) ends this connection only.
		if r := recover(); r != nil {
			c.log.Error().Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("internal error; the connection is closed")
		}
	}()
	c.serve(context.Background())
}
