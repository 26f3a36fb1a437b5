package auth

import (
	"context"
	"errors"
	"slices"
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

// TestMemberSecurity: the security context a credential acting for a
// member reads with is the member's credentials' (in the tenant), kept
// through the store with the act_as flag; none is ErrNotFound, two
// different ones an error.
func TestMemberSecurity(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := NewService(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	only := SecurityContext{Allow: []string{"orders"}}
	for _, in := range []CreateCredentialInput{
		{Database: "demo", Member: "alice", Security: only},
		{Database: "demo", Member: "alice", Security: only},
		{Database: "demo", Member: "bob", Security: only},
		{Database: "demo", Member: "bob"},
		{Database: "demo", ActAs: true},
	} {
		if _, _, err := svc.CreateCredential(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if sec, err := svc.MemberSecurity(ctx, DefaultTenant, "alice"); err != nil || sec.String() != only.String() {
		t.Fatalf("alice: %v %v", sec, err)
	}
	if _, err := svc.MemberSecurity(ctx, DefaultTenant, "bob"); err == nil {
		t.Fatal("bob's two contexts: no error")
	}
	if _, err := svc.MemberSecurity(ctx, DefaultTenant, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("carol: %v", err)
	}
	if _, err := svc.MemberSecurity(ctx, "acme", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice in another tenant: %v", err)
	}
	creds, _ := svc.ListCredentials(ctx)
	acting := 0
	for _, c := range creds {
		if c.ActAs {
			acting++
		}
	}
	if acting != 1 {
		t.Fatalf("%d credentials act for others after the store, want 1", acting)
	}
}

// A credential's scopes (audit:read, sql) go through the store — create,
// read, update — and nothing else is a credential scope.
func TestCredentialScopes(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := NewService(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Database: "demo", Scopes: []string{"sql", "audit:read", "sql"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetCredential(ctx, c.ID)
	if err != nil || !slices.Equal(got.Scopes, []string{"audit:read", "sql"}) || !got.principal().Holds("sql") {
		t.Fatalf("stored scopes: %v %v", got.Scopes, err)
	}
	if _, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Database: "demo", Scopes: []string{"admin"}}); !errors.Is(err, ErrCredentialScope) {
		t.Fatalf("a credential with scope admin: %v", err)
	}
	none := []string{}
	if _, err := svc.UpdateCredential(ctx, c.ID, UpdateCredentialInput{Scopes: &none}); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.GetCredential(ctx, c.ID); len(got.Scopes) != 0 || got.principal().Holds("sql") {
		t.Fatalf("scopes after removing them: %v", got.Scopes)
	}
	// A credential made before scopes existed holds none.
	plain, _, _ := svc.CreateCredential(ctx, CreateCredentialInput{Database: "demo"})
	if got, _ := svc.GetCredential(ctx, plain.ID); len(got.Scopes) != 0 {
		t.Fatalf("a plain credential's scopes: %v", got.Scopes)
	}
}
