// Package auth owns who may connect and what they may do: generated SQL
// credentials stored as SCRAM-SHA-256 verifiers and the SCRAM exchange,
// scoped API keys (a key's scopes are a ceiling for what it creates),
// tenants, IP allow-lists, security contexts and the policy they resolve
// to against a model (policy.go), rate limits and the running-query cap,
// the failed-login throttle, the audit log, and the state store (SQLite
// embedded, or PostgreSQL shared by several gateways) that keeps them.
package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// DefaultTenant is the tenant of a single-tenant install.
const DefaultTenant = "default"

// Credential is a SQL login. The password is never stored: only its SCRAM
// verifier, which cannot be turned back into it.
type Credential struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Username  string    `json:"username"`
	Label     string    `json:"label"`
	Database  string    `json:"database"`
	CreatedAt time.Time `json:"created_at"`
	// Member is the team member the credential belongs to, if any.
	Member string `json:"member,omitempty"`
	// Security limits what the credential reads.
	Security SecurityContext `json:"security_context"`
	// ActAs lets the credential act for a member of its team, as Cube's
	// SQL API's __user does: WHERE __user = 'alice' reads with the
	// security context of alice's credentials. Only the operator grants it.
	ActAs bool `json:"act_as,omitempty"`
	// Scopes are what the credential may do beyond reading rows and the
	// catalog: CredentialScopeNames (audit:read: the tenant's whole audit
	// log, not only its own rows; sql: the warehouse SQL in EXPLAIN).
	Scopes   []string `json:"scopes,omitempty"`
	verifier Verifier
}

// CredentialScopeNames are the scopes a SQL credential may hold.
var CredentialScopeNames = []string{"audit:read", "sql"}

// ErrCredentialScope is an unknown credential scope (a caller's error).
var ErrCredentialScope = errors.New("unknown credential scope")

// checkCredentialScopes refuses a scope a credential cannot hold and
// returns the scopes sorted, without duplicates.
func checkCredentialScopes(scopes []string) ([]string, error) {
	for _, sc := range scopes {
		if !slices.Contains(CredentialScopeNames, sc) {
			return nil, fmt.Errorf("%w %q (a credential's scopes: %s)", ErrCredentialScope, sc, strings.Join(CredentialScopeNames, ", "))
		}
	}
	out := slices.Clone(scopes)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Principal is who a session or request acts as, once authenticated.
type Principal struct {
	CredentialID string
	TenantID     string
	Username     string
	Database     string
	Security     SecurityContext
	ActAs        bool     // may act for a member (see Credential.ActAs)
	Scopes       []string // the credential's scopes (Credential.Scopes)
}

// Holds reports whether the principal holds scope.
func (p Principal) Holds(scope string) bool { return slices.Contains(p.Scopes, scope) }

const (
	usernamePrefix   = "cg_"
	usernameLen      = 10
	passwordLen      = 32
	lowerDigits      = "abcdefghijklmnopqrstuvwxyz0123456789"
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomString draws n characters uniformly from alphabet with crypto/rand.
func randomString(n int, alphabet string) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}

// GenerateUsername returns "cg_" and 10 random lowercase letters or digits.
func GenerateUsername() (string, error) {
	s, err := randomString(usernameLen, lowerDigits)
	return usernamePrefix + s, err
}

// GeneratePassword returns 32 random letters and digits (~190 bits): safe
// to paste into a URL without escaping.
func GeneratePassword() (string, error) {
	return randomString(passwordLen, passwordAlphabet)
}

// ErrNotFound is returned when a credential does not exist.
var ErrNotFound = errors.New("not found")

// Service mints credentials and authenticates logins against the store.
type Service struct {
	store *Store
	decoy []byte
}

// NewService returns a Service over store.
func NewService(ctx context.Context, store *Store) (*Service, error) {
	secret, err := store.serverSecret(ctx)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, decoy: secret}, nil
}

