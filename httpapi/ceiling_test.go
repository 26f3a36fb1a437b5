package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// The admin API over a real SQLite state store and a real HTTP server:
// scopes, tenants, data sources and security contexts are a ceiling.

type adminFixture struct {
	t     *testing.T
	ctx   context.Context
	store *auth.Store
	keys  *auth.KeyService
	creds *auth.Service
	srv   *httptest.Server
}

// newAdminFixture serves the admin API; data source "demo" belongs to the
// default tenant, "kit" to tenant acme.
func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.CreateTenant(ctx, "acme", "Acme", "test"); err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeyService(store, 100000)
	t.Cleanup(keys.Close)
	creds, err := auth.NewService(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{"demo": auth.DefaultTenant, "kit": "acme"}
	admin := &Admin{Keys: keys, Credentials: creds, Tenants: store, DataSource: func(name string) (string, bool) {
		tenant, ok := sources[name]
		return tenant, ok
	}}
	srv := httptest.NewServer(NewHandler(Config{Admin: admin, Version: "t", Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	return &adminFixture{t: t, ctx: ctx, store: store, keys: keys, creds: creds, srv: srv}
}

// key mints a key as the operator (the CLI's power).
func (f *adminFixture) key(tenant string, scopes []string, in auth.KeyInput) auth.APIKey {
	f.t.Helper()
	in.Scopes = &scopes
	k, err := f.keys.Create(f.ctx, tenant, "operator", in)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// credential mints a credential as the operator.
func (f *adminFixture) credential(tenant, database string, sec auth.SecurityContext) auth.Credential {
	f.t.Helper()
	c, _, err := f.creds.CreateCredential(f.ctx, auth.CreateCredentialInput{TenantID: tenant, Database: database, Security: sec})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

type answer struct {
	status int
	Data   json.RawMessage `json:"data"`
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (f *adminFixture) call(method, path string, k auth.APIKey, body any) answer {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.KeyValue)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		f.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	a.status = resp.StatusCode
	return a
}

// expect calls and checks the status and error code ("" for success).
func (f *adminFixture) expect(method, path string, k auth.APIKey, body any, status int, code string) answer {
	f.t.Helper()
	a := f.call(method, path, k, body)
	if a.status != status || a.Error.Code != code {
		f.t.Errorf("%s %s as %v %v: %d %s (%s), want %d %s", method, path, k.Scopes, body, a.status, a.Error.Code, a.Error.Message, status, code)
	}
	if status == http.StatusForbidden && a.Error.Message == "" {
		f.t.Errorf("%s %s: a refusal without a message", method, path)
	}
	return a
}

func (f *adminFixture) stored(id string) auth.APIKey {
	f.t.Helper()
	k, err := f.keys.Get(f.ctx, auth.DefaultTenant, id)
	if err != nil {
		k, err = f.keys.Get(f.ctx, "acme", id)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func decodeAPIKey(t *testing.T, a answer) auth.APIKey {
	t.Helper()
	var k auth.APIKey
	if err := json.Unmarshal(a.Data, &k); err != nil {
		t.Fatalf("%s: %v", a.Data, err)
	}
	return k
}

func decodeCredential(t *testing.T, a answer) (id string, sec auth.SecurityContext, tenant string) {
	t.Helper()
	var c struct {
		ID       string               `json:"id"`
		Security auth.SecurityContext `json:"security_context"`
		Tenant   string               `json:"tenant_id"`
	}
	if err := json.Unmarshal(a.Data, &c); err != nil {
		t.Fatalf("%s: %v", a.Data, err)
	}
	return c.ID, c.Security, c.Tenant
}

func holds(scopes []string, s string) bool {
	return slices.Contains(scopes, s) || slices.Contains(scopes, "admin")
}

// Every pair of scopes over auth.Scopes: a key holding {S} or
// {keys:write, S} creates a key with scope R, changes another key to R,
// and changes itself to add R — 201/200 exactly when it may write keys
// and holds R (admin holds every scope), 403 SCOPE_ESCALATION when it may
// write keys but lacks R, 403 ACCESS_DENIED_PERMISSIONS without
// keys:write; a refused change is not written.
func TestScopeMatrixKeys(t *testing.T) {
	f := newAdminFixture(t)
	pairs := 0
	for _, s := range auth.Scopes {
		for _, withWrite := range []bool{false, true} {
			acting := []string{s}
			if withWrite {
				if s == "keys:write" {
					continue
				}
				acting = []string{"keys:write", s}
			}
			actor := f.key(auth.DefaultTenant, acting, auth.KeyInput{})
			canWrite := holds(acting, "keys:write")
			for _, r := range auth.Scopes {
				pairs++
				status, code := http.StatusCreated, ""
				switch {
				case !canWrite:
					status, code = http.StatusForbidden, "ACCESS_DENIED_PERMISSIONS"
				case !holds(acting, r):
					status, code = http.StatusForbidden, auth.CodeScopeEscalation
				}
				a := f.expect("POST", "/admin/v1/api_keys", actor, map[string]any{"scope_names": []string{r}}, status, code)
				if a.status == http.StatusCreated {
					if k := decodeAPIKey(t, a); !slices.Equal(k.Scopes, []string{r}) || k.TenantID != auth.DefaultTenant || k.KeyValue == "" {
						t.Errorf("%v created %+v", acting, k)
					}
				}

				// Another key, changed to R.
				target := f.key(auth.DefaultTenant, []string{s}, auth.KeyInput{})
				if status == http.StatusCreated {
					status = http.StatusOK
				}
				f.expect("PATCH", "/admin/v1/api_keys/"+target.ID, actor, map[string]any{"scope_names": []string{r}}, status, code)
				want := []string{s}
				if status == http.StatusOK {
					want = []string{r}
				}
				if got := f.stored(target.ID).Scopes; !slices.Equal(got, want) {
					t.Errorf("%v changing a key to %s: stored %v, want %v", acting, r, got, want)
				}

				// Itself, with R added.
				widened := append(slices.Clone(acting), r)
				f.expect("PATCH", "/admin/v1/api_keys/"+actor.ID, actor, map[string]any{"scope_names": widened}, status, code)
				want = acting
				if status == http.StatusOK {
					want = widened
				}
				if got := f.stored(actor.ID).Scopes; !slices.Equal(got, want) {
					t.Errorf("%v adding %s to itself: stored %v, want %v", acting, r, got, want)
				}
				if status == http.StatusOK { // back as it was
					if _, err := f.keys.Update(f.ctx, auth.DefaultTenant, actor.ID, auth.KeyInput{Scopes: &acting}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if pairs != 17*len(auth.Scopes) {
		t.Fatalf("%d pairs", pairs)
	}
}

// A SQL credential without scopes of its own is worth load and meta: a
// key holding credentials:write and any subset of the other scopes
// creates, changes and rotates one exactly when it holds those two or
// admin (its own scopes, sql and audit:read, add to them: see
// TestCredentialScopesAdminAPI).
func TestScopeMatrixCredentials(t *testing.T) {
	f := newAdminFixture(t)
	var others []string
	for _, s := range auth.Scopes {
		if s != "credentials:write" {
			others = append(others, s)
		}
	}
	target := f.credential(auth.DefaultTenant, "demo", auth.SecurityContext{})
	for mask := 0; mask < 1<<len(others); mask++ {
		acting := []string{"credentials:write"}
		for i, s := range others {
			if mask&(1<<i) != 0 {
				acting = append(acting, s)
			}
		}
		actor := f.key(auth.DefaultTenant, acting, auth.KeyInput{})
		ok := holds(acting, "load") && holds(acting, "meta")
		status, code := http.StatusCreated, ""
		if !ok {
			status, code = http.StatusForbidden, auth.CodeScopeEscalation
		}
		f.expect("POST", "/admin/v1/credentials", actor, map[string]any{"database": "demo"}, status, code)
		if ok {
			status = http.StatusOK
		}
		f.expect("PATCH", "/admin/v1/credentials/"+target.ID, actor, map[string]any{"label": "x"}, status, code)
		f.expect("POST", "/admin/v1/credentials/"+target.ID+"/rotate", actor, nil, status, code)
	}
}

// A key acts for its own tenant only: it cannot name another tenant for a
// key, move a key, reach another tenant's keys and credentials, or mint a
// credential on another tenant's data source.
func TestTenantCeiling(t *testing.T) {
	f := newAdminFixture(t)
	all := []string{"keys:write", "keys:read", "credentials:write", "credentials:read", "load", "meta", "sql"}
	acme := f.key("acme", all, auth.KeyInput{})
	admin := f.key(auth.DefaultTenant, []string{"admin"}, auth.KeyInput{})
	theirs := f.key(auth.DefaultTenant, []string{"load"}, auth.KeyInput{})
	theirCred := f.credential(auth.DefaultTenant, "demo", auth.SecurityContext{})

	if k := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", acme, map[string]any{"scope_names": []string{"load"}}, 201, "")); k.TenantID != "acme" {
		t.Errorf("acme's key minted for %s", k.TenantID)
	}
	child := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", acme, map[string]any{"scope_names": []string{"load"}, "tenant_id": "acme"}, 201, ""))
	f.expect("POST", "/admin/v1/api_keys", acme, map[string]any{"scope_names": []string{"load"}, "tenant_id": auth.DefaultTenant}, 403, auth.CodeTenantEscalation)
	f.expect("POST", "/admin/v1/api_keys", admin, map[string]any{"scope_names": []string{"load"}, "tenant_id": "acme"}, 403, auth.CodeTenantEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+child.ID, acme, map[string]any{"tenant_id": auth.DefaultTenant}, 403, auth.CodeTenantEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+theirs.ID, acme, map[string]any{"scope_names": []string{"load"}}, 404, "API_KEY_NOT_FOUND")
	f.expect("DELETE", "/admin/v1/api_keys/"+theirs.ID, acme, nil, 404, "API_KEY_NOT_FOUND")

	// Credentials take their data source's tenant: only the key's own.
	f.expect("POST", "/admin/v1/credentials", acme, map[string]any{"database": "demo"}, 400, "BAD_REQUEST")
	f.expect("POST", "/admin/v1/credentials", admin, map[string]any{"database": "kit"}, 400, "BAD_REQUEST")
	if _, _, tenant := decodeCredential(t, f.expect("POST", "/admin/v1/credentials", acme, map[string]any{"database": "kit"}, 201, "")); tenant != "acme" {
		t.Errorf("acme's credential minted for %s", tenant)
	}
	f.expect("PATCH", "/admin/v1/credentials/"+theirCred.ID, acme, map[string]any{"label": "x"}, 404, "NOT_FOUND")
	f.expect("POST", "/admin/v1/credentials/"+theirCred.ID+"/rotate", acme, nil, 404, "NOT_FOUND")

	// Nothing of acme's landed in the default tenant.
	keys, err := f.keys.List(f.ctx, auth.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.CreatedBy == "api_key:"+acme.ID || k.ID == theirs.ID && !slices.Equal(k.Scopes, []string{"load"}) {
			t.Errorf("acme changed the default tenant's key %+v", k)
		}
	}
	creds, err := f.creds.ListCredentials(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.TenantID == auth.DefaultTenant && c.ID != theirCred.ID || c.ID == theirCred.ID && c.Label != "" {
			t.Errorf("acme made or changed the default tenant's credential %+v", c)
		}
	}
}

var (
	webOnly   = auth.RowFilter{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}
	webOrApp  = auth.RowFilter{Member: "orders.channel", Operator: "equals", Values: []string{"web", "app"}}
	bigOrders = auth.RowFilter{Member: "orders.total_amount", Operator: "gt", Values: []string{"100"}}
)

// A filtered key's children inherit its security context when the request
// names none, may add row filters and shorten the allow-list, and may not
// drop or widen either; it cannot change or rotate anything wider than
// itself (it may delete it); what it may change it changes.
func TestSecurityContextCeiling(t *testing.T) {
	f := newAdminFixture(t)
	filtered := auth.SecurityContext{Allow: []string{"orders", "customers.tier"}, RowFilters: []auth.RowFilter{webOnly}}
	fk := f.key(auth.DefaultTenant, []string{"keys:write", "credentials:write", "load", "meta", "sql"}, auth.KeyInput{Security: &filtered})
	same := func(a, b auth.SecurityContext) bool { return a.String() == b.String() }

	// Keys.
	k := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", fk, map[string]any{"scope_names": []string{"load"}}, 201, ""))
	if !same(k.Security, filtered) || !same(f.stored(k.ID).Security, filtered) {
		t.Errorf("the child did not inherit the filter: %+v", k.Security)
	}
	more := auth.SecurityContext{Allow: filtered.Allow, RowFilters: []auth.RowFilter{webOnly, bigOrders}}
	if k := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", fk, map[string]any{"scope_names": []string{"load"}, "security_context": more}, 201, "")); !same(k.Security, more) {
		t.Errorf("added filter: %+v", k.Security)
	}
	member := auth.SecurityContext{Allow: []string{"orders.status"}, RowFilters: []auth.RowFilter{webOnly}}
	f.expect("POST", "/admin/v1/api_keys", fk, map[string]any{"scope_names": []string{"load"}, "security_context": member}, 201, "")
	for name, sc := range map[string]auth.SecurityContext{
		"none":              {},
		"filter dropped":    {Allow: filtered.Allow},
		"filter widened":    {Allow: filtered.Allow, RowFilters: []auth.RowFilter{webOrApp}},
		"allow-list wider":  {Allow: []string{"orders", "customers"}, RowFilters: []auth.RowFilter{webOnly}},
		"allow-list gone":   {RowFilters: []auth.RowFilter{webOnly}},
		"filter replaced":   {Allow: filtered.Allow, RowFilters: []auth.RowFilter{bigOrders}},
		"other cube member": {Allow: []string{"products.name"}, RowFilters: []auth.RowFilter{webOnly}},
	} {
		a := f.expect("POST", "/admin/v1/api_keys", fk, map[string]any{"scope_names": []string{"load"}, "security_context": sc}, 403, auth.CodeSecurityEscalation)
		if a.status != 403 {
			t.Errorf("%s: minted", name)
		}
	}
	f.expect("PATCH", "/admin/v1/api_keys/"+k.ID, fk, map[string]any{"security_context": auth.SecurityContext{}}, 403, auth.CodeSecurityEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+k.ID, fk, map[string]any{"security_context": more}, 200, "")
	if !same(f.stored(k.ID).Security, more) {
		t.Errorf("narrowed child stored as %+v", f.stored(k.ID).Security)
	}

	// Credentials.
	id, sec, _ := decodeCredential(t, f.expect("POST", "/admin/v1/credentials", fk, map[string]any{"database": "demo", "label": "bi"}, 201, ""))
	if got, _ := f.creds.GetCredential(f.ctx, id); !same(sec, filtered) || !same(got.Security, filtered) {
		t.Errorf("the credential did not inherit the filter: %+v", sec)
	}
	f.expect("POST", "/admin/v1/credentials", fk, map[string]any{"database": "demo", "security_context": auth.SecurityContext{}}, 403, auth.CodeSecurityEscalation)
	f.expect("POST", "/admin/v1/credentials", fk, map[string]any{"database": "demo", "security_context": auth.SecurityContext{Allow: filtered.Allow}}, 403, auth.CodeSecurityEscalation)
	f.expect("POST", "/admin/v1/credentials", fk, map[string]any{"database": "demo", "security_context": more}, 201, "")
	f.expect("PATCH", "/admin/v1/credentials/"+id, fk, map[string]any{"security_context": auth.SecurityContext{}}, 403, auth.CodeSecurityEscalation)
	f.expect("PATCH", "/admin/v1/credentials/"+id, fk, map[string]any{"label": "renamed"}, 200, "")
	f.expect("POST", "/admin/v1/credentials/"+id+"/rotate", fk, nil, 200, "")
	if got, _ := f.creds.GetCredential(f.ctx, id); !same(got.Security, filtered) || got.Label != "renamed" {
		t.Errorf("credential after updates: %+v", got)
	}

	// Keys and credentials wider than the filtered key.
	open := f.key(auth.DefaultTenant, []string{"load"}, auth.KeyInput{})
	openCred := f.credential(auth.DefaultTenant, "demo", auth.SecurityContext{})
	f.expect("PATCH", "/admin/v1/api_keys/"+open.ID, fk, map[string]any{"description": "x"}, 403, auth.CodeSecurityEscalation)
	f.expect("PATCH", "/admin/v1/credentials/"+openCred.ID, fk, map[string]any{"label": "x"}, 403, auth.CodeSecurityEscalation)
	f.expect("POST", "/admin/v1/credentials/"+openCred.ID+"/rotate", fk, nil, 403, auth.CodeSecurityEscalation)
	// Narrowing a wider credential would let the key rotate it and log in
	// as it; revoking or deleting wider ones would lock their owners out.
	f.expect("PATCH", "/admin/v1/credentials/"+openCred.ID, fk, map[string]any{"security_context": filtered}, 403, auth.CodeSecurityEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+open.ID, fk, map[string]any{"security_context": filtered}, 403, auth.CodeSecurityEscalation)
	f.expect("DELETE", "/admin/v1/api_keys/"+open.ID, fk, nil, 403, auth.CodeSecurityEscalation)
	f.expect("DELETE", "/admin/v1/credentials/"+openCred.ID, fk, nil, 403, auth.CodeSecurityEscalation)
	if got, _ := f.creds.GetCredential(f.ctx, openCred.ID); !same(got.Security, auth.SecurityContext{}) {
		t.Errorf("the wider credential was changed: %+v", got.Security)
	}

	// Itself: only narrower; its children then inherit the narrower context.
	f.expect("PATCH", "/admin/v1/api_keys/"+fk.ID, fk, map[string]any{"security_context": auth.SecurityContext{}}, 403, auth.CodeSecurityEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+fk.ID, fk, map[string]any{"security_context": auth.SecurityContext{Allow: filtered.Allow}}, 403, auth.CodeSecurityEscalation)
	if !same(f.stored(fk.ID).Security, filtered) {
		t.Fatalf("the key widened itself: %+v", f.stored(fk.ID).Security)
	}
	f.expect("PATCH", "/admin/v1/api_keys/"+fk.ID, fk, map[string]any{"security_context": more}, 200, "")
	if k := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", fk, map[string]any{"scope_names": []string{"load"}}, 201, "")); !same(k.Security, more) {
		t.Errorf("child of the narrowed key: %+v", k.Security)
	}
}

// A key cannot widen itself by PATCH: not to admin, not to a scope it
// lacks, not to more addresses or a later expiry; narrowing works, and
// what it mints inherits its addresses and expiry.
func TestSelfPatchEscalation(t *testing.T) {
	f := newAdminFixture(t)
	w := f.key(auth.DefaultTenant, []string{"keys:write"}, auth.KeyInput{})
	f.expect("PATCH", "/admin/v1/api_keys/"+w.ID, w, map[string]any{"scope_names": []string{"keys:write", "admin"}}, 403, auth.CodeScopeEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+w.ID, w, map[string]any{"scope_names": []string{"admin"}}, 403, auth.CodeScopeEscalation)
	f.expect("POST", "/admin/v1/api_keys", w, map[string]any{"scope_names": []string{"admin"}}, 403, auth.CodeScopeEscalation)
	f.expect("POST", "/admin/v1/api_keys", w, map[string]any{"scope_names": []string{"keys:write", "load"}}, 403, auth.CodeScopeEscalation)
	if got := f.stored(w.ID).Scopes; !slices.Equal(got, []string{"keys:write"}) {
		t.Fatalf("scopes now %v", got)
	}

	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	ipk := f.key(auth.DefaultTenant, []string{"keys:write", "load"}, auth.KeyInput{AllowIPs: &[]string{"127.0.0.1"}, ExpiresAt: &soon})
	f.expect("PATCH", "/admin/v1/api_keys/"+ipk.ID, ipk, map[string]any{"allow_ips": []string{}}, 403, auth.CodeAllowIPEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+ipk.ID, ipk, map[string]any{"allow_ips": []string{"0.0.0.0/0"}}, 403, auth.CodeAllowIPEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+ipk.ID, ipk, map[string]any{"allow_ips": []string{"127.0.0.1", "10.0.0.1"}}, 403, auth.CodeAllowIPEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+ipk.ID, ipk, map[string]any{"expires_at": soon.Add(time.Hour)}, 403, auth.CodeExpiryEscalation)
	if got := f.stored(ipk.ID); !slices.Equal(got.AllowIPs, []string{"127.0.0.1/32"}) || !got.ExpiresAt.Equal(soon) {
		t.Fatalf("the key widened itself: %v %v", got.AllowIPs, got.ExpiresAt)
	}
	earlier := soon.Add(-time.Minute)
	f.expect("PATCH", "/admin/v1/api_keys/"+ipk.ID, ipk, map[string]any{"allow_ips": []string{"127.0.0.1/32"}, "expires_at": earlier}, 200, "")
	child := decodeAPIKey(t, f.expect("POST", "/admin/v1/api_keys", ipk, map[string]any{"scope_names": []string{"load"}}, 201, ""))
	if !slices.Equal(child.AllowIPs, []string{"127.0.0.1/32"}) || child.ExpiresAt == nil || !child.ExpiresAt.Equal(earlier) {
		t.Errorf("child %v %v", child.AllowIPs, child.ExpiresAt)
	}
	f.expect("POST", "/admin/v1/api_keys", ipk, map[string]any{"scope_names": []string{"load"}, "allow_ips": []string{"10.0.0.1"}}, 403, auth.CodeAllowIPEscalation)
	f.expect("POST", "/admin/v1/api_keys", ipk, map[string]any{"scope_names": []string{"load"}, "expires_at": soon}, 403, auth.CodeExpiryEscalation)

	// A credential has neither an address limit nor an expiry: a key
	// limited by either mints none.
	ipc := f.key(auth.DefaultTenant, []string{"credentials:write", "load", "meta", "sql"}, auth.KeyInput{AllowIPs: &[]string{"127.0.0.1"}})
	f.expect("POST", "/admin/v1/credentials", ipc, map[string]any{"database": "demo"}, 403, auth.CodeAllowIPEscalation)
	exc := f.key(auth.DefaultTenant, []string{"credentials:write", "load", "meta", "sql"}, auth.KeyInput{ExpiresAt: &soon})
	f.expect("POST", "/admin/v1/credentials", exc, map[string]any{"database": "demo"}, 403, auth.CodeExpiryEscalation)

	// Narrowing itself works, and sticks.
	n := f.key(auth.DefaultTenant, []string{"keys:write", "load"}, auth.KeyInput{})
	f.expect("PATCH", "/admin/v1/api_keys/"+n.ID, n, map[string]any{"scope_names": []string{"load"}}, 200, "")
	f.expect("PATCH", "/admin/v1/api_keys/"+n.ID, n, map[string]any{"scope_names": []string{"keys:write", "load"}}, 403, "ACCESS_DENIED_PERMISSIONS")
}

// TestRevokeCeiling: a key revokes only keys within its own rights — a
// keys:write key cannot lock out an admin key — and always itself.
func TestRevokeCeiling(t *testing.T) {
	f := newAdminFixture(t)
	w := f.key(auth.DefaultTenant, []string{"keys:write", "load"}, auth.KeyInput{})
	admin := f.key(auth.DefaultTenant, []string{"admin"}, auth.KeyInput{})
	wider := f.key(auth.DefaultTenant, []string{"load", "meta"}, auth.KeyInput{})
	narrower := f.key(auth.DefaultTenant, []string{"load"}, auth.KeyInput{})
	f.expect("DELETE", "/admin/v1/api_keys/"+admin.ID, w, nil, 403, auth.CodeScopeEscalation)
	f.expect("DELETE", "/admin/v1/api_keys/"+wider.ID, w, nil, 403, auth.CodeScopeEscalation)
	f.expect("PATCH", "/admin/v1/api_keys/"+wider.ID, w, map[string]any{"scope_names": []string{"load"}}, 403, auth.CodeScopeEscalation)
	f.expect("DELETE", "/admin/v1/api_keys/"+narrower.ID, w, nil, 200, "")
	f.expect("DELETE", "/admin/v1/api_keys/"+w.ID, w, nil, 200, "")
	f.expect("DELETE", "/admin/v1/api_keys/"+wider.ID, admin, nil, 200, "")
	if f.stored(admin.ID).RevokedAt != nil {
		t.Fatal("the admin key was revoked")
	}
}

// TestActAsCeiling: a credential that acts for team members (act_as,
// the operator's to grant) is changed, rotated or deleted only by an
// admin key; the API cannot grant act_as at all.
func TestActAsCeiling(t *testing.T) {
	f := newAdminFixture(t)
	c, _, err := f.creds.CreateCredential(f.ctx, auth.CreateCredentialInput{Database: "demo", ActAs: true})
	if err != nil {
		t.Fatal(err)
	}
	writer := f.key(auth.DefaultTenant, []string{"credentials:read", "credentials:write", "load", "meta", "sql"}, auth.KeyInput{})
	root := f.key(auth.DefaultTenant, []string{"admin"}, auth.KeyInput{})
	path := "/admin/v1/credentials/" + c.ID
	f.expect("PATCH", path, writer, map[string]any{"label": "narrowed"}, http.StatusForbidden, auth.CodeActAsEscalation)
	f.expect("POST", path+"/rotate", writer, nil, http.StatusForbidden, auth.CodeActAsEscalation)
	f.expect("DELETE", path, writer, nil, http.StatusForbidden, auth.CodeActAsEscalation)
	f.expect("POST", "/admin/v1/credentials", root, map[string]any{"database": "demo", "act_as": true}, http.StatusBadRequest, "BAD_REQUEST")
	f.expect("PATCH", path, root, map[string]any{"label": "service"}, http.StatusOK, "")
	if got, err := f.creds.GetCredential(f.ctx, c.ID); err != nil || !got.ActAs || got.Label != "service" {
		t.Fatalf("after an admin's change: %+v %v", got, err)
	}
}
