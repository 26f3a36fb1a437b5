package planner

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// Cursor options of DeclareCursorStmt (Postgres' parsenodes.h).
const (
	cursorBinary = 0x0001
	cursorScroll = 0x0002
	cursorHold   = 0x0020
)

// cursor is a DECLAREd cursor: the planned query's portal, pulled by
// FETCH a few rows at a time, straight from the warehouse's stream.
type cursor struct {
	portal pgwire.Portal
	cols   []pgwire.Column
	hold   bool
	// ctx lives as long as the cursor, across the FETCH statements that
	// read it; a cancel during a FETCH cancels it too.
	ctx    context.Context
	cancel context.CancelFunc
	done   bool
}

func (c *cursor) close() {
	c.cancel()
	c.portal.Close()
}

// cursorNode wraps its query's plan: DECLARE opens the query, its rows
// are read as they are fetched.
type cursorNode struct {
	stmt  *pg_query.DeclareCursorStmt
	inner *plan
}

func (n *cursorNode) explain(o explainOptions) []string {
	return append([]string{"Cursor " + n.stmt.GetPortalname() + ": the rows of its query, as they are fetched"}, n.inner.indented(o)...)
}

func (n *cursorNode) open(_ context.Context, s *Session) (pgwire.Portal, error) {
	name := n.stmt.GetPortalname()
	opts := n.stmt.GetOptions()
	if opts&cursorScroll != 0 {
		return nil, unsupported(nil, "SCROLL cursors are not supported").WithHint("cursors read the warehouse's stream forward only: declare it NO SCROLL")
	}
	if opts&cursorHold == 0 && s.tx == 0 {
		return nil, pgerr.New(pgerrcode.NoActiveSQLTransaction, "DECLARE CURSOR can only be used in transaction blocks")
	}
	if _, exists := s.cursors[name]; exists {
		return nil, pgerr.New(pgerrcode.DuplicateCursor, "cursor %q already exists", name)
	}
	// The cursor outlives the statement: its query runs under its own
	// context, cancelled when the cursor closes.
	cctx, cancel := context.WithCancel(context.Background())
	p, err := n.inner.node.open(cctx, s)
	if err != nil {
		cancel()
		return nil, err
	}
	cols := p.Columns()
	if opts&cursorBinary != 0 {
		cols = append([]pgwire.Column(nil), cols...)
		for i := range cols {
			cols[i].Format = 1
		}
	}
	cur := &cursor{portal: p, cols: cols, hold: opts&cursorHold != 0, ctx: cctx, cancel: cancel}
	return &staticPortal{tag: "DECLARE CURSOR", exec: func() { s.cursors[name] = cur }, onClose: func(ran bool) {
		if !ran {
			cur.close()
		}
	}}, nil
}

func (s *Session) planFetch(n *pg_query.FetchStmt) (pgwire.Portal, error) {
	name := n.GetPortalname()
	cur, ok := s.cursors[name]
	if !ok {
		return nil, pgerr.New(pgerrcode.InvalidCursorName, "cursor %q does not exist", name)
	}
	count := n.GetHowMany()
	switch n.GetDirection() {
	case pg_query.FetchDirection_FETCH_FORWARD:
	case pg_query.FetchDirection_FETCH_RELATIVE:
		if count < 0 {
			return nil, backward()
		}
		// RELATIVE n skips n-1 rows and returns the next one.
		if count == 0 {
			return nil, unsupported(nil, "FETCH RELATIVE 0 is not supported")
		}
		return &fetchPortal{cur: cur, skip: count - 1, limit: 1, move: n.GetIsmove()}, nil
	default:
		return nil, backward()
	}
	if count < 0 {
		return nil, backward()
	}
	if count == 0 {
		count = math.MaxInt64 // FETCH ALL
	}
	return &fetchPortal{cur: cur, limit: count, move: n.GetIsmove()}, nil
}

// Cursor implements pgwire.Cursors: a DECLAREd cursor is a portal of
// the protocol too, whose Execute reads the cursor's next rows.
func (s *Session) Cursor(name string) (pgwire.Portal, bool) {
	cur, ok := s.cursors[name]
	if !ok {
		return nil, false
	}
	return &fetchPortal{cur: cur, limit: math.MaxInt64, portal: true}, true
}

// CloseCursor implements pgwire.Cursors (Close of the portal).
func (s *Session) CloseCursor(name string) bool {
	cur, ok := s.cursors[name]
	if ok {
		cur.close()
		delete(s.cursors, name)
	}
	return ok
}

func backward() error {
	return pgerr.New(pgerrcode.ObjectNotInPrerequisiteState, "cursor can only scan forward").
		WithHint("cubegate cursors read the warehouse's stream forward only")
}

func (s *Session) planClosePortal(n *pg_query.ClosePortalStmt) (pgwire.Portal, error) {
	name := n.GetPortalname()
	if name == "" { // CLOSE ALL
		return &staticPortal{tag: "CLOSE CURSOR ALL", exec: func() { s.closeCursors(true) }}, nil
	}
	if _, ok := s.cursors[name]; !ok {
		return nil, pgerr.New(pgerrcode.InvalidCursorName, "cursor %q does not exist", name)
	}
	return &staticPortal{tag: "CLOSE CURSOR", exec: func() {
		if c, ok := s.cursors[name]; ok {
			c.close()
			delete(s.cursors, name)
		}
	}}, nil
}

// closeCursors closes every cursor, or with all=false those that do not
// outlive the transaction (declared without WITH HOLD).
func (s *Session) closeCursors(all bool) {
	for name, c := range s.cursors {
		if all || !c.hold {
			c.close()
			delete(s.cursors, name)
		}
	}
}

// fetchPortal returns up to limit rows of a cursor (none for MOVE).
type fetchPortal struct {
	cur         *cursor
	skip, limit int64
	move        bool
	portal      bool // read as a protocol portal: tagged as its SELECT
	n, moved    int64
	stop        func() bool
}

func (p *fetchPortal) Columns() []pgwire.Column {
	if p.move {
		return nil
	}
	return p.cur.cols
}

func (p *fetchPortal) Next(ctx context.Context) ([]any, error) {
	if p.stop == nil {
		p.stop = context.AfterFunc(ctx, p.cur.cancel)
	}
	for {
		if p.cur.done || p.n >= p.limit {
			return nil, io.EOF
		}
		row, err := p.cur.portal.Next(p.cur.ctx)
		if err == io.EOF {
			p.cur.done = true
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if p.skip > 0 {
			p.skip--
			continue
		}
		p.n++
		if p.move {
			p.moved++
			continue
		}
		return row, nil
	}
}

func (p *fetchPortal) Tag(n int64) string {
	switch {
	case p.move:
		return fmt.Sprintf("MOVE %d", p.moved)
	case p.portal:
		return fmt.Sprintf("SELECT %d", n)
	}
	return fmt.Sprintf("FETCH %d", n)
}

func (p *fetchPortal) Close() error {
	if p.stop != nil {
		p.stop()
	}
	return nil
}
