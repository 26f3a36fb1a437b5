package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The web console's users and sessions. A console user signs in with a
// password kept as a SCRAM-SHA-256 verifier (the same as SQL
// credentials': never the password, never reversible) and holds key
// scopes ("admin", or read scopes), checked as the admin API checks a
// key's. A session is a random 256-bit id in the browser's cookie; the
// store keeps only its SHA-256, so the gateways sharing a state store
// share the sessions and a restart keeps them, and a copy of the store
// signs nobody in.

// ConsoleUser is a console user, never with its password.
type ConsoleUser struct {
	Username  string    `json:"username"`
	TenantID  string    `json:"tenant_id"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	verifier  Verifier
}

// Actor is the user as an actor of the admin API's rules (Ceiling):
// "console_user:NAME" in the audit log.
func (u ConsoleUser) Actor() Actor {
	return Actor{Kind: "console_user", ID: u.Username, TenantID: u.TenantID, Scopes: slices.Clone(u.Scopes)}
}

// ReadOnlyScopes are a read-only console user's scopes.
var ReadOnlyScopes = []string{"meta", "keys:read", "credentials:read", "audit:read"}

// MinConsolePassword is the shortest password a console user may choose.
const MinConsolePassword = 12

var consoleUsername = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// ConsoleUsers keeps the console's users and sessions in the state store.
type ConsoleUsers struct {
	store *Store
	decoy []byte
}

// NewConsoleUsers returns the console's users and sessions over store,
// creating their tables when missing.
func NewConsoleUsers(ctx context.Context, store *Store) (*ConsoleUsers, error) {
	if err := store.migrateConsole(ctx); err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	secret, err := store.serverSecret(ctx)
	if err != nil {
		return nil, err
	}
	return &ConsoleUsers{store: store, decoy: secret}, nil
}

func (s *Store) migrateConsole(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS console_users (
  username   TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL,
  verifier   TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS console_sessions (
  id_hash    TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  principal  TEXT NOT NULL,
  tenant_id  TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  seen_ms    BIGINT NOT NULL
);`)
	return err
}

