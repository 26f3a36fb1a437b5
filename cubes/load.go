package cubes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/cubes/jsmodel"
	"gopkg.in/yaml.v3"
)

// ValidationError is one problem in a model file, at a place.
type ValidationError struct {
	Pos Pos
	Msg string
	// budget: the load's time or memory budget was spent (JavaScript's
	// timeout or heap watchdog, Jinja's limits), which another load, or
	// the same under less load, may not spend (errors.Is ErrBudget).
	budget bool
}

func (e *ValidationError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Is makes a budget failure errors.Is ErrBudget.
func (e *ValidationError) Is(target error) bool { return target == ErrBudget && e.budget }

// ErrBudget is what a model load that failed because it spent its time
// or memory budget (a JavaScript model's timeout or heap growth, which
// counts every goroutine's allocations; a Jinja template's limits) is,
// by errors.Is: unlike a validation error, it may not fail again.
var ErrBudget = errors.New("the model load's time or memory budget was spent")

// ValidationErrors is every problem found in a model, in file order.
type ValidationErrors []*ValidationError

// Is reports ErrBudget when one of the errors is a budget failure.
func (es ValidationErrors) Is(target error) bool {
	for _, e := range es {
		if e.Is(target) {
			return true
		}
	}
	return false
}

func (es ValidationErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadOptions tune a model load.
type LoadOptions struct {
	// CompileContext is COMPILE_CONTEXT as JavaScript and Jinja models see
	// it (nil: an empty object).
	CompileContext map[string]any
	// Warn receives what is worth saying but does not stop the load: a
	// file in the model folder that is not a model file. nil: dropped.
	Warn func(Pos, string)
}

// Model file kinds, by extension.
var (
	yamlExts = []string{".yml", ".yaml"}
	jsExts   = []string{".js"}
	// dataExts are read so that a model can require() them (JSON) or a
	// YAML file's Jinja can import or include them (macro files); they
	// are not model files of their own.
	dataExts = []string{".json", ".jinja", ".jinja2", ".j2"}
)

func hasExt(name string, exts []string) bool {
	for _, e := range exts {
		if strings.HasSuffix(strings.ToLower(name), e) {
			return true
		}
	}
	return false
}

// MaxModelFileBytes bounds one file of a model folder.
const MaxModelFileBytes = 16 << 20

// ReadDir reads every file below dir (hidden folders such as .git
// excepted) keyed by its path relative to dir, slash-separated: the
// model files, the files they may require(), and any other file, which
// LoadFiles names in a warning rather than skipping it silently.
func ReadDir(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	root, err := filepath.EvalSymlinks(dir)
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		return nil, fmt.Errorf("model dir: %w", err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			// A link is read only when it stays in the folder: a model sees
			// no file outside it (require() of a linked key file would put
			// its text in the model's metadata).
			target, err := filepath.EvalSymlinks(path)
			if err == nil {
				target, err = filepath.Abs(target)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if in, err := filepath.Rel(root, target); err != nil || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%s: a link to a file outside the model folder is not read", rel)
			}
		}
		if info.IsDir() {
			return fmt.Errorf("%s: a link to a folder is not read", rel)
		}
		if info.Size() > MaxModelFileBytes {
			return fmt.Errorf("%s: %d bytes, more than the %d a model file may have", rel, info.Size(), MaxModelFileBytes)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model dir: %w", err)
	}
	return files, nil
}

// LoadDir loads and validates the model files (.yml, .yaml, .js) below
// dir.
func LoadDir(dir string) (*Model, error) { return LoadDirWith(dir, LoadOptions{}) }

// LoadDirWith is LoadDir with options.
func LoadDirWith(dir string, o LoadOptions) (*Model, error) {
	files, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := LoadFilesWith(files, o)
	if errors.Is(err, errNoModelFiles) {
		return nil, fmt.Errorf("model dir %s: %w", dir, err)
	}
	return m, err
}

var errNoModelFiles = errors.New("no model files (.yml, .yaml or .js)")

// LoadFiles loads a model from file contents keyed by file name.
func LoadFiles(files map[string][]byte) (*Model, error) { return LoadFilesWith(files, LoadOptions{}) }

// LoadFilesWith is LoadFiles with options.
func LoadFilesWith(files map[string][]byte, o LoadOptions) (*Model, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	l := &loader{opts: o, files: files}
	models := 0
	for _, n := range names {
		switch {
		case hasExt(n, yamlExts):
			models++
			l.file(n, files[n])
		case hasExt(n, jsExts):
			models++
			l.jsFile(n, files[n])
		case hasExt(n, dataExts):
		default:
			l.warn(Pos{File: n}, "not a model file (a model file ends in .yml, .yaml or .js): not read")
		}
	}
	if models == 0 {
		return nil, errNoModelFiles
	}
	if len(l.errs) == 0 {
		l.resolve()
	}
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return newModel(l.cubes), nil
}

func (l *loader) warn(p Pos, msg string) {
	if l.opts.Warn != nil {
		l.opts.Warn(p, msg)
	}
}

// jsFile loads a JavaScript model file. The first call evaluates every
// .js file of the folder together (they share one module cache and may
// define cubes for one another, see package jsmodel); each call then
// reads the cubes and views defined in its file through the YAML path.
func (l *loader) jsFile(name string, _ []byte) {
	if l.js == nil {
		l.js = l.evalJS()
	}
	for _, root := range l.js[name] {
		l.file_ = name
		l.mapping(root, "model file", map[string]func(*yaml.Node){
			"cubes": func(v *yaml.Node) { l.seq(v, "cubes", l.cube) },
			"views": func(v *yaml.Node) { l.seq(v, "views", l.view) },
		})
	}
}

// evalJS evaluates the folder's JavaScript model files: their YAML
// documents by file, and every JavaScript error as a ValidationError.
func (l *loader) evalJS() map[string][]*yaml.Node {
	var entry []string
	for n := range l.files {
		if hasExt(n, jsExts) {
			entry = append(entry, n)
		}
	}
	sort.Strings(entry)
	opts := jsmodel.Options{CompileContext: l.opts.CompileContext}
	if l.opts.Warn != nil {
		opts.Warn = func(file string, line int, msg string) { l.opts.Warn(Pos{file, line}, msg) }
	}
	docs, err := jsmodel.Eval(l.files, entry, opts)
	var jerrs jsmodel.Errors
	if errors.As(err, &jerrs) {
		for _, e := range jerrs {
			l.errs = append(l.errs, &ValidationError{Pos: Pos{e.File, e.Line}, Msg: e.Msg, budget: e.Budget})
		}
	} else if err != nil {
		l.errs = append(l.errs, &ValidationError{Pos: Pos{File: entry[0]}, Msg: err.Error()})
	}
	out := map[string][]*yaml.Node{}
	for _, d := range docs {
		out[d.File] = append(out[d.File], d.Root)
	}
	return out
}

type loader struct {
	opts  LoadOptions
	files map[string][]byte // every file of the model folder, by name
	file_ string
	js    map[string][]*yaml.Node // the JavaScript model files' documents, once evaluated
	errs  ValidationErrors
	cubes []*Cube
	views []*viewDef
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	p := Pos{File: l.file_}
	if n != nil {
		p.Line = n.Line
	}
	l.errs = append(l.errs, &ValidationError{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) pos(n *yaml.Node) Pos { return Pos{File: l.file_, Line: n.Line} }

func (l *loader) file(name string, src []byte) {
	l.file_ = name
	tmpl := src
	src, rendered, ok := l.preprocess(name, src)
	if !ok {
		return
	}
	if rendered {
		// Lines of a rendered file are the output's: say so, and name
		// the template's where it can be told.
		defer l.renderedPositions(name, tmpl, src, len(l.errs), len(l.cubes))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		var te *yaml.TypeError
		msg := err.Error()
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		l.errs = append(l.errs, &ValidationError{Pos: Pos{name, yamlErrLine(msg)}, Msg: "invalid YAML: " + msg})
		return
	}
	if len(doc.Content) == 0 {
		return // empty file
	}
	root := doc.Content[0]
	l.mapping(root, "model file", map[string]func(*yaml.Node){
		"cubes": func(v *yaml.Node) { l.seq(v, "cubes", l.cube) },
		"views": func(v *yaml.Node) { l.seq(v, "views", l.view) },
	})
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(msg string) int {
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		var n int
		fmt.Sscanf(m[1], "%d", &n)
		return n
	}
	return 0
}

// mapping walks a YAML mapping, calling the handler of each known key and
// reporting unknown ones.
func (l *loader) mapping(n *yaml.Node, what string, keys map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping", what)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := keys[k.Value]
		if !ok {
			l.errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, knownKeys(keys))
			continue
		}
		if h != nil {
			h(v)
		}
	}
}

func knownKeys(keys map[string]func(*yaml.Node)) string {
	ks := make([]string, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func (l *loader) seq(n *yaml.Node, what string, each func(*yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list", what)
		return
	}
	for _, item := range n.Content {
		each(item)
	}
}

func (l *loader) str(dst *string) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind != yaml.ScalarNode {
			l.errorf(v, "expected a string")
			return
		}
		*dst = v.Value
	}
}

func (l *loader) boolean(dst *bool) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
			l.errorf(v, "expected true or false")
			return
		}
		*dst = v.Value == "true"
	}
}

