package cubes

import (
	"errors"
	"reflect"
	"strings"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// Policy is what one principal may read of a model, resolved to the
// model's cube members: the policy follows members, not names. A view's
// member is the cube member it includes (through any number of views), so
//
//   - a member is readable only when it is allowed under every name it is
//     reached by: the view's member, the member of each view it includes,
//     and the cube's member (a member hidden on its cube stays hidden
//     through any view);
//   - a row filter is a filter on a cube's dimension (one named through a
//     view is translated to its cube's), and it applies whenever that
//     cube's rows are read: named directly, through a view (whether or not
//     the view shows the filtered dimension), joined on the way to another
//     cube, or aggregated by a sub_query dimension.
//
// The compiler (Options.Policy) and row sources (RowSourceOptions.Policy)
// apply it; a nil *Policy allows everything and filters nothing.
type Policy struct {
	allow   func(cube, member string) bool
	filters map[*Cube][]Filter
	order   []*Cube // cubes with filters, in the order of their first filter
}

// NewPolicy resolves a principal's allow-list check (by names, as the
// security context lists them; nil allows all) and row filters against
// the model. A row filter must name a dimension (of a cube or a view) that
// exists; a group of filters (and/or) must stay within one cube. The
// filters keep their operators and values; their members become the cube
// members the views stand for.
func (m *Model) NewPolicy(allow func(cube, member string) bool, rowFilters []Filter) (*Policy, error) {
	p := &Policy{allow: allow, filters: map[*Cube][]Filter{}}
	for _, f := range rowFilters {
		var cube *Cube
		rf, err := m.policyFilter(f, &cube)
		if err != nil {
			return nil, err
		}
		if cube == nil {
			return nil, policyError("a row filter needs a member")
		}
		if _, seen := p.filters[cube]; !seen {
			p.order = append(p.order, cube)
		}
		p.filters[cube] = append(p.filters[cube], rf)
	}
	return p, nil
}

func policyError(format string, args ...any) error {
	return pgerr.New(pgerrcode.InsufficientPrivilege, format, args...).
		WithHint("the credential's or key's security context must be corrected by an administrator")
}

// policyFilter translates one row filter (or group) to cube members,
// recording the cube it filters in *cube.
func (m *Model) policyFilter(f Filter, cube **Cube) (Filter, error) {
	out := Filter{Operator: f.Operator, Values: append([]string(nil), f.Values...)}
	for _, g := range f.And {
		x, err := m.policyFilter(g, cube)
		if err != nil {
			return Filter{}, err
		}
		out.And = append(out.And, x)
	}
	for _, g := range f.Or {
		x, err := m.policyFilter(g, cube)
		if err != nil {
			return Filter{}, err
		}
		out.Or = append(out.Or, x)
	}
	name := f.MemberName()
	if name == "" {
		if len(f.And) == 0 && len(f.Or) == 0 {
			return Filter{}, policyError("a row filter needs a member")
		}
		out.Operator = ""
		return out, nil
	}
	mem, err := m.lookupMember(name)
	if err != nil {
		return Filter{}, policyError("row filter on %s: no such dimension in the model", name)
	}
	d, ok := resolveMember(mem).(*Dimension)
	if !ok || d.SubQuery {
		return Filter{}, policyError("row filter on %s: a row filter must be on a dimension of a cube's own rows", name)
	}
	if *cube != nil && *cube != d.Cube {
		return Filter{}, policyError("row filter on %s: a group of row filters must stay within one cube", name)
	}
	*cube = d.Cube
	out.Member = FullName(d)
	return out, nil
}

var errNoMember = errors.New("no such member")

// lookupMember resolves "cube.member" exactly, or else case-insensitively
// when that is unambiguous.
func (m *Model) lookupMember(name string) (Member, error) {
	if mem, err := m.Member(name); err == nil {
		return mem, nil
	}
	cubeName, member, ok := strings.Cut(name, ".")
	if !ok {
		return nil, errNoMember
	}
	c, ok := m.LookupCube(cubeName)
	if !ok {
		return nil, errNoMember
	}
	mem, ok := c.LookupMember(member)
	if !ok {
		return nil, errNoMember
	}
	return mem, nil
}

// Allows reports whether a member may be read: it and every member it
// includes (for a view's member, down to its cube's) must be allowed.
func (p *Policy) Allows(mem Member) bool {
	if p == nil || p.allow == nil {
		return true
	}
	for x := mem; x != nil; x = Source(x) {
		if !p.allow(x.OwnerCube().Name, x.MemberName()) {
			return false
		}
	}
	return true
}

// AllowsCube reports whether any public member of a cube or view may be
// read.
func (p *Policy) AllowsCube(c *Cube) bool {
	if p == nil || p.allow == nil {
		return true
	}
	for _, ms := range c.Measures {
		if ms.Public && p.Allows(ms) {
			return true
		}
	}
	for _, d := range c.Dimensions {
		if d.Public && p.Allows(d) {
			return true
		}
	}
	for _, s := range c.Segments {
		if s.Public && p.Allows(s) {
			return true
		}
	}
	return false
}

// RowFilters returns the row filters on a cube's rows (its members are
// the cube's own); a view has none of its own: its cubes' apply.
func (p *Policy) RowFilters(c *Cube) []Filter {
	if p == nil {
		return nil
	}
	return p.filters[c]
}

// Filtered lists the cubes the policy filters, in the order of their first
// row filter.
func (p *Policy) Filtered() []*Cube {
	if p == nil {
		return nil
	}
	return p.order
}

// Underlying lists the cubes whose rows a cube or view reads: the cube
// itself, or the cubes of every member a view includes.
func Underlying(c *Cube) []*Cube {
	if !c.IsView {
		return []*Cube{c}
	}
	var out []*Cube
	add := func(m Member) {
		o := resolveMember(m).OwnerCube()
		for _, x := range out {
			if x == o {
				return
			}
		}
		out = append(out, o)
	}
	for _, m := range c.Measures {
		add(m)
	}
	for _, d := range c.Dimensions {
		add(d)
	}
	for _, s := range c.Segments {
		add(s)
	}
	return out
}

// CubesRead maps a query to the cubes whose rows it reads: the cube of
// every member it names (a view's member is its cube's), every cube the
// join path between them goes through, and the cube a sub_query dimension
// aggregates. It is what the compiler applies a policy's row filters to
// (the last inside the sub_query's own subquery).
func (m *Model) CubesRead(q *Query) ([]*Cube, error) {
	c := &compiler{r: renderer{model: m, d: Postgres{}}, d: Postgres{}, q: q, model: m}
	for _, name := range q.Members() {
		if _, err := c.member(name); err != nil {
			// An order key may name a time dimension at a granularity.
			if i := strings.LastIndex(name, "."); i > 0 && strings.Count(name, ".") == 2 {
				if _, err2 := c.member(name[:i]); err2 == nil {
					continue
				}
			}
			return nil, err
		}
	}
	if len(c.cubes) == 0 {
		return nil, nil
	}
	plan, err := c.planJoins()
	if err != nil {
		return nil, err
	}
	out := plan.cubesRead()
	for _, name := range q.Members() {
		mem, err := m.Member(name)
		if err != nil {
			continue
		}
		if d, ok := resolveMember(mem).(*Dimension); ok && d.SubQuery {
			other, err := m.subQueryCube(d)
			if err != nil {
				return nil, err
			}
			if !containsCube(out, other) {
				out = append(out, other)
			}
		}
	}
	return out, nil
}

func containsCube(cs []*Cube, c *Cube) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// cubesRead lists the cubes the join plan reads: the root, each cube of
// the query and every cube on a path between them.
func (p *joinPlan) cubesRead() []*Cube {
	out := []*Cube{p.root}
	seen := map[*Cube]bool{p.root: true}
	for _, cube := range p.used {
		for _, h := range p.paths[cube] {
			if !seen[h.to] {
				seen[h.to] = true
				out = append(out, h.to)
			}
		}
		if !seen[cube] {
			seen[cube] = true
			out = append(out, cube)
		}
	}
	return out
}

// policyWhere renders the policy's row filters on the cubes a join plan
// reads, as WHERE conditions, and records them in c.applied. A filter the
// query already has, as one of its top-level filters, is not repeated.
func (c *compiler) policyWhere(plan *joinPlan) ([]string, error) {
	if c.opts.Policy == nil {
		return nil, nil
	}
	var out []string
	for _, cube := range plan.cubesRead() {
		for _, f := range c.opts.Policy.RowFilters(cube) {
			c.recordApplied(f)
			if hasFilter(c.q.Filters, f) {
				continue // the query has it already
			}
			s, err := c.policyFilterSQL(f)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// policyConditions renders the row filters on one cube's rows: the
// renderer's hook for the cube a sub_query dimension aggregates.
func (c *compiler) policyConditions(cube *Cube) ([]string, error) {
	var out []string
	for _, f := range c.opts.Policy.RowFilters(cube) {
		c.recordApplied(f)
		s, err := c.policyFilterSQL(f)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *compiler) recordApplied(f Filter) {
	for _, x := range c.applied {
		if reflect.DeepEqual(x, f) {
			return
		}
	}
	c.applied = append(c.applied, f)
}

func hasFilter(fs []Filter, f Filter) bool {
	for _, x := range fs {
		if reflect.DeepEqual(x, f) {
			return true
		}
	}
	return false
}

// policyFilterSQL renders a row filter without the allow-list check (the
// filtered dimension need not be readable) and without touching the join
// plan (its cube is read already).
func (c *compiler) policyFilterSQL(f Filter) (string, error) {
	if len(f.And) > 0 || len(f.Or) > 0 {
		group, sep := f.And, " AND "
		if len(f.Or) > 0 {
			group, sep = f.Or, " OR "
		}
		parts := make([]string, 0, len(group))
		for _, g := range group {
			s, err := c.policyFilterSQL(g)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "(" + strings.Join(parts, sep) + ")", nil
	}
	mem, err := c.model.Member(f.Member)
	if err != nil {
		return "", policyError("row filter on %s: no such dimension in the model", f.Member)
	}
	d := mem.(*Dimension)
	expr, err := c.r.dimensionExpr(d)
	if err != nil {
		return "", err
	}
	s, err := c.condition(expr, d.Type, f.Operator, f.Values, f.Member)
	if err != nil {
		// The filter is the principal's own, but its message is about the
		// security context, not the query.
		return "", policyError("row filter on %s cannot be applied: %s", f.Member, errMessage(err))
	}
	return s, nil
}

func errMessage(err error) string {
	if pe, ok := err.(*pgerr.Error); ok {
		return pe.Message
	}
	return err.Error()
}

// checkAllowed refuses a member the policy hides (42501), named as the
// query names it: the message never names the member a view's member
// stands for.
func (c *compiler) checkAllowed(mem Member, name string) error {
	if c.opts.Policy.Allows(mem) {
		return nil
	}
	return pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied for %s", name)
}
