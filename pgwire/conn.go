package pgwire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
)

// flushThreshold is how many bytes of rows are written before a flush:
// large results stream instead of piling up in the write buffer.
const flushThreshold = 32 << 10

type conn struct {
	srv *Server
	nc  net.Conn
	be  *pgproto3.Backend
	mr  *msgReader // under be: message framing and the message budget
	log zerolog.Logger

	pid, secret uint32
	hash        CancelKeyHash // CancelHash(pid, secret)
	sess        Session
	ctx         context.Context // the connection's; portals derive from it
	ext         extendedState

	mu         sync.Mutex
	busy       bool                    // executing a message
	stmtCancel context.CancelCauseFunc // cancels the running statement
	connCancel context.CancelFunc      // ends the connection

	// ending is set once a FATAL error was sent: the session ends.
	ending bool

	unflushed int
	rowBuf    []byte
	rowEnds   []int
	rowVals   [][]byte

	tlsConn    *tls.Conn        // set once TLS is up
	serverCert *tls.Certificate // the certificate the handshake used
}

func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.connCancel = cancel
	c.mu.Unlock()
	if !c.srv.track(c) {
		return
	}
	defer c.srv.untrack(c)

	c.newBackend(c.nc)
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.cfg.StartupTimeout))
	info, ok := c.startup(ctx)
	if !ok {
		return
	}
	if admit := c.srv.cfg.Admit; admit != nil {
		// Per-credential and per-tenant slots, held until the session ends.
		release, err := admit(ctx, info)
		if err != nil {
			c.fatal(err)
			return
		}
		defer release()
	}
	// The process id (BackendKeyData, pg_backend_pid()) is the session's
	// from its start.
	if !c.srv.register(c) {
		c.fatal(errTooManyClients())
		return
	}
	defer c.srv.unregister(c)
	info.ProcessID = c.pid
	info.Limits = &SessionLimits{c: c}
	sess, err := c.srv.cfg.Handler.NewSession(ctx, info)
	if err != nil {
		c.fatal(err)
		return
	}
	c.sess = sess
	c.ctx = ctx
	c.ext = extendedState{stmts: map[string]PreparedStatement{}, portals: map[string]*portal{}}
	defer func() {
		c.closeAllPortals()
		sess.Close()
	}()
	_ = c.nc.SetDeadline(time.Time{})
	c.be.SetMaxBodyLen(c.srv.cfg.MaxMessageSize)
	c.mr.maxBody, c.mr.budget, c.mr.ctx, c.mr.wait = c.srv.cfg.MaxMessageSize, c.srv.messages, ctx, c.srv.cfg.MessageMemoryWait
	c.mr.holding = make(chan struct{}, 1)

	c.log = c.log.With().Uint32("pid", c.pid).Str("user", info.User).Logger()
	for _, p := range c.parameters() {
		c.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], c.secret)
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: key[:]})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.sess.TxStatus()})
	if err := c.be.Flush(); err != nil {
		return
	}
	c.log.Debug().Msg("session started")
	c.loop(ctx)
	c.log.Debug().Msg("session ended")
}

// newBackend reads start-up messages from r (the socket, or TLS over it).
func (c *conn) newBackend(r io.ReadWriter) {
	c.mr = newMsgReader(r)
	c.be = pgproto3.NewBackend(c.mr, r)
	c.be.SetMaxBodyLen(startupMaxBody)
}

// ParameterReporter is implemented by sessions that report their own
// ParameterStatus values: all of them at startup, then those a statement
// changed.
type ParameterReporter interface {
	Parameters() [][2]string
	ParameterChanges() [][2]string
}

// Resetter is implemented by sessions that can be reset by a statement
// (DISCARD ALL): the wire then drops its prepared statements and portals.
type Resetter interface {
	TakeReset() bool
}

// readyForQuery ends a cycle: changed settings are reported (as
// Postgres 14+ does, just before ReadyForQuery), then ReadyForQuery.
func (c *conn) readyForQuery() error {
	c.reportChanges()
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.sess.TxStatus()})
	return c.flush()
}

