package auth

import (
	"fmt"
	"strings"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// Policy resolves the security context against a model: what the
// compiler and row sources apply (see cubes.Policy). The policy follows
// members, not names: a member hidden on its cube is hidden through every
// view, and a cube's row filters apply whenever its rows are read,
// through a view or not. A context without an allow-list or row filters
// is nil. SQL sessions and REST keys resolve theirs here alike.
func (sec SecurityContext) Policy(m *cubes.Model) (*cubes.Policy, error) {
	if len(sec.Allow) == 0 && len(sec.RowFilters) == 0 {
		return nil, nil
	}
	var allow func(cube, member string) bool
	if len(sec.Allow) > 0 {
		allow = sec.Allows
	}
	filters := make([]cubes.Filter, len(sec.RowFilters))
	for i, f := range sec.RowFilters {
		filters[i] = cubes.Filter{Member: f.Member, Operator: f.Operator, Values: append([]string(nil), f.Values...)}
	}
	return m.NewPolicy(allow, filters)
}

// MemberAllows is a policy's allow-list as a check by names ("cube",
// "member"), for the catalog: a view's member is allowed only when the
// members it includes are.
func MemberAllows(p *cubes.Policy, m *cubes.Model) func(cube, member string) bool {
	return func(cube, member string) bool {
		c, ok := m.Cube(cube)
		if !ok {
			return false
		}
		mem, ok := c.Member(member)
		return ok && p.Allows(mem)
	}
}

// Validate checks the security context's names against a model.
func (sec SecurityContext) Validate(m *cubes.Model) error {
	for _, a := range sec.Allow {
		cube, member, hasMember := strings.Cut(a, ".")
		c, ok := m.Cube(cube)
		if !ok {
			return fmt.Errorf("security context: no cube or view %q", cube)
		}
		if _, ok := c.LookupMember(member); hasMember && !ok {
			return fmt.Errorf("security context: %s has no member %q", cube, member)
		}
	}
	for _, f := range sec.RowFilters {
		cube, member, _ := strings.Cut(f.Member, ".")
		c, ok := m.Cube(cube)
		if !ok {
			return fmt.Errorf("security context: row filter on unknown cube %q", cube)
		}
		if _, ok := c.LookupMember(member); !ok {
			return fmt.Errorf("security context: row filter on unknown member %q", f.Member)
		}
	}
	if _, err := sec.Policy(m); err != nil {
		if pe, ok := err.(*pgerr.Error); ok {
			return fmt.Errorf("security context: %s", pe.Message)
		}
		return fmt.Errorf("security context: %w", err)
	}
	return nil
}