// ignored accepts a key the model format has but that does not change
// query results here (metadata, caching hints).
var ignored func(*yaml.Node)

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (l *loader) cube(n *yaml.Node) {
	c := &Cube{Public: true, Pos: l.pos(n)}
	var public, shown *bool
	l.mapping(n, "cube", map[string]func(*yaml.Node){
		"name":        l.str(&c.Name),
		"sql_table":   l.str(&c.SQLTable),
		"sql":         l.str(&c.SQL),
		"title":       l.str(&c.Title),
		"description": l.str(&c.Description),
		"public":      l.optBool(&public),
		"shown":       l.optBool(&shown),
		"sql_alias":   ignored,
		"data_source": ignored,
		"meta":        func(v *yaml.Node) { c.Meta = l.meta(v) },
		"extends": func(v *yaml.Node) {
			l.str(&c.extends)(v)
			c.extends = strings.Trim(strings.TrimSpace(c.extends), "${}")
		},
		"refresh_key":      func(v *yaml.Node) { c.RefreshKey = l.refreshKey(v, false) },
		"pre_aggregations": l.preAggregations(c),
		"hierarchies":      l.hierarchies(c),
		"access_policy":    ignored,
		"measures":         func(v *yaml.Node) { l.seq(v, "measures", func(m *yaml.Node) { l.measure(c, m) }) },
		"dimensions":       func(v *yaml.Node) { l.seq(v, "dimensions", func(d *yaml.Node) { l.dimension(c, d) }) },
		"segments":         func(v *yaml.Node) { l.seq(v, "segments", func(s *yaml.Node) { l.segment(c, s) }) },
		"joins":            func(v *yaml.Node) { l.seq(v, "joins", func(j *yaml.Node) { l.join(c, j) }) },
	})
	c.Public = visible(public, shown, true)
	switch {
	case c.Name == "":
		l.errorf(n, "cube needs a name")
		return
	case !identRe.MatchString(c.Name):
		l.errorf(n, "cube name %q must be an identifier (letters, digits, _)", c.Name)
	case c.SQLTable == "" && c.SQL == "" && c.extends == "":
		l.errorf(n, "cube %q needs sql_table or sql", c.Name)
	case c.SQLTable != "" && c.SQL != "":
		l.errorf(n, "cube %q has both sql_table and sql: keep one", c.Name)
	}
	l.cubes = append(l.cubes, c)
}

