package jsmodel

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"gopkg.in/yaml.v3"
)

// What a value is in the YAML model, which decides how keys, references
// and nested objects are written.
type kind string

const (
	kAny       kind = ""          // keys snake_cased, references as {path}
	kData      kind = "data"      // meta: keys as written
	kName      kind = "name"      // a reference is its path: orders.customers
	kMember    kind = "member"    // a reference is a member name: CUBE. dropped
	kMembers   kind = "members"   // a list of kMember (or objects of the list's item kind)
	kTypeValue kind = "typevalue" // a string snake_cased: countDistinct → count_distinct
	kSQL       kind = "sql"       // SQL (sql:, sql_table:): the model's own braces are text
)

// Kinds of definitions, and what their keys hold.
var schema = map[kind]map[string]slot{
	"cube": {
		"measures": {mapOf: "measure"}, "dimensions": {mapOf: "dimension"}, "segments": {mapOf: "segment"},
		"joins": {mapOf: "join"}, "pre_aggregations": {mapOf: "preagg"}, "hierarchies": {mapOf: "hierarchy"},
		"meta": {kind: kData}, "extends": {kind: kName}, "access_policy": {kind: kData},
	},
	"view": {
		"cubes": {kind: "viewcube"}, "folders": {kind: "folder"}, "meta": {kind: kData},
		"pre_aggregations": {mapOf: "preagg"}, "measures": {mapOf: "measure"}, "dimensions": {mapOf: "dimension"},
		"segments": {mapOf: "segment"}, "access_policy": {kind: kData},
	},
	"measure": {
		"type": {kind: kTypeValue}, "drill_members": {kind: kMembers}, "meta": {kind: kData},
	},
	"dimension": {"granularities": {mapOf: "granularity"}, "meta": {kind: kData}},
	"segment":   {"meta": {kind: kData}},
	"join":      {"relationship": {kind: kTypeValue}},
	"preagg": {
		"type": {kind: kTypeValue}, "measures": {kind: kMembers}, "dimensions": {kind: kMembers},
		"segments": {kind: kMembers}, "time_dimension": {kind: kMember}, "rollups": {kind: kName},
		"indexes": {mapOf: "index"}, "output_column_types": {kind: kData},
	},
	"index":     {"columns": {kind: kMembers}},
	"hierarchy": {"levels": {kind: kMembers}},
	"viewcube":  {"join_path": {kind: kName}, "includes": {kind: kMembers, item: "include"}, "excludes": {kind: kMembers}},
	"include":   {"name": {kind: kMember}, "meta": {kind: kData}},
	"folder":    {"includes": {kind: kMembers, item: "folder"}},
}

// slot is what a key of a definition holds: a value of kind, or a map of
// members of kind mapOf (written as a list with name:). item is the kind
// of the objects of a kMembers list.
type slot struct {
	kind  kind
	mapOf kind
	item  kind
}

// conv turns JavaScript values into YAML nodes.
type conv struct {
	e     *evaluator
	src   *source
	file  string
	depth int
}

const maxDepth = 64

// convertDef is the YAML of a cube() or view() call: the definition with
// name: first.
func (e *evaluator) convertDef(d *def, src *source) (n *yaml.Node, err error) {
	c := &conv{e: e, src: src, file: d.file}
	lit := src.defLiteral(d.line, d.col)
	defer func() {
		if x := recover(); x != nil {
			switch y := x.(type) {
			case *convError:
				err = y
			case *goja.Exception:
				err = y
			case *goja.InterruptedError:
				err = y
			default:
				panic(x)
			}
		}
	}()
	n = c.object(kind(d.kind), d.obj, lit, d.line)
	n.Content = append([]*yaml.Node{strNode("name", d.line), strNode(d.name, d.line)}, dropKey(n.Content, "name")...)
	return n, nil
}

// convError is a value that cannot be written as YAML; conv panics with
// it (the runtime's own exceptions pass through untouched).
type convError struct {
	file string
	line int
	msg  string
}

func (c *convError) Error() string { return c.msg }

func (c *conv) failf(line int, format string, args ...any) {
	panic(&convError{file: c.file, line: line, msg: fmt.Sprintf(format, args...)})
}

