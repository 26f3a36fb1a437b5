package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// The audit log: logins, credential and key changes, and every query,
// append-only (the store refuses UPDATE and DELETE on it). Events are
// written in batches by one goroutine; a full queue makes the writer wait
// rather than drop an event. No secret is ever part of an event: queries
// are kept normalized (literals replaced by $n), keys by their id.

// AuditEvent is one entry.
type AuditEvent struct {
	ID           int64     `json:"id"`
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind"`    // login, credential, api_key, query
	Action       string    `json:"action"`  // create, update, rotate, delete, revoke, sql, rest, …
	Outcome      string    `json:"outcome"` // ok, failed, error
	TenantID     string    `json:"tenant_id"`
	CredentialID string    `json:"credential_id,omitempty"`
	APIKeyID     string    `json:"api_key_id,omitempty"`
	Username     string    `json:"username,omitempty"`
	Address      string    `json:"address,omitempty"`
	Object       string    `json:"object,omitempty"` // the credential or key changed
	Fingerprint  string    `json:"fingerprint,omitempty"`
	Statement    string    `json:"statement,omitempty"`
	WarehouseSQL string    `json:"warehouse_sql,omitempty"`
	Rows         int64     `json:"rows"`
	DurationMS   float64   `json:"duration_ms"`
	Error        string    `json:"error,omitempty"`
	// Code is the error's SQLSTATE (query events; "" without an error).
	Code string `json:"code,omitempty"`
	// Served says what answered a query: "warehouse", "cache" (the
	// result cache), "rollup:<cube>.<name>" (a pre-aggregation); "" for
	// a query nothing answered (refused before it ran, or answered by
	// cubegate itself: the catalog, constants) and for other events.
	Served string `json:"served,omitempty"`
	// Normalize, when set, fills Statement and Fingerprint in the writer
	// goroutine (normalizing costs more than a request should wait for).
	Normalize func() (statement, fingerprint string) `json:"-"`
	sync      chan struct{}
}

// Audit writes the audit log.
type Audit struct {
	store *Store
	opts  AuditOptions
	queue chan AuditEvent
	wg    sync.WaitGroup
	once  sync.Once
	stop  chan struct{}
}

// AuditOptions say how the audit log is kept.
type AuditOptions struct {
	// Retention is how long events are kept: older ones are deleted
	// periodically (0: kept forever).
	Retention time.Duration
	// FailClosed refuses new queries (Refusal) while the audit log
	// cannot be written.
	FailClosed bool
	// OnFailure is told of every failed write (a metric).
	OnFailure func(err error)
	// Log is told of failed writes and of the state file's problems, at
	// most once per LogEvery for failed writes (its count says how many
	// there were), and when writing works again (err nil).
	Log func(err error, failures int64)
	// LogEvery spaces Log's reports of failed writes (0: 10 s).
	LogEvery time.Duration
	// CheckEvery is how often the state file is looked at (0: 2 s).
	CheckEvery time.Duration
}

// NewAudit starts the audit writer.
func NewAudit(store *Store) *Audit { return NewAuditWith(store, AuditOptions{}) }

// NewAuditWith starts the audit writer with options: failed writes are
// retried, counted and reported; the state file is watched; events past
// the retention are deleted.
func NewAuditWith(store *Store, o AuditOptions) *Audit {
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 2 * time.Second
	}
	a := &Audit{store: store, opts: o, queue: make(chan AuditEvent, 4096), stop: make(chan struct{})}
	store.health.configure(o)
	a.wg.Add(2)
	go a.run()
	go a.maintain()
	return a
}

// Log queues an event.
func (a *Audit) Log(e AuditEvent) {
	if a == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.TenantID == "" {
		e.TenantID = DefaultTenant
	}
	defer func() { recover() }() // closed: the gateway is stopping
	a.queue <- e
}

