package planner

import (
	"fmt"
	"strings"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
)

// RowFilters are the security context's filters on the cubes a query
// reads, as Cube filters.
func RowFilters(sec auth.SecurityContext, cubeNames []string) []cubes.Filter {
	var out []cubes.Filter
	for _, f := range sec.FiltersFor(cubeNames) {
		out = append(out, cubes.Filter{Member: f.Member, Operator: f.Operator, Values: f.Values})
	}
	return out
}

// ValidateSecurity checks a security context's names against a model.
func ValidateSecurity(sec auth.SecurityContext, m *cubes.Model) error {
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
	return nil
}
