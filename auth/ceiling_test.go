package auth

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// escCode is the code of a refusal by the ceiling ("" for none; the test
// fails on any other error).
func escCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var esc *EscalationError
	if !errors.As(err, &esc) || !errors.Is(err, ErrEscalation) {
		t.Fatalf("not an escalation error: %#v", err)
	}
	return esc.Code
}

// subsets returns every subset of s (2^len(s)).
func subsets(s []string) [][]string {
	out := make([][]string, 0, 1<<len(s))
	for mask := 0; mask < 1<<len(s); mask++ {
		var sub []string
		for i, x := range s {
			if mask&(1<<i) != 0 {
				sub = append(sub, x)
			}
		}
		out = append(out, sub)
	}
	return out
}

// Every pair of scope sets (all 512 × 512 subsets of Scopes): a key may
// grant exactly the scopes it holds, any scope when it holds admin, and
// admin only when it holds admin.
func TestCeilingScopesEverySubset(t *testing.T) {
	all := subsets(Scopes)
	n := 0
	for _, held := range all {
		actor := Actor{Kind: "api_key", TenantID: DefaultTenant, Scopes: held}
		isAdmin := slices.Contains(held, "admin")
		for _, asked := range all {
			want := isAdmin
			if !want {
				want = true
				for _, s := range asked {
					if !slices.Contains(held, s) {
						want = false
					}
				}
			}
			code := escCode(t, Ceiling(actor, Grant{Kind: "api_key", TenantID: DefaultTenant, Scopes: asked}))
			if got := code == ""; got != want || (!got && code != CodeScopeEscalation) {
				t.Fatalf("holding %v, granting %v: %q, want allowed=%v", held, asked, code, want)
			}
			if slices.Contains(asked, "admin") && !isAdmin && code == "" {
				t.Fatalf("holding %v granted admin", held)
			}
			n++
		}
	}
	if n != 512*512 {
		t.Fatalf("%d pairs", n)
	}
}

// A SQL credential is worth load and meta, plus its own scopes (sql,
// audit:read): a key mints or changes one only holding them all (or
// admin); a credential hands out only the scopes it holds.
func TestCeilingCredentialScopes(t *testing.T) {
	others := slices.DeleteFunc(slices.Clone(Scopes), func(s string) bool { return s == "credentials:write" })
	for _, own := range [][]string{nil, {"sql"}, {"audit:read"}, {"audit:read", "sql"}} {
		for _, held := range subsets(others) {
			held = append(held, "credentials:write")
			actor := Actor{Kind: "api_key", TenantID: DefaultTenant, Scopes: held}
			want := slices.Contains(held, "admin") || slices.Contains(held, "load") && slices.Contains(held, "meta") &&
				!slices.ContainsFunc(own, func(s string) bool { return !slices.Contains(held, s) })
			code := escCode(t, Ceiling(actor, CredentialGrant(Credential{TenantID: DefaultTenant, Database: "demo", Scopes: own})))
			if (code == "") != want || (code != "" && code != CodeScopeEscalation) {
				t.Fatalf("holding %v, minting a credential with scopes %v: %q, want allowed=%v", held, own, code, want)
			}
		}
	}
	// A credential as an actor holds its own scopes, no more.
	plain := CredentialActor(Principal{TenantID: DefaultTenant, Database: "demo"})
	withSQL := CredentialActor(Principal{TenantID: DefaultTenant, Database: "demo", Scopes: []string{"sql"}})
	for _, c := range []struct {
		actor Actor
		own   []string
		code  string
	}{
		{plain, nil, ""},
		{plain, []string{"sql"}, CodeScopeEscalation},
		{plain, []string{"audit:read"}, CodeScopeEscalation},
		{withSQL, []string{"sql"}, ""},
		{withSQL, []string{"audit:read", "sql"}, CodeScopeEscalation},
	} {
		if code := escCode(t, Ceiling(c.actor, CredentialGrant(Credential{TenantID: DefaultTenant, Database: "demo", Scopes: c.own}))); code != c.code {
			t.Errorf("%v granting a credential %v: %q, want %q", c.actor.Scopes, c.own, code, c.code)
		}
	}
}