// maxPending bounds the events kept for a retry while writes fail;
// older ones are dropped, counted, and the log says how many.
const maxPending = 10000

func (a *Audit) run() {
	defer a.wg.Done()
	var batch []AuditEvent
	flush := func() {
		h := &a.store.health
		// Change events whose synchronous write failed, first.
		batch = append(h.takeKept(), batch...)
		notice, gap := h.notice()
		if gap > 0 {
			// The log says where it has a gap: written first when
			// writing works again.
			batch = append([]AuditEvent{notice}, batch...)
		}
		if len(batch) == 0 {
			return
		}
		err := a.store.insertAudit(context.Background(), batch)
		h.wrote(err, len(batch))
		if err == nil {
			h.recorded(gap)
			batch = batch[:0]
			return
		}
		if gap > 0 {
			batch = batch[1:] // the notice is made again from the counts
		}
		if over := len(batch) - maxPending; over > 0 {
			h.drop(over)
			batch = append(batch[:0], batch[over:]...)
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-a.queue:
			if !ok {
				flush()
				return
			}
			if e.sync != nil {
				flush()
				close(e.sync)
				continue
			}
			batch = append(batch, e)
			if len(batch) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// maintain watches the state file and deletes events past the retention.
func (a *Audit) maintain() {
	defer a.wg.Done()
	check := time.NewTicker(a.opts.CheckEvery)
	defer check.Stop()
	var prune <-chan time.Time
	if a.opts.Retention > 0 {
		// A tenth of the retention, between a second and an hour: a row
		// outlives it by at most that much.
		every := min(max(a.opts.Retention/10, time.Second), time.Hour)
		t := time.NewTicker(every)
		defer t.Stop()
		prune = t.C
		a.Prune(context.Background())
	}
	for {
		select {
		case <-a.stop:
			return
		case <-check.C:
			a.store.checkFile()
		case <-prune:
			a.Prune(context.Background())
		}
	}
}

// Prune deletes the events older than the retention (none without one)
// and says how many.
func (a *Audit) Prune(ctx context.Context) (int64, error) {
	if a == nil || a.opts.Retention <= 0 {
		return 0, nil
	}
	n, err := a.store.pruneAudit(ctx, time.Now().UTC().Add(-a.opts.Retention))
	if err != nil {
		a.store.health.report(fmt.Errorf("deleting audit events past audit.retention: %w", err))
	}
	return n, err
}

// Healthy is nil while the audit log is written and the state file is in
// place, else why not (the server's status is then DEGRADED).
func (a *Audit) Healthy() error {
	if a == nil {
		return nil
	}
	return a.store.health.err()
}

// ErrAuditUnavailable marks the refusal of a query while the audit log
// cannot be written and audit.fail_closed is set.
var ErrAuditUnavailable = errors.New("the audit log cannot be written")

// Refusal is why a new query must be refused — the audit log cannot be
// written and FailClosed is set — else nil: marked ErrAuditUnavailable
// (REST answers 503), with the SQLSTATE of the cause (auditHealth.refusal).
func (a *Audit) Refusal() error {
	if a == nil {
		return nil
	}
	return a.store.health.refusal("new queries are refused")
}

// Failures is how many audit writes have failed since the start.
func (a *Audit) Failures() int64 {
	if a == nil {
		return 0
	}
	return a.store.health.failureCount()
}

// Close writes what is queued and stops.
func (a *Audit) Close() {
	if a == nil {
		return
	}
	a.once.Do(func() { close(a.queue); close(a.stop) })
	a.wg.Wait()
}

// Sync waits until the events queued so far are written, so that a read
// sees them.
func (a *Audit) Sync() {
	if a == nil {
		return
	}
	done := make(chan struct{})
	a.Log(AuditEvent{Kind: "sync", sync: done})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// SetAuditFailClosed says whether changes to credentials, keys and
// tenants are refused while the audit log cannot be written (what
// audit.fail_closed sets; NewAuditWith sets it from its options, a
// management command that writes the store without the audit writer
// sets it itself).
func (s *Store) SetAuditFailClosed(on bool) {
	s.health.mu.Lock()
	s.health.opts.FailClosed = on
	s.health.mu.Unlock()
}

// auditEvent fills an event's time, outcome and tenant.
func auditEvent(e AuditEvent) AuditEvent {
	e.Time = time.Now().UTC()
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	if e.TenantID == "" {
		e.TenantID = DefaultTenant
	}
	return e
}

// logChange records a change to a credential or key, synchronously,
// with the change events whose write failed before; when the write
// fails they are all kept for a retry (the audit writer's next flush, or
// the next change), as query events are.
func (s *Store) logChange(ctx context.Context, e AuditEvent) {
	events := append(s.health.takeKept(), auditEvent(e))
	err := s.insertAudit(ctx, events)
	s.health.wrote(err, len(events))
	if err != nil {
		s.health.keep(events)
	}
}

// change makes a change to a credential, key or tenant (do) and records
// e for it. Fail-open, the change is made and its event written after it
// (kept for a retry if that fails). Fail-closed (audit.fail_closed), a
// change is refused while the audit log is known not to be written, and
// otherwise made in one transaction with its event: when the event
// cannot be written the change is not made either, and the error (marked
// ErrAuditUnavailable) says why — no change is ever left unaudited.
func (s *Store) change(ctx context.Context, e AuditEvent, do func(ctx context.Context) error) error {
	if !s.health.failClosed() {
		if err := do(ctx); err != nil {
			return err
		}
		s.logChange(ctx, e)
		return nil
	}
	if err := s.health.refusal("changes are refused"); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	tctx := context.WithValue(ctx, txKey{}, tx)
	if err := do(tctx); err != nil {
		return err
	}
	kept := s.health.takeKept()
	events := append(kept, auditEvent(e))
	err = s.insertAuditIn(tctx, tx, events)
	if err == nil {
		err = tx.Commit()
	}
	s.health.wrote(err, len(events))
	if err != nil {
		s.health.keep(kept) // this change's own event goes with the change
		return s.health.refusalFor(err, "changes are refused")
	}
	return nil
}

// The pages of the audit log Page returns: DefaultAuditPage events
// unless asked for fewer or more, never more than MaxAuditPage.
const (
	DefaultAuditPage = 1000
	MaxAuditPage     = 10000
)

// AuditLimitError is a page of more than MaxAuditPage events asked for:
// refused, not cut short.
type AuditLimitError struct{ Limit, Max int }

func (e *AuditLimitError) Error() string {
	return fmt.Sprintf("limit %d is above the maximum of %d events per page (page through the log with before_id)", e.Limit, e.Max)
}

// Page returns a page of a tenant's events (of kind, unless ""), newest
// first: at most limit (0: DefaultAuditPage; above MaxAuditPage an
// *AuditLimitError), those with an id below beforeID when it is set.
// next is the beforeID of the following page, 0 when there is none.
func (a *Audit) Page(ctx context.Context, tenant, kind string, limit int, beforeID int64) (events []AuditEvent, next int64, err error) {
	switch {
	case limit > MaxAuditPage:
		return nil, 0, &AuditLimitError{Limit: limit, Max: MaxAuditPage}
	case limit <= 0:
		limit = DefaultAuditPage
	}
	// One more than the page tells whether another follows.
	events, err = a.store.readAudit(ctx, AuditFilter{Tenant: tenant, Kind: kind, Limit: limit + 1, BeforeID: beforeID})
	if err != nil {
		return nil, 0, err
	}
	if len(events) > limit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	return events, next, nil
}

// Recent returns a tenant's latest events (of kind, unless ""), newest
// first: Page's first page.
func (a *Audit) Recent(ctx context.Context, tenant, kind string, limit int) ([]AuditEvent, error) {
	events, _, err := a.Page(ctx, tenant, kind, limit, 0)
	return events, err
}

// AuditFilter says which events Read returns.
type AuditFilter struct {
	Tenant string
	Kind   string // "": every kind
	// CredentialID, when set, keeps only that credential's events (what a
	// principal without scope audit:read sees).
	CredentialID string
	// Limit is the most events returned, newest first; 0: all of them.
	Limit int
	// BeforeID, when set, keeps only events with a lower id (the next
	// page of a log read newest first).
	BeforeID int64
}

// Read returns the events f selects, newest first.
func (a *Audit) Read(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	return a.store.readAudit(ctx, f)
}

func (s *Store) migrateAudit(ctx context.Context) error {
	if s.postgres {
		_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS audit_log (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  action        TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  tenant_id     TEXT NOT NULL,
  credential_id TEXT NOT NULL DEFAULT '',
  api_key_id    TEXT NOT NULL DEFAULT '',
  username      TEXT NOT NULL DEFAULT '',
  address       TEXT NOT NULL DEFAULT '',
  object        TEXT NOT NULL DEFAULT '',
  fingerprint   TEXT NOT NULL DEFAULT '',
  statement     TEXT NOT NULL DEFAULT '',
  warehouse_sql TEXT NOT NULL DEFAULT '',
  rows          BIGINT NOT NULL DEFAULT 0,
  duration_ms   DOUBLE PRECISION NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log(tenant_id, id);
CREATE OR REPLACE FUNCTION cubegate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Only the retention's deletion, in its transaction, of rows older than its cutoff.
  IF TG_OP = 'DELETE' AND OLD.time < current_setting('cubegate.audit_prune_before', true) THEN RETURN OLD; END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION cubegate_audit_append_only();`)
		if err != nil {
			return err
		}
		return s.addAuditColumns(ctx)
	}
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS audit_log (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  time          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  action        TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  tenant_id     TEXT NOT NULL,
  credential_id TEXT NOT NULL DEFAULT '',
  api_key_id    TEXT NOT NULL DEFAULT '',
  username      TEXT NOT NULL DEFAULT '',
  address       TEXT NOT NULL DEFAULT '',
  object        TEXT NOT NULL DEFAULT '',
  fingerprint   TEXT NOT NULL DEFAULT '',
  statement     TEXT NOT NULL DEFAULT '',
  warehouse_sql TEXT NOT NULL DEFAULT '',
  rows          INTEGER NOT NULL DEFAULT 0,
  duration_ms   REAL NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log(tenant_id, id);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_prune (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  before TEXT NOT NULL DEFAULT ''
);
INSERT OR IGNORE INTO audit_prune(id, before) VALUES (1, '');
-- Only the retention's deletion, in its transaction, of rows older than its cutoff.
DROP TRIGGER IF EXISTS audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN old.time >= (SELECT before FROM audit_prune WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)
	if err != nil {
		return err
	}
	return s.addAuditColumns(ctx)
}

// addAuditColumns adds the audit log's columns added after its first
// release (an existing log upgrades in place; its rows read as "").
func (s *Store) addAuditColumns(ctx context.Context) error {
	for _, c := range []string{"code", "served"} {
		if err := s.addColumn(ctx, "audit_log", c, "TEXT NOT NULL DEFAULT ''"); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) insertAudit(ctx context.Context, events []AuditEvent) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.insertAuditIn(ctx, tx, events); err != nil {
		return err
	}
	return tx.Commit()
}

// insertAuditIn writes events in tx.
func (s *Store) insertAuditIn(ctx context.Context, tx *sql.Tx, events []AuditEvent) error {
	// Rows go in by the hundred: one statement per chunk, not per row.
	const chunk = 100
	for len(events) > 0 {
		n := min(len(events), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_log(time, kind, action, outcome, tenant_id, credential_id, api_key_id,
		username, address, object, fingerprint, statement, warehouse_sql, rows, duration_ms, error, code, served) VALUES `)
		args := make([]any, 0, n*18)
		for i, e := range events[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			if e.Normalize != nil {
				e.Statement, e.Fingerprint = e.Normalize()
			}
			args = append(args, e.Time.Format(time.RFC3339Nano), e.Kind, e.Action, e.Outcome, e.TenantID, e.CredentialID,
				e.APIKeyID, e.Username, e.Address, e.Object, e.Fingerprint, e.Statement, e.WarehouseSQL, e.Rows, e.DurationMS, e.Error, e.Code, e.Served)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(b.String()), args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

func (s *Store) readAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := `SELECT id, time, kind, action, outcome, tenant_id, credential_id, api_key_id, username, address, object, fingerprint,
		statement, warehouse_sql, rows, duration_ms, error, code, served FROM audit_log WHERE tenant_id = ?`
	args := []any{f.Tenant}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.CredentialID != "" {
		q += ` AND credential_id = ?`
		args = append(args, f.CredentialID)
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEvent{}
	for rows.Next() {
		var e AuditEvent
		var t string
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.Action, &e.Outcome, &e.TenantID, &e.CredentialID, &e.APIKeyID, &e.Username,
			&e.Address, &e.Object, &e.Fingerprint, &e.Statement, &e.WarehouseSQL, &e.Rows, &e.DurationMS, &e.Error, &e.Code, &e.Served); err != nil {
			return nil, err
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// pruneAudit deletes the events older than before: the append-only
// triggers let a deletion through only in this transaction and only
// below its cutoff.
func (s *Store) pruneAudit(ctx context.Context, before time.Time) (int64, error) {
	cutoff := before.UTC().Format(time.RFC3339Nano)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if s.postgres {
		_, err = tx.ExecContext(ctx, `SELECT set_config('cubegate.audit_prune_before', $1, true)`, cutoff)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE audit_prune SET before = ? WHERE id = 1`, cutoff)
	}
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM audit_log WHERE time < ?`), cutoff)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if !s.postgres {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_prune SET before = '' WHERE id = 1`); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// auditHealth is whether the audit log is written and the state file is
// in place: what Audit.Healthy reports and the status shows.
type auditHealth struct {
	mu       sync.Mutex
	opts     AuditOptions
	failures int64 // failed writes since the start
	dropped  int64 // events given up on while writes failed
	failing  error // the last write's error, nil once one succeeds
	since    time.Time
	unlogged int64 // failures since Log last reported
	loggedAt time.Time
	gap      int64 // failed writes not yet recorded in the log itself
	fileErr  error // the state file's problem
	// kept are change events whose synchronous write failed, for the
	// next write to retry.
	kept []AuditEvent
}

// keep holds change events for a retry (the oldest given up on, and
// counted, past maxPending).
func (h *auditHealth) keep(events []AuditEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kept = append(h.kept, events...)
	if over := len(h.kept) - maxPending; over > 0 {
		h.dropped += int64(over)
		h.kept = append(h.kept[:0], h.kept[over:]...)
	}
}

// takeKept hands the kept change events to a write.
func (h *auditHealth) takeKept() []AuditEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.kept
	h.kept = nil
	return kept
}

func (h *auditHealth) failClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opts.FailClosed
}

// refusal is, fail-closed and while the audit log cannot be written or
// the state file is gone, the error refusing what must be audited (what
// says what is refused), else nil.
func (h *auditHealth) refusal(what string) error {
	h.mu.Lock()
	closed, failing, fileErr := h.opts.FailClosed, h.failing, h.fileErr
	h.mu.Unlock()
	if !closed || failing == nil && fileErr == nil {
		return nil
	}
	return h.refusalFor(failing, what)
}

// refusalFor is the refusal for an audit write that failed with cause,
// its SQLSTATE chosen by the cause's type: 53100 disk_full when the
// store is out of space (SQLite's SQLITE_FULL, PostgreSQL's 53100,
// ENOSPC), else 58030 io_error — class 58 is PostgreSQL's "system error
// (errors external to PostgreSQL itself)", which an unreachable state
// store or a vanished state file is: the client did nothing wrong and the
// statement may succeed later, and telling a full disk when the network
// is down would send operators to the wrong place. Marked
// ErrAuditUnavailable (503 AUDIT_UNAVAILABLE on HTTP).
func (h *auditHealth) refusalFor(cause error, what string) error {
	code := pgerrcode.IOError
	if diskFull(cause) {
		code = pgerrcode.DiskFull
	}
	return pgerr.New(code, "the audit log cannot be written: %s until it can (audit.fail_closed)", what).
		WithHint("the server's status says why").Mark(ErrAuditUnavailable)
}

// diskFull tells, by its type, whether err is the store running out of
// space.
func diskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgerrcode.DiskFull
	}
	return errors.Is(err, syscall.ENOSPC)
}

func (h *auditHealth) configure(o AuditOptions) {
	h.mu.Lock()
	h.opts = o
	h.mu.Unlock()
}

// wrote records a write's outcome.
func (h *auditHealth) wrote(err error, events int) {
	h.mu.Lock()
	var log func()
	if err != nil {
		h.failures++
		h.gap++
		h.unlogged++
		if h.failing == nil {
			h.since = time.Now()
		}
		h.failing = err
		if h.opts.Log != nil && time.Since(h.loggedAt) >= h.opts.LogEvery {
			n, f := h.unlogged, h.opts.Log
			h.unlogged, h.loggedAt = 0, time.Now()
			log = func() { f(fmt.Errorf("writing %d audit events: %w", events, err), n) }
		}
	} else if h.failing != nil {
		h.failing = nil
		if f := h.opts.Log; f != nil {
			log = func() { f(nil, 0) }
		}
	}
	onFailure := h.opts.OnFailure
	h.mu.Unlock()
	if err != nil && onFailure != nil {
		onFailure(err)
	}
	if log != nil {
		log()
	}
}

func (h *auditHealth) drop(n int) {
	h.mu.Lock()
	h.dropped += int64(n)
	h.mu.Unlock()
}

// notice is the event recording, in the log itself, the writes that
// failed since the last such event was written (gap: how many; 0: none).
func (h *auditHealth) notice() (e AuditEvent, gap int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gap == 0 {
		return AuditEvent{}, 0
	}
	return AuditEvent{Time: time.Now().UTC(), Kind: "audit", Action: "write_failed", Outcome: "error", TenantID: DefaultTenant,
		Rows: h.dropped, Error: fmt.Sprintf("%d audit writes failed since %s; %d events were given up on in all",
			h.gap, h.since.UTC().Format(time.RFC3339), h.dropped)}, h.gap
}

// recorded: a notice of gap failed writes is in the log.
func (h *auditHealth) recorded(gap int64) {
	h.mu.Lock()
	h.gap -= gap
	h.mu.Unlock()
}

// safeCause is a store error as the status may show it: the database's
// own message, never a connection error's user, host or path (the log
// has the whole error).
func safeCause(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Error()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	return "the state store cannot be reached or refused the write (the log says why)"
}

// report logs a problem that does not stop the log being written.
func (h *auditHealth) report(err error) {
	h.mu.Lock()
	f := h.opts.Log
	h.mu.Unlock()
	if f != nil {
		f(err, 0)
	}
}

func (h *auditHealth) failureCount() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures
}

func (h *auditHealth) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	if h.failing != nil {
		errs = append(errs, fmt.Errorf("audit log writes fail since %s (%d failed): %s", h.since.UTC().Format(time.RFC3339), h.failures, safeCause(h.failing)))
	}
	if h.fileErr != nil {
		errs = append(errs, h.fileErr)
	}
	return errors.Join(errs...)
}
