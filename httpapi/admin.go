package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/query"
)

// The admin API under /admin/v1/: API keys and SQL credentials, each
// answer {"meta": {"request_id"}, "data": …} or {"meta", "error": {"code",
// "message"}}; every request needs a key with the matching scope. A key
// creates and changes keys and credentials only within its own rights
// (auth.Ceiling: scopes, tenant, data sources, security context, allowed
// addresses, expiry); beyond them the answer is 403 with a code ending in
// _ESCALATION.

// Admin is what the admin API manages.
type Admin struct {
	Keys        *auth.KeyService
	Credentials *auth.Service
	// Connection renders a credential's connection details (host, port,
	// connection string, psql command) — without its password.
	Connection func(c auth.Credential) map[string]any
	// Status reports the server's state; Restart reloads the model.
	// Status is what a key of tenant may read of the server's status; full
	// with the admin scope.
	Status func(ctx context.Context, tenant string, full bool) any
	// Restart reloads tenant's models.
	Restart func(tenant string) error
	// Audit is the audit log, read with the audit:read scope.
	Audit *auth.Audit
	// Ready is nil while the gateway serves queries (RUNNING).
	Ready func() error
	// DataSource names the tenant owning a data source (false: none).
	DataSource func(name string) (tenant string, ok bool)
	// Model is a data source's loaded model (nil: none, or not loaded):
	// credentials' security contexts are checked against it.
	Model func(source string) *cubes.Model
	// Tenants are the teams; the default tenant's admin keys manage them.
	Tenants TenantStore
	// Cache is the result cache (nil: none), invalidated with the admin
	// scope, one tenant's answers at a time.
	Cache *query.Cache
	// Invalidate, when set, invalidates in Cache's stead (the gateways
	// sharing a state store are told too).
	Invalidate func(query.Scope) int
	// PreAggregations are the pre-aggregations' states and rebuilds (nil:
	// none), with the admin scope.
	PreAggregations *PreAggregations
}

// PreAggregations serve /admin/v1/pre-aggregations.
type PreAggregations struct {
	// List is a tenant's pre-aggregations' states (JSON-ready).
	List func(tenant string) any
	// Refresh asks for a tenant's data source's ("" every one)
	// pre-aggregation (name "" every one) to be rebuilt now; it returns
	// how many.
	Refresh func(tenant, source, name string) int
}

// TenantStore keeps the tenants.
type TenantStore interface {
	CreateTenant(ctx context.Context, id, name, createdBy string) (auth.Tenant, error)
	Tenants(ctx context.Context) ([]auth.Tenant, error)
}

type ctxKey int

const (
	keyCtx ctxKey = iota
	requestIDCtx
)

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// envelope writes the admin API's answer.
func envelope(w http.ResponseWriter, r *http.Request, status int, data any) {
	writeJSON(w, status, map[string]any{"meta": map[string]any{"request_id": requestID(r)}, "data": data})
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDCtx).(string)
	return id
}

// fail writes an error with its stable code.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := ErrorStatus(err)
	if status == http.StatusTooManyRequests || code == "AUDIT_UNAVAILABLE" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"meta": map[string]any{"request_id": requestID(r)}, "error": map[string]any{"code": code, "message": msg}})
}

// ErrorStatus is the admin API's answer to err: its HTTP status, stable
// code and message (the console shows the same).
func ErrorStatus(err error) (status int, code, msg string) {
	var ke *auth.KeyError
	var esc *auth.EscalationError
	status, code, msg = http.StatusInternalServerError, "INTERNAL", "internal error"
	switch {
	case errors.Is(err, auth.ErrAuditUnavailable):
		// audit.fail_closed: no change is made unaudited.
		status, code, msg = http.StatusServiceUnavailable, "AUDIT_UNAVAILABLE", "the audit log cannot be written: changes are refused until it can"
	case errors.As(err, &esc):
		// Beyond the acting key's own rights (auth.Ceiling).
		status, code, msg = http.StatusForbidden, esc.Code, esc.Message
	case errors.As(err, &ke):
		status, code, msg = ke.Status, ke.Code, ke.Message
	case errors.Is(err, auth.ErrNotFound):
		status, code, msg = http.StatusNotFound, "NOT_FOUND", "no such object"
	case errors.Is(err, errBadRequest):
		status, code, msg = http.StatusBadRequest, "BAD_REQUEST", err.Error()
	case errors.Is(err, auth.ErrTenantExists):
		status, code, msg = http.StatusConflict, "TENANT_EXISTS", err.Error()
	case errors.Is(err, errForbidden):
		status, code, msg = http.StatusForbidden, "FORBIDDEN", err.Error()
	}
	return status, code, msg
}

