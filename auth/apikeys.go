package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// API keys authenticate REST requests. A key is a recognisable prefix,
// 30 base62 characters from crypto/rand (≈178 bits) and a 6-character
// base62 CRC32 of what precedes it, so a mistyped or made-up key is
// refused before any lookup. Only its SHA-256 and its first 12 characters
// (key_start, for display) are stored; the key itself is shown once.

const (
	keyPrefixLive = "cg_live_"
	keyPrefixTest = "cg_test_"
	keyBodyLen    = 30
	keyCRCLen     = 6
	keyLen        = len(keyPrefixLive) + keyBodyLen + keyCRCLen
	keyStartLen   = 12
	base62        = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// DefaultKeyLimit is how many live keys a tenant may hold.
	DefaultKeyLimit = 5
	maxAllowIPs     = 100
	lastUsedFlush   = 5 * time.Second
)

// Scopes are what a key may do.
var Scopes = []string{"load", "meta", "sql", "keys:read", "keys:write", "credentials:read", "credentials:write", "audit:read", "admin"}

// KeyError is a refusal with a stable code and an HTTP status.
type KeyError struct {
	Code    string
	Status  int
	Message string
}

func (e *KeyError) Error() string { return e.Code + ": " + e.Message }

func keyErr(code string, status int, format string, args ...any) *KeyError {
	return &KeyError{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// The management API's errors.
func errKeyNotFound(id string) *KeyError {
	return keyErr("API_KEY_NOT_FOUND", 404, "no API key %q", id)
}

// APIKey is a key as stored and shown: never its value (KeyValue is set
// only in the answer to its creation).
type APIKey struct {
	ID           string          `json:"api_key_id"`
	TenantID     string          `json:"tenant_id"`
	Description  string          `json:"description"`
	KeyType      string          `json:"key_type"`
	KeyStart     string          `json:"key_start"`
	Scopes       []string        `json:"scope_names"`
	AllowIPs     []string        `json:"allow_ips"`
	Enabled      bool            `json:"is_enabled"`
	ExpiresAt    *time.Time      `json:"expires_at"`
	CreatedTime  time.Time       `json:"created_time"`
	CreatedBy    string          `json:"created_by"`
	LastUsedTime *time.Time      `json:"last_used_time"`
	BehalfOfUser string          `json:"behalf_of_user"`
	RevokedAt    *time.Time      `json:"revoked_at,omitempty"`
	Security     SecurityContext `json:"security_context"`
	KeyValue     string          `json:"key_value,omitempty"`
	allow        []netip.Prefix
}

// KeyInput creates or changes a key; nil fields keep their value.
type KeyInput struct {
	// TenantID, when set, must be the key's tenant: a key never moves.
	TenantID     *string          `json:"tenant_id"`
	Description  *string          `json:"description"`
	KeyType      *string          `json:"key_type"`
	Scopes       *[]string        `json:"scope_names"`
	AllowIPs     *[]string        `json:"allow_ips"`
	Enabled      *bool            `json:"is_enabled"`
	ExpiresAt    *time.Time       `json:"expires_at"`
	BehalfOfUser *string          `json:"behalf_of_user"`
	Security     *SecurityContext `json:"security_context"`
	Test         bool             `json:"test"`
}

// newKeyValue draws a key.
func newKeyValue(test bool) (string, error) {
	prefix := keyPrefixLive
	if test {
		prefix = keyPrefixTest
	}
	body, err := randomString(keyBodyLen, base62)
	if err != nil {
		return "", err
	}
	return prefix + body + keyChecksum(prefix+body), nil
}

func keyChecksum(s string) string {
	n := uint64(crc32.ChecksumIEEE([]byte(s)))
	out := make([]byte, keyCRCLen)
	for i := keyCRCLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}

// WellFormedKey checks a presented key's shape and checksum.
func WellFormedKey(k string) bool {
	if len(k) != keyLen || !(strings.HasPrefix(k, keyPrefixLive) || strings.HasPrefix(k, keyPrefixTest)) {
		return false
	}
	for _, c := range k[len(keyPrefixLive):] {
		if !strings.ContainsRune(base62, c) {
			return false
		}
	}
	return keyChecksum(k[:keyLen-keyCRCLen]) == k[keyLen-keyCRCLen:]
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

// parseAllowIPs accepts IPv4 and IPv6 addresses and CIDR prefixes.
func parseAllowIPs(in []string) ([]netip.Prefix, error) {
	if len(in) > maxAllowIPs {
		return nil, keyErr("API_KEY_ALLOW_IP_INVALID", 400, "at most %d allow_ips", maxAllowIPs)
	}
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, keyErr("API_KEY_ALLOW_IP_INVALID", 400, "%q is not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func checkScopes(scopes []string) error {
	if len(scopes) == 0 {
		return keyErr("API_KEY_SCOPE_NAME_INVALID", 400, "a key needs at least one scope (%s)", strings.Join(Scopes, ", "))
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return keyErr("API_KEY_SCOPE_NAME_INVALID", 400, "unknown scope %q (scopes: %s)", s, strings.Join(Scopes, ", "))
		}
	}
	return nil
}

// KeyService manages and checks API keys.
type KeyService struct {
	store *Store
	limit int
	mu    sync.Mutex
	used  map[string]time.Time // last use not yet written
	stop  chan struct{}
	done  chan struct{}
}

// NewKeyService returns the key service; limit is the live keys per
// tenant (0: DefaultKeyLimit). It writes last-used times every 5 s.
func NewKeyService(store *Store, limit int) *KeyService {
	if limit <= 0 {
		limit = DefaultKeyLimit
	}
	ks := &KeyService{store: store, limit: limit, used: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go ks.flushLoop()
	return ks
}

func (ks *KeyService) flushLoop() {
	defer close(ks.done)
	t := time.NewTicker(lastUsedFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ks.Flush(context.Background())
		case <-ks.stop:
			ks.Flush(context.Background())
			return
		}
	}
}

// Close writes the pending last-used times and stops.
func (ks *KeyService) Close() {
	select {
	case <-ks.stop:
	default:
		close(ks.stop)
	}
	<-ks.done
}

// Flush writes the last-used times gathered since the previous flush.
func (ks *KeyService) Flush(ctx context.Context) {
	ks.mu.Lock()
	used := ks.used
	ks.used = map[string]time.Time{}
	ks.mu.Unlock()
	for id, at := range used {
		_ = ks.store.touchKey(ctx, id, at)
	}
}

// Create mints a key for tenant with the operator's power (the CLI): no
// ceiling applies. The returned key carries KeyValue, shown only now.
func (ks *KeyService) Create(ctx context.Context, tenant, createdBy string, in KeyInput) (APIKey, error) {
	return ks.create(ctx, tenant, createdBy, in, nil)
}

// CreateAs mints a key on behalf of actor, in its tenant and within its
// ceiling (see Ceiling): what the request leaves out of the security
// context, allow_ips and expires_at is the actor's (Actor.Inherit).
func (ks *KeyService) CreateAs(ctx context.Context, actor Actor, in KeyInput) (APIKey, error) {
	actor.Inherit(&in)
	return ks.create(ctx, actor.TenantID, actor.Kind+":"+actor.ID, in, &actor)
}

func (ks *KeyService) create(ctx context.Context, tenant, createdBy string, in KeyInput, actor *Actor) (APIKey, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	if in.TenantID != nil {
		tenant = *in.TenantID
	}
	k := APIKey{ID: uuid.NewString(), TenantID: tenant, KeyType: "shared", Enabled: true, CreatedBy: createdBy,
		CreatedTime: time.Now().UTC().Truncate(time.Millisecond), AllowIPs: []string{}}
	if err := ks.apply(&k, in); err != nil {
		return k, err
	}
	if actor != nil {
		if err := Ceiling(*actor, KeyGrant(k)); err != nil {
			return k, err
		}
	}
	if _, err := ks.store.Tenant(ctx, tenant); err != nil {
		if errors.Is(err, ErrNotFound) {
			return k, keyErr("TENANT_NOT_FOUND", 404, "tenant %s does not exist", tenant)
		}
		return k, err
	}
	n, err := ks.store.liveKeys(ctx, tenant)
	if err != nil {
		return k, err
	}
	if n >= ks.limit {
		return k, keyErr("API_KEY_LIMIT_EXCEEDED", 403, "tenant %s already holds %d keys (the limit); revoke one first", tenant, n)
	}
	value, err := newKeyValue(in.Test)
	if err != nil {
		return k, err
	}
	k.KeyStart = value[:keyStartLen]
	if err := ks.store.change(ctx, AuditEvent{Kind: "api_key", Action: "create", TenantID: tenant, Object: k.ID, Username: createdBy},
		func(ctx context.Context) error { return ks.store.insertKey(ctx, k, hashKey(value)) }); err != nil {
		return k, err
	}
	k.KeyValue = value
	return k, nil
}

// apply validates and sets the fields in.
func (ks *KeyService) apply(k *APIKey, in KeyInput) error {
	if in.Description != nil {
		k.Description = *in.Description
	}
	if in.KeyType != nil {
		k.KeyType = *in.KeyType
	}
	if in.BehalfOfUser != nil {
		k.BehalfOfUser = *in.BehalfOfUser
	}
	switch {
	case k.KeyType != "user" && k.KeyType != "shared":
		return keyErr("API_KEY_USER_INVALID", 400, "key_type must be user or shared, not %q", k.KeyType)
	case k.KeyType == "user" && k.BehalfOfUser == "":
		return keyErr("API_KEY_USER_INVALID", 400, "a user key needs behalf_of_user")
	}
	if in.Scopes != nil {
		if err := checkScopes(*in.Scopes); err != nil {
			return err
		}
		k.Scopes = slices.Clone(*in.Scopes)
	} else if k.Scopes == nil {
		return checkScopes(nil)
	}
	if in.AllowIPs != nil {
		p, err := parseAllowIPs(*in.AllowIPs)
		if err != nil {
			return err
		}
		k.allow = p
		k.AllowIPs = make([]string, len(p))
		for i, x := range p {
			k.AllowIPs[i] = x.String()
		}
	}
	if in.Enabled != nil {
		k.Enabled = *in.Enabled
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC()
		k.ExpiresAt = &t
	}
	if in.Security != nil {
		k.Security = *in.Security
	}
	return nil
}

// List returns a tenant's keys, revoked ones included, newest last.
func (ks *KeyService) List(ctx context.Context, tenant string) ([]APIKey, error) {
	return ks.store.listKeys(ctx, tenant)
}

// Get returns one key.
func (ks *KeyService) Get(ctx context.Context, tenant, id string) (APIKey, error) {
	k, err := ks.store.keyByID(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && k.TenantID != tenant {
		return APIKey{}, errKeyNotFound(id)
	}
	return k, err
}

// Update changes a key's description, scopes, allow-list, enabled flag,
// expiry or security context, with the operator's power (the CLI).
func (ks *KeyService) Update(ctx context.Context, tenant, id string, in KeyInput) (APIKey, error) {
	return ks.update(ctx, tenant, id, in, nil)
}

// UpdateAs changes a key of actor's tenant on its behalf: the key, once
// changed, must be within the actor's ceiling (see Ceiling) — so a key
// cannot widen itself, nor change a key wider than itself.
func (ks *KeyService) UpdateAs(ctx context.Context, actor Actor, id string, in KeyInput) (APIKey, error) {
	return ks.update(ctx, actor.TenantID, id, in, &actor)
}

func (ks *KeyService) update(ctx context.Context, tenant, id string, in KeyInput, actor *Actor) (APIKey, error) {
	k, err := ks.Get(ctx, tenant, id)
	if err != nil {
		return k, err
	}
	if k.RevokedAt != nil {
		return k, errKeyNotFound(id)
	}
	if in.KeyType != nil && *in.KeyType != k.KeyType {
		return k, keyErr("API_KEY_USER_INVALID", 400, "key_type cannot change")
	}
	if actor != nil {
		// A key wider than the actor is not the actor's to change, even
		// to narrow it (narrowing a wider key is taking it over).
		if err := Ceiling(*actor, KeyGrant(k)); err != nil {
			return k, err
		}
	}
	if err := ks.apply(&k, in); err != nil {
		return k, err
	}
	if actor != nil {
		g := KeyGrant(k)
		if in.TenantID != nil {
			g.TenantID = *in.TenantID
		}
		if err := Ceiling(*actor, g); err != nil {
			return k, err
		}
	}
	if in.TenantID != nil && *in.TenantID != k.TenantID {
		return k, keyErr("API_KEY_TENANT_INVALID", 400, "a key's tenant cannot change (it is %s)", k.TenantID)
	}
	e := AuditEvent{Kind: "api_key", Action: "update", TenantID: tenant, Object: k.ID}
	if actor != nil {
		e.Username = actor.Kind + ":" + actor.ID
	}
	if err := ks.store.change(ctx, e, func(ctx context.Context) error { return ks.store.updateKey(ctx, k) }); err != nil {
		if errors.Is(err, ErrAuditUnavailable) {
			return k, err
		}
		return k, keyErr("API_KEY_UPDATE_FAILED", 500, "the key could not be updated: %v", err)
	}
	return k, nil
}

// Revoke ends a key: the next request with it is refused.
// RevokeAs revokes a key of actor's tenant on its behalf: only a key
// within the actor's ceiling (a restricted key cannot lock out an admin).
func (ks *KeyService) RevokeAs(ctx context.Context, actor Actor, id string) (APIKey, error) {
	k, err := ks.Get(ctx, actor.TenantID, id)
	if err != nil {
		return k, err
	}
	if err := Ceiling(actor, KeyGrant(k)); err != nil {
		return k, err
	}
	return ks.revoke(ctx, actor.TenantID, id, actorName(&actor, ""))
}

func (ks *KeyService) Revoke(ctx context.Context, tenant, id string) (APIKey, error) {
	return ks.revoke(ctx, tenant, id, "")
}

func (ks *KeyService) revoke(ctx context.Context, tenant, id, by string) (APIKey, error) {
	k, err := ks.Get(ctx, tenant, id)
	if err != nil {
		return k, err
	}
	if k.RevokedAt == nil {
		now := time.Now().UTC().Truncate(time.Millisecond)
		k.RevokedAt = &now
		k.Enabled = false
		if err := ks.store.change(ctx, AuditEvent{Kind: "api_key", Action: "revoke", TenantID: tenant, Object: k.ID, Username: by},
			func(ctx context.Context) error { return ks.store.updateKey(ctx, k) }); err != nil {
			if errors.Is(err, ErrAuditUnavailable) {
				return k, err
			}
			return k, keyErr("API_KEY_UPDATE_FAILED", 500, "the key could not be revoked: %v", err)
		}
	}
	return k, nil
}

// Authenticate checks a presented key for a request from addr needing
// scope ("" for none): 401 for a missing, malformed, unknown, disabled,
// expired or revoked key; 403 for an address outside allow_ips or a
// missing scope ("admin" grants every scope).
func (ks *KeyService) Authenticate(ctx context.Context, presented string, addr netip.Addr, scope string) (APIKey, error) {
	if presented == "" {
		return APIKey{}, keyErr("API_KEY_REQUIRED", 401, "send the key as Authorization: Bearer KEY")
	}
	invalid := keyErr("API_KEY_INVALID", 401, "the API key is not valid")
	if !WellFormedKey(presented) {
		return APIKey{}, invalid
	}
	k, err := ks.store.keyByHash(ctx, hashKey(presented))
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, invalid
	}
	if err != nil {
		return APIKey{}, err
	}
	now := time.Now()
	switch {
	case k.RevokedAt != nil:
		return APIKey{}, keyErr("API_KEY_INVALID", 401, "the API key was revoked")
	case !k.Enabled:
		return APIKey{}, keyErr("API_KEY_DISABLED", 401, "the API key is disabled")
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return APIKey{}, keyErr("API_KEY_EXPIRED", 401, "the API key expired at %s", k.ExpiresAt.Format(time.RFC3339))
	}
	if len(k.allow) > 0 {
		a := addr.Unmap()
		if !slices.ContainsFunc(k.allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return APIKey{}, keyErr("ACCESS_DENIED_IP", 403, "requests from %s are not allowed with this key", a)
		}
	}
	if scope != "" && !slices.Contains(k.Scopes, scope) && !slices.Contains(k.Scopes, "admin") {
		return APIKey{}, keyErr("ACCESS_DENIED_PERMISSIONS", 403, "this key lacks the %q scope", scope)
	}
	ks.mu.Lock()
	ks.used[k.ID] = now
	ks.mu.Unlock()
	return k, nil
}

// store side

func (s *Store) migrateKeys(ctx context.Context) error {
	enabled := "INTEGER"
	if s.postgres {
		enabled = "BOOLEAN"
	}
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS api_keys (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  key_type         TEXT NOT NULL,
  key_start        TEXT NOT NULL,
  key_hash         TEXT NOT NULL UNIQUE,
  scopes           TEXT NOT NULL,
  allow_ips        TEXT NOT NULL,
  is_enabled       `+enabled+` NOT NULL,
  expires_at       TEXT,
  created_time     TEXT NOT NULL,
  created_by       TEXT NOT NULL DEFAULT '',
  last_used_time   TEXT,
  behalf_of_user   TEXT NOT NULL DEFAULT '',
  revoked_at       TEXT,
  security_context TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys(tenant_id);`)
	return err
}

const keyColumns = `id, tenant_id, description, key_type, key_start, scopes, allow_ips, is_enabled, expires_at, created_time, created_by, last_used_time, behalf_of_user, revoked_at, security_context`

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Store) insertKey(ctx context.Context, k APIKey, hash string) error {
	scopes, _ := json.Marshal(k.Scopes)
	ips, _ := json.Marshal(k.AllowIPs)
	_, err := s.exec(ctx, `INSERT INTO api_keys(`+keyColumns+`, key_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Description, k.KeyType, k.KeyStart, string(scopes), string(ips), k.Enabled, timeOrNil(k.ExpiresAt),
		k.CreatedTime.Format(time.RFC3339Nano), k.CreatedBy, timeOrNil(k.LastUsedTime), k.BehalfOfUser, timeOrNil(k.RevokedAt),
		k.Security.String(), hash)
	return err
}

func (s *Store) updateKey(ctx context.Context, k APIKey) error {
	scopes, _ := json.Marshal(k.Scopes)
	ips, _ := json.Marshal(k.AllowIPs)
	res, err := s.exec(ctx, `UPDATE api_keys SET description = ?, scopes = ?, allow_ips = ?, is_enabled = ?, expires_at = ?,
		behalf_of_user = ?, revoked_at = ?, security_context = ? WHERE id = ?`,
		k.Description, string(scopes), string(ips), k.Enabled, timeOrNil(k.ExpiresAt), k.BehalfOfUser, timeOrNil(k.RevokedAt),
		k.Security.String(), k.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) touchKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, `UPDATE api_keys SET last_used_time = ? WHERE id = ?`, at.UTC().Format(time.RFC3339Nano), id)
	return err
}

func (s *Store) liveKeys(ctx context.Context, tenant string) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM api_keys WHERE tenant_id = ? AND revoked_at IS NULL`, tenant).Scan(&n)
	return n, err
}

func scanKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var scopes, ips, created, security string
	var expires, lastUsed, revoked sql.NullString
	if err := row.Scan(&k.ID, &k.TenantID, &k.Description, &k.KeyType, &k.KeyStart, &scopes, &ips, &k.Enabled, &expires,
		&created, &k.CreatedBy, &lastUsed, &k.BehalfOfUser, &revoked, &security); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return k, ErrNotFound
		}
		return k, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return k, err
	}
	if err := json.Unmarshal([]byte(ips), &k.AllowIPs); err != nil {
		return k, err
	}
	var err error
	if k.allow, err = parseAllowIPs(k.AllowIPs); err != nil {
		return k, err
	}
	if k.Security, err = ParseSecurityContext(security); err != nil {
		return k, err
	}
	parse := func(ns sql.NullString) *time.Time {
		if !ns.Valid {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, ns.String)
		if err != nil {
			return nil
		}
		return &t
	}
	k.ExpiresAt, k.LastUsedTime, k.RevokedAt = parse(expires), parse(lastUsed), parse(revoked)
	k.CreatedTime, err = time.Parse(time.RFC3339Nano, created)
	return k, err
}

func (s *Store) keyByHash(ctx context.Context, hash string) (APIKey, error) {
	return scanKey(s.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE key_hash = ?`, hash))
}

func (s *Store) keyByID(ctx context.Context, id string) (APIKey, error) {
	return scanKey(s.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
}

func (s *Store) listKeys(ctx context.Context, tenant string) ([]APIKey, error) {
	rows, err := s.query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY created_time, id`, tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
