package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// portal is a bound statement of the extended protocol (or the one a
// simple query runs). It owns a context that lives as long as the portal:
// its rows may be pulled by several Executes, and a cancel stops it.
type portal struct {
	p       Portal
	cols    []Column
	formats []int16 // one per column
	ctx     context.Context
	cancel  context.CancelCauseFunc
	done    bool
	// bound is when its Bind began: statement_timeout runs from there to
	// the end of the first Execute, as in PostgreSQL.
	bound time.Time
}

// close closes the portal, then ends its context: a portal that reads
// from something longer-lived (a cursor) detaches first.
func (pt *portal) close() {
	pt.p.Close()
	pt.cancel(nil)
}

// Why a statement was canceled, for the 57014 message.
var (
	errUserCancel       = errors.New("canceling statement due to user request")
	errStatementTimeout = errors.New("canceling statement due to statement timeout")
	// errAdminShutdown: the server's drain timeout passed.
	errAdminShutdown = errors.New("terminating connection due to administrator command")
)

// canceled is the error of a canceled portal.
func canceled(ctx context.Context) error {
	cause := context.Cause(ctx)
	if cause == errAdminShutdown {
		// As PostgreSQL's smart shutdown past its wait: the session ends.
		return pgerr.Fatal(pgerrcode.AdminShutdown, "%s", cause.Error())
	}
	if cause == errStatementTimeout || cause == errUserCancel {
		return pgerr.Wrap(cause, pgerrcode.QueryCanceled, "%s", cause.Error())
	}
	return pgerr.From(ctx.Err())
}

// extendedState is the extended protocol's per-connection state.
type extendedState struct {
	stmts   map[string]PreparedStatement
	portals map[string]*portal
	// skip is set after an error: messages are discarded until Sync.
	skip bool
}

func (c *conn) closePortal(name string) {
	if pt, ok := c.ext.portals[name]; ok {
		pt.close()
		delete(c.ext.portals, name)
	}
}

func (c *conn) closeAllPortals() {
	for name := range c.ext.portals {
		c.closePortal(name)
	}
}

// extendedError reports err and discards messages until Sync.
func (c *conn) extendedError(err error) {
	c.sendError(err)
	c.sess.StatementFailed()
	c.ext.skip = true
}

func (c *conn) handleParse(ctx context.Context, m *pgproto3.Parse) {
	if !utf8.ValidString(m.Query) {
		c.extendedError(errBadUTF8())
		return
	}
	if _, exists := c.statement(m.Name); exists && m.Name != "" {
		c.extendedError(pgerr.New(pgerrcode.DuplicatePreparedStatement, "prepared statement %q already exists", m.Name))
		return
	}
	if _, replaced := c.ext.stmts[m.Name]; !replaced && m.Name != "" {
		if err := (&SessionLimits{c: c}).CanPrepare(); err != nil {
			c.extendedError(err)
			return
		}
	}
	ps, err := c.sess.Prepare(ctx, m.Query, m.ParameterOIDs)
	if err != nil {
		c.extendedError(err)
		return
	}
	c.ext.stmts[m.Name] = ps
	c.be.Send(&pgproto3.ParseComplete{})
}

// resultFormats applies Postgres' rule: no codes means all text, one code
// applies to every column, else one code per column.
func resultFormats(codes []int16, n int) ([]int16, error) {
	out := make([]int16, n)
	switch {
	case len(codes) == 0:
	case len(codes) == 1:
		for i := range out {
			out[i] = codes[0]
		}
	case len(codes) == n:
		copy(out, codes)
	default:
		return nil, pgerr.New(pgerrcode.ProtocolViolation, "bind message has %d result formats but query has %d columns", len(codes), n)
	}
	for _, f := range out {
		if f != pgtype.TextFormatCode && f != pgtype.BinaryFormatCode {
			return nil, pgerr.New(pgerrcode.ProtocolViolation, "unsupported format code: %d", f)
		}
	}
	return out, nil
}

// statement is a prepared statement by name: the protocol's, or one SQL
// PREPARE made (one namespace, as in PostgreSQL).
func (c *conn) statement(name string) (PreparedStatement, bool) {
	if ps, ok := c.ext.stmts[name]; ok {
		return ps, true
	}
	if sp, ok := c.sess.(SQLPrepared); ok && name != "" {
		return sp.Prepared(name)
	}
	return nil, false
}

