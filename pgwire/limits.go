package pgwire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// budget is a byte budget shared by every session, handed out in
// arrival order: a large request does not starve behind small ones.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newBudget(size int64) *budget { return &budget{size: size} }

// acquire reserves n bytes, waiting until they are free or ctx ends.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted while giving up: hand it back.
		b.used -= n
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	b.grantLocked()
	b.mu.Unlock()
	return ctx.Err()
}

// release returns n bytes.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("pgwire: message budget released more than it reserved")
	}
	b.grantLocked()
	b.mu.Unlock()
}

func (b *budget) grantLocked() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}

// Used is how many bytes are reserved now.
func (b *budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// MessageMemoryUsed is how many bytes of the message memory budget
// (Config.MessageMemory) the messages held now reserve.
func (s *Server) MessageMemoryUsed() int64 { return s.messages.Used() }

// Start-up packet codes (PostgreSQL's pqcomm.h) after which the client
// sends another start-up packet.
const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
)

// msgReader sits between the socket and pgproto3: it follows the
// message framing and hands pgproto3 at most one message at a time, so
// that a large message reserves its memory from the server's budget
// after its header arrived and before pgproto3 allocates its body.
// Only the reader goroutine of a connection uses it.
type msgReader struct {
	r *bufio.Reader
	// typed is set after the start-up packet: messages have a type byte.
	typed bool
	hdr   [8]byte
	n     int // header bytes read into hdr
	out   int // header bytes handed on
	hlen  int // the header's length once read
	left  int // body bytes left of the current message
	err   error

	// Set by the connection once authenticated: budget nil reserves
	// nothing.
	maxBody int
	budget  *budget
	ctx     context.Context
	wait    time.Duration
	// reserved is what the message being read reserved; take hands it
	// to whoever holds the message.
	reserved int64
	// holding is full while a large message of this session holds a
	// reservation: a session reserves for one large message at a time
	// (the reader waits until the previous one is released before it
	// reserves the next), so one session pipelining large messages
	// cannot take the whole budget ahead of everybody else.
	holding chan struct{}
}

func newMsgReader(r io.Reader) *msgReader {
	return &msgReader{r: bufio.NewReaderSize(r, 4096)}
}

// release hands back what a message reserved (take's result) once it
// has been handled or dropped.
func (m *msgReader) release(n int64) {
	if n == 0 {
		return
	}
	m.budget.release(n)
	<-m.holding
}

// take returns what the message just received reserved, for its holder
// to release once it has been handled.
func (m *msgReader) take() int64 {
	n := m.reserved
	m.reserved = 0
	return n
}

func (m *msgReader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if m.left > 0 {
		if len(p) > m.left {
			p = p[:m.left]
		}
		k, err := m.r.Read(p)
		m.left -= k
		return k, err
	}
	if m.hlen == 0 {
		if err := m.readHeader(); err != nil {
			var me *messageMemoryError
			if errors.As(err, &me) {
				m.err = err // the stream stops here
			}
			return 0, err
		}
	}
	k := copy(p, m.hdr[m.out:m.hlen])
	m.out += k
	if m.out == m.hlen {
		m.n, m.out, m.hlen = 0, 0, 0
	}
	return k, nil
}

// readHeader reads the next message's header, decides what its body
// reserves and sets hlen and left.
func (m *msgReader) readHeader() error {
	fill := func(to int) error {
		for m.n < to {
			k, err := m.r.Read(m.hdr[m.n:to])
			m.n += k
			if err != nil && m.n < to {
				return err
			}
		}
		return nil
	}
	if !m.typed {
		// A start-up packet: its length, then (when it has one) its code.
		if err := fill(4); err != nil {
			return err
		}
		length := int(int32(binary.BigEndian.Uint32(m.hdr[:4])))
		if length < 8 {
			m.hlen, m.left = 4, max(length-4, 0)
			return nil
		}
		if err := fill(8); err != nil {
			return err
		}
		m.hlen, m.left = 8, length-8
		if code := binary.BigEndian.Uint32(m.hdr[4:8]); code != sslRequestCode && code != gssencRequestCode {
			m.typed = true
		}
		return nil
	}
	if err := fill(5); err != nil {
		return err
	}
	body := int(int32(binary.BigEndian.Uint32(m.hdr[1:5]))) - 4
	m.hlen, m.left = 5, max(body, 0)
	if m.budget == nil || body <= largeMessage || body > m.maxBody {
		return nil // pgproto3 refuses a message over maxBody
	}
	// The read buffer and the decoded copy.
	need := 2 * int64(body)
	if need > m.budget.size {
		return &messageMemoryError{body: body, need: need, budget: m.budget.size}
	}
	// This session's previous large message first: it is being handled
	// (or waits to be), so this wait is on the session itself and has no
	// deadline of its own.
	select {
	case m.holding <- struct{}{}:
	case <-m.ctx.Done():
		return m.ctx.Err()
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.wait)
	defer cancel()
	if err := m.budget.acquire(ctx, need); err != nil {
		<-m.holding
		if m.ctx.Err() != nil {
			return m.ctx.Err()
		}
		return &messageMemoryError{body: body, need: need, budget: m.budget.size, waited: m.wait}
	}
	m.reserved += need
	return nil
}