var measureTypes = map[MemberType]bool{TypeCount: true, TypeCountDistinct: true, TypeCountApprox: true, TypeSum: true,
	TypeAvg: true, TypeMin: true, TypeMax: true, TypeNumber: true, TypeString: true, TypeTime: true, TypeBoolean: true}

func (l *loader) measure(c *Cube, n *yaml.Node) {
	m := &Measure{Cube: c, Public: true, Pos: l.pos(n)}
	var typ string
	var public, shown *bool
	l.mapping(n, "measure", map[string]func(*yaml.Node){
		"name":           l.str(&m.Name),
		"type":           l.str(&typ),
		"sql":            l.str(&m.SQL),
		"title":          l.str(&m.Title),
		"description":    l.str(&m.Description),
		"format":         l.measureFormat(m),
		"public":         l.optBool(&public),
		"shown":          l.optBool(&shown),
		"meta":           func(v *yaml.Node) { m.Meta = l.meta(v) },
		"drill_members":  l.drillMembers(m),
		"rolling_window": func(v *yaml.Node) { m.Rolling = l.rollingWindow(v) },
		"filters": func(v *yaml.Node) {
			l.seq(v, "filters", func(f *yaml.Node) {
				var sql string
				l.mapping(f, "measure filter", map[string]func(*yaml.Node){"sql": l.str(&sql)})
				m.Filters = append(m.Filters, sql)
			})
		},
	})
	m.Type = MemberType(typ)
	m.Public = visible(public, shown, true)
	switch {
	case m.Name == "":
		l.errorf(n, "measure in cube %q needs a name", c.Name)
		return
	case !measureTypes[m.Type]:
		l.errorf(n, "measure %s.%s: unknown type %q (want count, count_distinct, count_distinct_approx, sum, avg, min, max, number, string, time or boolean)", c.Name, m.Name, typ)
	case m.SQL == "" && m.Type != TypeCount:
		l.errorf(n, "measure %s.%s of type %s needs sql", c.Name, m.Name, typ)
	}
	c.Measures = append(c.Measures, m)
}

