package cubes

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

type viewDef struct {
	cube       *Cube
	parts      []viewPart
	folderRefs []folderRef
}

type viewPart struct {
	joinPath []string
	includes []viewInclude // nil with all=true
	all      bool
	excludes map[string]bool
	prefix   bool
	alias    string
	pos      Pos
}

type viewInclude struct {
	name, alias string
	pos         Pos
	// What the include declares over the member's own: title,
	// description, format (a YAML node until the member's kind is
	// known) and meta.
	title, description *string
	format             *yaml.Node
	meta               any
}

func (l *loader) view(n *yaml.Node) {
	c := &Cube{Public: true, IsView: true, Pos: l.pos(n)}
	v := &viewDef{cube: c}
	var public, shown *bool
	l.mapping(n, "view", map[string]func(*yaml.Node){
		"name":             l.str(&c.Name),
		"title":            l.str(&c.Title),
		"description":      l.str(&c.Description),
		"public":           l.optBool(&public),
		"shown":            l.optBool(&shown),
		"meta":             func(n *yaml.Node) { c.Meta = l.meta(n) },
		"folders":          l.folders(v),
		"access_policy":    ignored,
		"pre_aggregations": l.preAggregations(c),
		"cubes": func(s *yaml.Node) {
			l.seq(s, "view cubes", func(p *yaml.Node) { v.parts = append(v.parts, l.viewPart(p)) })
		},
		"measures": func(s *yaml.Node) {
			l.errorf(s, "members declared directly in a view are not supported yet: use cubes/includes")
		},
		"dimensions": func(s *yaml.Node) {
			l.errorf(s, "members declared directly in a view are not supported yet: use cubes/includes")
		},
	})
	c.Public = visible(public, shown, true)
	if c.Name == "" {
		l.errorf(n, "view needs a name")
		return
	}
	l.cubes = append(l.cubes, c)
	l.views = append(l.views, v)
}

func (l *loader) viewPart(n *yaml.Node) viewPart {
	p := viewPart{pos: l.pos(n), excludes: map[string]bool{}}
	var path string
	l.mapping(n, "view cube", map[string]func(*yaml.Node){
		"join_path": l.str(&path),
		"alias":     l.str(&p.alias),
		"prefix": func(v *yaml.Node) {
			l.boolean(&p.prefix)(v)
		},
		"includes": func(v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Value == "*" {
				p.all = true
				return
			}
			l.seq(v, "includes", func(it *yaml.Node) {
				inc := viewInclude{pos: l.pos(it)}
				if it.Kind == yaml.ScalarNode {
					inc.name = it.Value
				} else {
					l.mapping(it, "include", map[string]func(*yaml.Node){"name": l.str(&inc.name), "alias": l.str(&inc.alias),
						"title":       func(v *yaml.Node) { inc.title = new(string); l.str(inc.title)(v) },
						"description": func(v *yaml.Node) { inc.description = new(string); l.str(inc.description)(v) },
						"format":      func(v *yaml.Node) { inc.format = v },
						"meta":        func(v *yaml.Node) { inc.meta = l.meta(v) }})
				}
				p.includes = append(p.includes, inc)
			})
		},
		"excludes": func(v *yaml.Node) {
			l.seq(v, "excludes", func(it *yaml.Node) { p.excludes[it.Value] = true })
		},
		"split": ignored,
	})
	if path == "" {
		l.errorf(n, "view cube needs join_path")
	}
	p.joinPath = strings.Split(path, ".")
	return p
}

// resolveViews gives every view its members. A view may include the
// members of another view (a join_path naming one view): that view is
// resolved first, and a cycle of views is an error.
func (l *loader) resolveViews(m *Model) {
	byName := map[string]*viewDef{}
	for _, v := range l.views {
		byName[v.cube.Name] = v
	}
	state := map[*viewDef]int{} // 1: resolving, 2: resolved
	var resolve func(v *viewDef) bool
	resolve = func(v *viewDef) bool {
		switch state[v] {
		case 1:
			return false
		case 2:
			return true
		}
		state[v] = 1
		for _, p := range v.parts {
			if len(p.joinPath) == 1 {
				if inner, ok := byName[p.joinPath[0]]; ok && !resolve(inner) {
					l.errs = append(l.errs, &ValidationError{Pos: p.pos, Msg: fmt.Sprintf("view %q: views include each other in a cycle through %q", v.cube.Name, inner.cube.Name)})
					state[v] = 2
					v.cube.index()
					return true
				}
			}
		}
		for _, p := range v.parts {
			l.viewMembers(m, v.cube, p)
		}
		v.cube.index()
		l.checkFolders(v)
		state[v] = 2
		return true
	}
	for _, v := range l.views {
		resolve(v)
	}
}

