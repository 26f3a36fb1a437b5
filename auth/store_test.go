package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A unique violation is recognized by the driver's code, not its text.
func TestUniqueViolation(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := Credential{ID: "c1", TenantID: "default", Username: "u_dup", Label: "x", Database: "db", CreatedAt: time.Now()}
	if err := s.insertCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.ID = "c2"
	if err := s.insertCredential(ctx, c); !errors.Is(err, errDuplicate) {
		t.Fatalf("the same username twice: %v, want errDuplicate", err)
	}
	if uniqueViolation(errors.New("UNIQUE constraint failed: credentials.username")) {
		t.Fatal("an error's text was taken for the driver's code")
	}
}
