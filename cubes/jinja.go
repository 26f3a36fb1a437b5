package cubes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Jinja in YAML model files, as Cube has it: a .yml file holding {% %},
// {{ }} or {# #} is rendered by a Jinja engine (gonja, pure Go) and the
// output is read as YAML. COMPILE_CONTEXT is the template's one Cube
// global; Cube's Python helpers (model/globals.py, TemplateContext) are
// refused with a message saying so, since cubegate runs no Python.
//
// Templates import and include other files of the model folder only (the
// loader's in-memory files, never the OS), by their path from the model
// folder's root as Jinja's FileSystemLoader names them, or relative to
// the importing file.
//
// Rendering is bounded (gonja itself has no limits): a step budget (tags,
// macro calls, range() items, loop iterations and output writes), a
// wall-clock deadline, lists of at most listLen items (a {% for %} over
// more is refused before gonja makes a value of each),
// a depth limit on nested tags and macro calls (a runaway recursion would
// otherwise overflow the Go stack and end the process), range() of at
// most jinjaMaxRange items (Jinja's sandbox MAX_RANGE), and an output cap
// (MaxRenderedBytes) checked on the output, on each macro's result and on
// each {% set %}. Before gonja parses a file, its nesting is bounded by a
// lexical scan (jinja_scan.go: gonja's parser recurses per bracket and a
// Go stack overflow ends the process), and one expression's own
// allocation is bounded before the work is done: filters, string methods
// and the * + ~ operators (jinja_guard.go).

// MaxRenderedBytes bounds what one Jinja model file renders to.
const MaxRenderedBytes = 16 << 20

// jinjaLimits bound one file's rendering; tests lower them.
var jinjaLimits = struct {
	steps, depth, macroDepth, rangeLen int
	listLen                            int // a list's items
	timeout                            time.Duration
}{steps: 1_000_000, depth: 200, macroDepth: 64, rangeLen: 100_000, listLen: 100_000, timeout: 3 * time.Second}

const pythonHelpers = "Python model helpers (model/globals.py) are not supported: cubegate renders Jinja without Python; inline the helper as a Jinja macro"

var jinjaDelims = regexp.MustCompile(`\{%|\{\{|\{#`)

// MentionsCompileContext reports whether a model folder's files read
// COMPILE_CONTEXT, that is whether the model differs by compile context
// (and is compiled once per context) or is compiled once.
func MentionsCompileContext(files map[string][]byte) bool {
	for n, b := range files {
		if hasExt(n, dataExts) {
			continue
		}
		if bytes.Contains(b, []byte("COMPILE_CONTEXT")) {
			return true
		}
	}
	return false
}

// preprocess turns a YAML model file into the YAML to parse: its Jinja
// rendered, then {COMPILE_CONTEXT.a.b} substituted. ok is false when an
// error was recorded.
func (l *loader) preprocess(name string, src []byte) (out []byte, rendered, ok bool) {
	if jinjaDelims.Match(src) {
		out, err := l.renderJinja(name, src)
		if err != nil {
			l.errs = append(l.errs, err)
			return nil, true, false
		}
		src, rendered = out, true
	}
	out, err := substituteCompileContext(src, l.opts.CompileContext)
	if err != nil {
		err.Pos.File = name
		l.errs = append(l.errs, err)
		return nil, rendered, false
	}
	return out, rendered, true
}

// compileContextRef is {COMPILE_CONTEXT.a.b} (or ${…}) in plain YAML:
// resolved when the model is loaded, not when it is queried.
var compileContextRef = regexp.MustCompile(`\$?\{COMPILE_CONTEXT((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}`)

