package cubes

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// What the model says for clients rather than for queries: meta maps,
// formats, drill members, folders and hierarchies (Cube's /v1/meta shows
// them). Each is validated here, with the place of a mistake.

// drillRef is one entry of a measure's drill_members, until resolved.
type drillRef struct {
	name string
	pos  Pos
}

// meta reads a meta: map as JSON-ready values (maps with string keys,
// lists, strings, numbers, booleans, null), as Cube passes it on.
func (l *loader) meta(n *yaml.Node) any {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "meta must be a mapping")
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		l.errorf(n, "meta: %v", err)
		return nil
	}
	return jsonReady(v)
}

// jsonReady turns what yaml.v3 decodes into values encoding/json can
// write: a mapping with non-string keys gets its keys spelled as text.
func jsonReady(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonReady(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonReady(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonReady(e)
		}
		return x
	}
	return v
}

// Formats Cube accepts (its CubeValidator): measures take a name, a
// dimension a name or a link object.
var (
	measureFormats   = map[string]bool{"percent": true, "currency": true, "number": true}
	dimensionFormats = map[string]bool{"imageUrl": true, "link": true, "currency": true, "percent": true, "number": true, "id": true}
)

func (l *loader) measureFormat(m *Measure) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind != yaml.ScalarNode || !measureFormats[v.Value] {
			l.errorf(v, "measure format: want percent, currency or number")
			return
		}
		m.Format = v.Value
	}
}

func (l *loader) dimensionFormat(d *Dimension) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind == yaml.ScalarNode {
			if !dimensionFormats[v.Value] {
				l.errorf(v, "dimension format %q: want imageUrl, link, currency, percent, number, id or {type: link, label: …}", v.Value)
				return
			}
			d.Format = v.Value
			return
		}
		var typ string
		l.mapping(v, "dimension format", map[string]func(*yaml.Node){"type": l.str(&typ), "label": l.str(&d.FormatLabel)})
		if typ != "link" {
			l.errorf(v, "dimension format: an object format must be {type: link, label: …}")
			return
		}
		d.Format, d.FormatObject = "link", true
	}
}

// drillMembers reads drill_members: member names of the cube, or
// cube.member of another one, resolved once every cube is read.
func (l *loader) drillMembers(m *Measure) func(*yaml.Node) {
	return func(v *yaml.Node) {
		l.seq(v, "drill_members", func(it *yaml.Node) {
			if it.Kind != yaml.ScalarNode || it.Value == "" {
				l.errorf(it, "drill_members: expected a member name")
				return
			}
			m.drillRefs = append(m.drillRefs, drillRef{strings.TrimSpace(it.Value), l.pos(it)})
		})
	}
}

// resolveDrillMembers turns every cube measure's drill_members into
// full names, each a measure or dimension the model has.
func (l *loader) resolveDrillMembers(m *Model) {
	for _, c := range l.cubes {
		if c.IsView {
			continue
		}
		for _, ms := range c.Measures {
			ms.DrillMembers = nil
			for _, ref := range ms.drillRefs {
				full := ref.name
				if !strings.Contains(full, ".") {
					full = c.Name + "." + full
				}
				mem, err := m.Member(full)
				if err == nil {
					if _, seg := mem.(*Segment); seg {
						err = fmt.Errorf("%s is a segment", full)
					}
				}
				if err != nil {
					l.errs = append(l.errs, &ValidationError{Pos: ref.pos, Msg: fmt.Sprintf("drill member %q of %s.%s: %v (want a measure or dimension)", ref.name, c.Name, ms.Name, err)})
					continue
				}
				ms.DrillMembers = append(ms.DrillMembers, FullName(mem))
			}
		}
	}
}

// visible is Cube's visibility of a cube or member: public if given,
// else shown if given, else the default (a primary key is hidden).
func visible(public, shown *bool, def bool) bool {
	switch {
	case public != nil:
		return *public
	case shown != nil:
		return *shown
	}
	return def
}

func (l *loader) optBool(dst **bool) func(*yaml.Node) {
	return func(v *yaml.Node) {
		b := false
		l.boolean(&b)(v)
		*dst = &b
	}
}

// folders reads a view's folders: names with member names or nested
// folders, checked against the view's members once it has them.
func (l *loader) folders(v *viewDef) func(*yaml.Node) {
	return func(n *yaml.Node) {
		l.seq(n, "folders", func(f *yaml.Node) {
			if fd := l.folder(v, f); fd != nil {
				v.cube.Folders = append(v.cube.Folders, *fd)
			}
		})
	}
}

