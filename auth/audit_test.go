package auth

import (
	"context"
	"strings"
	"testing"
)

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
