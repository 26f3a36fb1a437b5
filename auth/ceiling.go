package auth

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Scopes are a ceiling. A key (or a credential) that creates or changes
// a key or a credential can only hand out what it holds itself:
//
//   - scopes: every scope of the result is one the actor holds; admin
//     counts as every scope, so only admin grants admin. A SQL credential
//     reads rows and the catalog, so it is worth CredentialScopes, plus
//     its own scopes (sql: the warehouse SQL in EXPLAIN; audit:read: the
//     tenant's whole audit log): minting or changing one needs them all.
//   - tenant: the result belongs to the actor's tenant.
//   - data sources: a credential's data source is one the actor may use
//     (a key: any of its tenant's; a credential: its own).
//   - security context: the result's is the actor's plus restrictions,
//     never fewer — every row filter of the actor's is in the result's
//     (same member, operator and values, in order), and when the actor has an
//     allow-list the result has one too, each entry inside the actor's
//     ("orders.status" is inside "orders" or "orders.status"; "orders" is
//     inside "orders" only). More row filters or a shorter allow-list
//     only narrow: row filters are ANDed to every query.
//   - addresses: when the actor may be used only from some addresses, a
//     key it makes is limited to addresses inside those (every prefix of
//     the result's allow_ips inside one of the actor's).
//   - expiry: when the actor expires, a key it makes expires no later.
//
// Credentials have no allow-list or expiry, so an actor limited by either
// cannot make or change one (it would outlive or escape its maker).
//
// The rule applies to the whole result, after the request's changes, so
// a key cannot widen itself by PATCH, nor change a key or credential
// that is already wider than itself (rotating a wider credential's
// password, say). On creation, a request that omits the security
// context, allow_ips or expires_at inherits the actor's (Inherit).
// Revoking and deleting only take power away and are not limited.
//
// The CLI acts with the state store directly, as the machine's operator,
// and is not limited: it takes no key.

// CredentialScopes are what every SQL credential can do, as key scopes;
// a credential's own Scopes add to them.
var CredentialScopes = []string{"load", "meta"}

