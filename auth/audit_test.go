package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

func countAudit(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.queryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention deletes events older than audit.retention, and only those;
// the log stays append-only for everything else (UPDATE and DELETE
// refused, also after a prune).
func TestAuditRetention(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	if err := s.insertAudit(ctx, []AuditEvent{
		{Time: old, Kind: "query", Action: "sql", Outcome: "ok", TenantID: DefaultTenant},
		{Time: old.Add(time.Hour), Kind: "query", Action: "sql", Outcome: "ok", TenantID: DefaultTenant},
		{Time: time.Now().UTC(), Kind: "query", Action: "sql", Outcome: "ok", TenantID: DefaultTenant},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("a DELETE outside the retention went through")
	}
	a := NewAuditWith(s, AuditOptions{Retention: 90 * 24 * time.Hour})
	defer a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for countAudit(t, s) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := countAudit(t, s); n != 1 {
		t.Fatalf("%d events after the retention ran at start, want 1", n)
	}
	if _, err := s.exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("a DELETE after a prune went through")
	}
	if _, err := s.exec(ctx, `UPDATE audit_log SET statement = 'x'`); err == nil {
		t.Fatal("an UPDATE went through")
	}
	if n, err := a.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("a second prune: %d %v", n, err)
	}
}

// A failed audit write is counted, reported (at most once per LogEvery),
// makes Healthy an error and, with FailClosed, Refusal a 53100; the
// events are kept and written once writing works again, after an event
// recording the gap.
func TestAuditWriteFailures(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var logged []string
	var failures int
	a := NewAuditWith(s, AuditOptions{FailClosed: true, LogEvery: time.Hour,
		OnFailure: func(error) { mu.Lock(); failures++; mu.Unlock() },
		Log: func(err error, n int64) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				logged = append(logged, "recovered")
			} else {
				logged = append(logged, err.Error())
			}
		}})
	defer a.Close()
	if a.Healthy() != nil || a.Refusal() != nil {
		t.Fatal("unhealthy at start")
	}
	// The disk is "full": every insert fails.
	if _, err := s.exec(ctx, `CREATE TRIGGER full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.Log(AuditEvent{Kind: "query", Action: "sql", Outcome: "ok", Statement: "kept"})
		a.Sync()
	}
	if err := a.Healthy(); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Healthy while writes fail: %v", err)
	}
	// The trigger refuses the write (a constraint error by type), it is
	// not a full disk: 58030 (TestAuditRefusalByCause has a real one).
	var pe *pgerr.Error
	if err := a.Refusal(); !errors.As(err, &pe) || pe.Code != "58030" || !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("Refusal while writes fail: %v", err)
	}
	mu.Lock()
	if failures < 3 || a.Failures() < 3 || len(logged) != 1 {
		t.Errorf("%d failures told, %d counted, logged %v (want one line: rate-limited)", failures, a.Failures(), logged)
	}
	mu.Unlock()
	// A credential change written synchronously fails too, and counts.
	before := a.Failures()
	s.logChange(ctx, AuditEvent{Kind: "credential", Action: "create"})
	if a.Failures() != before+1 {
		t.Error("a failed synchronous write is not counted")
	}
	// Space again: the kept events are written after the gap's record.
	if _, err := s.exec(ctx, `DROP TRIGGER full`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the writer retries on its tick
	a.Sync()
	if err := a.Healthy(); err != nil {
		t.Fatalf("still unhealthy: %v", err)
	}
	if a.Refusal() != nil {
		t.Fatal("still refusing")
	}
	events, err := a.Read(ctx, AuditFilter{Tenant: DefaultTenant})
	if err != nil {
		t.Fatal(err)
	}
	kept, gaps, change := 0, 0, 0
	for _, e := range events {
		if e.Kind == "credential" && e.Action == "create" {
			change++
		}
		if e.Statement == "kept" {
			kept++
		}
		if e.Kind == "audit" && e.Action == "write_failed" {
			gaps++
		}
	}
	if change != 1 {
		t.Errorf("the credential change whose synchronous write failed is not in the log after recovery (%d)", change)
	}
	if kept != 3 || gaps != 1 {
		t.Fatalf("after recovery: %d kept events, %d gap records (want 3, 1): %+v", kept, gaps, events)
	}
	mu.Lock()
	if logged[len(logged)-1] != "recovered" {
		t.Errorf("recovery not logged: %v", logged)
	}
	mu.Unlock()
}

// The state file is made 0600; one others could read is tightened with a
// warning; its deletion or replacement makes Healthy an error.
func TestStateFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := OpenStore(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 || len(s.Warnings) != 0 {
		t.Fatalf("a new state file is mode %04o (warnings %v)", fi.Mode().Perm(), s.Warnings)
	}
	s.Close()
	os.Chmod(path, 0o644)
	s, err = OpenStore(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "0644") {
		t.Fatalf("a 0644 state file: mode %04o, warnings %v", fi.Mode().Perm(), s.Warnings)
	}
	var logged []string
	a := NewAuditWith(s, AuditOptions{CheckEvery: 20 * time.Millisecond, Log: func(err error, _ int64) {
		if err != nil {
			logged = append(logged, err.Error())
		}
	}})
	defer a.Close()
	if err := a.Healthy(); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	deadline := time.Now().Add(5 * time.Second)
	for a.Healthy() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Healthy(); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("Healthy after the state file was deleted: %v", err)
	}
	// Replaced by another file: still not the one written to.
	os.WriteFile(path, []byte("x"), 0o600)
	time.Sleep(100 * time.Millisecond)
	if err := a.Healthy(); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("Healthy after the state file was replaced: %v", err)
	}
	if len(logged) < 2 {
		t.Errorf("logged %v", logged)
	}
}

// The audit log takes appends only: the store refuses to change or
// delete an entry.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := NewAudit(s)
	a.Log(AuditEvent{Kind: "login", Action: "sql", Outcome: "failed", Username: "u"})
	a.Sync()
	got, err := a.Recent(ctx, DefaultTenant, "", 10)
	if err != nil || len(got) != 1 || got[0].Outcome != "failed" {
		t.Fatalf("%v %v", got, err)
	}
	for _, q := range []string{`UPDATE audit_log SET outcome = 'ok'`, `DELETE FROM audit_log`} {
		if _, err := s.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	a.Close()
}

// failAuditInserts makes the store refuse every audit insert (a trigger:
// a constraint error by type); the returned func undoes it.
func failAuditInserts(t *testing.T, s *Store) func() {
	t.Helper()
	ctx := context.Background()
	if _, err := s.exec(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit inserts refused'); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := s.exec(ctx, `DROP TRIGGER refuse`); err != nil {
			t.Fatal(err)
		}
	}
}

func auditKinds(t *testing.T, s *Store) map[string]int {
	t.Helper()
	events, err := s.readAudit(context.Background(), AuditFilter{Tenant: DefaultTenant})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range events {
		n[e.Kind+"/"+e.Action]++
	}
	return n
}

// Fail-open, a credential or key change whose audit write fails is made
// and its event kept for a retry (review of issue #21: it was only
// counted): the next change writes it, and so does the audit writer's
// next flush.
func TestAuditChangeEventsKept(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, err := NewService(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeyService(s, 100)
	defer ks.Close()
	restore := failAuditInserts(t, s)
	c, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Label: "kept", Database: "db"})
	if err != nil {
		t.Fatalf("fail-open, the change is made: %v", err)
	}
	if _, _, err := svc.RotatePassword(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(s.health.kept); n != 2 {
		t.Fatalf("%d change events kept, want 2", n)
	}
	restore()
	// The next change writes the kept ones with its own.
	if _, err := ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"load"}}); err != nil {
		t.Fatal(err)
	}
	if k := auditKinds(t, s); k["credential/create"] != 1 || k["credential/rotate"] != 1 || k["api_key/create"] != 1 {
		t.Fatalf("after recovery the log holds %v", k)
	}
	// And the audit writer's flush writes them too.
	restore = failAuditInserts(t, s)
	if err := svc.DeleteCredential(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	restore()
	a := NewAudit(s)
	defer a.Close()
	a.Sync()
	if k := auditKinds(t, s); k["credential/delete"] != 1 || len(s.health.kept) != 0 {
		t.Fatalf("after the writer's flush the log holds %v (%d still kept)", k, len(s.health.kept))
	}
}

// Fail-closed (audit.fail_closed), credential, key and tenant changes
// are refused while the audit log cannot be written — the change and its
// event go in one transaction, so a refused change is not made at all —
// with an error marked ErrAuditUnavailable; once writing works they go
// through again.
func TestAuditFailClosedRefusesChanges(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetAuditFailClosed(true)
	svc, err := NewService(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeyService(s, 100)
	defer ks.Close()
	c, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Label: "before", Database: "db"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	restore := failAuditInserts(t, s)
	refused := func(what string, err error) {
		t.Helper()
		var pe *pgerr.Error
		if !errors.Is(err, ErrAuditUnavailable) || !errors.As(err, &pe) || pe.Code != "58030" {
			t.Errorf("%s while the audit log cannot be written: %v, want ErrAuditUnavailable (58030)", what, err)
		}
	}
	// The first change finds out (its transaction is rolled back), the
	// next ones are refused before they begin.
	_, _, err = svc.CreateCredential(ctx, CreateCredentialInput{Label: "refused", Database: "db"})
	refused("a credential create", err)
	_, _, err = svc.RotatePassword(ctx, c.ID)
	refused("a rotation", err)
	refused("a credential delete", svc.DeleteCredential(ctx, c.ID))
	_, err = ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"load"}})
	refused("a key create", err)
	_, err = ks.Revoke(ctx, DefaultTenant, k.ID)
	refused("a key revoke", err)
	_, err = s.CreateTenant(ctx, "acme", "", "op")
	refused("a tenant create", err)
	// Nothing was changed.
	creds, err := svc.ListCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 || creds[0].ID != c.ID {
		t.Fatalf("credentials after refused changes: %+v", creds)
	}
	if got, err := ks.Get(ctx, DefaultTenant, k.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("the key after a refused revoke: %+v %v", got, err)
	}
	if _, err := s.Tenant(ctx, "acme"); err == nil {
		t.Fatal("a refused tenant create made the tenant")
	}
	// Writing works again (the audit writer's next write clears the
	// failure): changes go through, audited.
	restore()
	a := NewAuditWith(s, AuditOptions{FailClosed: true})
	defer a.Close()
	a.Log(AuditEvent{Kind: "query", Action: "sql"})
	a.Sync()
	if _, err := ks.Revoke(ctx, DefaultTenant, k.ID); err != nil {
		t.Fatalf("a revoke once the audit log is written: %v", err)
	}
	if k := auditKinds(t, s); k["api_key/revoke"] != 1 || k["credential/create"] != 1 {
		t.Fatalf("the log after recovery: %v", k)
	}
}

// The refusal's SQLSTATE is chosen by the cause's type: a store out of
// space (a real SQLITE_FULL: the file at its max_page_count; PostgreSQL's
// 53100; ENOSPC) is 53100 disk_full, anything else — an unreachable
// PostgreSQL state store, a refused write, a vanished state file — 58030
// io_error (review of issue #21: it was always 53100).
func TestAuditRefusalByCause(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenStore(ctx, "sqlite://"+path+"?_pragma=max_page_count(500)")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := NewAuditWith(s, AuditOptions{FailClosed: true})
	defer a.Close()
	fillStateFile(t, path, 500)
	var pe *pgerr.Error
	for i := 0; a.Refusal() == nil; i++ {
		if i == 1000 {
			t.Fatal("the full state file still takes audit events")
		}
		a.Log(AuditEvent{Kind: "query", Action: "sql", Statement: strings.Repeat("x", 500)})
		a.Sync()
	}
	if err := a.Refusal(); !errors.As(err, &pe) || pe.Code != "53100" || !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("Refusal with the state file full: %v, want 53100", err)
	}
	h := &auditHealth{}
	for _, tc := range []struct {
		cause error
		code  string
	}{
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, "53100"},
		{fmt.Errorf("write: %w", syscall.ENOSPC), "53100"},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection"}, "58030"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "58030"},
		{sql.ErrConnDone, "58030"},
		{errors.New("database or disk is full"), "58030"}, // the text decides nothing
	} {
		if err := h.refusalFor(tc.cause, "x"); !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("refusal for %v: %v, want %s", tc.cause, err, tc.code)
		}
	}
}

// fillStateFile grows the SQLite file at path past pages pages from a
// connection of its own (no max_page_count), so that a connection
// limited to pages gets SQLITE_FULL once it needs a new page.
func fillStateFile(t *testing.T, path string, pages int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf(`CREATE TABLE filler(b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO filler SELECT randomblob(4000) FROM n`, pages+50)); err != nil {
		t.Fatal(err)
	}
}