// CreateUser adds a console user of tenant with scopes (key scopes).
func (c *ConsoleUsers) CreateUser(ctx context.Context, username, tenant, password string, scopes []string, createdBy string) (ConsoleUser, error) {
	if !consoleUsername.MatchString(username) {
		return ConsoleUser{}, fmt.Errorf("user name %q: use up to 128 letters, digits, '.', '_', '@' or '-'", username)
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	if err := checkScopes(scopes); err != nil {
		return ConsoleUser{}, err
	}
	if _, err := c.store.Tenant(ctx, tenant); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ConsoleUser{}, fmt.Errorf("tenant %s does not exist", tenant)
		}
		return ConsoleUser{}, err
	}
	v, err := consoleVerifier(password)
	if err != nil {
		return ConsoleUser{}, err
	}
	u := ConsoleUser{Username: username, TenantID: tenant, Scopes: slices.Clone(scopes), CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		CreatedBy: createdBy, verifier: v}
	err = c.store.change(ctx, AuditEvent{Kind: "console_user", Action: "create", TenantID: tenant, Object: username, Username: createdBy},
		func(ctx context.Context) error {
			_, err := c.store.exec(ctx, `INSERT INTO console_users (username, tenant_id, verifier, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
				u.Username, u.TenantID, v.String(), strings.Join(u.Scopes, " "), u.CreatedAt.Format(time.RFC3339Nano), createdBy)
			if uniqueViolation(err) {
				return fmt.Errorf("console user %s exists", username)
			}
			return err
		})
	return u, err
}

func consoleVerifier(password string) (Verifier, error) {
	if len([]rune(password)) < MinConsolePassword {
		return Verifier{}, fmt.Errorf("a console password needs at least %d characters", MinConsolePassword)
	}
	return NewVerifier(password)
}

const consoleUserColumns = `username, tenant_id, verifier, scopes, created_at, created_by`

func scanConsoleUser(row interface{ Scan(...any) error }) (ConsoleUser, error) {
	var u ConsoleUser
	var verifier, scopes, created string
	if err := row.Scan(&u.Username, &u.TenantID, &verifier, &scopes, &created, &u.CreatedBy); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return u, ErrNotFound
		}
		return u, err
	}
	v, err := ParseVerifier(verifier)
	if err != nil {
		return u, fmt.Errorf("console user %s: %w", u.Username, err)
	}
	u.verifier, u.Scopes = v, strings.Fields(scopes)
	u.CreatedAt, err = time.Parse(time.RFC3339Nano, created)
	return u, err
}

// User reads a console user (ErrNotFound).
func (c *ConsoleUsers) User(ctx context.Context, username string) (ConsoleUser, error) {
	return scanConsoleUser(c.store.queryRow(ctx, `SELECT `+consoleUserColumns+` FROM console_users WHERE username = ?`, username))
}

// Users lists the console users, oldest first.
func (c *ConsoleUsers) Users(ctx context.Context) ([]ConsoleUser, error) {
	rows, err := c.store.query(ctx, `SELECT `+consoleUserColumns+` FROM console_users ORDER BY created_at, username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ConsoleUser{}
	for rows.Next() {
		u, err := scanConsoleUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser deletes a console user and ends its sessions.
func (c *ConsoleUsers) DeleteUser(ctx context.Context, username, by string) error {
	u, err := c.User(ctx, username)
	if err != nil {
		return err
	}
	return c.store.change(ctx, AuditEvent{Kind: "console_user", Action: "delete", TenantID: u.TenantID, Object: username, Username: by},
		func(ctx context.Context) error {
			if _, err := c.store.exec(ctx, `DELETE FROM console_sessions WHERE kind = 'console_user' AND principal = ?`, username); err != nil {
				return err
			}
			_, err := c.store.exec(ctx, `DELETE FROM console_users WHERE username = ?`, username)
			return err
		})
}

// SetPassword changes a console user's password and ends its sessions.
func (c *ConsoleUsers) SetPassword(ctx context.Context, username, password, by string) error {
	u, err := c.User(ctx, username)
	if err != nil {
		return err
	}
	v, err := consoleVerifier(password)
	if err != nil {
		return err
	}
	return c.store.change(ctx, AuditEvent{Kind: "console_user", Action: "rotate", TenantID: u.TenantID, Object: username, Username: by},
		func(ctx context.Context) error {
			if _, err := c.store.exec(ctx, `UPDATE console_users SET verifier = ? WHERE username = ?`, v.String(), username); err != nil {
				return err
			}
			_, err := c.store.exec(ctx, `DELETE FROM console_sessions WHERE kind = 'console_user' AND principal = ?`, username)
			return err
		})
}

// CheckUser verifies a console user's password. An unknown user costs the
// same PBKDF2 as a known one (a decoy verifier), so timing does not tell
// which names exist.
func (c *ConsoleUsers) CheckUser(ctx context.Context, username, password string) (ConsoleUser, bool, error) {
	u, err := c.User(ctx, username)
	switch {
	case errors.Is(err, ErrNotFound):
		CheckPassword(decoyVerifier(c.decoy, "console:"+username), password)
		return ConsoleUser{}, false, nil
	case err != nil:
		return ConsoleUser{}, false, err
	}
	if !CheckPassword(u.verifier, password) {
		return ConsoleUser{}, false, nil
	}
	return u, true, nil
}

// ConsoleSession is a signed-in browser.
type ConsoleSession struct {
	// Kind is "api_key" or "console_user"; Principal the key's id or the
	// user's name.
	Kind      string
	Principal string
	TenantID  string
	CreatedAt time.Time
	LastSeen  time.Time
}

// ErrSessionExpired is a session past its idle timeout or lifetime (it
// is deleted).
var ErrSessionExpired = errors.New("the session expired")

func sessionHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// CreateSession starts a session and returns its id (256 random bits,
// hex), which only the browser keeps. Sessions past lifetime are pruned.
func (c *ConsoleUsers) CreateSession(ctx context.Context, kind, principal, tenant string, now time.Time, lifetime time.Duration) (string, error) {
	id := randomHex(32)
	ms := now.UnixMilli()
	if _, err := c.store.exec(ctx, `INSERT INTO console_sessions (id_hash, kind, principal, tenant_id, created_ms, seen_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		sessionHash(id), kind, principal, tenant, ms, ms); err != nil {
		return "", err
	}
	if lifetime > 0 {
		_, _ = c.store.exec(ctx, `DELETE FROM console_sessions WHERE created_ms < ?`, now.Add(-lifetime).UnixMilli())
	}
	return id, nil
}

// Session looks a session up: ErrNotFound for none, ErrSessionExpired
// (and deleted) past idle since it was last seen or lifetime since it
// began. Its last-seen time moves forward, written at most every
// idle/4 (bounded by a minute) rather than on every request.
func (c *ConsoleUsers) Session(ctx context.Context, id string, now time.Time, idle, lifetime time.Duration) (ConsoleSession, error) {
	var s ConsoleSession
	var created, seen int64
	h := sessionHash(id)
	err := c.store.queryRow(ctx, `SELECT kind, principal, tenant_id, created_ms, seen_ms FROM console_sessions WHERE id_hash = ?`, h).
		Scan(&s.Kind, &s.Principal, &s.TenantID, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, err
	}
	s.CreatedAt, s.LastSeen = time.UnixMilli(created).UTC(), time.UnixMilli(seen).UTC()
	if (idle > 0 && now.Sub(s.LastSeen) > idle) || (lifetime > 0 && now.Sub(s.CreatedAt) > lifetime) {
		_, _ = c.store.exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, h)
		return s, ErrSessionExpired
	}
	every := min(idle/4, time.Minute)
	if now.Sub(s.LastSeen) >= every {
		if _, err := c.store.exec(ctx, `UPDATE console_sessions SET seen_ms = ? WHERE id_hash = ?`, now.UnixMilli(), h); err != nil {
			return s, err
		}
		s.LastSeen = now
	}
	return s, nil
}

// DeleteSession ends a session (logout).
func (c *ConsoleUsers) DeleteSession(ctx context.Context, id string) error {
	_, err := c.store.exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, sessionHash(id))
	return err
}

// ConsoleKey reads the key of a console session signed in with it and
// refuses it as Authenticate would a request with it: revoked, disabled,
// expired (401) or used from an address outside its allow-list (403).
// Scope changes made since the sign-in apply at once.
func (ks *KeyService) ConsoleKey(ctx context.Context, id string, addr netip.Addr) (APIKey, error) {
	k, err := ks.store.keyByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, keyErr("API_KEY_INVALID", 401, "the API key is not valid")
	}
	if err != nil {
		return APIKey{}, err
	}
	switch {
	case k.RevokedAt != nil:
		return APIKey{}, keyErr("API_KEY_INVALID", 401, "the API key was revoked")
	case !k.Enabled:
		return APIKey{}, keyErr("API_KEY_DISABLED", 401, "the API key is disabled")
	case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
		return APIKey{}, keyErr("API_KEY_EXPIRED", 401, "the API key expired at %s", k.ExpiresAt.Format(time.RFC3339))
	}
	if len(k.allow) > 0 {
		a := addr.Unmap()
		if !slices.ContainsFunc(k.allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return APIKey{}, keyErr("ACCESS_DENIED_IP", 403, "requests from %s are not allowed with this key", a)
		}
	}
	return k, nil
}