// CreateCredentialInput describes a credential to mint.
type CreateCredentialInput struct {
	Label    string
	Database string
	TenantID string
	// Member optionally binds the credential to a member of the team.
	Member   string
	Security SecurityContext
	// ActAs: see Credential.ActAs.
	ActAs bool
	// Scopes: see Credential.Scopes.
	Scopes []string
	// by is the actor the audit event names ("": the credential itself,
	// the operator's change).
	by string
}

// actorName is how a change's audit event names actor (or, for the
// operator's own changes).
func actorName(actor *Actor, or string) string {
	if actor == nil {
		return or
	}
	return actor.Kind + ":" + actor.ID
}

// CreateCredential mints a credential with a generated username and
// password. The password is returned here and nowhere else.
func (s *Service) CreateCredential(ctx context.Context, in CreateCredentialInput) (Credential, string, error) {
	if in.Database == "" {
		return Credential{}, "", errors.New("a credential needs a database (data source) name")
	}
	if in.TenantID == "" {
		in.TenantID = DefaultTenant
	}
	scopes, err := checkCredentialScopes(in.Scopes)
	if err != nil {
		return Credential{}, "", err
	}
	if _, err := s.store.Tenant(ctx, in.TenantID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Credential{}, "", fmt.Errorf("tenant %q does not exist", in.TenantID)
		}
		return Credential{}, "", err
	}
	password, err := GeneratePassword()
	if err != nil {
		return Credential{}, "", err
	}
	v, err := NewVerifier(password)
	if err != nil {
		return Credential{}, "", err
	}
	for attempt := 0; ; attempt++ {
		username, err := GenerateUsername()
		if err != nil {
			return Credential{}, "", err
		}
		c := Credential{
			ID:        uuid.NewString(),
			TenantID:  in.TenantID,
			Username:  username,
			Label:     in.Label,
			Database:  in.Database,
			CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
			Security:  in.Security,
			Member:    in.Member,
			ActAs:     in.ActAs,
			Scopes:    scopes,
			verifier:  v,
		}
		err = s.store.change(ctx, AuditEvent{Kind: "credential", Action: "create", TenantID: c.TenantID, Object: c.ID, Username: cmp.Or(in.by, c.Username)},
			func(ctx context.Context) error { return s.store.insertCredential(ctx, c) })
		if errors.Is(err, errDuplicate) && attempt < 3 {
			continue // 36^10 names: a clash is next to impossible, but not an error
		}
		if err != nil {
			return Credential{}, "", err
		}
		return c, password, nil
	}
}

// CredentialRequest is a credential an actor asks for: its tenant is the
// actor's, and a nil Security inherits the actor's security context.
type CredentialRequest struct {
	Label    string
	Database string
	Member   string
	Security *SecurityContext
	// Scopes: see Credential.Scopes; only scopes the actor holds.
	Scopes []string
}

// CreateCredentialAs mints a credential on behalf of actor, in its tenant
// and within its ceiling (see Ceiling). The password is returned here and
// nowhere else.
func (s *Service) CreateCredentialAs(ctx context.Context, actor Actor, req CredentialRequest) (Credential, string, error) {
	in := CreateCredentialInput{Label: req.Label, Database: req.Database, TenantID: actor.TenantID, Member: req.Member, Security: actor.Security.clone(), Scopes: req.Scopes,
		by: actorName(&actor, "")}
	if req.Security != nil {
		in.Security = *req.Security
	}
	if in.Database == "" {
		return Credential{}, "", errors.New("a credential needs a database (data source) name")
	}
	if _, err := checkCredentialScopes(in.Scopes); err != nil {
		return Credential{}, "", err
	}
	if err := Ceiling(actor, CredentialGrant(Credential{TenantID: in.TenantID, Database: in.Database, Security: in.Security, Scopes: in.Scopes})); err != nil {
		return Credential{}, "", err
	}
	return s.CreateCredential(ctx, in)
}

// credentialOf reads a credential of actor's tenant (ErrNotFound for
// another tenant's).
func (s *Service) credentialOf(ctx context.Context, actor Actor, id string) (Credential, error) {
	c, err := s.store.credentialByID(ctx, id)
	if err == nil && c.TenantID != cmp.Or(actor.TenantID, DefaultTenant) {
		return Credential{}, ErrNotFound
	}
	return c, err
}

