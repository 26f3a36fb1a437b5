package catalog

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// Limits bound what one statement may make the evaluator do. Everything
// the evaluator materializes — rows of scans, joins, set-returning
// functions, CTEs, set operations, projections — and every value a
// function builds is charged to the statement; over a limit the
// statement fails (54000 rows or value size, 53200 memory, 57014 time)
// and the session goes on. Zero fields take DefaultLimits' values.
type Limits struct {
	// Rows is how many rows the statement may materialize, summed over
	// the whole statement (a correlated subquery's rows count at each run).
	Rows int64
	// Bytes is how much memory the statement may materialize, summed the
	// same way: rows (their slots) and the text, bytea and array values
	// functions and operators build.
	Bytes int64
	// ValueBytes is the largest text, bytea or array value one function
	// or operator may build (PostgreSQL's own limit is 1 GB).
	ValueBytes int64
	// Time is the longest the evaluator may work on one statement,
	// statement_timeout or not.
	Time time.Duration
	// TempBytes is how much a session's temporary tables may hold
	// together (53200 past it).
	TempBytes int64
	// Pool, when set, is the memory shared by every statement being
	// evaluated at once, in the whole process: a statement that cannot
	// reserve what it needs fails with 53200 instead of starving the
	// others (or the process).
	Pool *Pool
}

// Pool is memory shared by the statements evaluated at once. Statements
// reserve it a megabyte at a time as they materialize, and give it back
// when they end.
type Pool struct {
	max  int64
	used atomic.Int64

	// native is what ReserveNative holds: memory C code (the parser)
	// allocates outside Go's heap. goLimit is Go's memory limit when the
	// pool was made; while native memory is reserved Go's limit is
	// lowered by as much, so that the process as a whole stays within it.
	nativeMu sync.Mutex
	native   int64
	goLimit  int64
	// nativeHook, when set, is told the native reservations held instead
	// of Go's limit being lowered here (a process-wide memory governor
	// that measures all C memory does it).
	nativeHook func(native int64)
}

// SetNativeHook hands native reservations to f (see nativeHook).
func (p *Pool) SetNativeHook(f func(native int64)) {
	p.nativeMu.Lock()
	defer p.nativeMu.Unlock()
	p.nativeHook = f
}

// NewPool returns a pool of max bytes.
func NewPool(max int64) *Pool { return &Pool{max: max} }

// Used is what running statements hold now.
func (p *Pool) Used() int64 { return p.used.Load() }

// Reserve takes n bytes of the pool for work outside a statement's
// budget (parsing its text), false when they are not free; Release gives
// them back.
func (p *Pool) Reserve(n int64) bool {
	if p == nil {
		return true
	}
	return p.reserve(n, 0)
}

// Release gives back what Reserve took.
func (p *Pool) Release(n int64) {
	if p != nil {
		p.used.Add(-n)
	}
}

// ReserveNative is Reserve for memory that C code will allocate (the
// parser's): the garbage collector is told, through Go's memory limit, to
// leave room for it. ReleaseNative gives it back.
func (p *Pool) ReserveNative(n int64) bool {
	if p == nil {
		return true
	}
	if !p.reserve(n, 0) {
		return false
	}
	p.adjustNative(n)
	return true
}

// ReleaseNative gives back what ReserveNative took.
func (p *Pool) ReleaseNative(n int64) {
	if p != nil {
		p.adjustNative(-n)
		p.used.Add(-n)
	}
}

func (p *Pool) adjustNative(n int64) {
	p.nativeMu.Lock()
	defer p.nativeMu.Unlock()
	if p.nativeHook != nil {
		p.native += n
		p.nativeHook(p.native)
		return
	}
	if p.native == 0 {
		// Read at the first reservation: the limit in force once the
		// process has configured itself.
		p.goLimit = debug.SetMemoryLimit(-1)
	}
	p.native += n
	if p.goLimit <= 0 || p.goLimit == math.MaxInt64 {
		return
	}
	// Never below a quarter of the configured limit: Go's own live
	// memory has to fit somewhere.
	debug.SetMemoryLimit(max(p.goLimit-p.native, p.goLimit/4))
}