func (l *loader) folder(v *viewDef, n *yaml.Node) *Folder {
	fd := &Folder{}
	l.mapping(n, "folder", map[string]func(*yaml.Node){
		"name": l.str(&fd.Name),
		"includes": func(s *yaml.Node) {
			if s.Kind == yaml.ScalarNode && s.Value == "*" {
				fd.Items = append(fd.Items, FolderItem{Member: "*"})
				return
			}
			l.seq(s, "folder includes", func(it *yaml.Node) {
				if it.Kind == yaml.ScalarNode {
					fd.Items = append(fd.Items, FolderItem{Member: it.Value})
					v.folderRefs = append(v.folderRefs, folderRef{it.Value, fd, l.pos(it)})
					return
				}
				if sub := l.folder(v, it); sub != nil {
					fd.Items = append(fd.Items, FolderItem{Folder: sub})
				}
			})
		},
	})
	if fd.Name == "" {
		l.errorf(n, "folder needs a name")
		return nil
	}
	return fd
}

type folderRef struct {
	member string
	folder *Folder
	pos    Pos
}

// checkFolders reports folder entries that name no member of the view
// and expands "*" to every member.
func (l *loader) checkFolders(v *viewDef) {
	for _, r := range v.folderRefs {
		if _, ok := v.cube.members[r.member]; !ok {
			l.errs = append(l.errs, &ValidationError{Pos: r.pos, Msg: fmt.Sprintf("view %q: folder %q includes %q, which is not a member of the view", v.cube.Name, r.folder.Name, r.member)})
		}
	}
	var expand func(fd *Folder)
	expand = func(fd *Folder) {
		var items []FolderItem
		for _, it := range fd.Items {
			switch {
			case it.Folder != nil:
				expand(it.Folder)
				items = append(items, it)
			case it.Member == "*":
				for _, name := range v.cube.memberNames() {
					items = append(items, FolderItem{Member: name})
				}
			default:
				items = append(items, it)
			}
		}
		fd.Items = items
	}
	for i := range v.cube.Folders {
		expand(&v.cube.Folders[i])
	}
}

// memberNames lists the cube's members: measures, dimensions, segments.
func (c *Cube) memberNames() []string {
	var out []string
	for _, m := range c.Measures {
		out = append(out, m.Name)
	}
	for _, d := range c.Dimensions {
		out = append(out, d.Name)
	}
	for _, s := range c.Segments {
		out = append(out, s.Name)
	}
	return out
}

// hierarchies reads a cube's hierarchies: a name, a title and levels
// (dimension names of the cube, checked once the cube is indexed).
func (l *loader) hierarchies(c *Cube) func(*yaml.Node) {
	return func(n *yaml.Node) {
		l.seq(n, "hierarchies", func(h *yaml.Node) {
			hd := Hierarchy{Pos: l.pos(h), Public: true}
			l.mapping(h, "hierarchy", map[string]func(*yaml.Node){
				"name":   l.str(&hd.Name),
				"title":  l.str(&hd.Title),
				"public": l.boolean(&hd.Public),
				"levels": func(s *yaml.Node) {
					l.seq(s, "levels", func(it *yaml.Node) {
						if it.Kind != yaml.ScalarNode {
							l.errorf(it, "levels: expected a dimension name")
							return
						}
						hd.Levels = append(hd.Levels, it.Value)
					})
				},
			})
			if hd.Name == "" || len(hd.Levels) == 0 {
				l.errorf(h, "hierarchy in cube %q needs a name and levels", c.Name)
				return
			}
			c.Hierarchies = append(c.Hierarchies, hd)
		})
	}
}

// checkHierarchies reports levels that name no dimension of the cube
// (a level may also be cube.dimension of the cube itself).
func (l *loader) checkHierarchies(c *Cube) {
	for _, h := range c.Hierarchies {
		for _, lv := range h.Levels {
			name := strings.TrimPrefix(lv, c.Name+".")
			if mem, ok := c.members[name]; !ok {
				l.errs = append(l.errs, &ValidationError{Pos: h.Pos, Msg: fmt.Sprintf("hierarchy %s.%s: level %q is not a dimension of the cube", c.Name, h.Name, lv)})
			} else if _, dim := mem.(*Dimension); !dim {
				l.errs = append(l.errs, &ValidationError{Pos: h.Pos, Msg: fmt.Sprintf("hierarchy %s.%s: level %q is not a dimension", c.Name, h.Name, lv)})
			}
		}
	}
}