// applyReset drops the wire's statements and portals after DISCARD ALL.
func (c *conn) applyReset() {
	if r, ok := c.sess.(Resetter); ok && r.TakeReset() {
		clear(c.ext.stmts)
		c.closeAllPortals()
	}
}

// reportChanges sends ParameterStatus for reported settings whose value
// differs from the one the client was last told.
func (c *conn) reportChanges() {
	if pr, ok := c.sess.(ParameterReporter); ok {
		for _, p := range pr.ParameterChanges() {
			c.be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
		}
	}
}

func (c *conn) parameters() [][2]string {
	if pr, ok := c.sess.(ParameterReporter); ok {
		return pr.Parameters()
	}
	return [][2]string{
		{"server_version", c.srv.cfg.ServerVersion},
		{"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"TimeZone", "UTC"},
		{"IntervalStyle", "postgres"},
		{"integer_datetimes", "on"},
		{"standard_conforming_strings", "on"},
		{"is_superuser", "off"},
	}
}

// startup runs the startup phase up to AuthenticationOk.
func (c *conn) startup(ctx context.Context) (SessionInfo, bool) {
	for {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			if !isDisconnect(err) {
				c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "invalid startup packet: %v", err))
			}
			return SessionInfo{}, false
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.tlsConn != nil {
				c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "SSLRequest on a TLS connection"))
				return SessionInfo{}, false
			}
			if c.srv.cfg.TLS == nil {
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return SessionInfo{}, false
				}
				continue
			}
			if !c.startTLS() {
				return SessionInfo{}, false
			}
		case *pgproto3.GSSEncRequest:
			// No GSS encryption: the client may go on with TLS or in clear.
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return SessionInfo{}, false
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				c.srv.cancel(m.ProcessID, binary.BigEndian.Uint32(m.SecretKey))
			}
			return SessionInfo{}, false
		case *pgproto3.StartupMessage:
			return c.login(ctx, m)
		default:
			c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "unexpected startup message %T", msg))
			return SessionInfo{}, false
		}
	}
}

func (c *conn) login(ctx context.Context, m *pgproto3.StartupMessage) (SessionInfo, bool) {
	params := make(map[string]string, len(m.Parameters))
	for k, v := range m.Parameters {
		params[k] = v
	}
	user := params["user"]
	if user == "" {
		c.fatal(pgerr.Fatal(pgerrcode.InvalidAuthorizationSpecification, "no PostgreSQL user name specified in startup packet"))
		return SessionInfo{}, false
	}
	db := params["database"]
	if db == "" {
		db = user
	}
	if c.srv.full() {
		c.fatal(errTooManyClients())
		return SessionInfo{}, false
	}
	ctx = context.WithValue(ctx, remoteAddrKey{}, c.nc.RemoteAddr())
	if c.srv.cfg.TLSRequired && c.tlsConn == nil {
		c.fatal(pgerr.Fatal(pgerrcode.InvalidAuthorizationSpecification, "this server accepts only TLS connections").
			WithHint("connect with sslmode=require"))
		return SessionInfo{}, false
	}
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
		// Speak 3.0, as PostgreSQL 15 does, and name the options it ignores.
		var unknown []string
		for k := range params {
			if strings.HasPrefix(k, "_pq_.") {
				unknown = append(unknown, k)
			}
		}
		c.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: unknown})
	}
	c.log = c.log.With().Str("user", user).Logger()

	var principal any
	var ok bool
	if c.tlsConn != nil && c.srv.cfg.AllowCleartext {
		principal, ok = c.cleartext(ctx, user, db)
	} else {
		principal, ok = c.scram(ctx, user, db)
	}
	if !ok {
		return SessionInfo{}, false
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	return SessionInfo{
		User:       user,
		Database:   db,
		Params:     params,
		Principal:  principal,
		RemoteAddr: c.nc.RemoteAddr(),
	}, true
}

