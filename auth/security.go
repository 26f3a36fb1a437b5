package auth

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SecurityContext limits what a credential (or key) reads: the cubes and
// members it may query and see in the catalog, and filters added to every
// query that reads their cube. The zero value allows everything.
type SecurityContext struct {
	// Allow lists cubes ("orders") and members ("orders.status"); empty
	// allows every public cube and member.
	Allow []string `json:"allow,omitempty"`
	// RowFilters are Cube filters ({"member", "operator", "values"}) added
	// to every query that reads the member's cube.
	RowFilters []RowFilter `json:"row_filters,omitempty"`
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
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("security context: %w", err)
	}
	for _, f := range sc.RowFilters {
		if !strings.Contains(f.Member, ".") || f.Operator == "" {
			return sc, fmt.Errorf("security context: a row filter needs a member (cube.member) and an operator")
		}
	}
	return sc, nil
}

// String is the context as stored (JSON).
func (sc SecurityContext) String() string {
	b, _ := json.Marshal(sc)
	return string(b)
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