// substituteCompileContext replaces {COMPILE_CONTEXT.a.b} with its
// value; a path that is not set is empty, as Jinja's undefined prints.
//
// The substitution is in the file's text, before it is read as YAML (the
// loader parses what preprocess returns), so a value that YAML would read
// as structure is refused rather than pasted: a newline, a quote, a
// backslash or one of YAML's indicators (# : { } [ ] , & * ! | > % @ `)
// would end the scalar it is in and make keys of the claim's text. Cube
// substitutes into the parsed value; substituting into the yaml.Node tree
// here would need the loader to hand over its parsed document.
//
// A Jinja-rendered file's {{ COMPILE_CONTEXT.x }} is not checked: Jinja
// renders text, as Cube's does, and a value with a newline changes the
// rendered YAML's structure there too. A template that prints claims
// should quote them ({{ COMPILE_CONTEXT.x | tojson }}).
func substituteCompileContext(src []byte, cc map[string]any) ([]byte, *ValidationError) {
	if !bytes.Contains(src, []byte("{COMPILE_CONTEXT")) {
		return src, nil
	}
	var bad *ValidationError
	out := compileContextRef.ReplaceAllFunc(src, func(m []byte) []byte {
		sub := compileContextRef.FindSubmatch(m)
		var v any = cc
		for _, k := range strings.Split(strings.TrimPrefix(string(sub[1]), "."), ".") {
			if k == "" {
				continue
			}
			mm, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = mm[k]
		}
		text := contextText(v)
		if i := strings.IndexFunc(text, yamlStructural); i >= 0 && bad == nil {
			line := 1 + bytes.Count(src[:bytes.Index(src, m)], []byte("\n"))
			bad = &ValidationError{Pos: Pos{Line: line}, Msg: fmt.Sprintf("%s is %q, which holds %q: a compile context value put into a YAML model file may not hold a newline, a quote or a YAML indicator (it would change the file's structure); refused", m, excerpt(text), text[i:i+utf8.RuneLen([]rune(text[i:])[0])])}
		}
		return []byte(text)
	})
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// yamlStructural is a character that, pasted into a YAML scalar, can end
// it or start structure.
func yamlStructural(r rune) bool {
	return r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || strings.ContainsRune("\"'\\#:{}[],&*!|>%@`", r)
}

func contextText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

// renderJinja renders one template of the model folder.
func (l *loader) renderJinja(name string, src []byte) ([]byte, *ValidationError) {
	fail := func(line int, format string, args ...any) ([]byte, *ValidationError) {
		if line < 1 {
			line = 1
		}
		return nil, &ValidationError{Pos: Pos{name, line}, Msg: fmt.Sprintf(format, args...)}
	}
	if line, msg := scanJinjaNesting(string(src), jinjaLimits.depth); line > 0 {
		return fail(line, "Jinja: %s", msg)
	}
	b := &jinjaBudget{deadline: time.Now().Add(jinjaLimits.timeout)}
	ld := &jinjaLoader{files: l.files, dir: path.Dir(name), b: b, scanned: map[string]bool{name: true}}
	cfg := config.New()
	// Keep a file's trailing newline: YAML does not care, and rendered
	// line numbers then match a plain file's.
	cfg.KeepTrailingNewline = true
	t, err := exec.NewTemplate(name, cfg, ld, jinjaEnv())
	if err != nil {
		if b.failed != nil {
			return fail(lastLine(err.Error(), syntaxLineRe), "Jinja: %s", b.failed.msg)
		}
		line := lastLine(err.Error(), syntaxLineRe)
		if line == 0 {
			line = lexErrorLine(string(src), cfg)
		}
		return fail(line, "Jinja syntax: %s", l.jinjaMessage(stripSource(err.Error())))
	}
	rewriteTemplate(t.Root())
	// COMPILE_CONTEXT.securityContext is always an object, as in Cube,
	// so that COMPILE_CONTEXT.securityContext.x is merely undefined when
	// no context is given (model validate).
	cc := l.opts.CompileContext
	if _, ok := cc["securityContext"]; !ok {
		with := map[string]any{"securityContext": map[string]any{}}
		for k, v := range cc {
			with[k] = v
		}
		cc = with
	}
	ctx := exec.NewContext(map[string]any{"COMPILE_CONTEXT": cc, budgetKey: b})
	w := &capWriter{b: b}
	if err := t.Execute(w, ctx); err != nil {
		msg := cleanOpNoise(strings.TrimPrefix(err.Error(), "unable to execute template: "))
		if b.failed != nil {
			_, ve := fail(lastLine(msg, runtimeLineRe), "Jinja: %s", b.failed.msg)
			ve.budget = true // errors.Is ErrBudget
			return nil, ve
		}
		return fail(lastLine(msg, runtimeLineRe), "Jinja: %s", l.jinjaMessage(msg))
	}
	if line, msg := l.pythonVariable(string(src)); line > 0 {
		return fail(line, "Jinja: %s", msg)
	}
	return w.buf.Bytes(), nil
}

var (
	pyVariableRe = regexp.MustCompile(`add_variable\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]`)
	jinjaCodeRe  = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)
)