// UpdateCredentialAs changes a credential of actor's tenant on its
// behalf: the credential, once changed, must be within the actor's
// ceiling (see Ceiling).
func (s *Service) UpdateCredentialAs(ctx context.Context, actor Actor, id string, in UpdateCredentialInput) (Credential, error) {
	c, err := s.credentialOf(ctx, actor, id)
	if err != nil {
		return c, err
	}
	// A credential wider than the actor is not the actor's to change,
	// even to narrow it (then to rotate it and log in as it).
	if err := Ceiling(actor, CredentialGrant(c)); err != nil {
		return c, err
	}
	return s.updateCredential(ctx, c, in, &actor)
}

// DeleteCredentialAs deletes a credential of actor's tenant on its
// behalf: only one within the actor's ceiling.
func (s *Service) DeleteCredentialAs(ctx context.Context, actor Actor, id string) error {
	c, err := s.credentialOf(ctx, actor, id)
	if err != nil {
		return err
	}
	if err := Ceiling(actor, CredentialGrant(c)); err != nil {
		return err
	}
	return s.deleteCredential(ctx, c.ID, actorName(&actor, ""))
}

// RotatePasswordAs gives a credential of actor's tenant a new password on
// its behalf: only a credential within the actor's ceiling (the password
// opens all it reads).
func (s *Service) RotatePasswordAs(ctx context.Context, actor Actor, id string) (Credential, string, error) {
	c, err := s.credentialOf(ctx, actor, id)
	if err != nil {
		return c, "", err
	}
	if err := Ceiling(actor, CredentialGrant(c)); err != nil {
		return c, "", err
	}
	return s.rotatePassword(ctx, c.ID, actorName(&actor, ""))
}

// ListCredentials returns every credential, oldest first.
func (s *Service) ListCredentials(ctx context.Context) ([]Credential, error) {
	return s.store.listCredentials(ctx)
}

// SCRAMExchange is one login attempt.
type SCRAMExchange struct {
	*SCRAMServer
	principal Principal
}

// Principal returns who authenticated; valid once Next reported done.
func (e *SCRAMExchange) Principal() Principal { return e.principal }

// CheckPassword authenticates a cleartext password (the server's side of
// the cleartext method, allowed only over TLS). An unknown user costs the
// same as a wrong password.
func (s *Service) CheckPassword(ctx context.Context, user, password string) (Principal, bool, error) {
	c, err := s.store.credentialByUsername(ctx, user)
	if errors.Is(err, ErrNotFound) {
		CheckPassword(decoyVerifier(s.decoy, user), password)
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, fmt.Errorf("credential lookup: %w", err)
	}
	if !CheckPassword(c.verifier, password) {
		return Principal{}, false, nil
	}
	return c.principal(), true, nil
}

// BeginSCRAM starts a SCRAM-SHA-256 exchange for user. An unknown user gets
// an exchange against a decoy verifier that fails at the proof exactly as a
// wrong password does, so nobody can probe which users exist.
func (s *Service) BeginSCRAM(ctx context.Context, user string) (*SCRAMExchange, error) {
	c, err := s.store.credentialByUsername(ctx, user)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("credential lookup: %w", err)
	}
	v := c.verifier
	if !known {
		v = decoyVerifier(s.decoy, user)
	}
	srv, err := NewSCRAMServer(v, known, "")
	if err != nil {
		return nil, err
	}
	return &SCRAMExchange{SCRAMServer: srv, principal: c.principal()}, nil
}

func (c Credential) principal() Principal {
	return Principal{CredentialID: c.ID, TenantID: c.TenantID, Username: c.Username, Database: c.Database, Security: c.Security, ActAs: c.ActAs,
		Scopes: slices.Clone(c.Scopes)}
}

// GetCredential returns a credential by id or username.
func (s *Service) GetCredential(ctx context.Context, id string) (Credential, error) {
	return s.store.credentialByID(ctx, id)
}

// UpdateCredentialInput changes a credential; nil fields stay.
type UpdateCredentialInput struct {
	Label    *string
	Database *string
	Member   *string
	Security *SecurityContext
	// Scopes replaces the credential's scopes (an empty list: none).
	Scopes *[]string
}

