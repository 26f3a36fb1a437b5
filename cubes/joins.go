package cubes

import (
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// joinPlan is the join tree a query reads: a root cube and, for every
// other cube, the declared joins that reach it.
type joinPlan struct {
	root  *Cube
	paths map[*Cube][]hop
	used  []*Cube
	from  string
}

// planJoins picks a root from which every cube the query touches is
// reachable through declared joins (the cubes of measures first) and
// renders the FROM clause.
func (c *compiler) planJoins() (*joinPlan, error) {
	var candidates []*Cube
	for _, col := range c.cols {
		if col.IsMeasure() {
			candidates = append(candidates, resolveMember(col.Member).OwnerCube())
		}
	}
	candidates = append(candidates, c.cubes...)
	for _, root := range candidates {
		paths := joinPaths(c.model, root)
		ok := true
		for _, cube := range c.cubes {
			if _, reach := paths[cube]; !reach {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		p := &joinPlan{root: root, paths: paths, used: c.cubes}
		var b strings.Builder
		b.WriteString(c.table(root))
		joined := map[*Cube]bool{root: true}
		for _, cube := range c.cubes {
			for _, h := range paths[cube] {
				if joined[h.to] {
					continue
				}
				joined[h.to] = true
				on, err := c.r.expand(h.from, h.join.SQL)
				if err != nil {
					return nil, err
				}
				b.WriteString(" LEFT JOIN ")
				b.WriteString(c.table(h.to))
				b.WriteString(" ON ")
				b.WriteString(on)
			}
		}
		p.from = b.String()
		return p, nil
	}
	names := make([]string, len(c.cubes))
	for i, cube := range c.cubes {
		names[i] = cube.Name
	}
	e := pgerr.New(pgerrcode.FeatureNotSupported, "no join path connects cubes %s", strings.Join(names, ", "))
	// As Cube, the join tree's root is one of the query's cubes; when
	// another cube joins them all, say which and how to read it.
	for _, via := range c.model.Cubes {
		if via.IsView {
			continue
		}
		paths := joinPaths(c.model, via)
		reach := true
		for _, cube := range c.cubes {
			if _, ok := paths[cube]; !ok {
				reach = false
			}
		}
		if reach {
			return nil, e.WithHint("%s joins them: add one of its members to the query, which then reads them through it", via.Name)
		}
	}
	return nil, e.WithHint("declare joins between them in the model, or query them separately")
}

// edges are the joins the plan uses.
func (p *joinPlan) edges() []hop {
	seen := map[*Cube]bool{}
	var out []hop
	for _, cube := range p.used {
		for _, h := range p.paths[cube] {
			if !seen[h.to] {
				seen[h.to] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// multiplied reports whether the join tree repeats rows of cube x: an
// edge whose "many" side is not x's side of the tree.
func (p *joinPlan) multiplied(x *Cube) bool {
	for _, e := range p.edges() {
		below := x == e.to
		for _, h := range p.paths[x] {
			below = below || h.to == e.to
		}
		switch e.join.Relationship {
		case "many_to_one":
			if below { // many rows of e.from per row of x's side
				return true
			}
		case "one_to_many":
			if !below {
				return true
			}
		}
	}
	return false
}

// immune measures give the same answer over repeated rows.
func immune(m *Measure) bool {
	switch m.Type {
	case TypeCountDistinct, TypeCountApprox, TypeMin, TypeMax:
		return true
	}
	return false
}

// fanOut renders a query some of whose measures a join would multiply, as
// Cube does: each multiplied cube's measures are aggregated over the
// distinct (dimensions, primary key) pairs of the join, then joined back
// to the other measures on the dimensions.
func (c *compiler) fanOut(p *joinPlan, where []string, nGroup int) (string, error) {
	q := func(s string) string { return c.d.QuoteIdent(s) }
	whereSQL := ""
	if len(where) > 0 {
		whereSQL = " WHERE " + strings.Join(where, " AND ")
	}
	groupBy := ""
	if nGroup > 0 {
		nums := make([]string, nGroup)
		for i := range nums {
			nums[i] = c.d.GroupKey(i+1, c.cols[i].Alias)
		}
		groupBy = " GROUP BY " + strings.Join(nums, ", ")
	}
	// Partition the measures: "" is the part computed over the join as
	// it is; a cube's name is the part computed over its distinct keys.
	type part struct {
		cube *Cube
		cols []int
	}
	var parts []*part
	partOf := map[*Cube]*part{}
	for i := nGroup; i < len(c.cols); i++ {
		m := resolveMember(c.cols[i].Member).(*Measure)
		var key *Cube
		if !immune(m) && p.multiplied(m.Cube) {
			key = m.Cube
		}
		pt, ok := partOf[key]
		if !ok {
			pt = &part{cube: key}
			partOf[key] = pt
			parts = append(parts, pt)
		}
		pt.cols = append(pt.cols, i)
	}
	dimList := func(prefix string) []string {
		out := make([]string, nGroup)
		for i := 0; i < nGroup; i++ {
			if prefix == "" {
				out[i] = c.exprs[i] + " " + q(c.cols[i].Alias)
			} else {
				out[i] = prefix + "." + q(c.cols[i].Alias)
			}
		}
		return out
	}
	// Every part groups the same join, under the same WHERE, by the same
	// dimensions: their groups are the same, and an inner join on the
	// dimensions pairs them. To join on NULLs too with a hashable
	// condition, each dimension gets a key: 'N' for NULL, else 'V' and
	// its text.
	keyCols := func(prefix string) []string {
		out := make([]string, nGroup)
		for i := 0; i < nGroup; i++ {
			v := c.exprs[i]
			if prefix != "" {
				v = prefix + "." + q(c.cols[i].Alias)
			}
			out[i] = nullSafeKey(c.d, v) + " " + q("__k"+strconv.Itoa(i))
		}
		return out
	}
	renders := make([]string, len(parts))
	for k, pt := range parts {
		sel := dimList("")
		if pt.cube != nil {
			sel = dimList(q("__keys"))
		}
		if len(parts) > 1 {
			if pt.cube != nil {
				sel = append(sel, keyCols(q("__keys"))...)
			} else {
				sel = append(sel, keyCols("")...)
			}
		}
		for _, i := range pt.cols {
			sel = append(sel, c.exprs[i]+" "+q(c.cols[i].Alias))
		}
		if pt.cube == nil {
			renders[k] = "SELECT " + strings.Join(sel, ", ") + " FROM " + p.from + whereSQL + groupBy
			continue
		}
		pk := pt.cube.PrimaryKey()
		if pk == nil {
			return "", pgerr.New(pgerrcode.FeatureNotSupported, "cube %q has no primary key: its measures cannot be de-duplicated across the join", pt.cube.Name).
				WithHint("declare a primary_key dimension in cube %q", pt.cube.Name)
		}
		pkExpr, err := c.r.dimensionExpr(pk)
		if err != nil {
			return "", err
		}
		keys := append(dimList(""), pkExpr+" "+q("__pk"))
		renders[k] = "SELECT " + strings.Join(sel, ", ") +
			" FROM (SELECT DISTINCT " + strings.Join(keys, ", ") + " FROM " + p.from + whereSQL + ") AS " + q("__keys") +
			" LEFT JOIN " + c.table(pt.cube) + " ON " + q("__keys") + "." + q("__pk") + " = " + pkExpr + groupBy
	}
	if len(parts) == 1 {
		return renders[0], nil
	}
	// Join the parts on the dimensions' keys.
	var b strings.Builder
	name := func(k int) string { return q("__p" + strconv.Itoa(k)) }
	sel := make([]string, 0, len(c.cols))
	for i := 0; i < nGroup; i++ {
		sel = append(sel, name(0)+"."+q(c.cols[i].Alias)+" "+q(c.cols[i].Alias))
	}
	for i := nGroup; i < len(c.cols); i++ {
		for k, pt := range parts {
			for _, j := range pt.cols {
				if j == i {
					sel = append(sel, name(k)+"."+q(c.cols[i].Alias)+" "+q(c.cols[i].Alias))
				}
			}
		}
	}
	b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM (" + renders[0] + ") AS " + name(0))
	for k := 1; k < len(parts); k++ {
		if nGroup == 0 {
			b.WriteString(" CROSS JOIN (" + renders[k] + ") AS " + name(k))
			continue
		}
		conds := make([]string, nGroup)
		for i := 0; i < nGroup; i++ {
			key := q("__k" + strconv.Itoa(i))
			conds[i] = name(0) + "." + key + " = " + name(k) + "." + key
		}
		b.WriteString(" JOIN (" + renders[k] + ") AS " + name(k) + " ON " + strings.Join(conds, " AND "))
	}
	return b.String(), nil
}

// nullSafeKey is a text key of v that joins NULL to NULL with a hashable
// condition: 'N' for NULL, else 'V' and v's text.
func nullSafeKey(d Dialect, v string) string {
	return "CASE WHEN " + v + " IS NULL THEN 'N' ELSE " + d.Concat("'V'", CastAs(d, v, "VARCHAR")) + " END"
}