var (
	errBadRequest = errors.New("bad request")
	errForbidden  = errors.New("forbidden")
)

// PresentedKey reads the key from Authorization: "Bearer KEY" or a bare
// "KEY" (Cube's clients send no scheme).
func PresentedKey(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return h
}

// RemoteAddr is the socket peer's address (no proxy headers are trusted).
func RemoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// withKey authenticates the request's key for scope.
func (a *Admin) withKey(scope string, h func(w http.ResponseWriter, r *http.Request, k auth.APIKey)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if requestID(r) == "" {
			r = r.WithContext(context.WithValue(r.Context(), requestIDCtx, newRequestID()))
			w.Header().Set("X-Request-Id", requestID(r))
		}
		k, err := a.Keys.Authenticate(r.Context(), PresentedKey(r), RemoteAddr(r), scope)
		if err != nil {
			fail(w, r, err)
			return
		}
		h(w, r, k)
	}
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(errBadRequest, err)
	}
	return nil
}

func (a *Admin) register(mux *http.ServeMux) {
	if a.Audit != nil {
		// A page of the tenant's log, newest first: limit events (1,000
		// unless set; above auth.MaxAuditPage a 400 naming it, never a
		// shorter page), before_id for the next page, whose value
		// meta.next_before_id gives (absent on the last page).
		mux.HandleFunc("GET /admin/v1/audit", a.withKey("audit:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			var limit int
			var before int64
			var err error
			q := r.URL.Query()
			if v := q.Get("limit"); v != "" {
				if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
					fail(w, r, fmt.Errorf("%w: limit %q is not a positive number", errBadRequest, v))
					return
				}
			}
			if v := q.Get("before_id"); v != "" {
				if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
					fail(w, r, fmt.Errorf("%w: before_id %q is not a positive event id", errBadRequest, v))
					return
				}
			}
			a.Audit.Sync()
			events, next, err := a.Audit.Page(r.Context(), k.TenantID, q.Get("kind"), limit, before)
			var le *auth.AuditLimitError
			if errors.As(err, &le) {
				writeJSON(w, http.StatusBadRequest, map[string]any{"meta": map[string]any{"request_id": requestID(r)},
					"error": map[string]any{"code": "AUDIT_LIMIT_TOO_LARGE", "message": le.Error(), "max": le.Max}})
				return
			}
			if err != nil {
				fail(w, r, err)
				return
			}
			meta := map[string]any{"request_id": requestID(r)}
			if next > 0 {
				meta["next_before_id"] = next
			}
			writeJSON(w, http.StatusOK, map[string]any{"meta": meta, "data": events})
		}))
	}
	if a.Status != nil {
		mux.HandleFunc("GET /admin/v1/status", a.withKey("", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			envelope(w, r, http.StatusOK, a.StatusAs(r.Context(), auth.KeyActor(k)))
		}))
	}
	if a.Restart != nil {
		mux.HandleFunc("POST /admin/v1/restart", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			if err := a.RestartAs(r.Context(), auth.KeyActor(k)); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"meta": map[string]any{"request_id": requestID(r)},
					"error": map[string]any{"code": "MODEL_INVALID", "message": err.Error()}})
				return
			}
			envelope(w, r, http.StatusOK, a.Status(r.Context(), k.TenantID, true))
		}))
	}
	if a.Cache != nil {
		mux.HandleFunc("GET /admin/v1/cache", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			st := a.Cache.Stats()
			envelope(w, r, http.StatusOK, map[string]any{"entries": st.Entries, "bytes": st.Bytes, "max_bytes": st.MaxBytes,
				"hits": st.Hits, "misses": st.Misses, "stores": st.Stores, "evictions": st.Evictions, "too_large": st.TooLarge})
		}))
		mux.HandleFunc("POST /admin/v1/cache/invalidate", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			var body struct {
				DataSource string `json:"data_source"`
				Cube       string `json:"cube"`
			}
			if r.ContentLength != 0 {
				if err := decode(r, &body); err != nil {
					fail(w, r, err)
					return
				}
			}
			invalidate := a.Cache.Invalidate
			if a.Invalidate != nil {
				invalidate = a.Invalidate
			}
			n := invalidate(query.Scope{Tenant: k.TenantID, Source: body.DataSource, Cube: body.Cube})
			envelope(w, r, http.StatusOK, map[string]any{"invalidated": n})
		}))
	}
	if p := a.PreAggregations; p != nil {
		mux.HandleFunc("GET /admin/v1/pre-aggregations", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			envelope(w, r, http.StatusOK, p.List(k.TenantID))
		}))
		mux.HandleFunc("POST /admin/v1/pre-aggregations/refresh", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
			var body struct {
				DataSource string `json:"data_source"`
				Name       string `json:"name"`
			}
			if r.ContentLength != 0 {
				if err := decode(r, &body); err != nil {
					fail(w, r, err)
					return
				}
			}
			envelope(w, r, http.StatusAccepted, map[string]any{"refreshing": p.Refresh(k.TenantID, body.DataSource, body.Name)})
		}))
	}
	mux.HandleFunc("GET /admin/v1/api_keys", a.withKey("keys:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		keys, err := a.Keys.List(r.Context(), k.TenantID)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, keys)
	}))
	mux.HandleFunc("POST /admin/v1/api_keys", a.withKey("keys:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		var in auth.KeyInput
		if err := decode(r, &in); err != nil {
			fail(w, r, err)
			return
		}
		created, err := a.CreateKeyAs(r.Context(), auth.KeyActor(k), in)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusCreated, created)
	}))
	mux.HandleFunc("GET /admin/v1/api_keys/{id}", a.withKey("keys:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		got, err := a.Keys.Get(r.Context(), k.TenantID, r.PathValue("id"))
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, got)
	}))
	mux.HandleFunc("PATCH /admin/v1/api_keys/{id}", a.withKey("keys:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		var in auth.KeyInput
		if err := decode(r, &in); err != nil {
			fail(w, r, err)
			return
		}
		got, err := a.UpdateKeyAs(r.Context(), auth.KeyActor(k), r.PathValue("id"), in)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, got)
	}))
	mux.HandleFunc("DELETE /admin/v1/api_keys/{id}", a.withKey("keys:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		got, err := a.RevokeKeyAs(r.Context(), auth.KeyActor(k), r.PathValue("id"))
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, got)
	}))
	// A new key for an old one, which works on until old_expires_at
	// (absent: it is revoked at once): {"api_key": the new key with its
	// key_value, "previous": the old one}.
	mux.HandleFunc("POST /admin/v1/api_keys/{id}/rotate", a.withKey("keys:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		var in struct {
			OldExpiresAt *time.Time `json:"old_expires_at"`
		}
		if r.ContentLength != 0 {
			if err := decode(r, &in); err != nil {
				fail(w, r, err)
				return
			}
		}
		var until time.Time
		if in.OldExpiresAt != nil {
			until = *in.OldExpiresAt
		}
		created, old, err := a.RotateKeyAs(r.Context(), auth.KeyActor(k), r.PathValue("id"), until)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusCreated, map[string]any{"api_key": created, "previous": old})
	}))
	if a.Credentials == nil {
		return
	}
	show := func(c auth.Credential) map[string]any {
		out := map[string]any{"id": c.ID, "label": c.Label, "username": c.Username, "database": c.Database, "tenant_id": c.TenantID,
			"member": c.Member, "security_context": c.Security, "scopes": c.Scopes, "created_at": c.CreatedAt}
		if a.Connection != nil {
			for k, v := range a.Connection(c) {
				out[k] = v
			}
		}
		return out
	}
	mux.HandleFunc("GET /admin/v1/credentials", a.withKey("credentials:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		creds, err := a.Credentials.ListCredentials(r.Context())
		if err != nil {
			fail(w, r, err)
			return
		}
		out := []map[string]any{}
		for _, c := range creds {
			if c.TenantID == k.TenantID {
				out = append(out, show(c))
			}
		}
		envelope(w, r, http.StatusOK, out)
	}))
	credential := func(r *http.Request, k auth.APIKey) (auth.Credential, error) {
		c, err := a.Credentials.GetCredential(r.Context(), r.PathValue("id"))
		if err == nil && c.TenantID != k.TenantID {
			err = auth.ErrNotFound
		}
		return c, err
	}
	mux.HandleFunc("GET /admin/v1/credentials/{id}", a.withKey("credentials:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		c, err := credential(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, show(c))
	}))
	mux.HandleFunc("GET /admin/v1/credentials/{id}/connection", a.withKey("credentials:read", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		if a.Ready != nil {
			if err := a.Ready(); err != nil {
				w.Header().Set("Retry-After", "1")
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"meta": map[string]any{"request_id": requestID(r)},
					"error": map[string]any{"code": "NOT_RUNNING", "message": err.Error()}})
				return
			}
		}
		c, err := credential(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		out := map[string]any{"username": c.Username, "database": c.Database}
		if a.Connection != nil {
			for k, v := range a.Connection(c) {
				out[k] = v
			}
		}
		envelope(w, r, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /admin/v1/tenants", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		ts, err := a.TenantsAs(r.Context(), auth.KeyActor(k))
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, ts)
	}))
	mux.HandleFunc("POST /admin/v1/tenants", a.withKey("admin", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		var in struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		if err := decode(r, &in); err != nil {
			fail(w, r, err)
			return
		}
		t, err := a.CreateTenantAs(r.Context(), auth.KeyActor(k), in.ID, in.Name)
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusCreated, t)
	}))
	mux.HandleFunc("POST /admin/v1/credentials", a.withKey("credentials:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		var in struct {
			Label    string                `json:"label"`
			Database string                `json:"database"`
			Member   string                `json:"member"`
			Security *auth.SecurityContext `json:"security_context"`
			Scopes   []string              `json:"scopes"` // audit:read, sql: only those the key holds
		}
		if err := decode(r, &in); err != nil {
			fail(w, r, err)
			return
		}
		// Within the key's own rights; no security context: the key's.
		c, pw, err := a.CreateCredentialAs(r.Context(), auth.KeyActor(k),
			auth.CredentialRequest{Label: in.Label, Database: in.Database, Member: in.Member, Security: in.Security, Scopes: in.Scopes})
		if err != nil {
			fail(w, r, err)
			return
		}
		out := show(c)
		out["password"] = pw
		envelope(w, r, http.StatusCreated, out)
	}))
	mux.HandleFunc("POST /admin/v1/credentials/{id}/rotate", a.withKey("credentials:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		c, err := credential(r, k)
		if err == nil {
			var pw string
			if c, pw, err = a.RotateCredentialAs(r.Context(), auth.KeyActor(k), c.ID); err == nil {
				out := show(c)
				out["password"] = pw
				envelope(w, r, http.StatusOK, out)
				return
			}
		}
		fail(w, r, err)
	}))
	mux.HandleFunc("PATCH /admin/v1/credentials/{id}", a.withKey("credentials:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		c, err := credential(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		var in struct {
			Label    *string               `json:"label"`
			Database *string               `json:"database"`
			Member   *string               `json:"member"`
			Security *auth.SecurityContext `json:"security_context"`
			Scopes   *[]string             `json:"scopes"`
		}
		if err := decode(r, &in); err != nil {
			fail(w, r, err)
			return
		}
		c, err = a.UpdateCredentialAs(r.Context(), auth.KeyActor(k), c.ID,
			auth.UpdateCredentialInput{Label: in.Label, Database: in.Database, Member: in.Member, Security: in.Security, Scopes: in.Scopes})
		if err != nil {
			fail(w, r, err)
			return
		}
		envelope(w, r, http.StatusOK, show(c))
	}))
	mux.HandleFunc("DELETE /admin/v1/credentials/{id}", a.withKey("credentials:write", func(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
		c, err := credential(r, k)
		if err == nil {
			if _, err = a.DeleteCredentialAs(r.Context(), auth.KeyActor(k), c.ID); err == nil {
				envelope(w, r, http.StatusOK, map[string]any{"deleted": c.ID})
				return
			}
		}
		fail(w, r, err)
	}))
}