func (c *conn) authReadFailed(err error) bool {
	if !isDisconnect(err) {
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "invalid authentication message: %v", err))
	}
	return false
}

// loop reads messages on one goroutine and executes them on this one.
func (c *conn) loop(ctx context.Context) {
	msgs := make(chan queued, 64)
	readErr := make(chan error, 1)
	// Messages never handled hand their budget back.
	defer func() {
		go func() {
			for q := range msgs {
				c.mr.release(q.reserved)
			}
		}()
	}()
	go func() {
		defer close(msgs)
		defer func() {
			if r := recover(); r != nil {
				c.log.Error().Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("internal error while reading a message")
				readErr <- fmt.Errorf("internal error while reading a message: %v", r)
			}
		}()
		for {
			m, err := c.be.Receive()
			reserved := c.mr.take()
			if err != nil {
				c.mr.release(reserved)
				readErr <- err
				return
			}
			if _, ok := m.(*pgproto3.Terminate); ok {
				c.mr.release(reserved)
				c.kill()
				return
			}
			select {
			case msgs <- queued{m: cloneMessage(m), reserved: reserved}:
			case <-ctx.Done():
				c.mr.release(reserved)
				return
			}
		}
	}()
	var idle *time.Timer
	for {
		// A session idle inside a transaction block is ended after the
		// idle-in-transaction timeout.
		var idleC <-chan time.Time
		if d := c.idleInTransactionTimeout(); d > 0 && c.sess.TxStatus() != 'I' {
			idle = time.NewTimer(d)
			idleC = idle.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c.srv.draining:
			// Shutting down: the session ends between statements.
			c.fatal(pgerr.Fatal(pgerrcode.AdminShutdown, "terminating connection due to administrator command"))
			return
		case <-idleC:
			c.fatal(pgerr.Fatal(pgerrcode.IdleInTransactionSessionTimeout, "terminating connection due to idle-in-transaction timeout"))
			return
		case q, ok := <-msgs:
			if idle != nil {
				idle.Stop()
			}
			if !ok {
				select {
				case err := <-readErr:
					if !isDisconnect(err) && ctx.Err() == nil {
						var tooBig *pgproto3.ExceededMaxBodyLenErr
						var noMemory *messageMemoryError
						if errors.As(err, &tooBig) {
							c.fatal(pgerr.Fatal(pgerrcode.ProgramLimitExceeded, "message of %d bytes exceeds the limit of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen).
								WithHint("The limit is %s.", c.srv.cfg.Settings.MaxMessageSize))
							c.mr.drain(c.nc)
						} else if errors.As(err, &noMemory) {
							c.fatal(noMemory.pgError(c.srv.cfg.Settings.MessageMemory))
							c.mr.drain(c.nc)
						} else {
							c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "invalid message: %v", err))
						}
					}
				default:
				}
				return
			}
			c.setBusy(true)
			err := c.handleSafely(ctx, q.m)
			c.setBusy(false)
			c.mr.release(q.reserved)
			if err == nil && c.ending {
				// A statement failed with FATAL (57P01 past the drain
				// timeout): the session ends after it, as in PostgreSQL.
				err = c.flush()
				if err == nil {
					return
				}
			}
			if err != nil {
				if ctx.Err() == nil && !isDisconnect(err) {
					c.log.Debug().Err(err).Msg("connection ended")
				}
				return
			}
		}
	}
}

// Locator is implemented by sessions with a TimeZone setting:
// timestamptz values are shown in it.
type Locator interface {
	Location() *time.Location
}

func (c *conn) location() *time.Location {
	if l, ok := c.sess.(Locator); ok {
		if loc := l.Location(); loc != nil {
			return loc
		}
	}
	return time.UTC
}

// Timeouts is implemented by sessions with timeout settings
// (statement_timeout, idle_in_transaction_session_timeout); zero is off.
type Timeouts interface {
	StatementTimeout() time.Duration
	IdleInTransactionTimeout() time.Duration
}

