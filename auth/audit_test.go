package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	var pe *pgerr.Error
	if err := a.Refusal(); !errors.As(err, &pe) || pe.Code != "53100" || !errors.Is(err, ErrAuditUnavailable) {
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
	kept, gaps := 0, 0
	for _, e := range events {
		if e.Statement == "kept" {
			kept++
		}
		if e.Kind == "audit" && e.Action == "write_failed" {
			gaps++
		}
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