// portalNamed is a portal by name: one Bind made, or a SQL cursor of the
// session (one namespace, as in PostgreSQL), wrapped for this use.
func (c *conn) portalNamed(name string) (*portal, bool) {
	if pt, ok := c.ext.portals[name]; ok {
		return pt, true
	}
	cs, ok := c.sess.(Cursors)
	if !ok || name == "" {
		return nil, false
	}
	p, ok := cs.Cursor(name)
	if !ok {
		return nil, false
	}
	cols := p.Columns()
	formats := make([]int16, len(cols))
	for i, col := range cols {
		formats[i] = col.Format // a BINARY cursor's are binary
	}
	ctx, cancel := context.WithCancelCause(c.ctx)
	return &portal{p: p, cols: cols, formats: formats, ctx: ctx, cancel: cancel}, true
}

func (c *conn) handleBind(ctx context.Context, m *pgproto3.Bind) {
	ps, ok := c.statement(m.PreparedStatement)
	if !ok {
		c.extendedError(pgerr.New(pgerrcode.InvalidSQLStatementName, "prepared statement %q does not exist", m.PreparedStatement))
		return
	}
	if _, exists := c.ext.portals[m.DestinationPortal]; exists && m.DestinationPortal != "" {
		c.extendedError(pgerr.New(pgerrcode.DuplicateCursor, "portal %q already exists", m.DestinationPortal))
		return
	} else if !exists && m.DestinationPortal != "" {
		if err := (&SessionLimits{c: c}).CanOpenCursor(); err != nil {
			c.extendedError(err)
			return
		}
	}
	oids := ps.ParamOIDs()
	if len(m.Parameters) != len(oids) {
		c.extendedError(pgerr.New(pgerrcode.ProtocolViolation, "bind message supplies %d parameters, but prepared statement %q requires %d",
			len(m.Parameters), m.PreparedStatement, len(oids)))
		return
	}
	paramFormats, err := resultFormats(m.ParameterFormatCodes, len(oids))
	if err != nil {
		c.extendedError(pgerr.New(pgerrcode.ProtocolViolation, "bind message has %d parameter formats but %d parameters", len(m.ParameterFormatCodes), len(oids)))
		return
	}
	values := make([]*string, len(oids))
	for i, raw := range m.Parameters {
		if raw == nil {
			continue
		}
		if paramFormats[i] == pgtype.TextFormatCode && !utf8.Valid(raw) {
			c.extendedError(errBadUTF8())
			return
		}
		s, err := paramText(oids[i], paramFormats[i], raw)
		if err != nil {
			c.extendedError(pgerr.Wrap(err, pgerrcode.InvalidBinaryRepresentation, "incorrect binary data format in bind parameter %d", i+1))
			return
		}
		values[i] = &s
	}
	c.closePortal(m.DestinationPortal)
	pctx, cancel := context.WithCancelCause(c.ctx)
	began := time.Now()
	p, err := bindGuarded(c, cancel, func() (Portal, error) { return ps.BindParams(pctx, values) })
	if err != nil {
		if pctx.Err() != nil {
			err = canceled(pctx)
		}
		cancel(nil)
		c.extendedError(err)
		return
	}
	cols := p.Columns()
	formats, err := resultFormats(m.ResultFormatCodes, len(cols))
	if err != nil {
		cancel(nil)
		p.Close()
		c.extendedError(err)
		return
	}
	c.ext.portals[m.DestinationPortal] = &portal{p: p, cols: cols, formats: formats, ctx: pctx, cancel: cancel, bound: began}
	c.be.Send(&pgproto3.BindComplete{})
}

// paramText turns a parameter into its text form: text parameters are
// taken as they are (valid UTF-8), binary ones decoded by their type.
func paramText(oid uint32, format int16, raw []byte) (string, error) {
	if format == pgtype.TextFormatCode {
		return string(raw), nil
	}
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.JSONOID, pgtype.UnknownOID:
		return string(raw), nil // the binary form is the text
	case pgtype.JSONBOID:
		if len(raw) == 0 || raw[0] != 1 {
			return "", fmt.Errorf("unsupported jsonb version")
		}
		return string(raw[1:]), nil
	case pgtype.QCharOID:
		if len(raw) != 1 {
			return "", fmt.Errorf("invalid \"char\" length %d", len(raw))
		}
		return string(raw), nil
	}
	t, ok := typeMap.TypeForOID(oid)
	if !ok {
		return "", fmt.Errorf("binary parameters of type %d are not supported", oid)
	}
	v, err := t.Codec.DecodeValue(typeMap, oid, pgtype.BinaryFormatCode, raw)
	if err != nil {
		return "", err
	}
	if x, ok := v.(string); ok {
		return x, nil
	}
	// Spelled as Postgres would print it, which its input accepts.
	out, err := appendText(nil, oid, normalizeDecoded(v))
	return string(out), err
}