var dimensionTypes = map[MemberType]bool{TypeString: true, TypeNumber: true, TypeTime: true, TypeBoolean: true}

func (l *loader) dimension(c *Cube, n *yaml.Node) {
	d := &Dimension{Cube: c, Public: true, SuggestFilterValues: true, Pos: l.pos(n)}
	var typ string
	var public, shown *bool
	l.mapping(n, "dimension", map[string]func(*yaml.Node){
		"name":                           l.str(&d.Name),
		"type":                           l.str(&typ),
		"sql":                            l.str(&d.SQL),
		"title":                          l.str(&d.Title),
		"description":                    l.str(&d.Description),
		"primary_key":                    l.boolean(&d.PrimaryKey),
		"public":                         l.optBool(&public),
		"shown":                          l.optBool(&shown),
		"format":                         l.dimensionFormat(d),
		"meta":                           func(v *yaml.Node) { d.Meta = l.meta(v) },
		"suggest_filter_values":          l.boolean(&d.SuggestFilterValues),
		"granularities":                  func(v *yaml.Node) { l.seq(v, "granularities", func(g *yaml.Node) { l.granularity(d, g) }) },
		"sub_query":                      l.boolean(&d.SubQuery),
		"propagate_filters_to_sub_query": ignored,
		"case":                           func(v *yaml.Node) { d.Case = l.caseDef(v) },
	})
	d.Type = MemberType(typ)
	// A primary key is hidden unless declared public, as in Cube.
	d.Public = visible(public, shown, !d.PrimaryKey)
	switch {
	case d.Name == "":
		l.errorf(n, "dimension in cube %q needs a name", c.Name)
		return
	case !dimensionTypes[d.Type]:
		l.errorf(n, "dimension %s.%s: unknown type %q (want string, number, time or boolean)", c.Name, d.Name, typ)
	case d.SQL == "" && d.Case == nil:
		l.errorf(n, "dimension %s.%s needs sql or case", c.Name, d.Name)
	}
	c.Dimensions = append(c.Dimensions, d)
}

func (l *loader) caseDef(n *yaml.Node) *CaseDef {
	cd := &CaseDef{}
	l.mapping(n, "case", map[string]func(*yaml.Node){
		"when": func(v *yaml.Node) {
			l.seq(v, "case.when", func(w *yaml.Node) {
				var cw CaseWhen
				l.mapping(w, "case.when item", map[string]func(*yaml.Node){"sql": l.str(&cw.SQL), "label": l.str(&cw.Label)})
				if cw.SQL == "" {
					l.errorf(w, "case.when item needs sql")
				}
				cd.When = append(cd.When, cw)
			})
		},
		"else": func(v *yaml.Node) {
			var label string
			l.mapping(v, "case.else", map[string]func(*yaml.Node){"label": l.str(&label)})
			cd.Else = &label
		},
	})
	if len(cd.When) == 0 {
		l.errorf(n, "case needs at least one when")
	}
	return cd
}

