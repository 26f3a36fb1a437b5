package cubes

import (
	"fmt"
	"strings"
)

// JoinKey is one side of a join between two cubes whose SQL is an
// equality of one expression over each ({CUBE}.log_id = {Logs}.id): the
// expression over Cube, named by the edge "From>To".
type JoinKey struct {
	Edge string
	Cube *Cube
	SQL  string // the side's SQL template, written in From's context
	From *Cube  // the cube the join is declared in
}

// JoinKeys lists the join keys of cube c: one per join declared in c or
// towards c whose SQL splits into a side over each cube.
func (m *Model) JoinKeys(c *Cube) []JoinKey {
	var out []JoinKey
	for _, from := range m.Cubes {
		for _, j := range from.Joins {
			to, ok := m.Cube(j.Name)
			if !ok || from != c && to != c {
				continue
			}
			fromSide, toSide, ok := splitJoin(j.SQL, from, to)
			if !ok {
				continue
			}
			edge := from.Name + ">" + to.Name
			if from == c {
				out = append(out, JoinKey{Edge: edge, Cube: c, SQL: fromSide, From: from})
			}
			if to == c {
				out = append(out, JoinKey{Edge: edge, Cube: c, SQL: toSide, From: from})
			}
		}
	}
	return out
}

// JoinEdge names the join declared between cubes a and b, either way.
func (m *Model) JoinEdge(a, b *Cube) (string, bool) {
	for _, k := range m.JoinKeys(a) {
		from, to, _ := strings.Cut(k.Edge, ">")
		if from == a.Name && to == b.Name || from == b.Name && to == a.Name {
			return k.Edge, true
		}
	}
	return "", false
}

// splitJoin splits "x = y" at its one top-level '=' into the side over
// from and the side over to.
func splitJoin(sql string, from, to *Cube) (string, string, bool) {
	depth, at := 0, -1
	inQuote := false
	for i := 0; i < len(sql); i++ {
		switch ch := sql[i]; {
		case ch == '\'':
			inQuote = !inQuote
		case inQuote:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == '=' && depth == 0:
			if i > 0 && strings.ContainsRune("<>!=", rune(sql[i-1])) || i+1 < len(sql) && sql[i+1] == '=' {
				return "", "", false
			}
			if at >= 0 {
				return "", "", false
			}
			at = i
		}
	}
	if at < 0 {
		return "", "", false
	}
	l, r := strings.TrimSpace(sql[:at]), strings.TrimSpace(sql[at+1:])
	side := func(s string) *Cube {
		var owner *Cube
		for _, m := range refRe.FindAllStringSubmatch(s, -1) {
			var c *Cube
			switch {
			case m[1] == "CUBE" || m[1] == from.Name:
				c = from
			case m[1] == to.Name:
				c = to
			default:
				return nil
			}
			if owner != nil && owner != c {
				return nil
			}
			owner = c
		}
		return owner
	}
	switch ls, rs := side(l), side(r); {
	case ls == from && rs == to:
		return l, r, true
	case ls == to && rs == from:
		return r, l, true
	}
	return "", "", false
}

// JoinsOn reports whether a = b, dimensions of two cubes, is the model's
// join between those cubes (either way round): what a BI tool writes when
// it joins tables on their keys.
func (m *Model) JoinsOn(a, b Member) bool {
	da, ok1 := resolveMember(a).(*Dimension)
	db, ok2 := resolveMember(b).(*Dimension)
	if !ok1 || !ok2 {
		return false
	}
	return m.JoinsOnTerms(JoinTerm{Cube: da.Cube, Dimension: da}, JoinTerm{Cube: db.Cube, Dimension: db})
}

// JoinTerm is one side of an equality a client wrote to join two cubes:
// a dimension, or a column of the cube's SQL by name (the columns the
// model's join SQL names need not be members: ON o.customer_id = c.id).
type JoinTerm struct {
	Cube      *Cube
	Dimension *Dimension // nil: Column
	Column    string
}

// JoinsOnTerms reports whether a = b is the model's join condition
// between the two terms' cubes.
func (m *Model) JoinsOnTerms(a, b JoinTerm) bool {
	if a.Cube == nil || b.Cube == nil || a.Cube == b.Cube {
		return false
	}
	r := renderer{model: m, d: Postgres{}}
	expr := func(t JoinTerm) (string, error) {
		if t.Dimension != nil {
			return r.dimensionExpr(t.Dimension)
		}
		if !plainColumn(t.Column) {
			return "", fmt.Errorf("not a plain column: %q", t.Column)
		}
		return r.expand(t.Cube, "{CUBE}."+t.Column)
	}
	ea, err1 := expr(a)
	eb, err2 := expr(b)
	if err1 != nil || err2 != nil {
		return false
	}
	edge, ok := m.JoinEdge(a.Cube, b.Cube)
	if !ok {
		return false
	}
	side := func(c *Cube) string {
		for _, k := range m.JoinKeys(c) {
			if k.Edge == edge {
				s, err := r.expand(k.From, k.SQL)
				if err == nil {
					return s
				}
			}
		}
		return ""
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	sa, sb := side(a.Cube), side(b.Cube)
	return sa != "" && sb != "" && norm(ea) == norm(sa) && norm(eb) == norm(sb)
}

// plainColumn is a lower-case SQL identifier, written in join SQL as is.
func plainColumn(s string) bool {
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}