// The admin API's actions as functions of an actor (an API key, or the
// console's signed-in user): the admin API's handlers and the console
// call these, so both apply the same rules.

// ActorName is how the audit log names an actor: "api_key:ID",
// "console_user:NAME".
func ActorName(actor auth.Actor) string { return actor.Kind + ":" + actor.ID }

// Holds reports whether actor holds scope ("admin" holds every scope).
func Holds(actor auth.Actor, scope string) bool {
	return scope == "" || slices.Contains(actor.Scopes, scope) || slices.Contains(actor.Scopes, "admin")
}

// StatusAs is the status actor may read: its tenant's, in full with the
// admin scope.
func (a *Admin) StatusAs(ctx context.Context, actor auth.Actor) any {
	return a.Status(ctx, actor.TenantID, slices.Contains(actor.Scopes, "admin"))
}

// RestartAs reloads actor's tenant's models (the admin scope), audited
// with the actor; a refused model's error says why (file:line).
func (a *Admin) RestartAs(ctx context.Context, actor auth.Actor) error {
	if !Holds(actor, "admin") {
		return fmt.Errorf("%w: restarting needs the admin scope", errForbidden)
	}
	if a.Restart == nil {
		return fmt.Errorf("%w: this gateway cannot be restarted from here", errForbidden)
	}
	err := a.Restart(actor.TenantID)
	e := auth.AuditEvent{Kind: "model", Action: "restart", Outcome: "ok", TenantID: actor.TenantID, Username: ActorName(actor)}
	if actor.Kind == "api_key" {
		e.APIKeyID = actor.ID
	}
	if err != nil {
		e.Outcome, e.Error = "error", err.Error()
	}
	a.Audit.Log(e)
	return err
}