func dropKey(content []*yaml.Node, key string) []*yaml.Node {
	out := content[:0:0]
	for i := 0; i+1 < len(content); i += 2 {
		if content[i].Value != key {
			out = append(out, content[i], content[i+1])
		}
	}
	return out
}

func strNode(s string, line int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: line}
}

// object writes a definition object of kind k.
func (c *conv) object(k kind, o *goja.Object, lit ast.Expression, line int) *yaml.Node {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		c.failf(line, "the definition nests deeper than %d levels (a cycle?)", maxDepth)
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
	for _, key := range o.Keys() {
		v := o.Get(key)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		kl, vlit, ok := c.src.property(lit, key)
		if !ok {
			kl = line
		}
		name := key
		if k != kData {
			name = snake(key)
		}
		s := schema[k][name]
		if k == kData || name == "meta" {
			s = slot{kind: kData}
		} else if (name == "sql" || name == "sql_table") && s == (slot{}) {
			s = slot{kind: kSQL}
		}
		var child *yaml.Node
		if s.mapOf != "" {
			child = c.members(s.mapOf, v, vlit, kl)
		} else {
			child = c.value(s, v, vlit, kl)
		}
		n.Content = append(n.Content, strNode(name, kl), child)
	}
	return n
}

// members writes a map of members { count: { type: 'count' } } as a
// list of definitions with name: (a list stays a list).
func (c *conv) members(k kind, v goja.Value, lit ast.Expression, line int) *yaml.Node {
	v, lit = c.called(v, lit, line)
	o, ok := v.(*goja.Object)
	if !ok {
		return c.value(slot{}, v, lit, line)
	}
	if o.ClassName() == "Array" {
		return c.list(slot{kind: k}, o, lit, line)
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
	for _, name := range o.Keys() {
		mv := o.Get(name)
		if mv == nil || goja.IsUndefined(mv) {
			continue
		}
		ml, mlit, ok := c.src.property(lit, name)
		if !ok {
			ml = line
		}
		mv, mlit = c.called(mv, mlit, ml)
		mo, isObj := mv.(*goja.Object)
		if !isObj || mo.ClassName() == "Array" || c.e.refPath(mo) != "" {
			c.failf(ml, "%s %q: the definition must be an object", k, name)
		}
		m := c.object(k, mo, mlit, ml)
		m.Content = append([]*yaml.Node{strNode("name", ml), strNode(name, ml)}, dropKey(m.Content, "name")...)
		seq.Content = append(seq.Content, m)
	}
	return seq
}

// called calls v when it is a function (its parameters bound by name),
// as Cube does with sql: () => `…` and the like.
func (c *conv) called(v goja.Value, lit ast.Expression, line int) (goja.Value, ast.Expression) {
	fn, ok := goja.AssertFunction(v)
	if !ok {
		return v, lit
	}
	if o, isObj := v.(*goja.Object); isObj && c.e.refPath(o) != "" {
		return v, lit
	}
	args := c.e.paramValues(v.(*goja.Object))
	res, err := fn(goja.Undefined(), args...)
	if err != nil {
		panic(err)
	}
	return res, returned(lit)
}

var (
	paramsRe = regexp.MustCompile(`^\s*(?:async\b\s*)?(?:function\b\s*\*?\s*)?[A-Za-z_$0-9]*\s*\(([^)]*)\)`)
	arrowRe  = regexp.MustCompile(`^\s*(?:async\s+)?([A-Za-z_$][A-Za-z0-9_$]*)\s*=>`)
	identRe  = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)
)

// paramValues binds a function's parameters by name, as Cube does:
// CUBE and TABLE are the cube, a context variable is itself, any other
// name a reference to the cube or member of that name.
func (e *evaluator) paramValues(fn *goja.Object) []goja.Value {
	text := fn.String()
	var names []string
	if m := arrowRe.FindStringSubmatch(text); m != nil {
		names = []string{m[1]}
	} else if m := paramsRe.FindStringSubmatch(text); m != nil && strings.TrimSpace(m[1]) != "" {
		names = strings.Split(m[1], ",")
	}
	out := make([]goja.Value, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "CUBE" || n == "TABLE":
			out[i] = e.ref("CUBE")
		case !identRe.MatchString(n):
			out[i] = goja.Undefined()
		case e.globals[n]:
			out[i] = e.vm.Get(n)
		default:
			out[i] = e.ref(n)
		}
	}
	return out
}

