package warehouse

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
)

// The embedded DuckDB has one memory limit for every statement at once
// (DuckDB has no per-statement budget), so one client's statement that
// fills it makes another's small one fail with 53200 — in PostgreSQL,
// where each backend has its own memory, the small one would have run.
//
// memoryRetries is how the gateway keeps that promise: a statement that
// ran out of memory before giving its first row, while other statements
// were running, is run again once those have ended (they held the
// memory), within its own deadline and at most memoryRetries times. A
// statement that runs out of memory with nothing else running, or again
// after its retries, gets its 53200: it is the one too big.
const memoryRetries = 2

// executions tracks the DuckDB statements running, from the query until
// their rows are closed (a result being read holds its memory).
type executions struct {
	mu  sync.Mutex
	set map[*execution]struct{}
}

type execution struct {
	done    chan struct{}
	once    sync.Once
	session string // the SQL session running it ("" unknown)
}

// start registers a statement of session as running.
func (x *executions) start(session string) *execution {
	e := &execution{done: make(chan struct{}), session: session}
	x.mu.Lock()
	if x.set == nil {
		x.set = map[*execution]struct{}{}
	}
	x.set[e] = struct{}{}
	x.mu.Unlock()
	return e
}

// end marks e ended; more calls are no-ops.
func (x *executions) end(e *execution) {
	e.once.Do(func() {
		x.mu.Lock()
		delete(x.set, e)
		x.mu.Unlock()
		close(e.done)
	})
}

// running are the statements running now but session's own (a session
// waits for none of its own: its open cursors wait for it).
func (x *executions) running(session string) []*execution {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*execution, 0, len(x.set))
	for e := range x.set {
		if session == "" || e.session != session {
			out = append(out, e)
		}
	}
	return out
}

// memoryRetryWait bounds how long, in all, a statement that ran out of
// memory waits for the others to end to be run again: a result held open
// (a cursor) may hold its memory far longer, and then the statement gets
// its 53200.
const memoryRetryWait = 5 * time.Second

// waitAll waits until every one of es has ended; false when ctx ends or
// the deadline passes first.
func waitAll(ctx context.Context, es []*execution, deadline time.Time) bool {
	limit := time.NewTimer(time.Until(deadline))
	defer limit.Stop()
	for _, e := range es {
		select {
		case <-e.done:
		case <-limit.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// outOfMemory reports whether err is the warehouse's 53200.
func outOfMemory(err error) bool {
	var we *Error
	return errors.As(err, &we) && we.Code == pgerrcode.OutOfMemory
}