// errTenantsAdmin refuses tenants to anybody but the default tenant's
// admins.
var errTenantsAdmin = fmt.Errorf("%w: tenants are managed with the default tenant's admin keys", errForbidden)

// TenantsAs lists the tenants for actor: an admin of the default tenant.
func (a *Admin) TenantsAs(ctx context.Context, actor auth.Actor) ([]auth.Tenant, error) {
	if a.Tenants == nil || actor.TenantID != auth.DefaultTenant || !Holds(actor, "admin") {
		return nil, errTenantsAdmin
	}
	return a.Tenants.Tenants(ctx)
}

// CreateTenantAs adds a tenant on actor's behalf (an admin of the default
// tenant); the audit event names the actor.
func (a *Admin) CreateTenantAs(ctx context.Context, actor auth.Actor, id, name string) (auth.Tenant, error) {
	if a.Tenants == nil || actor.TenantID != auth.DefaultTenant || !Holds(actor, "admin") {
		return auth.Tenant{}, errTenantsAdmin
	}
	t, err := a.Tenants.CreateTenant(ctx, id, name, ActorName(actor))
	if err != nil && !errors.Is(err, auth.ErrTenantExists) && !errors.Is(err, auth.ErrAuditUnavailable) {
		err = errors.Join(errBadRequest, err)
	}
	return t, err
}
