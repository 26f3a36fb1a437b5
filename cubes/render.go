package cubes

import (
	"fmt"
	"regexp"
	"strings"
)

// renderer expands member SQL templates ({CUBE}, {member},
// {cube.member}, and the ${…} forms) into SQL for one dialect.
type renderer struct {
	model *Model
	d     Dialect
	stack []Member // members being rendered, to report cycles
	// ungrouped renders measures row by row (an ungrouped query): sum(x)
	// is x, count is 1.
	ungrouped bool
	// rowFilters, when set, renders the conditions that restrict a cube's
	// rows (a policy's row filters): a sub_query dimension applies them to
	// the rows of the cube it aggregates.
	rowFilters func(*Cube) ([]string, error)
	// tables are tables read in place of cubes' sql_table or sql, by cube
	// name: an original_sql pre-aggregation's materialized rows.
	tables map[string]string
	// qc is what context variables read at query time (nil: neutral SQL,
	// for the loader's checks and the model's analyses; see
	// contextvars.go).
	qc *queryContext
}

var refRe = regexp.MustCompile(`\$?\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}`)

func (r *renderer) alias(c *Cube) string { return r.d.QuoteIdent(c.Name) }

// litBraces turns the escape of a literal brace back into the brace. A
// JavaScript model's SQL holds '{status}' as text (only ${…}
// interpolates there): package jsmodel hands it over as U+E07B status
// U+E07D, which neither refRe nor the context-variable parser reads as
// a reference. A YAML model never holds them ({x} is a reference there).
var litBraces = strings.NewReplacer("\ue07b", "{", "\ue07d", "}")

// expand replaces the references in sql, written in cube c.
func (r *renderer) expand(c *Cube, sql string) (string, error) {
	s, err := r.expandRefs(c, sql)
	return litBraces.Replace(s), err
}

func (r *renderer) expandRefs(c *Cube, sql string) (string, error) {
	if identRe.MatchString(sql) {
		// A bare column name means a column of this cube, as in Cube's YAML.
		return r.alias(c) + "." + sql, nil
	}
	if hasContextVars(sql) {
		return r.template(c, sql, true)
	}
	return r.refs(c, sql)
}

// refs replaces the {member} references in sql, written in cube c.
func (r *renderer) refs(c *Cube, sql string) (string, error) {
	var firstErr error
	out := refRe.ReplaceAllStringFunc(sql, func(ref string) string {
		if firstErr != nil {
			return ref
		}
		m := refRe.FindStringSubmatch(ref)
		s, err := r.ref(c, m[1], m[2])
		if err != nil {
			firstErr = err
			return ref
		}
		return s
	})
	return out, firstErr
}

func (r *renderer) ref(c *Cube, a, b string) (string, error) {
	if a == "CUBE" || a == c.Name {
		if b == "" {
			return r.alias(c), nil
		}
		if mem, ok := c.Member(b); ok {
			return r.memberExpr(mem)
		}
		return r.alias(c) + "." + b, nil // a column of this cube's table
	}
	if b == "" {
		if mem, ok := c.Member(a); ok {
			return r.memberExpr(mem)
		}
		if other, ok := r.model.Cube(a); ok {
			return r.alias(other), nil
		}
		return "", fmt.Errorf("unknown reference {%s} in cube %q: it is neither a member of %q nor a cube", a, c.Name, c.Name)
	}
	other, ok := r.model.Cube(a)
	if !ok {
		return "", fmt.Errorf("unknown reference {%s.%s} in cube %q: there is no cube %q", a, b, c.Name, a)
	}
	if mem, ok := other.Member(b); ok {
		return r.memberExpr(mem)
	}
	return "", fmt.Errorf("unknown reference {%s.%s} in cube %q: cube %q has no member %q", a, b, c.Name, a, b)
}

func (r *renderer) push(m Member) error {
	for i, s := range r.stack {
		if s == m {
			names := make([]string, 0, len(r.stack)-i+1)
			for _, x := range r.stack[i:] {
				names = append(names, FullName(x))
			}
			names = append(names, FullName(m))
			return fmt.Errorf("reference cycle: %s", strings.Join(names, " → "))
		}
	}
	r.stack = append(r.stack, m)
	return nil
}

func (r *renderer) pop() { r.stack = r.stack[:len(r.stack)-1] }

func (r *renderer) memberExpr(m Member) (string, error) {
	switch mm := resolveMember(m).(type) {
	case *Measure:
		return r.measureExpr(mm)
	case *Dimension:
		return r.dimensionExpr(mm)
	case *Segment:
		return r.segmentExpr(mm)
	}
	return "", fmt.Errorf("unknown member kind %T", m)
}

// table renders a cube's table with the cube's name as its alias.
func (r *renderer) table(cube *Cube) string {
	// A table built without the query-time context cannot stand for a
	// cube whose rows depend on it.
	if t, ok := r.tables[cube.Name]; ok && !readsQueryContext(cube) {
		return t + " AS " + r.d.QuoteIdent(cube.Name)
	}
	if cube.SQLTable != "" {
		return litBraces.Replace(r.cubeText(cube, cube.SQLTable)) + " AS " + r.d.QuoteIdent(cube.Name)
	}
	return "(" + litBraces.Replace(r.cubeText(cube, cube.SQL)) + ") AS " + r.d.QuoteIdent(cube.Name)
}