func (l *loader) segment(c *Cube, n *yaml.Node) {
	s := &Segment{Cube: c, Public: true, Pos: l.pos(n)}
	var public, shown *bool
	l.mapping(n, "segment", map[string]func(*yaml.Node){
		"name":        l.str(&s.Name),
		"sql":         l.str(&s.SQL),
		"title":       l.str(&s.Title),
		"description": l.str(&s.Description),
		"public":      l.optBool(&public),
		"shown":       l.optBool(&shown),
		"meta":        func(v *yaml.Node) { s.Meta = l.meta(v) },
	})
	s.Public = visible(public, shown, true)
	if s.Name == "" || s.SQL == "" {
		l.errorf(n, "segment in cube %q needs a name and sql", c.Name)
		return
	}
	c.Segments = append(c.Segments, s)
}

var relationships = map[string]string{
	"one_to_one": "one_to_one", "one_to_many": "one_to_many", "many_to_one": "many_to_one",
	"has_one": "one_to_one", "has_many": "one_to_many", "belongs_to": "many_to_one",
	"hasOne": "one_to_one", "hasMany": "one_to_many", "belongsTo": "many_to_one",
}

func (l *loader) join(c *Cube, n *yaml.Node) {
	j := &Join{Pos: l.pos(n)}
	var rel string
	l.mapping(n, "join", map[string]func(*yaml.Node){
		"name":         l.str(&j.Name),
		"relationship": l.str(&rel),
		"sql":          l.str(&j.SQL),
	})
	j.Relationship = relationships[rel]
	switch {
	case j.Name == "" || j.SQL == "":
		l.errorf(n, "join in cube %q needs a name (the target cube) and sql", c.Name)
		return
	case j.Relationship == "":
		l.errorf(n, "join %s → %s: unknown relationship %q (want one_to_one, one_to_many or many_to_one)", c.Name, j.Name, rel)
	}
	c.Joins = append(c.Joins, j)
}

// resolve checks names and references across files once everything is read.
func (l *loader) resolve() {
	l.inherit()
	if len(l.errs) > 0 {
		return
	}
	seen := map[string]*Cube{}
	for _, c := range l.cubes {
		if prev, ok := seen[c.Name]; ok {
			l.errs = append(l.errs, &ValidationError{Pos: c.Pos, Msg: fmt.Sprintf("cube %q is defined twice (first at %s)", c.Name, prev.Pos)})
			continue
		}
		seen[c.Name] = c
		names := map[string]Pos{}
		check := func(name string, p Pos) {
			if prev, ok := names[name]; ok {
				l.errs = append(l.errs, &ValidationError{Pos: p, Msg: fmt.Sprintf("member %s.%s is defined twice (first at %s)", c.Name, name, prev)})
			}
			if !identRe.MatchString(name) {
				l.errs = append(l.errs, &ValidationError{Pos: p, Msg: fmt.Sprintf("member name %q must be an identifier (letters, digits, _)", name)})
			}
			names[name] = p
		}
		for _, m := range c.Measures {
			check(m.Name, m.Pos)
		}
		for _, d := range c.Dimensions {
			check(d.Name, d.Pos)
		}
		for _, s := range c.Segments {
			check(s.Name, s.Pos)
		}
		c.index()
	}
	for _, c := range l.cubes {
		for _, j := range c.Joins {
			if _, ok := seen[j.Name]; !ok {
				l.errs = append(l.errs, &ValidationError{Pos: j.Pos, Msg: fmt.Sprintf("join from %q names cube %q, which does not exist", c.Name, j.Name)})
			}
		}
	}
	if len(l.errs) > 0 {
		return
	}
	m := newModel(l.cubes)
	for _, c := range l.cubes {
		l.checkRefs(m, c)
		l.checkContextVars(m, c)
		l.checkHierarchies(c)
	}
	l.resolveDrillMembers(m)
	l.resolveViews(m)
	if len(l.errs) == 0 {
		l.resolvePreAggregations(m)
	}
}