// pythonVariable finds a variable a .py helper of the folder registers
// (TemplateContext.add_variable) that the template reads without
// defining it: Jinja would print it empty, so it is refused.
func (l *loader) pythonVariable(src string) (int, string) {
	for n, b := range l.files {
		if !strings.HasSuffix(strings.ToLower(n), ".py") {
			continue
		}
		for _, m := range pyVariableRe.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			word := regexp.MustCompile(`(?:^|[^.\w])` + name + `\b`) // not an attribute (t.name)
			defined := regexp.MustCompile(`\b(set|for|import|macro)\b[^%]*\b` + name + `\b`)
			for _, loc := range jinjaCodeRe.FindAllStringIndex(src, -1) {
				code := src[loc[0]:loc[1]]
				if defined.MatchString(code) {
					break
				}
				if word.MatchString(code) {
					return 1 + strings.Count(src[:loc[0]], "\n"), fmt.Sprintf("%s is a variable of %s (TemplateContext.add_variable): %s", name, n, pythonHelpers)
				}
			}
		}
	}
	return 0, ""
}

// jinjaMessage adds to an error of gonja's what a Cube user needs: a
// call of a function or filter Jinja does not have is a Python helper.
func (l *loader) jinjaMessage(msg string) string {
	name := ""
	if m := notCallableRe.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if m := noFilterRe.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else {
		if strings.Contains(msg, "COMPILE_CONTEXT") && strings.Contains(msg, "on None") {
			msg += " (an attribute of an undefined value: COMPILE_CONTEXT holds tenant, dataSource and securityContext)"
		}
		return msg
	}
	where := ""
	if py := l.pythonDefining(name); py != "" {
		where = " (it is defined in " + py + ")"
	}
	return fmt.Sprintf("%s is not a Jinja function, filter or macro%s: %s [%s]", name, where, pythonHelpers, msg)
}

var (
	notCallableRe = regexp.MustCompile(`(?:\): |^)([A-Za-z_][A-Za-z0-9_.]*) is not callable`)
	noFilterRe    = regexp.MustCompile(`filter '([^']+)' not found`)
	syntaxLineRe  = regexp.MustCompile(`\(Line: (\d+) Col`)
	runtimeLineRe = regexp.MustCompile(`at line (\d+)`)
)