// reserve takes n bytes for a statement that holds held bytes already.
// The last quarter of the pool is kept for statements holding less than
// a sixteenth of it: a few large statements cannot starve the small ones
// every client sends (a catalog query, a psql \d).
func (p *Pool) reserve(n, held int64) bool {
	for {
		cur := p.used.Load()
		if cur+n > p.max || cur+n > p.max-p.max/4 && held+n > p.max/16 {
			return false
		}
		if p.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

const poolChunk = 1 << 20

// DefaultLimits are generous for any catalog query a client sends (the
// largest captured ones materialize a few thousand rows and under a
// megabyte) and keep a hostile statement far from the process's memory.
func DefaultLimits() Limits {
	return Limits{Rows: 10_000_000, Bytes: 256 << 20, ValueBytes: 64 << 20, Time: time.Minute, TempBytes: 256 << 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.Rows <= 0 {
		l.Rows = d.Rows
	}
	if l.Bytes <= 0 {
		l.Bytes = d.Bytes
	}
	if l.ValueBytes <= 0 {
		l.ValueBytes = d.ValueBytes
	}
	if l.Time <= 0 {
		l.Time = d.Time
	}
	if l.TempBytes <= 0 {
		l.TempBytes = d.TempBytes
	}
	return l
}

// CheckTemp fails when a session's temporary tables, holding held bytes,
// cannot take adding more.
func (l Limits) CheckTemp(held, adding int64) error {
	l = l.withDefaults()
	if held+adding > l.TempBytes {
		return pgerr.New(pgerrcode.OutOfMemory, "out of memory").
			WithDetail("This session's temporary tables would hold more than %s (limits.temp_memory).", byteSize(l.TempBytes)).
			WithHint("DROP the temporary tables the session no longer needs.")
	}
	return nil
}

// LimitedSession is a Session that sets its statements' limits; other
// sessions run under DefaultLimits.
type LimitedSession interface {
	Session
	Limits() Limits
}

// What one materialized row costs besides its text and array values, as
// measured on the evaluator (10M one-column rows take about 2 GB of
// heap): the slice header and the env that carries it (rowHeader), and
// per column an interface slot and its boxed scalar (slotBytes).
const (
	rowHeader = 112
	slotBytes = 24
	// compiledExprBytes is what compiling one expression keeps (its
	// closure, the expr and, for a constant, its value).
	compiledExprBytes = 160
)

// budget is one statement's account of its limits.
type budget struct {
	ctx      context.Context
	lim      Limits
	deadline time.Time
	rows     int64
	bytes    int64
	ticks    int
	reserved int64 // from lim.Pool
}

// done gives the statement's share of the pool back.
func (b *budget) done() {
	if b.lim.Pool != nil && b.reserved > 0 {
		b.lim.Pool.used.Add(-b.reserved)
		b.reserved = 0
	}
}

func newBudget(ctx context.Context, s Session) *budget {
	var lim Limits
	if ls, ok := s.(LimitedSession); ok {
		lim = ls.Limits()
	}
	lim = lim.withDefaults()
	return &budget{ctx: ctx, lim: lim, deadline: time.Now().Add(lim.Time)}
}

// tick is called once per row visited; every so often it checks the
// statement's context (cancel, statement_timeout) and time budget.
func (b *budget) tick() error {
	b.ticks++
	if b.ticks < 1024 {
		return nil
	}
	b.ticks = 0
	return b.check()
}

func (b *budget) check() error {
	if err := b.ctx.Err(); err != nil {
		if cause := context.Cause(b.ctx); cause != nil {
			return cause // why it was canceled: the wire layer names it
		}
		return err
	}
	if time.Now().After(b.deadline) {
		return pgerr.New(pgerrcode.QueryCanceled, "canceling statement: it ran past the evaluator's time budget of %s", b.lim.Time).
			WithHint("cubegate answers catalog and constant statements itself, each within limits.statement_time.")
	}
	return nil
}

// row charges n rows of width columns.
func (b *budget) row(n, width int) error {
	b.rows += int64(n)
	if b.rows > b.lim.Rows {
		return b.tooManyRows()
	}
	if err := b.alloc(int64(n) * (rowHeader + slotBytes*int64(width))); err != nil {
		return err
	}
	b.ticks += n - 1
	return b.tick()
}

// rowsLeft is how many more rows of width columns the statement may
// materialize.
func (b *budget) rowsLeft(width int) int64 {
	return min(b.lim.Rows-b.rows, (b.lim.Bytes-b.bytes)/(rowHeader+slotBytes*int64(width)))
}

func (b *budget) tooManyRows() error {
	return pgerr.New(pgerrcode.ProgramLimitExceeded, "statement materializes more than %d rows", b.lim.Rows).
		WithDetail("cubegate evaluates catalog and constant statements itself, within limits.statement_rows.").
		WithHint("Narrow the statement: fewer joined relations, a WHERE clause, smaller series.")
}

// alloc charges n bytes the statement keeps.
func (b *budget) alloc(n int64) error {
	b.bytes += n
	if b.bytes > b.lim.Bytes {
		return pgerr.New(pgerrcode.OutOfMemory, "out of memory").
			WithDetail("The statement needs more than %s, its memory budget in cubegate's evaluator (limits.statement_memory).", byteSize(b.lim.Bytes)).
			WithHint("Narrow the statement: fewer joined relations, a WHERE clause, smaller values.")
	}
	if p := b.lim.Pool; p != nil && b.bytes > b.reserved {
		need := (b.bytes - b.reserved + poolChunk - 1) / poolChunk * poolChunk
		if !p.reserve(need, b.reserved) {
			return pgerr.New(pgerrcode.OutOfMemory, "out of memory").
				WithDetail("The statements cubegate is evaluating at once hold its whole shared memory (%s, limits.evaluator_memory).", byteSize(p.max)).
				WithHint("Retry when other statements have finished.")
		}
		b.reserved += need
	}
	return nil
}

// value charges a value a function or operator built (n bytes).
func (b *budget) value(n int64) error {
	if err := b.fits(n); err != nil {
		return err
	}
	return b.alloc(n)
}

// fits is called before a function or operator builds a text, bytea or
// array value of n bytes: over ValueBytes it fails as PostgreSQL fails
// past its 1 GB (n < 0 is a size that overflowed).
func (b *budget) fits(n int64) error {
	if n < 0 || n > b.lim.ValueBytes {
		return pgerr.New(pgerrcode.ProgramLimitExceeded, "requested length too large").
			WithDetail("A value may have at most %s in cubegate's evaluator (limits.value_size).", byteSize(b.lim.ValueBytes))
	}
	return nil
}

// joinedSize is len(strings.Join(parts, sep)).
func joinedSize(parts []string, sep string) int64 {
	n := int64(len(sep)) * int64(max(len(parts)-1, 0))
	for _, p := range parts {
		n += int64(len(p))
	}
	return n
}

// mulSize is a*b, or -1 when it overflows or a factor is negative.
func mulSize(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	if a != 0 && b > (1<<62)/a {
		return -1
	}
	return a * b
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// sizeOf is what a value built by a function or operator keeps.
func sizeOf(v any) int64 {
	switch v := v.(type) {
	case string:
		return int64(len(v))
	case []byte:
		return int64(len(v))
	case []any:
		return slotBytes * int64(len(v))
	}
	return 0
}