func TestCeilingTenantAndDataSource(t *testing.T) {
	admin := Actor{Kind: "api_key", TenantID: "acme", Scopes: []string{"admin"}}
	for _, c := range []struct {
		actor Actor
		g     Grant
		code  string
	}{
		{admin, Grant{Kind: "api_key", TenantID: "acme", Scopes: []string{"admin"}}, ""},
		{admin, Grant{Kind: "api_key", TenantID: DefaultTenant, Scopes: []string{"load"}}, CodeTenantEscalation},
		{admin, Grant{Kind: "api_key", TenantID: "", Scopes: []string{"load"}}, CodeTenantEscalation}, // "" is the default tenant
		{Actor{Kind: "api_key", Scopes: []string{"admin"}}, Grant{Kind: "api_key", Scopes: []string{"load"}}, ""},
		{Actor{Kind: "api_key", Scopes: []string{"admin"}}, Grant{Kind: "api_key", TenantID: "acme", Scopes: []string{"load"}}, CodeTenantEscalation},
		{admin, CredentialGrant(Credential{TenantID: "acme", Database: "kit"}), ""},
		{admin, CredentialGrant(Credential{TenantID: DefaultTenant, Database: "demo"}), CodeTenantEscalation},
		// A credential acts on its own data source only; a key on any of
		// its tenant's.
		{CredentialActor(Principal{TenantID: "acme", Database: "kit"}), CredentialGrant(Credential{TenantID: "acme", Database: "kit"}), ""},
		{CredentialActor(Principal{TenantID: "acme", Database: "kit"}), CredentialGrant(Credential{TenantID: "acme", Database: "kit2"}), CodeDataSourceEscalation},
		{CredentialActor(Principal{TenantID: "acme", Database: "kit"}), CredentialGrant(Credential{TenantID: DefaultTenant, Database: "kit"}), CodeTenantEscalation},
	} {
		if code := escCode(t, Ceiling(c.actor, c.g)); code != c.code {
			t.Errorf("%+v → %+v: %q, want %q", c.actor, c.g, code, c.code)
		}
	}
}

var (
	web       = RowFilter{Member: "orders.channel", Operator: "equals", Values: []string{"web"}}
	webApp    = RowFilter{Member: "orders.channel", Operator: "equals", Values: []string{"web", "app"}}
	bigOrders = RowFilter{Member: "orders.total_amount", Operator: "gt", Values: []string{"100"}}
)

// "Narrower" precisely: every row filter of the parent's, unchanged, and
// an allow-list inside the parent's.
func TestSecurityCovers(t *testing.T) {
	for _, c := range []struct {
		name          string
		parent, child SecurityContext
		ok            bool
	}{
		{"nothing, nothing", SecurityContext{}, SecurityContext{}, true},
		{"nothing, anything", SecurityContext{}, SecurityContext{Allow: []string{"orders"}, RowFilters: []RowFilter{web}}, true},
		{"same filter", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{RowFilters: []RowFilter{web}}, true},
		{"a filter more", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{RowFilters: []RowFilter{bigOrders, web}}, true},
		{"filter dropped", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{}, false},
		{"one of two dropped", SecurityContext{RowFilters: []RowFilter{web, bigOrders}}, SecurityContext{RowFilters: []RowFilter{bigOrders}}, false},
		{"filter widened", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{RowFilters: []RowFilter{webApp}}, false},
		{"operator changed", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{RowFilters: []RowFilter{{Member: "orders.channel", Operator: "notEquals", Values: []string{"web"}}}}, false},
		{"filter and allow-list", SecurityContext{RowFilters: []RowFilter{web}}, SecurityContext{Allow: []string{"orders"}, RowFilters: []RowFilter{web}}, true},
		{"same allow-list", SecurityContext{Allow: []string{"orders", "customers.tier"}}, SecurityContext{Allow: []string{"orders", "customers.tier"}}, true},
		{"shorter allow-list", SecurityContext{Allow: []string{"orders", "customers.tier"}}, SecurityContext{Allow: []string{"customers.tier"}}, true},
		{"a member of an allowed cube", SecurityContext{Allow: []string{"orders"}}, SecurityContext{Allow: []string{"orders.status"}}, true},
		{"allow-list dropped", SecurityContext{Allow: []string{"orders"}}, SecurityContext{}, false},
		{"another cube", SecurityContext{Allow: []string{"orders"}}, SecurityContext{Allow: []string{"orders", "customers"}}, false},
		{"the cube of an allowed member", SecurityContext{Allow: []string{"customers.tier"}}, SecurityContext{Allow: []string{"customers"}}, false},
		{"another member", SecurityContext{Allow: []string{"customers.tier"}}, SecurityContext{Allow: []string{"customers.name"}}, false},
		{"allow-list kept, filter dropped", SecurityContext{Allow: []string{"orders"}, RowFilters: []RowFilter{web}}, SecurityContext{Allow: []string{"orders"}}, false},
	} {
		err := c.parent.Covers(c.child)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
		code := escCode(t, Ceiling(Actor{Kind: "api_key", Scopes: []string{"admin"}, Security: c.parent},
			Grant{Kind: "api_key", Scopes: []string{"load"}, Security: c.child}))
		if (code == "") != c.ok || (code != "" && code != CodeSecurityEscalation) {
			t.Errorf("%s: ceiling %q", c.name, code)
		}
	}
}