// pythonDefining names the .py file of the folder that defines name.
func (l *loader) pythonDefining(name string) string {
	re := regexp.MustCompile(`(?m)^\s*def\s+` + regexp.QuoteMeta(name[strings.LastIndex(name, ".")+1:]) + `\s*\(`)
	var names []string
	for n, b := range l.files {
		if strings.HasSuffix(strings.ToLower(n), ".py") && re.Match(b) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// lastLine is the innermost line an error names (gonja wraps an error at
// each enclosing tag), or 0. Lines of an imported macro's file are not
// the template's: what follows "in macro … of file" is skipped.
func lastLine(msg string, re *regexp.Regexp) int {
	if i := strings.Index(msg, importedMarker); i >= 0 {
		msg = msg[:i]
	}
	ms := re.FindAllStringSubmatch(msg, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		if n, _ := strconv.Atoi(ms[i][1]); n > 0 {
			return n
		}
	}
	return 0
}

// lexErrorLine is the line of the first token the lexer could not read
// (gonja's parser reports those at line 0).
func lexErrorLine(src string, cfg *config.Config) int {
	s := tokens.Lex(src, cfg)
	line := 0
	for !s.End() {
		tok := s.Next()
		if tok == nil {
			break
		}
		line = tok.Line
		if tok.Type == tokens.Error {
			return tok.Line
		}
	}
	return line
}

// stripSource drops the template text gonja quotes in a parse error.
func stripSource(msg string) string {
	const p = "failed to parse template '"
	if i := strings.Index(msg, p); i >= 0 {
		if j := strings.LastIndex(msg, "': "); j > i {
			return msg[:i] + msg[j+3:]
		}
	}
	return msg
}

// jinjaLoader serves templates from the model folder's files, each
// scanned for its nesting before gonja parses it.
type jinjaLoader struct {
	files   map[string][]byte
	dir     string // the importing file's folder
	b       *jinjaBudget
	scanned map[string]bool // shared by a render's loaders
}

func (j *jinjaLoader) Resolve(name string) (string, error) {
	for _, p := range []string{path.Clean(name), path.Join(j.dir, name)} {
		if _, ok := j.files[p]; ok && !strings.HasPrefix(p, "../") {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q is not a file of the model folder", name)
}

func (j *jinjaLoader) Read(name string) (io.Reader, error) {
	p, err := j.Resolve(name)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(strings.ToLower(p), ".py") {
		return nil, fmt.Errorf("%s is Python: %s", p, pythonHelpers)
	}
	if j.scanned != nil && !j.scanned[p] {
		if line, msg := scanJinjaNesting(string(j.files[p]), jinjaLimits.depth); line > 0 {
			err := fmt.Errorf("%s:%d: %s", p, line, msg)
			if j.b != nil {
				return nil, j.b.fail("%s", err)
			}
			return nil, err
		}
		j.scanned[p] = true
	}
	return bytes.NewReader(j.files[p]), nil
}

func (j *jinjaLoader) Inherit(from string) (loaders.Loader, error) {
	dir := j.dir
	if from != "" {
		p, err := j.Resolve(from)
		if err != nil {
			return nil, err
		}
		dir = path.Dir(p)
	}
	return &jinjaLoader{files: j.files, dir: dir, b: j.b, scanned: j.scanned}, nil
}

// The environment: gonja's built-ins, range() bounded, and every tag
// counted against the render's budget.
var jinjaEnv = sync.OnceValue(func() *exec.Environment {
	globals := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	globals.Set("range", boundedRange)
	globals.Set("lipsum", boundedLipsum)
	guarded := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "extends", "filter", "for", "from", "if", "import", "include",
		"macro", "raw", "set", "with", "do", "break", "continue", "trans", "call"} {
		if p, ok := controlStructures.All.Get(name); ok {
			guarded[name] = guard(p)
		}
	}
	methods := builtins.Methods
	methods.Str = boundedStrMethods()
	return &exec.Environment{
		Context:           globals,
		Filters:           boundedFilters(),
		Tests:             builtins.Tests,
		ControlStructures: exec.NewControlStructureSet(guarded),
		Methods:           methods,
	}
})

const (
	budgetKey      = "__cubegate_budget"
	importedMarker = " of imported file "
)

// jinjaBudget is one render's allowance. A render runs on one goroutine.
type jinjaBudget struct {
	deadline          time.Time
	steps             int
	depth, macroDepth int
	// failed is the first limit met: gonja flattens the errors it
	// wraps, so the render's error is read from here.
	failed *budgetError
}

func (b *jinjaBudget) fail(format string, args ...any) *budgetError {
	if b.failed == nil {
		b.failed = &budgetError{fmt.Sprintf(format, args...)}
	}
	return b.failed
}

type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }

func (b *jinjaBudget) step(n int) error {
	if b.failed != nil {
		return b.failed
	}
	b.steps += n
	if b.steps > jinjaLimits.steps {
		return b.fail("rendering takes more than %d steps (tags, loop items, macro calls): a runaway loop or recursion is refused", jinjaLimits.steps)
	}
	if time.Now().After(b.deadline) {
		return b.fail("rendering takes longer than %s: refused", jinjaLimits.timeout)
	}
	return nil
}

func budgetOf(ctx *exec.Context) *jinjaBudget {
	v, _ := ctx.Get(budgetKey)
	b, _ := v.(*jinjaBudget)
	if b == nil { // not rendered by renderJinja: an allowance of its own
		b = &jinjaBudget{deadline: time.Now().Add(jinjaLimits.timeout)}
	}
	return b
}

func boundedRange(e *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
	var start, stop, step = 0, 0, 1
	ints := make([]int, len(params.Args))
	for i, a := range params.Args {
		if !a.IsInteger() {
			return nil, exec.ErrInvalidCall(errors.New("range() takes integers"))
		}
		ints[i] = a.Integer()
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, exec.ErrInvalidCall(errors.New("expected signature is [start, ]stop[, step]"))
	}
	if step == 0 {
		return nil, exec.ErrInvalidCall(errors.New("step cannot be 0"))
	}
	n := 0
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > jinjaLimits.rangeLen {
		return nil, budgetOf(e.Environment.Context).fail("range() of %d items: at most %d are allowed", n, jinjaLimits.rangeLen)
	}
	if err := budgetOf(e.Environment.Context).step(n); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// capWriter is the render's output, capped.
type capWriter struct {
	buf bytes.Buffer
	b   *jinjaBudget
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > MaxRenderedBytes {
		return 0, w.b.fail("the rendered model file is larger than %d MiB: refused", MaxRenderedBytes>>20)
	}
	if err := w.b.step(1); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// bufCap caps a buffer gonja renders into (a strings.Builder or a
// bytes.Buffer).
type bufCap struct {
	w   io.Writer
	len func() int
	b   *jinjaBudget
}

func (c *bufCap) Write(p []byte) (int, error) {
	if c.len()+len(p) > MaxRenderedBytes {
		return 0, c.b.fail("a macro, {%% set %%} block, {%% filter %%} or {%% call %%} renders more than %d MiB: refused", MaxRenderedBytes>>20)
	}
	if err := c.b.step(1); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func (c *bufCap) WriteString(s string) (int, error) {
	if c.len()+len(s) > MaxRenderedBytes {
		return 0, c.b.fail("a macro, {%% set %%} block, {%% filter %%} or {%% call %%} renders more than %d MiB: refused", MaxRenderedBytes>>20)
	}
	if err := c.b.step(1); err != nil {
		return 0, err
	}
	return io.WriteString(c.w, s)
}

// guard wraps a tag's parser so that the tag counts against the budget,
// nests no deeper than the limit, and hands out macros that do too.
func guard(p parser.ControlStructureParser) parser.ControlStructureParser {
	return func(pp *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		cs, err := p(pp, args)
		if err != nil {
			return nil, err
		}
		inner, ok := cs.(exec.ControlStructure)
		if !ok {
			return cs, nil
		}
		return &guarded{ControlStructure: inner}, nil
	}
}

type guarded struct{ exec.ControlStructure }

func (g *guarded) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	b := budgetOf(r.Environment.Context)
	if err := b.step(1); err != nil {
		return err
	}
	if b.depth >= jinjaLimits.depth {
		return b.fail("tags nest more than %d deep (a recursive include or loop?): refused", jinjaLimits.depth)
	}
	// A tag inside a macro, a {% set %} block, a {% filter %} or a
	// {% call %} writes to gonja's buffer, not to the render's output:
	// that buffer is capped too, while the tag runs.
	if out, ok := r.Output.(interface{ Len() int }); ok {
		saved := r.Output
		r.Output = &bufCap{w: saved, len: out.Len, b: b}
		defer func() { r.Output = saved }()
	}
	b.depth++
	err := g.execute(r, tag)
	b.depth--
	if err != nil {
		return err
	}
	ctx := r.Environment.Context
	switch cs := g.ControlStructure.(type) {
	case *controlStructures.MacroControlStructure:
		if m, ok := getMacro(ctx, cs.Name); ok {
			ctx.Set(cs.Name, wrapMacro(b, cs.Name, "", m))
		}
	case *controlStructures.FromImportControlStructure:
		file := ""
		if s, ok := cs.FilenameExpression.(*nodes.String); ok {
			file = s.Val
		}
		for alias, name := range cs.As {
			if m, ok := getMacro(ctx, alias); ok {
				ctx.Set(alias, wrapMacro(b, name, file, m))
			}
		}
	case *controlStructures.ImportControlStructure:
		as := unexportedString(cs, "as")
		if v, ok := ctx.Get(as); ok {
			if ms, ok := v.(map[string]exec.Macro); ok {
				wrapped := make(map[string]exec.Macro, len(ms))
				for n, m := range ms {
					wrapped[n] = wrapMacro(b, n, as, m)
				}
				ctx.Set(as, wrapped)
			}
		}
	case *controlStructures.SetControlStructure:
		if target := setTarget(cs); target != nil {
			if v := r.Eval(target); !v.IsError() {
				if err := checkValue("{% set "+target.String()+" %}", v); err != nil {
					return b.fail("%s", err)
				}
			}
		}
	}
	return nil
}

func getMacro(ctx *exec.Context, name string) (exec.Macro, bool) {
	v, ok := ctx.Get(name)
	if !ok {
		return nil, false
	}
	m, ok := v.(exec.Macro)
	return m, ok
}

// wrapMacro counts a macro's calls, bounds their nesting and their
// output.
func wrapMacro(b *jinjaBudget, name, file string, m exec.Macro) exec.Macro {
	return func(params *exec.VarArgs) *exec.Value {
		if err := b.step(1); err != nil {
			return exec.AsValue(err)
		}
		if b.macroDepth >= jinjaLimits.macroDepth {
			return exec.AsValue(b.fail("macro %s: macro calls nest more than %d deep (a runaway recursion?): refused", name, jinjaLimits.macroDepth))
		}
		for _, a := range params.Args {
			if err := checkValue("an argument", a); err != nil {
				return exec.AsValue(b.fail("macro %s: %s", name, err))
			}
		}
		for _, a := range params.KwArgs {
			if err := checkValue("an argument", a); err != nil {
				return exec.AsValue(b.fail("macro %s: %s", name, err))
			}
		}
		b.macroDepth++
		v := m(params)
		b.macroDepth--
		if v == nil {
			return v
		}
		if v.IsError() {
			if file != "" {
				var be *budgetError
				if err, ok := v.Interface().(error); ok && !errors.As(err, &be) {
					return exec.AsValue(fmt.Errorf("in macro %s%s%s: %w", name, importedMarker, file, err))
				}
			}
			return v
		}
		if err := checkValue("its result", v); err != nil {
			return exec.AsValue(b.fail("macro %s: %s", name, err))
		}
		return v
	}
}

// unexportedString reads a string field gonja does not export.
func unexportedString(x any, field string) string {
	f := reflect.ValueOf(x).Elem().FieldByName(field)
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// setTarget is the expression a {% set %} assigns to (x, ns.attr), a
// field gonja does not export.
func setTarget(cs *controlStructures.SetControlStructure) nodes.Expression {
	f := reflect.ValueOf(cs).Elem().FieldByName("target")
	if !f.IsValid() || f.Kind() != reflect.Interface || f.IsNil() {
		return nil
	}
	e, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(nodes.Expression)
	return e
}

// renderedPositions maps the errors a rendered file's YAML made (at
// lines of the output) back to the template's lines where one template
// line alone can have printed that output line; the message keeps the
// output's line either way. The positions of the file's cubes and their
// members are mapped too, for the errors the model's resolution finds
// later.
func (l *loader) renderedPositions(name string, tmpl, out []byte, errsFrom, cubesFrom int) {
	lm := newLineMapper(tmpl, out)
	for _, e := range l.errs[errsFrom:] {
		if e.Pos.File != name || e.Pos.Line < 1 {
			continue
		}
		rl := e.Pos.Line
		if tl := lm.line(rl); tl > 0 {
			e.Pos.Line = tl
			e.Msg += fmt.Sprintf(" (line %d of the Jinja-rendered output)", rl)
		} else {
			e.Msg += fmt.Sprintf(" (line %d of the Jinja-rendered output; no one template line prints it)", rl)
		}
	}
	seen := map[uintptr]bool{}
	for _, c := range l.cubes[cubesFrom:] {
		remapPos(reflect.ValueOf(c), name, lm.line, seen)
	}
}

// remapPos maps every exported Pos of file below v.
func remapPos(v reflect.Value, file string, f func(int) int, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		remapPos(v.Elem(), file, f, seen)
	case reflect.Interface:
		if !v.IsNil() {
			remapPos(v.Elem(), file, f, seen)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			remapPos(v.Index(i), file, f, seen)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Pos]() {
			if p := v.Interface().(Pos); v.CanSet() && p.File == file && p.Line > 0 {
				if tl := f(p.Line); tl > 0 {
					p.Line = tl
					v.Set(reflect.ValueOf(p))
				}
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				remapPos(v.Field(i), file, f, seen)
			}
		}
	}
}

var jinjaTagRe = regexp.MustCompile(`\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}`)

// lineMapper finds the template line that printed an output line.
type lineMapper struct {
	out  []string
	pats []*regexp.Regexp // by template line - 1; nil: prints no text
	memo map[int]int
}

func newLineMapper(tmpl, out []byte) *lineMapper {
	lm := &lineMapper{out: strings.Split(string(out), "\n"), memo: map[int]int{}}
	for _, tl := range strings.Split(string(tmpl), "\n") {
		lm.pats = append(lm.pats, linePattern(tl))
	}
	return lm
}

// linePattern matches what a template line prints, its {{ }} read as
// anything and its tags as nothing; nil for a line of tags alone.
func linePattern(tl string) *regexp.Regexp {
	var pat strings.Builder
	pat.WriteString("^")
	last, text := 0, false
	for _, loc := range jinjaTagRe.FindAllStringIndex(tl, -1) {
		lit := tl[last:loc[0]]
		text = text || strings.TrimSpace(lit) != ""
		pat.WriteString(regexp.QuoteMeta(lit))
		if strings.HasPrefix(tl[loc[0]:], "{{") {
			pat.WriteString(".*?")
			text = true
		}
		last = loc[1]
	}
	rest := strings.TrimRight(tl[last:], " \t\r")
	if !text && strings.TrimSpace(rest) == "" {
		return nil
	}
	re, err := regexp.Compile(pat.String() + regexp.QuoteMeta(rest) + "$")
	if err != nil {
		return nil
	}
	return re
}

// line is the one template line that prints output line n, or 0.
func (lm *lineMapper) line(n int) int {
	if v, ok := lm.memo[n]; ok {
		return v
	}
	found := 0
	if n >= 1 && n <= len(lm.out) {
		target := strings.TrimRight(lm.out[n-1], " \t\r")
		if strings.TrimSpace(target) != "" {
			for i, re := range lm.pats {
				if re == nil || !re.MatchString(target) {
					continue
				}
				if found != 0 {
					found = 0
					break
				}
				found = i + 1
			}
		}
	}
	lm.memo[n] = found
	return found
}