// credentialScopes are what credential scopes own are worth as key scopes.
func credentialScopes(own []string) []string {
	out := slices.Clone(CredentialScopes)
	for _, s := range own {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// The codes of a refusal by the ceiling (HTTP 403).
const (
	CodeScopeEscalation      = "SCOPE_ESCALATION"
	CodeTenantEscalation     = "TENANT_ESCALATION"
	CodeDataSourceEscalation = "DATA_SOURCE_ESCALATION"
	CodeSecurityEscalation   = "SECURITY_CONTEXT_ESCALATION"
	CodeAllowIPEscalation    = "ALLOW_IP_ESCALATION"
	CodeExpiryEscalation     = "EXPIRY_ESCALATION"
	CodeActAsEscalation      = "ACT_AS_ESCALATION"
)

// ErrEscalation matches (errors.Is) every refusal by the ceiling.
var ErrEscalation = errors.New("beyond the actor's own rights")

// EscalationError is a refusal by the ceiling: Code is one of the Code…
// constants.
type EscalationError struct {
	Code    string
	Message string
}

func (e *EscalationError) Error() string        { return e.Code + ": " + e.Message }
func (e *EscalationError) Is(target error) bool { return target == ErrEscalation }

func escalation(code, format string, args ...any) *EscalationError {
	return &EscalationError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Actor is who creates or changes a key or credential.
type Actor struct {
	// Kind is "api_key" or "credential"; ID its id.
	Kind string
	ID   string
	// TenantID is the actor's tenant.
	TenantID string
	// Scopes are what the actor holds.
	Scopes []string
	// DataSources are the data sources the actor may use; nil: every
	// data source of its tenant.
	DataSources []string
	// Security is the actor's security context.
	Security SecurityContext
	// AllowIPs are the addresses the actor may be used from (none: any).
	AllowIPs []netip.Prefix
	// ExpiresAt is when the actor stops working (nil: never).
	ExpiresAt *time.Time
}

// KeyActor is an API key as an actor.
func KeyActor(k APIKey) Actor {
	return Actor{Kind: "api_key", ID: k.ID, TenantID: k.TenantID, Scopes: slices.Clone(k.Scopes), Security: k.Security,
		AllowIPs: slices.Clone(k.allow), ExpiresAt: k.ExpiresAt}
}

// CredentialActor is a SQL credential's principal as an actor: it holds
// CredentialScopes and its own scopes on its own data source.
func CredentialActor(p Principal) Actor {
	return Actor{Kind: "credential", ID: p.CredentialID, TenantID: p.TenantID, Scopes: credentialScopes(p.Scopes),
		DataSources: []string{p.Database}, Security: p.Security}
}

// name is the actor as messages name it.
func (a Actor) name() string {
	if a.Kind == "credential" {
		return "this credential"
	}
	return "this key"
}

// holds reports whether the actor holds scope (admin holds every scope).
func (a Actor) holds(scope string) bool {
	return slices.Contains(a.Scopes, scope) || slices.Contains(a.Scopes, "admin")
}

// Grant is a key or credential as it would be stored once the request is
// applied: what Ceiling compares with its actor.
type Grant struct {
	// Kind is "api_key" or "credential".
	Kind     string
	TenantID string
	// Scopes: a key's scopes; for a credential, CredentialScopes and its
	// own.
	Scopes []string
	// DataSource is a credential's data source ("" for a key).
	DataSource string
	Security   SecurityContext
	// ActAs: a credential that may act for team members (see
	// Credential.ActAs): an admin key's or the operator's to hold.
	ActAs bool
	// AllowIPs and ExpiresAt are a key's (a credential has neither).
	AllowIPs  []netip.Prefix
	ExpiresAt *time.Time
}

// KeyGrant is key k as a grant.
func KeyGrant(k APIKey) Grant {
	return Grant{Kind: "api_key", TenantID: k.TenantID, Scopes: k.Scopes, Security: k.Security, AllowIPs: k.allow, ExpiresAt: k.ExpiresAt}
}

// CredentialGrant is credential c as a grant.
func CredentialGrant(c Credential) Grant {
	return Grant{Kind: "credential", TenantID: c.TenantID, Scopes: credentialScopes(c.Scopes), DataSource: c.Database, Security: c.Security, ActAs: c.ActAs}
}

// Ceiling returns nil when actor may create or hold g, else an
// *EscalationError saying which of its limits g exceeds (see the rule
// above).
func Ceiling(actor Actor, g Grant) error {
	tenant := g.TenantID
	if tenant == "" {
		tenant = DefaultTenant
	}
	if actorTenant := cmp.Or(actor.TenantID, DefaultTenant); tenant != actorTenant {
		return escalation(CodeTenantEscalation, "%s belongs to tenant %s and cannot act for tenant %s", actor.name(), actorTenant, tenant)
	}
	var beyond []string
	for _, s := range g.Scopes {
		if !actor.holds(s) && !slices.Contains(beyond, s) {
			beyond = append(beyond, s)
		}
	}
	if len(beyond) > 0 {
		what := "scope"
		if len(beyond) > 1 {
			what = "scopes"
		}
		if g.Kind == "credential" {
			return escalation(CodeScopeEscalation, "a SQL credential reads rows and the catalog (scopes %s), and holds its own scopes; %s lacks %s %s",
				strings.Join(g.Scopes, ", "), actor.name(), what, strings.Join(beyond, ", "))
		}
		return escalation(CodeScopeEscalation, "%s holds %s and cannot grant the %s %s (only scopes it holds; only admin grants admin)",
			actor.name(), scopeList(actor.Scopes), what, strings.Join(beyond, ", "))
	}
	if g.ActAs && !actor.holds("admin") {
		// It reads with any member's security context: wider than any
		// context the actor could check it against.
		return escalation(CodeActAsEscalation, "a credential that acts for team members (act_as) is the operator's or an admin key's to change, rotate or delete; %s is neither", actor.name())
	}
	if g.DataSource != "" && actor.DataSources != nil && !slices.Contains(actor.DataSources, g.DataSource) {
		return escalation(CodeDataSourceEscalation, "%s may use data source %s only, not %q", actor.name(), strings.Join(actor.DataSources, ", "), g.DataSource)
	}
	if err := actor.Security.Covers(g.Security); err != nil {
		return escalation(CodeSecurityEscalation, "the security context must keep %s's restrictions (it may add more): %v", actor.name(), err)
	}
	if len(actor.AllowIPs) > 0 {
		if g.Kind == "credential" {
			return escalation(CodeAllowIPEscalation, "%s may be used only from %s; a SQL credential has no address limit, so it cannot make or change one",
				actor.name(), prefixList(actor.AllowIPs))
		}
		if len(g.AllowIPs) == 0 {
			return escalation(CodeAllowIPEscalation, "%s may be used only from %s; allow_ips must stay within them (an empty list allows every address)",
				actor.name(), prefixList(actor.AllowIPs))
		}
		for _, p := range g.AllowIPs {
			if !slices.ContainsFunc(actor.AllowIPs, func(q netip.Prefix) bool { return prefixWithin(p, q) }) {
				return escalation(CodeAllowIPEscalation, "allow_ips %s is outside %s's addresses (%s)", p, actor.name(), prefixList(actor.AllowIPs))
			}
		}
	}
	if actor.ExpiresAt != nil {
		if g.Kind == "credential" {
			return escalation(CodeExpiryEscalation, "%s expires at %s; a SQL credential never expires, so it cannot make or change one",
				actor.name(), actor.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if g.ExpiresAt == nil || g.ExpiresAt.After(*actor.ExpiresAt) {
			return escalation(CodeExpiryEscalation, "%s expires at %s; expires_at must be no later", actor.name(), actor.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// Inherit fills what a creation request left out with the actor's own
// limits: its security context, allow-list and expiry.
func (a Actor) Inherit(in *KeyInput) {
	if in.Security == nil {
		sc := a.Security.clone()
		in.Security = &sc
	}
	if in.AllowIPs == nil && len(a.AllowIPs) > 0 {
		ips := make([]string, len(a.AllowIPs))
		for i, p := range a.AllowIPs {
			ips[i] = p.String()
		}
		in.AllowIPs = &ips
	}
	if in.ExpiresAt == nil && a.ExpiresAt != nil {
		t := *a.ExpiresAt
		in.ExpiresAt = &t
	}
}

// Covers returns nil when child is sc plus restrictions: every row filter
// of sc is in child, and child's allow-list is inside sc's (when sc has
// one); else what child loosens.
func (sc SecurityContext) Covers(child SecurityContext) error {
	// Claims mean what the model makes of them (a claim absent from a
	// filter reads every row): a restricted actor hands out its own
	// claims, unchanged; only an unrestricted one may set others.
	if !sc.IsZero() && !reflect.DeepEqual(sc.Claims, child.Claims) && (len(sc.Claims) > 0 || len(child.Claims) > 0) {
		return fmt.Errorf("it changes the claims %s to %s (claims are kept as they are)", claimsText(sc.Claims), claimsText(child.Claims))
	}
	for _, f := range sc.RowFilters {
		if !slices.ContainsFunc(child.RowFilters, f.equal) {
			return fmt.Errorf("it drops the row filter %s", f)
		}
	}
	if len(sc.Allow) == 0 {
		return nil
	}
	if len(child.Allow) == 0 {
		return fmt.Errorf("it allows every cube, where only %s are allowed", strings.Join(sc.Allow, ", "))
	}
	for _, a := range child.Allow {
		cube, _, _ := strings.Cut(a, ".")
		if !slices.Contains(sc.Allow, cube) && !slices.Contains(sc.Allow, a) {
			return fmt.Errorf("it allows %q, outside %s", a, strings.Join(sc.Allow, ", "))
		}
	}
	return nil
}

func (f RowFilter) equal(g RowFilter) bool {
	return f.Member == g.Member && f.Operator == g.Operator && slices.Equal(f.Values, g.Values)
}

// String is the filter as messages show it: orders.channel equals [web].
func (f RowFilter) String() string {
	return fmt.Sprintf("%s %s [%s]", f.Member, f.Operator, strings.Join(f.Values, ", "))
}

func (sc SecurityContext) clone() SecurityContext {
	out := SecurityContext{Allow: slices.Clone(sc.Allow), Claims: cloneClaims(sc.Claims)}
	for _, f := range sc.RowFilters {
		out.RowFilters = append(out.RowFilters, RowFilter{Member: f.Member, Operator: f.Operator, Values: slices.Clone(f.Values)})
	}
	return out
}

// prefixWithin reports whether every address of p is in q.
func prefixWithin(p, q netip.Prefix) bool {
	return p.Addr().BitLen() == q.Addr().BitLen() && q.Bits() <= p.Bits() && q.Contains(p.Addr())
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func scopeList(scopes []string) string {
	if len(scopes) == 0 {
		return "no scope"
	}
	return strings.Join(scopes, ", ")
}