func TestCeilingAllowIPsAndExpiry(t *testing.T) {
	p := func(s ...string) []netip.Prefix {
		out, err := parseAllowIPs(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	soon := time.Now().Add(time.Hour)
	later := soon.Add(time.Hour)
	earlier := soon.Add(-time.Minute)
	limited := Actor{Kind: "api_key", Scopes: []string{"admin"}, AllowIPs: p("10.0.0.0/8", "::1")}
	expiring := Actor{Kind: "api_key", Scopes: []string{"admin"}, ExpiresAt: &soon}
	key := func(ips []netip.Prefix, exp *time.Time) Grant {
		return Grant{Kind: "api_key", Scopes: []string{"load"}, AllowIPs: ips, ExpiresAt: exp}
	}
	cred := CredentialGrant(Credential{Database: "demo"})
	for i, c := range []struct {
		actor Actor
		g     Grant
		code  string
	}{
		{limited, key(p("10.0.0.0/8"), nil), ""},
		{limited, key(p("10.1.2.3", "::1"), nil), ""},
		{limited, key(p("10.1.0.0/16"), nil), ""},
		{limited, key(nil, nil), CodeAllowIPEscalation},
		{limited, key(p("0.0.0.0/0"), nil), CodeAllowIPEscalation},
		{limited, key(p("10.0.0.0/7"), nil), CodeAllowIPEscalation},
		{limited, key(p("10.0.0.1", "192.168.0.1"), nil), CodeAllowIPEscalation},
		{limited, key(p("::/0"), nil), CodeAllowIPEscalation},
		{limited, cred, CodeAllowIPEscalation},
		{expiring, key(nil, &soon), ""},
		{expiring, key(nil, &earlier), ""},
		{expiring, key(nil, nil), CodeExpiryEscalation},
		{expiring, key(nil, &later), CodeExpiryEscalation},
		{expiring, cred, CodeExpiryEscalation},
		{Actor{Kind: "api_key", Scopes: []string{"admin"}}, key(nil, nil), ""},
		{Actor{Kind: "api_key", Scopes: []string{"admin"}}, cred, ""},
	} {
		if code := escCode(t, Ceiling(c.actor, c.g)); code != c.code {
			t.Errorf("%d: %q, want %q", i, code, c.code)
		}
	}
}

// A credential filtered by a security context, acting, mints nothing
// wider: not an unrestricted key, not an unrestricted credential, no
// management scope.
func TestCeilingFilteredCredential(t *testing.T) {
	p := Principal{CredentialID: "c1", TenantID: DefaultTenant, Database: "demo", Security: SecurityContext{RowFilters: []RowFilter{web}}}
	a := CredentialActor(p)
	for i, c := range []struct {
		g    Grant
		code string
	}{
		{Grant{Kind: "api_key", Scopes: []string{"load"}}, CodeSecurityEscalation},
		{Grant{Kind: "api_key", Scopes: []string{"load"}, Security: p.Security}, ""},
		{Grant{Kind: "api_key", Scopes: []string{"load", "meta"}, Security: SecurityContext{RowFilters: []RowFilter{web, bigOrders}}}, ""},
		// sql (the warehouse SQL) is a credential's own scope: this one lacks it.
		{Grant{Kind: "api_key", Scopes: []string{"load", "meta", "sql"}, Security: SecurityContext{RowFilters: []RowFilter{web, bigOrders}}}, CodeScopeEscalation},
		{Grant{Kind: "api_key", Scopes: []string{"keys:write"}, Security: p.Security}, CodeScopeEscalation},
		{Grant{Kind: "api_key", Scopes: []string{"admin"}, Security: p.Security}, CodeScopeEscalation},
		{CredentialGrant(Credential{Database: "demo"}), CodeSecurityEscalation},
		{CredentialGrant(Credential{Database: "demo", Security: p.Security}), ""},
		{CredentialGrant(Credential{Database: "other", Security: p.Security}), CodeDataSourceEscalation},
	} {
		if code := escCode(t, Ceiling(a, c.g)); code != c.code {
			t.Errorf("%d: %q, want %q", i, code, c.code)
		}
	}
	// What a creation request leaves out is the actor's.
	var in KeyInput
	a.Inherit(&in)
	if in.Security == nil || a.Security.Covers(*in.Security) != nil || (*in.Security).Covers(a.Security) != nil {
		t.Fatalf("inherited %+v", in.Security)
	}
}

// The key and credential services apply the ceiling on a real store:
// inheritance on creation, refusal of widening on update (of another key
// or of itself) and rotation, with nothing written when refused.
func TestServicesApplyCeiling(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ks := NewKeyService(s, 100)
	defer ks.Close()
	svc, err := NewService(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	filtered := SecurityContext{Allow: []string{"orders"}, RowFilters: []RowFilter{web}}
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	parent, err := ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"keys:write", "credentials:write", "load", "meta", "sql"},
		Security: &filtered, AllowIPs: &[]string{"127.0.0.1"}, ExpiresAt: &soon})
	if err != nil {
		t.Fatal(err)
	}
	actor := KeyActor(parent)

	child, err := ks.CreateAs(ctx, actor, KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	if child.Security.String() != filtered.String() || !slices.Equal(child.AllowIPs, []string{"127.0.0.1/32"}) ||
		child.ExpiresAt == nil || !child.ExpiresAt.Equal(soon) || child.CreatedBy != "api_key:"+parent.ID {
		t.Fatalf("child %+v", child)
	}
	stored, _ := ks.Get(ctx, DefaultTenant, child.ID)
	if stored.Security.String() != filtered.String() {
		t.Fatalf("stored child %+v", stored.Security)
	}
	if _, err := ks.CreateAs(ctx, actor, KeyInput{Scopes: &[]string{"load"}, Security: &SecurityContext{}}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("unfiltered child: %v", err)
	}
	if _, err := ks.CreateAs(ctx, actor, KeyInput{Scopes: &[]string{"admin"}}); escCode(t, err) != CodeScopeEscalation {
		t.Fatalf("admin child: %v", err)
	}
	other := "acme"
	if _, err := ks.CreateAs(ctx, actor, KeyInput{Scopes: &[]string{"load"}, TenantID: &other}); escCode(t, err) != CodeTenantEscalation {
		t.Fatalf("another tenant's key: %v", err)
	}

	// Itself: narrowing is fine, widening refused and not written.
	if _, err := ks.UpdateAs(ctx, actor, parent.ID, KeyInput{Scopes: &[]string{"keys:write", "admin"}}); escCode(t, err) != CodeScopeEscalation {
		t.Fatalf("self to admin: %v", err)
	}
	if _, err := ks.UpdateAs(ctx, actor, parent.ID, KeyInput{Security: &SecurityContext{}}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("self unfiltered: %v", err)
	}
	if _, err := ks.UpdateAs(ctx, actor, parent.ID, KeyInput{AllowIPs: &[]string{}}); escCode(t, err) != CodeAllowIPEscalation {
		t.Fatalf("self from anywhere: %v", err)
	}
	later := soon.Add(time.Hour)
	if _, err := ks.UpdateAs(ctx, actor, parent.ID, KeyInput{ExpiresAt: &later}); escCode(t, err) != CodeExpiryEscalation {
		t.Fatalf("self later: %v", err)
	}
	if got, _ := ks.Get(ctx, DefaultTenant, parent.ID); got.Security.String() != filtered.String() || len(got.Scopes) != 5 || len(got.AllowIPs) != 1 || !got.ExpiresAt.Equal(soon) {
		t.Fatalf("refused updates were written: %+v", got)
	}
	narrower := SecurityContext{Allow: []string{"orders"}, RowFilters: []RowFilter{web, bigOrders}}
	if _, err := ks.UpdateAs(ctx, actor, parent.ID, KeyInput{Security: &narrower}); err != nil {
		t.Fatal(err)
	}

	// A wider key, made by the operator, cannot be changed by this one.
	wide, err := ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	desc := "x"
	if _, err := ks.UpdateAs(ctx, actor, wide.ID, KeyInput{Description: &desc}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("changing a wider key: %v", err)
	}
	// The operator (the CLI) is not limited.
	if _, err := ks.Update(ctx, DefaultTenant, parent.ID, KeyInput{Scopes: &[]string{"admin"}}); err != nil {
		t.Fatal(err)
	}

	// Credentials: the same for a key that holds no address limit or
	// expiry (a credential carries neither).
	plain, err := ks.Create(ctx, DefaultTenant, "op", KeyInput{Scopes: &[]string{"credentials:write", "load", "meta", "sql"}, Security: &filtered})
	if err != nil {
		t.Fatal(err)
	}
	pa := KeyActor(plain)
	c, pw, err := svc.CreateCredentialAs(ctx, pa, CredentialRequest{Label: "bi", Database: "demo"})
	if err != nil || pw == "" || c.Security.String() != filtered.String() {
		t.Fatalf("inherited credential %+v: %v", c, err)
	}
	if _, _, err := svc.CreateCredentialAs(ctx, pa, CredentialRequest{Database: "demo", Security: &SecurityContext{}}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("unfiltered credential: %v", err)
	}
	if _, _, err := svc.CreateCredentialAs(ctx, actor, CredentialRequest{Database: "demo"}); escCode(t, err) != CodeAllowIPEscalation {
		t.Fatalf("credential from an address-limited key: %v", err)
	}
	if _, err := svc.UpdateCredentialAs(ctx, pa, c.ID, UpdateCredentialInput{Security: &SecurityContext{}}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("credential unfiltered by update: %v", err)
	}
	if got, _ := svc.GetCredential(ctx, c.ID); got.Security.String() != filtered.String() {
		t.Fatalf("refused update written: %+v", got.Security)
	}
	if _, _, err := svc.RotatePasswordAs(ctx, pa, c.ID); err != nil {
		t.Fatal(err)
	}
	open, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Database: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.RotatePasswordAs(ctx, pa, open.ID); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("rotating a wider credential: %v", err)
	}
	label := "x"
	if _, err := svc.UpdateCredentialAs(ctx, pa, open.ID, UpdateCredentialInput{Label: &label}); escCode(t, err) != CodeSecurityEscalation {
		t.Fatalf("changing a wider credential: %v", err)
	}
	if _, err := s.CreateTenant(ctx, "acme", "", "op"); err != nil {
		t.Fatal(err)
	}
	theirs, _, err := svc.CreateCredential(ctx, CreateCredentialInput{Database: "kit", TenantID: "acme", Security: filtered})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.RotatePasswordAs(ctx, pa, theirs.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's credential: %v", err)
	}
}