// checkRefs renders every member once so that unknown references and
// cycles are reported at load time, with the member's place.
func (l *loader) checkRefs(m *Model, c *Cube) {
	r := &renderer{model: m, d: Postgres{}}
	for _, mem := range c.Measures {
		if _, err := r.measureExpr(mem); err != nil {
			l.errs = append(l.errs, &ValidationError{Pos: mem.Pos, Msg: err.Error()})
		}
	}
	for _, d := range c.Dimensions {
		if _, err := r.dimensionExpr(d); err != nil {
			l.errs = append(l.errs, &ValidationError{Pos: d.Pos, Msg: err.Error()})
		}
	}
	for _, s := range c.Segments {
		if _, err := r.segmentExpr(s); err != nil {
			l.errs = append(l.errs, &ValidationError{Pos: s.Pos, Msg: err.Error()})
		}
	}
}

// inherit applies extends: a cube gets the table, joins, measures,
// dimensions and segments of the cube it extends, except those it
// declares itself.
func (l *loader) inherit() {
	byName := map[string]*Cube{}
	for _, c := range l.cubes {
		if !c.IsView {
			byName[c.Name] = c
		}
	}
	done := map[*Cube]bool{}
	var resolve func(c *Cube, chain []string) bool
	resolve = func(c *Cube, chain []string) bool {
		if c.extends == "" || done[c] {
			return true
		}
		for _, name := range chain {
			if name == c.Name {
				l.errs = append(l.errs, &ValidationError{Pos: c.Pos, Msg: "extends cycle: " + strings.Join(append(chain, c.Name), " → ")})
				return false
			}
		}
		parent, ok := byName[c.extends]
		if !ok {
			l.errs = append(l.errs, &ValidationError{Pos: c.Pos, Msg: fmt.Sprintf("cube %q extends %q, which is not a cube", c.Name, c.extends)})
			return false
		}
		if !resolve(parent, append(chain, c.Name)) {
			return false
		}
		if c.SQLTable == "" && c.SQL == "" {
			c.SQLTable, c.SQL = parent.SQLTable, parent.SQL
		}
		have := map[string]bool{}
		for _, m := range c.Measures {
			have[m.Name] = true
		}
		for _, d := range c.Dimensions {
			have[d.Name] = true
		}
		for _, s := range c.Segments {
			have[s.Name] = true
		}
		c.Measures = adopt(have, parent.Measures, c.Measures, func(m *Measure) { m.Cube = c })
		c.Dimensions = adopt(have, parent.Dimensions, c.Dimensions, func(d *Dimension) { d.Cube = c })
		c.Segments = adopt(have, parent.Segments, c.Segments, func(s *Segment) { s.Cube = c })
		inheritPreAggregations(c, parent)
		joined := map[string]bool{}
		for _, j := range c.Joins {
			joined[j.Name] = true
		}
		for _, j := range parent.Joins {
			if !joined[j.Name] {
				c.Joins = append(c.Joins, j)
			}
		}
		c.extends = ""
		done[c] = true
		return true
	}
	for _, c := range l.cubes {
		resolve(c, nil)
	}
}

var intervalPart = regexp.MustCompile(`^(-?\d+)\s*(second|minute|hour|day|week|month|quarter|year)s?$`)

// parseInterval reads "1 year", "6 months", "2 weeks 3 days", "15 minutes"
// into months and seconds.
func parseInterval(s string) (months int, seconds int64, err error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 || len(fields)%2 != 0 {
		return 0, 0, fmt.Errorf("interval %q: want a number and a unit, such as \"1 year\" or \"15 minutes\"", s)
	}
	for i := 0; i < len(fields); i += 2 {
		m := intervalPart.FindStringSubmatch(fields[i] + " " + fields[i+1])
		if m == nil {
			return 0, 0, fmt.Errorf("interval %q: cannot read %q", s, fields[i]+" "+fields[i+1])
		}
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "second":
			seconds += int64(n)
		case "minute":
			seconds += int64(n) * 60
		case "hour":
			seconds += int64(n) * 3600
		case "day":
			seconds += int64(n) * 86400
		case "week":
			seconds += int64(n) * 7 * 86400
		case "month":
			months += n
		case "quarter":
			months += 3 * n
		case "year":
			months += 12 * n
		}
	}
	return months, seconds, nil
}