func (c *conn) statementTimeout() time.Duration {
	if t, ok := c.sess.(Timeouts); ok {
		return t.StatementTimeout()
	}
	return 0
}

func (c *conn) idleInTransactionTimeout() time.Duration {
	if t, ok := c.sess.(Timeouts); ok {
		if d := t.IdleInTransactionTimeout(); d > 0 {
			return d
		}
	}
	return c.srv.cfg.IdleInTransactionTimeout
}

func (c *conn) setBusy(b bool) {
	c.mu.Lock()
	c.busy = b
	c.mu.Unlock()
}

// handleSafely is handle with a net under it: a panic while handling a
// message fails that statement with XX000 (logged with its stack) and
// the session, and every other one, goes on.
func (c *conn) handleSafely(ctx context.Context, m pgproto3.FrontendMessage) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		c.log.Error().Str("panic", fmt.Sprint(r)).Str("message", fmt.Sprintf("%T", m)).Bytes("stack", debug.Stack()).
			Msg("internal error while handling a message; the statement fails with XX000 and the session goes on")
		c.sendError(pgerr.New(pgerrcode.InternalError, "internal error: %v", r).
			WithHint("This is a bug in cubegate; the gateway's log has its stack. The session is still usable."))
		c.sess.StatementFailed()
		switch m.(type) {
		case *pgproto3.Query, *pgproto3.Sync:
			// The client waits for ReadyForQuery after these.
			c.ext.skip = false
			err = c.readyForQuery()
			return
		}
		c.ext.skip = true // the rest of the extended-protocol batch is discarded until Sync
		err = c.flush()
	}()
	return c.handle(ctx, m)
}

// handle executes one message. A returned error ends the connection.
func (c *conn) handle(ctx context.Context, m pgproto3.FrontendMessage) error {
	if c.ext.skip {
		switch m.(type) {
		case *pgproto3.Sync, *pgproto3.Query:
		default:
			return nil // discarded until Sync, as Postgres does after an error
		}
	}
	switch m := m.(type) {
	case *pgproto3.Query:
		c.ext.skip = false
		if !utf8.ValidString(m.String) {
			c.sendError(errBadUTF8())
			c.sess.StatementFailed()
			return c.readyForQuery()
		}
		// A simple query drops the unnamed statement and portal.
		delete(c.ext.stmts, "")
		c.closePortal("")
		c.simpleQuery(ctx, m.String)
		if c.sess.TxStatus() == 'I' {
			c.closeAllPortals()
		}
		if c.ending {
			return nil // no ReadyForQuery after FATAL
		}
		return c.readyForQuery()
	case *pgproto3.Parse:
		c.handleParse(ctx, m)
	case *pgproto3.Bind:
		c.handleBind(ctx, m)
	case *pgproto3.Describe:
		c.handleDescribe(m)
	case *pgproto3.Execute:
		c.handleExecute(m)
	case *pgproto3.Close:
		c.handleClose(m)
	case *pgproto3.Sync:
		return c.handleSync()
	case *pgproto3.Flush:
		return c.flush()
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// Outside COPY FROM these are ignored, as the protocol says.
	case *pgproto3.FunctionCall:
		c.extendedError(pgerr.New(pgerrcode.FeatureNotSupported, "the function call (fastpath) interface is not supported"))
	default:
		c.fatal(pgerr.Fatal(pgerrcode.ProtocolViolation, "unexpected message %T", m))
		return errors.New("protocol violation")
	}
	if c.unflushed >= flushThreshold {
		return c.flush()
	}
	return nil
}

func (c *conn) simpleQuery(ctx context.Context, sql string) {
	stmts, err := c.sess.Parse(ctx, sql)
	if err != nil {
		c.sendError(err)
		c.sess.StatementFailed()
		return
	}
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, st := range stmts {
		err := c.run(ctx, st)
		c.applyReset()
		if err != nil {
			c.sendError(err)
			c.sess.StatementFailed()
			return
		}
	}
}