// drainLimit bounds how long a refused message's body is drained.
const drainLimit = 5 * time.Second

// drain reads and discards what is left of a refused message — at most
// its declared length, for at most drainLimit (the read deadline is set
// on nc) — so that a client still sending it finishes and reads the FATAL
// error before the connection closes: a close with the client's data
// unread resets the connection, and the client would see "connection
// reset" instead of the error. Nothing is held: the bytes are discarded.
func (m *msgReader) drain(nc net.Conn) {
	if m.left <= 0 {
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(drainLimit))
	n, _ := io.CopyN(io.Discard, m.r, int64(m.left))
	m.left -= int(n)
}

// messageMemoryError ends a session whose message found no room in the
// message memory budget.
type messageMemoryError struct {
	body         int
	need, budget int64
	waited       time.Duration // 0: more than the whole budget
}

func (e *messageMemoryError) Error() string {
	if e.waited == 0 {
		return fmt.Sprintf("a message of %d bytes needs %d bytes of message memory, more than the server has (%d)", e.body, e.need, e.budget)
	}
	return fmt.Sprintf("a message of %d bytes found no message memory within %s", e.body, e.waited)
}

// pgError is the FATAL error the session ends with.
func (e *messageMemoryError) pgError(setting string) error {
	if e.waited == 0 {
		return pgerr.Fatal(pgerrcode.ProgramLimitExceeded, "message of %d bytes exceeds the server's message memory", e.body).
			WithDetail("Holding it takes %d bytes; %s is %d bytes for all sessions together.", e.need, setting, e.budget).
			WithHint("Send a shorter message, or raise %s.", setting)
	}
	return pgerr.Fatal(pgerrcode.OutOfMemory, "out of memory for a message of %d bytes", e.body).
		WithDetail("Other sessions' messages held the server's message memory (%s, %d bytes) for %s.", setting, e.budget, e.waited).
		WithHint("Retry when the server is less busy, or send shorter messages.")
}

// SessionLimits are the per-session caps a session shares with the wire:
// a session asks before its SQL PREPARE or DECLARE makes one more
// prepared statement or cursor, counted with the protocol's.
type SessionLimits struct{ c *conn }

// ObjectCounter is implemented by sessions holding SQL-level prepared
// statements and cursors: they count against the same caps as the
// protocol's statements and portals.
type ObjectCounter interface {
	PreparedCount() int
	CursorCount() int
}

// preparedCount is the named prepared statements (the unnamed one
// replaces itself: it is never refused).
func (c *conn) preparedCount() int {
	n := len(c.ext.stmts)
	if _, ok := c.ext.stmts[""]; ok {
		n--
	}
	if oc, ok := c.sess.(ObjectCounter); ok {
		n += oc.PreparedCount()
	}
	return n
}

// portalCount is the named portals and the cursors.
func (c *conn) portalCount() int {
	n := len(c.ext.portals)
	if _, ok := c.ext.portals[""]; ok {
		n--
	}
	if oc, ok := c.sess.(ObjectCounter); ok {
		n += oc.CursorCount()
	}
	return n
}

// CanPrepare is nil while the session may hold one more prepared
// statement, else 54000 naming the limit and its setting.
func (l *SessionLimits) CanPrepare() error {
	if l == nil || l.c == nil {
		return nil
	}
	cfg := l.c.srv.cfg
	if l.c.preparedCount() >= cfg.MaxPreparedStatements {
		return pgerr.New(pgerrcode.ProgramLimitExceeded, "too many prepared statements (the limit is %d per session)", cfg.MaxPreparedStatements).
			WithHint("DEALLOCATE (or Close) statements no longer used, or raise %s.", cfg.Settings.MaxPreparedStatements)
	}
	return nil
}

// CanOpenCursor is nil while the session may open one more portal or
// cursor, else 54000 naming the limit and its setting.
func (l *SessionLimits) CanOpenCursor() error {
	if l == nil || l.c == nil {
		return nil
	}
	cfg := l.c.srv.cfg
	if l.c.portalCount() >= cfg.MaxPortals {
		return pgerr.New(pgerrcode.ProgramLimitExceeded, "too many open portals and cursors (the limit is %d per session)", cfg.MaxPortals).
			WithHint("CLOSE cursors (or Close portals) no longer used, or raise %s.", cfg.Settings.MaxPortals)
	}
	return nil
}