var plainObject = reflect.TypeOf(map[string]any{})

// value writes any value into slot s.
func (c *conv) value(s slot, v goja.Value, lit ast.Expression, line int) *yaml.Node {
	v, lit = c.called(v, lit, line)
	switch {
	case v == nil || goja.IsUndefined(v) || goja.IsNull(v):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}
	}
	// Export only a primitive: an object's Export copies it, nested
	// values and all (recursively, in Go).
	var prim any
	if _, isObj := v.(*goja.Object); !isObj {
		prim = v.Export()
	}
	switch x := prim.(type) {
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x), Line: line}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10), Line: line}
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			c.failf(line, "%v cannot be written in a model", x)
		case x == math.Trunc(x) && math.Abs(x) < 1e15:
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(x), 10), Line: line}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(x, 'g', -1, 64), Line: line}
	case string:
		return strNode(c.text(s.kind, x), line)
	}
	o, ok := v.(*goja.Object)
	if !ok {
		c.failf(line, "a %s cannot be written in a model", v.ExportType())
	}
	if p := c.e.refPath(o); p != "" {
		switch s.kind {
		case kName, kTypeValue:
			return strNode(p, line)
		case kMember, kMembers:
			return strNode(strings.TrimPrefix(p, "CUBE."), line)
		}
		return strNode("{"+p+"}", line)
	}
	if o.ClassName() == "Array" {
		return c.list(s, o, lit, line)
	}
	if _, isFn := goja.AssertFunction(o); isFn {
		c.failf(line, "a function cannot be written in a model")
	}
	switch o.ClassName() {
	case "Date", "RegExp", "String", "Number", "Boolean":
		return strNode(o.String(), line)
	}
	if o.ExportType() != plainObject {
		name := o.ClassName()
		if ctor, ok := o.Get("constructor").(*goja.Object); ok {
			if n := ctor.Get("name"); n != nil && n.String() != "" {
				name = n.String()
			}
		}
		c.failf(line, "a %s cannot be written in a model", name)
	}
	k := s.kind
	switch k {
	case kMembers:
		k = s.item
	case kName, kMember, kTypeValue, kSQL:
		k = kAny
	}
	return c.object(k, o, lit, line)
}

// text writes a string of a slot: a member name loses {braces} and
// CUBE., a type value is snake_cased.
func (c *conv) text(k kind, s string) string {
	switch k {
	case kSQL:
		return sqlText(s)
	case kTypeValue:
		return snake(plainText(s))
	case kMember, kMembers, kName:
		t := strings.TrimSpace(plainText(s))
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") && !strings.ContainsAny(t[1:len(t)-1], "{}") {
			t = t[1 : len(t)-1]
		}
		if k != kName {
			t = strings.TrimPrefix(t, "CUBE.")
		}
		return t
	}
	return plainText(s)
}

// list writes an array; a kMembers list holds member names (or objects
// of its item kind).
func (c *conv) list(s slot, o *goja.Object, lit ast.Expression, line int) *yaml.Node {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		c.failf(line, "the definition nests deeper than %d levels (a cycle?)", maxDepth)
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
	l := o.Get("length").ToInteger()
	if l > int64(c.e.opts.MaxAlloc) {
		c.failf(line, "a list of %d items is too long for a model", l)
	}
	for i := int64(0); i < l; i++ {
		il, ilit := c.src.element(lit, int(i))
		if il == 0 {
			il = line
		}
		n.Content = append(n.Content, c.value(s, o.Get(strconv.FormatInt(i, 10)), ilit, il))
	}
	return n
}

// snake writes a camelCase key or type in snake_case: sqlTable →
// sql_table, countDistinctApprox → count_distinct_approx; a snake_case
// one stays as it is.
func snake(s string) string {
	if strings.IndexFunc(s, unicode.IsUpper) < 0 {
		return s
	}
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && rs[i-1] != '_' && !unicode.IsUpper(rs[i-1]) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