// run binds and runs one statement of a simple query to completion,
// streaming its rows in text format.
func (c *conn) run(ctx context.Context, st Statement) error {
	pctx, cancel := context.WithCancelCause(ctx)
	began := time.Now()
	p, err := bindGuarded(c, cancel, func() (Portal, error) { return st.Bind(pctx) })
	if err != nil {
		if pctx.Err() != nil {
			err = canceled(pctx)
		}
		cancel(nil)
		return err
	}
	pt := &portal{p: p, cols: p.Columns(), ctx: pctx, cancel: cancel, bound: began}
	defer pt.close()
	pt.formats = make([]int16, len(pt.cols))
	for i, col := range pt.cols {
		pt.formats[i] = col.Format
	}
	if pt.cols != nil {
		c.be.Send(rowDescription(pt.cols, pt.formats))
	}
	return c.execute(pt, 0)
}

// rowDescription describes cols with their result formats (nil: text).
func rowDescription(cols []Column, formats []int16) *pgproto3.RowDescription {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, col := range cols {
		size := col.TypeSize
		if size == 0 {
			size = postgres.TypeLen(col.TypeOID)
		}
		mod := col.TypeMod
		if mod == 0 {
			mod = -1
		}
		fields[i] = pgproto3.FieldDescription{
			Name:                 []byte(col.Name),
			TableOID:             col.TableOID,
			TableAttributeNumber: col.AttrNum,
			DataTypeOID:          col.TypeOID,
			DataTypeSize:         size,
			TypeModifier:         mod,
		}
		if formats != nil {
			fields[i].Format = formats[i]
		}
	}
	return &pgproto3.RowDescription{Fields: fields}
}

// sendRow encodes a row, each column in its format, into one reused
// buffer.
func (c *conn) sendRow(cols []Column, formats []int16, row []any) error {
	if len(row) != len(cols) {
		return pgerr.New(pgerrcode.InternalError, "row has %d values for %d columns", len(row), len(cols))
	}
	buf := c.rowBuf[:0]
	ends := c.rowEnds[:0]
	for i, v := range row {
		if v == nil {
			ends = append(ends, -1)
			continue
		}
		if t, ok := v.(time.Time); ok && cols[i].TypeOID == pgtype.TimestamptzOID {
			v = t.In(c.location()) // shown in the session's TimeZone
		}
		var err error
		if formats[i] == pgtype.BinaryFormatCode {
			buf, err = appendBinary(buf, cols[i].TypeOID, v)
		} else {
			buf, err = appendText(buf, cols[i].TypeOID, v)
		}
		if err != nil {
			return pgerr.Wrap(err, pgerrcode.InternalError, "column %q: %v", cols[i].Name, err)
		}
		ends = append(ends, len(buf))
	}
	c.rowBuf, c.rowEnds = buf, ends
	vals := c.rowVals[:0]
	start := 0
	for _, end := range ends {
		if end < 0 {
			vals = append(vals, nil)
			continue
		}
		vals = append(vals, buf[start:end:end])
		start = end
	}
	c.rowVals = vals
	c.be.Send(&pgproto3.DataRow{Values: vals})
	c.unflushed += len(buf) + 4*len(vals) + 7
	if c.unflushed >= flushThreshold {
		return c.flush()
	}
	return nil
}

func (c *conn) flush() error {
	c.unflushed = 0
	return c.be.Flush()
}

// sendError sends err as an ErrorResponse. Internal errors are logged.
func (c *conn) sendError(err error) {
	pe := pgerr.From(err)
	if pe.Code == pgerrcode.InternalError {
		c.log.Error().Err(err).Msg("internal error")
	}
	sev := pe.Severity
	if sev == "" {
		sev = pgerr.SeverityError
	}
	if sev == pgerr.SeverityFatal {
		c.ending = true
	}
	c.be.Send(&pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                pe.Code,
		Message:             pe.Message,
		Detail:              pe.Detail,
		Hint:                pe.Hint,
		Position:            pe.Position,
	})
}