func (l *loader) granularity(d *Dimension, n *yaml.Node) {
	var g Granularity
	var interval, offset, origin string
	l.mapping(n, "granularity", map[string]func(*yaml.Node){
		"name": l.str(&g.Name), "title": l.str(&g.Title), "interval": l.str(&interval),
		"offset": l.str(&offset), "origin": l.str(&origin),
	})
	if g.Name == "" || interval == "" {
		l.errorf(n, "granularity of %s needs a name and an interval", d.Name)
		return
	}
	if Granularities[g.Name] {
		l.errorf(n, "granularity %q of %s shadows the built-in one: pick another name", g.Name, d.Name)
		return
	}
	var err error
	if g.Months, g.Seconds, err = parseInterval(interval); err != nil {
		l.errorf(n, "granularity %s: %v", g.Name, err)
		return
	}
	if (g.Months != 0) == (g.Seconds != 0) || g.Months < 0 || g.Seconds < 0 {
		l.errorf(n, "granularity %s: the interval must be positive, in months and years or in weeks, days, hours, minutes and seconds, not both", g.Name)
		return
	}
	g.Interval, g.Offset, g.OriginText = interval, offset, origin
	g.Origin = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	switch {
	case origin != "" && offset != "":
		l.errorf(n, "granularity %s: give an origin or an offset, not both", g.Name)
		return
	case origin != "":
		if g.Origin, err = parseTime(origin, false, nil); err != nil {
			l.errorf(n, "granularity %s: origin %q is not a date or timestamp", g.Name, origin)
			return
		}
	case offset != "":
		om, os, err := parseInterval(offset)
		if err != nil {
			l.errorf(n, "granularity %s: offset: %v", g.Name, err)
			return
		}
		g.Origin = g.Origin.AddDate(0, om, 0).Add(time.Duration(os) * time.Second)
	}
	if g.Months != 0 && (g.Origin.Day() != 1 || g.Origin.Hour() != 0 || g.Origin.Minute() != 0 || g.Origin.Second() != 0) {
		l.errorf(n, "granularity %s: a month-based interval needs an origin at the start of a month", g.Name)
		return
	}
	d.Granularities = append(d.Granularities, g)
}

func (l *loader) rollingWindow(n *yaml.Node) *RollingWindow {
	w := &RollingWindow{}
	var trailing, leading, offset string
	l.mapping(n, "rolling_window", map[string]func(*yaml.Node){
		"trailing": l.str(&trailing), "leading": l.str(&leading), "offset": l.str(&offset),
		"type": ignored, "granularity": ignored,
	})
	var err error
	switch trailing {
	case "unbounded":
		w.Unbounded = true
	case "":
	default:
		if w.TrailingMonths, w.TrailingSeconds, err = parseInterval(trailing); err != nil {
			l.errorf(n, "rolling_window trailing: %v", err)
		}
	}
	if leading != "" && leading != "unbounded" {
		w.HasLeading = true
		if w.LeadingMonths, w.LeadingSeconds, err = parseInterval(leading); err != nil {
			l.errorf(n, "rolling_window leading: %v", err)
		}
	} else if leading == "unbounded" {
		l.errorf(n, "rolling_window leading: unbounded is not supported")
	}
	switch offset {
	case "", "end":
	case "start":
		w.AtStart = true
	default:
		l.errorf(n, "rolling_window offset %q: want start or end", offset)
	}
	return w
}

// adopt returns copies of the parent's members the child does not
// declare (rebound to the child), followed by the child's own.
func adopt[T any, P interface {
	*T
	Member
}](have map[string]bool, parent, own []P, rebind func(P)) []P {
	var out []P
	for _, m := range parent {
		if !have[m.MemberName()] {
			cp := P(new(T))
			*cp = *m
			rebind(cp)
			out = append(out, cp)
		}
	}
	return append(out, own...)
}