// subQueryCube is the cube whose measure a sub_query dimension
// aggregates.
func (m *Model) subQueryCube(d *Dimension) (*Cube, error) {
	var other *Cube
	for _, ref := range refRe.FindAllStringSubmatch(d.SQL, -1) {
		if ref[2] == "" || ref[1] == "CUBE" || ref[1] == d.Cube.Name || hasContextVars(ref[1]) {
			continue
		}
		c, ok := m.Cube(ref[1])
		if !ok {
			return nil, fmt.Errorf("sub_query dimension %s.%s: unknown cube %q", d.Cube.Name, d.Name, ref[1])
		}
		if other != nil && other != c {
			return nil, fmt.Errorf("sub_query dimension %s.%s reads two cubes (%s, %s): one measure of one joined cube, please", d.Cube.Name, d.Name, other.Name, c.Name)
		}
		other = c
	}
	if other == nil {
		return nil, fmt.Errorf("sub_query dimension %s.%s must reference a measure of another cube, as {cube.measure}", d.Cube.Name, d.Name)
	}
	return other, nil
}

// subQuery renders a sub_query dimension: the measure of the joined cube
// it names, aggregated over that cube's rows joined to this row.
func (r *renderer) subQuery(d *Dimension) (string, error) {
	other, err := r.model.subQueryCube(d)
	if err != nil {
		return "", err
	}
	var on string
	switch {
	case d.Cube.join(other.Name) != nil:
		on, err = r.expand(d.Cube, d.Cube.join(other.Name).SQL)
	case other.join(d.Cube.Name) != nil:
		on, err = r.expand(other, other.join(d.Cube.Name).SQL)
	default:
		return "", fmt.Errorf("sub_query dimension %s.%s: no join between %s and %s", d.Cube.Name, d.Name, d.Cube.Name, other.Name)
	}
	if err != nil {
		return "", err
	}
	// The measure is an aggregate whatever the outer query is.
	inner := *r
	inner.ungrouped = false
	value, err := inner.expand(d.Cube, d.SQL)
	if err != nil {
		return "", err
	}
	if r.rowFilters != nil {
		conds, err := r.rowFilters(other)
		if err != nil {
			return "", err
		}
		if len(conds) > 0 {
			on = "(" + on + ") AND " + strings.Join(conds, " AND ")
		}
	}
	return "(SELECT " + value + " FROM " + r.table(other) + " WHERE " + on + ")", nil
}

func (r *renderer) dimensionExpr(d *Dimension) (string, error) {
	if err := r.push(d); err != nil {
		return "", err
	}
	defer r.pop()
	if d.SubQuery {
		return r.subQuery(d)
	}
	if d.Case != nil {
		var b strings.Builder
		b.WriteString("CASE")
		for _, w := range d.Case.When {
			cond, err := r.expand(d.Cube, w.SQL)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, " WHEN %s THEN %s", cond, quoteLiteral(w.Label))
		}
		if d.Case.Else != nil {
			fmt.Fprintf(&b, " ELSE %s", quoteLiteral(*d.Case.Else))
		}
		b.WriteString(" END")
		return b.String(), nil
	}
	return r.expand(d.Cube, d.SQL)
}

func (r *renderer) segmentExpr(s *Segment) (string, error) {
	if err := r.push(s); err != nil {
		return "", err
	}
	defer r.pop()
	return r.expand(s.Cube, s.SQL)
}

// measureExpr renders the aggregate expression of a measure.
func (r *renderer) measureExpr(m *Measure) (string, error) {
	if err := r.push(m); err != nil {
		return "", err
	}
	defer r.pop()
	var arg string
	switch {
	case m.SQL != "":
		s, err := r.expand(m.Cube, m.SQL)
		if err != nil {
			return "", err
		}
		arg = s
	case m.Type == TypeCount:
		if pk := m.Cube.PrimaryKey(); pk != nil {
			s, err := r.dimensionExpr(pk)
			if err != nil {
				return "", err
			}
			arg = s
		}
	}
	if r.ungrouped && m.Type == TypeCount {
		// One row counts as 1 (or, with sql, 1 where the value is set).
		if arg == "" || m.SQL == "" {
			arg = "1"
		} else {
			arg = "CASE WHEN (" + arg + ") IS NOT NULL THEN 1 END"
		}
	}
	if len(m.Filters) > 0 {
		conds := make([]string, len(m.Filters))
		for i, f := range m.Filters {
			s, err := r.expand(m.Cube, f)
			if err != nil {
				return "", err
			}
			conds[i] = "(" + s + ")"
		}
		then := arg
		if then == "" {
			then = "1"
		}
		arg = "CASE WHEN " + strings.Join(conds, " AND ") + " THEN " + then + " END"
	}
	if r.ungrouped {
		return arg, nil
	}
	switch m.Type {
	case TypeCount:
		if arg == "" {
			return "count(*)", nil
		}
		return "count(" + arg + ")", nil
	case TypeCountDistinct:
		return "count(DISTINCT " + arg + ")", nil
	case TypeCountApprox:
		return r.d.ApproxCountDistinct(arg), nil
	case TypeSum, TypeAvg, TypeMin, TypeMax:
		return string(m.Type) + "(" + arg + ")", nil
	default: // number, string, time, boolean: SQL over other measures
		return arg, nil
	}
}