func (l *loader) viewMembers(m *Model, view *Cube, p viewPart) {
	fail := func(pos Pos, format string, args ...any) {
		l.errs = append(l.errs, &ValidationError{Pos: pos, Msg: fmt.Sprintf(format, args...)})
	}
	// Every hop of the path must be a join the model declares; a path of
	// one name may also name another view, whose members it includes.
	var src *Cube
	for i, name := range p.joinPath {
		c, ok := m.Cube(name)
		if ok && c.IsView && len(p.joinPath) == 1 && c != view {
			src = c
			break
		}
		if !ok || c.IsView {
			fail(p.pos, "view %q: join_path names %q, which is not a cube", view.Name, name)
			return
		}
		if i > 0 && src.join(name) == nil {
			fail(p.pos, "view %q: cube %q has no join to %q", view.Name, src.Name, name)
			return
		}
		src = c
	}
	prefix := ""
	if p.prefix {
		prefix = src.Name + "_"
		if p.alias != "" {
			prefix = p.alias + "_"
		}
	}
	add := func(name, alias string, pos Pos, inc *viewInclude) {
		mem, ok := src.Member(name)
		if !ok {
			fail(pos, "view %q: cube %q has no member %q", view.Name, src.Name, name)
			return
		}
		if alias == "" {
			alias = name
		}
		alias = prefix + alias
		if _, dup := view.members[alias]; dup {
			fail(pos, "view %q: member %q is included twice", view.Name, alias)
			return
		}
		if view.members == nil {
			view.members = map[string]Member{}
		}
		switch mm := mem.(type) {
		case *Measure:
			cp := *mm
			cp.Cube, cp.Name, cp.Pos, cp.origin, cp.source = view, alias, pos, originOf(mm), mm
			// As Cube's views: drill members stay with the cube's measure.
			cp.DrillMembers, cp.drillRefs = nil, nil
			l.override(inc, &cp.Title, &cp.Description, &cp.Meta, func(f *yaml.Node) { l.measureFormat(&cp)(f) })
			view.Measures = append(view.Measures, &cp)
			view.members[alias] = &cp
		case *Dimension:
			cp := *mm
			cp.Cube, cp.Name, cp.Pos, cp.origin, cp.source = view, alias, pos, originOf(mm), mm
			cp.PrimaryKey = false
			// Cube's views keep a dimension's format but not whether its
			// values are suggested.
			cp.SuggestFilterValues = true
			l.override(inc, &cp.Title, &cp.Description, &cp.Meta, func(f *yaml.Node) {
				cp.Format, cp.FormatLabel, cp.FormatObject = "", "", false
				l.dimensionFormat(&cp)(f)
			})
			view.Dimensions = append(view.Dimensions, &cp)
			view.members[alias] = &cp
		case *Segment:
			cp := *mm
			cp.Cube, cp.Name, cp.Pos, cp.origin, cp.source = view, alias, pos, originOf(mm), mm
			// Cube's views keep a segment's description and meta, not its title.
			cp.Title = ""
			l.override(inc, &cp.Title, &cp.Description, &cp.Meta, nil)
			view.Segments = append(view.Segments, &cp)
			view.members[alias] = &cp
		}
	}
	if p.all {
		for _, d := range src.Dimensions {
			if !p.excludes[d.Name] && d.Public {
				add(d.Name, "", p.pos, nil)
			}
		}
		for _, ms := range src.Measures {
			if !p.excludes[ms.Name] && ms.Public {
				add(ms.Name, "", p.pos, nil)
			}
		}
		for _, s := range src.Segments {
			if !p.excludes[s.Name] && s.Public {
				add(s.Name, "", p.pos, nil)
			}
		}
		return
	}
	for _, inc := range p.includes {
		if !p.excludes[inc.name] {
			add(inc.name, inc.alias, inc.pos, &inc)
		}
	}
}

// originOf returns the cube member a view member stands for.
func originOf(m Member) Member {
	if o := Origin(m); o != nil {
		return o
	}
	return m
}

// Origin returns the cube member a view member stands for, or nil for a
// cube's own member.
func Origin(m Member) Member {
	switch mm := m.(type) {
	case *Measure:
		return mm.origin
	case *Dimension:
		return mm.origin
	case *Segment:
		return mm.origin
	}
	return nil
}

// Source returns the member a view's member includes: a cube's member, or
// for a view of a view that view's member; nil for a cube's own member.
func Source(m Member) Member {
	switch mm := m.(type) {
	case *Measure:
		if mm.source != nil {
			return mm.source
		}
	case *Dimension:
		if mm.source != nil {
			return mm.source
		}
	case *Segment:
		if mm.source != nil {
			return mm.source
		}
	}
	return nil
}

// resolveMember returns the member whose SQL answers for m.
func resolveMember(m Member) Member {
	if o := Origin(m); o != nil {
		return o
	}
	return m
}

func (c *Cube) join(target string) *Join {
	for _, j := range c.Joins {
		if j.Name == target {
			return j
		}
	}
	return nil
}

// override applies what a view's include declares over the included
// member's title, description, format and meta.
func (l *loader) override(inc *viewInclude, title, description *string, meta *any, format func(*yaml.Node)) {
	if inc == nil {
		return
	}
	if inc.title != nil {
		*title = *inc.title
	}
	if inc.description != nil {
		*description = *inc.description
	}
	if inc.meta != nil {
		*meta = inc.meta
	}
	if inc.format != nil {
		if format == nil {
			l.errs = append(l.errs, &ValidationError{Pos: inc.pos, Msg: fmt.Sprintf("include %q: a segment has no format", inc.name)})
			return
		}
		// Errors name the include's file.
		saved := l.file_
		l.file_ = inc.pos.File
		format(inc.format)
		l.file_ = saved
	}
}

// CubesBehind lists names and, for each view among them, the cubes its
// members come from (once each, in order): what a statement over names
// reads.
func (m *Model) CubesBehind(names []string) []string {
	out := make([]string, 0, len(names))
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range names {
		add(n)
		c, ok := m.Cube(n)
		if !ok || !c.IsView {
			continue
		}
		var mems []Member
		for _, x := range c.Measures {
			mems = append(mems, x)
		}
		for _, x := range c.Dimensions {
			mems = append(mems, x)
		}
		for _, x := range c.Segments {
			mems = append(mems, x)
		}
		for _, mem := range mems {
			if o := Origin(mem); o != nil && o.OwnerCube() != c {
				add(o.OwnerCube().Name)
			}
		}
	}
	return out
}