// fatal sends a FATAL error; the caller then closes the connection.
func (c *conn) fatal(err error) {
	pe := pgerr.From(err)
	pe.Severity = pgerr.SeverityFatal
	c.sendError(pe)
	_ = c.be.Flush()
}

// bindGuarded runs bind under guardBind, ending the guard however bind
// ends (a panic included: the recovery above reports it).
func bindGuarded(c *conn, cancel context.CancelCauseFunc, bind func() (Portal, error)) (Portal, error) {
	defer c.guardBind(cancel)()
	return bind()
}

// guardBind makes a statement cancellable while it is bound, as it is
// while it runs: planning may do the statement's work (the catalog and
// constants are answered there), and CancelRequest and
// statement_timeout must stop it. The returned func ends the guard.
func (c *conn) guardBind(cancel context.CancelCauseFunc) func() {
	c.mu.Lock()
	c.stmtCancel = cancel
	c.mu.Unlock()
	var t *time.Timer
	if d := c.statementTimeout(); d > 0 {
		t = time.AfterFunc(d, func() { cancel(errStatementTimeout) })
	}
	return func() {
		if t != nil {
			t.Stop()
		}
		c.mu.Lock()
		c.stmtCancel = nil
		c.mu.Unlock()
	}
}

// cancelStatement stops the running statement, if any.
func (c *conn) cancelStatement(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmtCancel != nil {
		c.stmtCancel(cause)
	}
}

// kill ends the connection and anything it runs.
func (c *conn) kill() {
	c.mu.Lock()
	cancel := c.connCancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	_ = c.nc.SetReadDeadline(time.Now())
}

func isDisconnect(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// cloneMessage copies a received message: pgproto3 reuses message structs
// and buffers on the next Receive, and the executor runs behind the reader.
func cloneMessage(m pgproto3.FrontendMessage) pgproto3.FrontendMessage {
	switch m := m.(type) {
	case *pgproto3.Query:
		return &pgproto3.Query{String: m.String}
	case *pgproto3.Parse:
		return &pgproto3.Parse{Name: m.Name, Query: m.Query, ParameterOIDs: append([]uint32(nil), m.ParameterOIDs...)}
	case *pgproto3.Bind:
		params := make([][]byte, len(m.Parameters))
		for i, p := range m.Parameters {
			if p != nil {
				params[i] = append([]byte{}, p...)
			}
		}
		return &pgproto3.Bind{
			DestinationPortal:    m.DestinationPortal,
			PreparedStatement:    m.PreparedStatement,
			ParameterFormatCodes: append([]int16(nil), m.ParameterFormatCodes...),
			Parameters:           params,
			ResultFormatCodes:    append([]int16(nil), m.ResultFormatCodes...),
		}
	case *pgproto3.Describe:
		cp := *m
		return &cp
	case *pgproto3.Execute:
		cp := *m
		return &cp
	case *pgproto3.Close:
		cp := *m
		return &cp
	case *pgproto3.Sync:
		return &pgproto3.Sync{}
	case *pgproto3.Flush:
		return &pgproto3.Flush{}
	case *pgproto3.CopyData:
		return &pgproto3.CopyData{Data: append([]byte(nil), m.Data...)}
	case *pgproto3.CopyFail:
		cp := *m
		return &cp
	case *pgproto3.CopyDone:
		return &pgproto3.CopyDone{}
	}
	return m
}

// queued is a received message waiting to be handled, with the message
// memory it reserved.
type queued struct {
	m        pgproto3.FrontendMessage
	reserved int64
}

func (c *conn) String() string { return fmt.Sprintf("conn(pid=%d)", c.pid) }

func errBadUTF8() error {
	return pgerr.New(pgerrcode.CharacterNotInRepertoire, "invalid byte sequence for encoding \"UTF8\"")
}

func errTooManyClients() error {
	return pgerr.Fatal(pgerrcode.TooManyConnections, "sorry, too many clients already")
}
