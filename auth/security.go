package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// SecurityContext limits what a credential (or key) reads: the cubes and
// members it may query and see in the catalog, and filters added to every
// query that reads their cube. The zero value allows everything.
//
// Every other top-level key of its JSON is a claim, as in Cube's security
// contexts ({"tenant_id": 42, "regions": ["eu", "us"]}): the model's
// {SECURITY_CONTEXT.tenant_id.filter('tenant_id')} reads it at query time
// (see cubes.Options.Security).
type SecurityContext struct {
	// Allow lists cubes ("orders") and members ("orders.status"); empty
	// allows every public cube and member.
	Allow []string `json:"allow,omitempty"`
	// RowFilters are Cube filters ({"member", "operator", "values"}) added
	// to every query that reads the member's cube.
	RowFilters []RowFilter `json:"row_filters,omitempty"`
	// Claims are the context's other keys with their JSON values: strings,
	// bools, nil, numbers (int64 when integral, else float64), []any and
	// map[string]any.
	Claims map[string]any `json:"-"`
}

// RowFilter is a Cube filter on one member.
type RowFilter struct {
	Member   string   `json:"member"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// ParseSecurityContext reads a security context from JSON ("" is none).
func ParseSecurityContext(s string) (SecurityContext, error) {
	var sc SecurityContext
	if strings.TrimSpace(s) == "" {
		return sc, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("security context: %w", err)
	}
	if dec.More() {
		return sc, fmt.Errorf("security context: one JSON object, please")
	}
	return sc, nil
}

// UnmarshalJSON reads allow and row_filters strictly and every other key
// as a claim.
func (sc *SecurityContext) UnmarshalJSON(b []byte) error {
	if strings.TrimSpace(string(b)) == "null" {
		*sc = SecurityContext{}
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("a security context is a JSON object: %w", err)
	}
	out := SecurityContext{}
	for k, v := range raw {
		switch k {
		case "allow":
			if err := strictDecode(v, &out.Allow); err != nil {
				return fmt.Errorf("allow: %w", err)
			}
		case "row_filters":
			if err := strictDecode(v, &out.RowFilters); err != nil {
				return fmt.Errorf("row_filters: %w", err)
			}
		default:
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var x any
			if err := dec.Decode(&x); err != nil {
				return fmt.Errorf("claim %q: %w", k, err)
			}
			if out.Claims == nil {
				out.Claims = map[string]any{}
			}
			out.Claims[k] = claimValue(x)
		}
	}
	for _, f := range out.RowFilters {
		if !strings.Contains(f.Member, ".") || f.Operator == "" {
			return fmt.Errorf("a row filter needs a member (cube.member) and an operator")
		}
	}
	*sc = out
	return nil
}

func strictDecode(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// claimValue turns the decoder's json.Numbers into int64 (integral, in
// range) or float64, recursively.
func claimValue(x any) any {
	switch v := x.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = claimValue(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = claimValue(v[k])
		}
	}
	return x
}

// MarshalJSON writes the claims beside allow and row_filters, keys
// sorted (String is stable: contexts compare by it).
func (sc SecurityContext) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(sc.Claims)+2)
	for k, v := range sc.Claims {
		m[k] = v
	}
	if len(sc.Allow) > 0 {
		m["allow"] = sc.Allow
	}
	if len(sc.RowFilters) > 0 {
		m["row_filters"] = sc.RowFilters
	}
	return json.Marshal(m)
}

// String is the context as stored (JSON).
func (sc SecurityContext) String() string {
	b, _ := json.Marshal(sc)
	return string(b)
}

// IsZero reports whether the context restricts nothing and claims
// nothing.
func (sc SecurityContext) IsZero() bool {
	return len(sc.Allow) == 0 && len(sc.RowFilters) == 0 && len(sc.Claims) == 0
}

// cloneClaims deep-copies claims (a decoded JSON value).
func cloneClaims(c map[string]any) map[string]any {
	if c == nil {
		return nil
	}
	var cp func(any) any
	cp = func(x any) any {
		switch v := x.(type) {
		case []any:
			out := make([]any, len(v))
			for i := range v {
				out[i] = cp(v[i])
			}
			return out
		case map[string]any:
			out := make(map[string]any, len(v))
			for k := range v {
				out[k] = cp(v[k])
			}
			return out
		}
		return x
	}
	return cp(c).(map[string]any)
}

// AllowsCube reports whether any member of cube may be read.
func (sc SecurityContext) AllowsCube(cube string) bool {
	if len(sc.Allow) == 0 {
		return true
	}
	for _, a := range sc.Allow {
		if c, _, _ := strings.Cut(a, "."); c == cube {
			return true
		}
	}
	return false
}

// Allows reports whether cube.member may be read.
func (sc SecurityContext) Allows(cube, member string) bool {
	if len(sc.Allow) == 0 {
		return true
	}
	for _, a := range sc.Allow {
		if a == cube || a == cube+"."+member {
			return true
		}
	}
	return false
}

// FiltersFor returns the row filters of the cubes a query reads.
func (sc SecurityContext) FiltersFor(cubeNames []string) []RowFilter {
	var out []RowFilter
	for _, f := range sc.RowFilters {
		cube, _, _ := strings.Cut(f.Member, ".")
		for _, n := range cubeNames {
			if n == cube {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// claimsText is claims as messages show them (JSON; {} for none).
func claimsText(c map[string]any) string {
	b, _ := json.Marshal(c)
	if len(c) == 0 {
		return "{}"
	}
	return string(b)
}
