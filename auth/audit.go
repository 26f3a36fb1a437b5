package auth

import (
	"context"
	"strings"
	"sync"
	"time"
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
	// Normalize, when set, fills Statement and Fingerprint in the writer
	// goroutine (normalizing costs more than a request should wait for).
	Normalize func() (statement, fingerprint string) `json:"-"`
	sync      chan struct{}
}

// Audit writes the audit log.
type Audit struct {
	store *Store
	queue chan AuditEvent
	wg    sync.WaitGroup
	once  sync.Once
}

// NewAudit starts the audit writer.
func NewAudit(store *Store) *Audit {
	a := &Audit{store: store, queue: make(chan AuditEvent, 4096)}
	a.wg.Add(1)
	go a.run()
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

func (a *Audit) run() {
	defer a.wg.Done()
	var batch []AuditEvent
	flush := func() {
		if len(batch) > 0 {
			_ = a.store.insertAudit(context.Background(), batch)
			batch = batch[:0]
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

// Close writes what is queued and stops.
func (a *Audit) Close() {
	if a == nil {
		return
	}
	a.once.Do(func() { close(a.queue) })
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

// logChange records a change to a credential or key, synchronously.
func (s *Store) logChange(ctx context.Context, e AuditEvent) {
	e.Time = time.Now().UTC()
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	if e.TenantID == "" {
		e.TenantID = DefaultTenant
	}
	_ = s.insertAudit(ctx, []AuditEvent{e})
}

// Recent returns a tenant's latest events, newest first.
func (a *Audit) Recent(ctx context.Context, tenant, kind string, limit int) ([]AuditEvent, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	return a.store.readAudit(ctx, AuditFilter{Tenant: tenant, Kind: kind, Limit: limit})
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
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION cubegate_audit_append_only();`)
		return err
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
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)
	return err
}

func (s *Store) insertAudit(ctx context.Context, events []AuditEvent) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Rows go in by the hundred: one statement per chunk, not per row.
	const chunk = 100
	for len(events) > 0 {
		n := min(len(events), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_log(time, kind, action, outcome, tenant_id, credential_id, api_key_id,
		username, address, object, fingerprint, statement, warehouse_sql, rows, duration_ms, error) VALUES `)
		args := make([]any, 0, n*16)
		for i, e := range events[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			if e.Normalize != nil {
				e.Statement, e.Fingerprint = e.Normalize()
			}
			args = append(args, e.Time.Format(time.RFC3339Nano), e.Kind, e.Action, e.Outcome, e.TenantID, e.CredentialID,
				e.APIKeyID, e.Username, e.Address, e.Object, e.Fingerprint, e.Statement, e.WarehouseSQL, e.Rows, e.DurationMS, e.Error)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(b.String()), args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return tx.Commit()
}

func (s *Store) readAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := `SELECT id, time, kind, action, outcome, tenant_id, credential_id, api_key_id, username, address, object, fingerprint,
		statement, warehouse_sql, rows, duration_ms, error FROM audit_log WHERE tenant_id = ?`
	args := []any{f.Tenant}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.CredentialID != "" {
		q += ` AND credential_id = ?`
		args = append(args, f.CredentialID)
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
			&e.Address, &e.Object, &e.Fingerprint, &e.Statement, &e.WarehouseSQL, &e.Rows, &e.DurationMS, &e.Error); err != nil {
			return nil, err
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, t)
		out = append(out, e)
	}
	return out, rows.Err()
}