// UpdateCredential edits a credential's label, data source or security
// context, with the operator's power (the CLI); sessions opened after it
// see the change.
func (s *Service) UpdateCredential(ctx context.Context, id string, in UpdateCredentialInput) (Credential, error) {
	c, err := s.store.credentialByID(ctx, id)
	if err != nil {
		return c, err
	}
	return s.updateCredential(ctx, c, in, nil)
}

func (s *Service) updateCredential(ctx context.Context, c Credential, in UpdateCredentialInput, actor *Actor) (Credential, error) {
	if in.Label != nil {
		c.Label = *in.Label
	}
	if in.Database != nil {
		if *in.Database == "" {
			return c, errors.New("a credential needs a database (data source) name")
		}
		c.Database = *in.Database
	}
	if in.Security != nil {
		c.Security = *in.Security
	}
	if in.Member != nil {
		c.Member = *in.Member
	}
	if in.Scopes != nil {
		scopes, err := checkCredentialScopes(*in.Scopes)
		if err != nil {
			return c, err
		}
		c.Scopes = scopes
	}
	if actor != nil {
		if err := Ceiling(*actor, CredentialGrant(c)); err != nil {
			return c, err
		}
	}
	if err := s.store.change(ctx, AuditEvent{Kind: "credential", Action: "update", TenantID: c.TenantID, Object: c.ID, Username: actorName(actor, c.Username)},
		func(ctx context.Context) error { return s.store.updateCredential(ctx, c) }); err != nil {
		return c, err
	}
	return c, nil
}

// RotatePassword gives a credential a new password, returned here only;
// the old one stops working at once.
func (s *Service) RotatePassword(ctx context.Context, id string) (Credential, string, error) {
	return s.rotatePassword(ctx, id, "")
}

func (s *Service) rotatePassword(ctx context.Context, id, by string) (Credential, string, error) {
	c, err := s.store.credentialByID(ctx, id)
	if err != nil {
		return c, "", err
	}
	password, err := GeneratePassword()
	if err != nil {
		return c, "", err
	}
	if c.verifier, err = NewVerifier(password); err != nil {
		return c, "", err
	}
	if err := s.store.change(ctx, AuditEvent{Kind: "credential", Action: "rotate", TenantID: c.TenantID, Object: c.ID, Username: cmp.Or(by, c.Username)},
		func(ctx context.Context) error { return s.store.updateCredential(ctx, c) }); err != nil {
		return c, "", err
	}
	return c, password, nil
}

// DeleteCredential removes a credential: its next login fails.
func (s *Service) DeleteCredential(ctx context.Context, id string) error {
	return s.deleteCredential(ctx, id, "")
}

func (s *Service) deleteCredential(ctx context.Context, id, by string) error {
	c, err := s.store.credentialByID(ctx, id)
	if err != nil {
		return err
	}
	return s.store.change(ctx, AuditEvent{Kind: "credential", Action: "delete", TenantID: c.TenantID, Object: c.ID, Username: cmp.Or(by, c.Username)},
		func(ctx context.Context) error { return s.store.deleteCredential(ctx, c.ID) })
}

// MemberSecurity is the security context a credential acting for member
// reads with (Credential.ActAs): that of the member's credentials in the
// tenant. A member without one is ErrNotFound; credentials of the member
// with different contexts are an error — which one would be meant?
func (s *Service) MemberSecurity(ctx context.Context, tenant, member string) (SecurityContext, error) {
	creds, err := s.store.listCredentials(ctx)
	if err != nil {
		return SecurityContext{}, err
	}
	var found *SecurityContext
	for _, c := range creds {
		if c.TenantID != tenant || c.Member != member || member == "" {
			continue
		}
		if found != nil && found.String() != c.Security.String() {
			return SecurityContext{}, fmt.Errorf("member %q has credentials with different security contexts", member)
		}
		sec := c.Security
		found = &sec
	}
	if found == nil {
		return SecurityContext{}, ErrNotFound
	}
	return *found, nil
}