// normalizeDecoded maps pgtype's decoded Go values onto what appendText
// spells.
func normalizeDecoded(v any) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

func (c *conn) handleDescribe(m *pgproto3.Describe) {
	switch m.ObjectType {
	case 'S':
		ps, ok := c.statement(m.Name)
		if !ok {
			c.extendedError(pgerr.New(pgerrcode.InvalidSQLStatementName, "prepared statement %q does not exist", m.Name))
			return
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: ps.ParamOIDs()})
		if cols := ps.Columns(); cols != nil {
			c.be.Send(rowDescription(cols, nil))
		} else {
			c.be.Send(&pgproto3.NoData{})
		}
	case 'P':
		pt, ok := c.portalNamed(m.Name)
		if !ok {
			c.extendedError(pgerr.New(pgerrcode.InvalidCursorName, "portal %q does not exist", m.Name))
			return
		}
		if _, bound := c.ext.portals[m.Name]; !bound {
			defer pt.close() // a cursor's: described, left open
		}
		if pt.cols != nil {
			c.be.Send(rowDescription(pt.cols, pt.formats))
		} else {
			c.be.Send(&pgproto3.NoData{})
		}
	default:
		c.extendedError(pgerr.New(pgerrcode.ProtocolViolation, "invalid DESCRIBE message subtype %d", m.ObjectType))
	}
}

func (c *conn) handleExecute(m *pgproto3.Execute) {
	pt, ok := c.portalNamed(m.Portal)
	if !ok {
		c.extendedError(pgerr.New(pgerrcode.InvalidCursorName, "portal %q does not exist", m.Portal))
		return
	}
	if _, bound := c.ext.portals[m.Portal]; !bound {
		defer pt.close() // a cursor's: its rows read, the cursor stays open
	}
	err := c.execute(pt, int64(m.MaxRows))
	c.applyReset()
	if err != nil {
		c.extendedError(err)
	}
}

// execute pulls up to maxRows rows (0: all) from a portal and writes them;
// a portal that has more rows left is suspended.
func (c *conn) execute(pt *portal, maxRows int64) error {
	if pt.done {
		// Postgres answers a finished portal with an empty completion.
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(pt.p.Tag(0))})
		return nil
	}
	c.mu.Lock()
	c.stmtCancel = pt.cancel
	c.mu.Unlock()
	if d := c.statementTimeout(); d > 0 {
		if !pt.bound.IsZero() {
			d = max(d-time.Since(pt.bound), 0) // the time Bind took counts
			pt.bound = time.Time{}
		}
		t := time.AfterFunc(d, func() { pt.cancel(errStatementTimeout) })
		defer t.Stop()
	}
	defer func() {
		c.mu.Lock()
		c.stmtCancel = nil
		c.mu.Unlock()
	}()
	if cp, ok := pt.p.(CopyOutPortal); ok {
		err := c.copyOut(pt, cp)
		pt.done = true
		return err
	}
	var n int64
	for maxRows <= 0 || n < maxRows {
		row, err := pt.p.Next(pt.ctx)
		if err == io.EOF {
			pt.done = true
			tag := pt.p.Tag(n)
			if tag == "" {
				c.be.Send(&pgproto3.EmptyQueryResponse{})
			} else {
				c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
			}
			return nil
		}
		if err != nil {
			pt.done = true
			if pt.ctx.Err() != nil {
				return canceled(pt.ctx)
			}
			return err
		}
		if err := c.sendRow(pt.cols, pt.formats, row); err != nil {
			pt.done = true
			return err
		}
		n++
	}
	c.be.Send(&pgproto3.PortalSuspended{})
	return nil
}

func (c *conn) handleClose(m *pgproto3.Close) {
	switch m.ObjectType {
	case 'S':
		delete(c.ext.stmts, m.Name)
	case 'P':
		if _, ok := c.ext.portals[m.Name]; !ok {
			if cs, ok := c.sess.(Cursors); ok && m.Name != "" {
				cs.CloseCursor(m.Name)
				break
			}
		}
		c.closePortal(m.Name)
	default:
		c.extendedError(pgerr.New(pgerrcode.ProtocolViolation, "invalid CLOSE message subtype %d", m.ObjectType))
		return
	}
	c.be.Send(&pgproto3.CloseComplete{})
}

// handleSync ends an extended-protocol batch: outside a transaction block
// the implicit transaction ends, and its portals with it.
func (c *conn) handleSync() error {
	c.ext.skip = false
	if c.sess.TxStatus() == 'I' {
		c.closeAllPortals()
	}
	return c.readyForQuery()
}
