package jsmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"
	"gopkg.in/yaml.v3"
)

// Doc is what one .js file defined, shaped as a YAML model file: a
// mapping with cubes: and views: lists. Every node's Line is the line of
// its definition in File.
type Doc struct {
	File string
	Root *yaml.Node
}

// Error is one problem of a JavaScript model, at a place (Line 0: the
// whole file).
type Error struct {
	File string
	Line int
	Msg  string
	// Budget: the evaluation's time or heap budget was spent (the heap
	// counts other goroutines' allocations): another evaluation may pass.
	Budget bool
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Errors is every problem found, in the order found.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Options tune an evaluation; the zero value takes the defaults.
type Options struct {
	// CompileContext is COMPILE_CONTEXT (frozen; nil: an empty object).
	// It must be JSON-encodable.
	CompileContext map[string]any
	// Timeout bounds the evaluation of every file together (default
	// DefaultTimeout).
	Timeout time.Duration
	// MaxHeapGrowth bounds how much the Go heap may grow while the model
	// runs (default DefaultMaxHeapGrowth).
	MaxHeapGrowth uint64
	// MaxAlloc bounds one allocation of a built-in that allocates in one
	// step: characters of a string, elements of an array (default
	// DefaultMaxAlloc).
	MaxAlloc int
	// Warn receives console output (console.log, .warn …) with its place.
	// nil: dropped.
	Warn func(file string, line int, msg string)
}

// Defaults of Options.
const (
	DefaultTimeout       = time.Second
	DefaultMaxHeapGrowth = 256 << 20
	DefaultMaxAlloc      = 16 << 20
	// grace is how long past Timeout Eval waits for a built-in that does
	// not see the interrupt before it gives up on it.
	grace = time.Second
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxHeapGrowth == 0 {
		o.MaxHeapGrowth = DefaultMaxHeapGrowth
	}
	if o.MaxAlloc <= 0 {
		o.MaxAlloc = DefaultMaxAlloc
	}
	return o
}

// Eval runs the model files entry (keys of files, .js) in one sandboxed
// runtime — modules they require() are evaluated once — and returns what
// they define, one Doc per file that defines something, by file name.
// The error, an Errors, lists every problem with its file:line; the Docs
// returned beside it are what could still be read.
func Eval(files map[string][]byte, entry []string, opts Options) ([]Doc, error) {
	e := &evaluator{files: files, opts: opts.withDefaults(), mods: map[string]*module{}}
	type result struct {
		docs []Doc
		errs Errors
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if x := recover(); x != nil {
				r.errs = append(e.errs, &Error{File: e.current(), Msg: fmt.Sprintf("internal error evaluating the model: %v", x)})
			}
			done <- r
		}()
		r.docs = e.run(entry)
		r.errs = e.errs
	}()
	hard := time.NewTimer(e.opts.Timeout + grace)
	defer hard.Stop()
	select {
	case r := <-done:
		if len(r.errs) > 0 {
			return r.docs, r.errs
		}
		return r.docs, nil
	case <-hard.C:
		// A built-in looping natively over a huge value does not see
		// the interrupt; it is left to finish on its own, and may no
		// longer call back.
		e.abandoned.Store(true)
		return nil, Errors{{File: e.current(), Msg: fmt.Sprintf("evaluation did not stop within %v of its %v budget: a built-in function is working on a huge value", grace, e.opts.Timeout), Budget: true}}
	}
}

type evaluator struct {
	vm     *goja.Runtime
	files  map[string][]byte
	opts   Options
	mods   map[string]*module
	defs   []*def
	asyncs []*asyncCall
	// rejected are the promises rejected with no handler (yet), in
	// the order rejected, where they were rejected.
	rejected []*rejection
	errs     Errors
	globals  map[string]bool
	refSym   *goja.Symbol
	// joinDepth is how many Array.prototype.join calls are running
	// (nested arrays join natively, see join).
	joinDepth int
	file      atomic.Value // the entry being evaluated (string)
	budget    atomic.Value // the budget error that interrupted the runtime
	// abandoned is set when Eval gave up waiting: the runtime then
	// calls no callback of the caller's.
	abandoned atomic.Bool
}

func (e *evaluator) current() string {
	s, _ := e.file.Load().(string)
	return s
}

// module is a required or entry file.
type module struct {
	name   string
	obj    *goja.Object // the module object; exports is obj.exports
	failed bool
	src    *source
}

// def is a cube() or view() call.
type def struct {
	kind, name string
	obj        *goja.Object
	file       string
	line, col  int
}

// rejection is a promise rejected while nothing handled it.
type rejection struct {
	promise *goja.Promise
	file    string
	line    int
	handled bool
}

type asyncCall struct {
	promise *goja.Promise
	file    string
	line    int
}

// budgetError is what interrupts the runtime when a budget is spent.
type budgetError struct{ msg string }

func (b *budgetError) Error() string { return b.msg }

func (e *evaluator) run(entry []string) []Doc {
	e.vm = goja.New()
	e.vm.SetParserOptions(parser.WithDisableSourceMaps)
	e.vm.SetMaxCallStackSize(2000)
	e.vm.SetPromiseRejectionTracker(e.trackRejection)
	if err := e.setup(); err != nil {
		e.errs = append(e.errs, &Error{File: firstOr(entry), Msg: err.Error()})
		return nil
	}
	timer := time.AfterFunc(e.opts.Timeout, func() {
		e.interrupt(fmt.Sprintf("evaluation took longer than %v, the time budget of a model load: an endless loop?", e.opts.Timeout))
	})
	defer timer.Stop()
	defer e.watchHeap()()
	for _, name := range entry {
		e.file.Store(name)
		if _, err := e.require(name); err != nil {
			if e.report(err, name) {
				return nil
			}
		}
	}
	e.checkAsync()
	e.checkRejections()
	// An interrupt that comes after the last JavaScript ran is never
	// delivered and changes nothing; one that stops a sql function
	// while the definitions are written is reported there.
	return e.docs()
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func (e *evaluator) interrupt(msg string) {
	if e.budget.CompareAndSwap(nil, &budgetError{msg}) {
		e.vm.Interrupt(e.budget.Load())
	}
}

// fail records an error at a place.
func (e *evaluator) fail(file string, line int, format string, args ...any) {
	e.errs = append(e.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// report records an error from the runtime with the place it happened
// (the innermost frame in a model file; else file) and tells whether the
// evaluation must stop (a budget is spent).
func (e *evaluator) report(err error, file string) (stop bool) {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		f, line := e.frameOf(ie.Stack(), file)
		msg := fmt.Sprint(ie.Value())
		e.fail(f, line, "%s", msg)
		_, budget := ie.Value().(*budgetError)
		e.errs[len(e.errs)-1].Budget = budget
		return true
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		f, line := e.frameOf(so.Stack(), file)
		e.fail(f, line, "RangeError: Maximum call stack size exceeded (an endless recursion?)")
		return false
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		f, line := e.frameOf(ex.Stack(), file)
		e.fail(f, line, "%s", describe(ex.Value()))
		return false
	}
	var se *goja.CompilerSyntaxError
	if errors.As(err, &se) {
		line := 0
		if se.File != nil {
			line = se.File.Position(se.Offset).Line
		}
		e.fail(file, line, "syntax error: %s", se.Message)
		return false
	}
	var qe quietError
	if errors.As(err, &qe) {
		return false
	}
	e.fail(file, 0, "%v", err)
	return false
}

// quietError stands for an error already reported (a required file's
// syntax error): the requirer's failure is not reported again.
type quietError struct{ msg string }

func (q quietError) Error() string { return q.msg }

// describe is the text of a thrown value: "TypeError: x is not a function".
func describe(v goja.Value) string {
	if v == nil {
		return "threw nothing"
	}
	if o, ok := v.(*goja.Object); ok {
		if n, m := o.Get("name"), o.Get("message"); n != nil && m != nil && !goja.IsUndefined(m) {
			return n.String() + ": " + m.String()
		}
	}
	return "threw " + v.String()
}

// frameOf is the file and line of the innermost stack frame in a model
// file.
func (e *evaluator) frameOf(stack []goja.StackFrame, fallback string) (string, int) {
	for _, f := range stack {
		if _, ok := e.files[f.SrcName()]; ok {
			return f.SrcName(), f.Position().Line
		}
	}
	return fallback, 0
}

// caller is the place of the innermost model-file frame of the running
// code (the call of a native function).
func (e *evaluator) caller() (file string, line, col int) {
	for _, f := range e.vm.CaptureCallStack(64, nil) {
		if _, ok := e.files[f.SrcName()]; ok {
			p := f.Position()
			return f.SrcName(), p.Line, p.Column
		}
	}
	return e.current(), 0, 0
}

// throw throws a JavaScript error of class ctor ("Error", "TypeError",
// "RangeError") from a native function.
func (e *evaluator) throw(ctor, format string, args ...any) {
	c, _ := e.vm.Get(ctor).(*goja.Object)
	o, err := e.vm.New(c, e.vm.ToValue(fmt.Sprintf(format, args...)))
	if err != nil {
		panic(err)
	}
	panic(o)
}

// wrapPrefix opens the module wrapper on the file's first line, so that
// line numbers stay those of the file.
const wrapPrefix = "(function (exports, require, module, __filename, __dirname, __cubegate_scope) { with (__cubegate_scope) { "

var wrapParams = []string{"exports", "require", "module", "__filename", "__dirname", "__cubegate_scope", "arguments"}

// require loads a module by its resolved name: its exports.
func (e *evaluator) require(name string) (goja.Value, error) {
	if m, ok := e.mods[name]; ok {
		if m.failed {
			return nil, quietError{name + " has errors"}
		}
		return m.obj.Get("exports"), nil
	}
	m := &module{name: name, obj: e.vm.NewObject()}
	e.mods[name] = m
	src := e.files[name]
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		if d, line := jsonDepth(string(src)); line > 0 {
			m.failed = true
			e.fail(name, line, "JSON nests %d levels deep, more than %d", d, maxNesting)
			return nil, quietError{name + " has errors"}
		}
		var v any
		if err := json.Unmarshal(src, &v); err != nil {
			m.failed = true
			e.fail(name, jsonErrLine(src, err), "invalid JSON: %v", err)
			return nil, quietError{name + " has errors"}
		}
		parse, _ := goja.AssertFunction(e.vm.Get("JSON").ToObject(e.vm).Get("parse"))
		val, err := parse(goja.Undefined(), e.vm.ToValue(string(src)))
		if err != nil {
			m.failed = true
			return nil, err
		}
		m.obj.Set("exports", val)
		return val, nil
	}
	// goja's parser recurses in Go: a source nesting too deep would
	// overflow the Go stack, which kills the process.
	if ne := scanSource(string(src)); ne != nil {
		m.failed = true
		e.fail(name, ne.line, "%s", ne.msg)
		return nil, quietError{name + " has errors"}
	}
	wrapped := wrapPrefix + string(src) + "\n}})"
	prg, err := parser.ParseFile(nil, name, wrapped, 0, parser.WithDisableSourceMaps)
	if err != nil {
		m.failed = true
		e.syntaxError(name, src, err)
		return nil, quietError{name + " has errors"}
	}
	m.src = newSource(wrapped, prg)
	compiled, err := goja.CompileAST(prg, false)
	if err != nil {
		m.failed = true
		e.report(err, name)
		return nil, quietError{name + " has errors"}
	}
	fnv, err := e.vm.RunProgram(compiled)
	if err != nil {
		m.failed = true
		return nil, err
	}
	fn, ok := goja.AssertFunction(fnv)
	if !ok {
		m.failed = true
		return nil, fmt.Errorf("%s: the module wrapper did not compile to a function", name)
	}
	exports := e.vm.NewObject()
	m.obj.Set("exports", exports)
	m.obj.Set("id", name)
	m.obj.Set("filename", name)
	dir := path.Dir(name)
	_, err = fn(exports, exports, e.vm.ToValue(e.requireFunc(name)), m.obj,
		e.vm.ToValue(name), e.vm.ToValue(dir), e.vm.ToValue(e.scope(m.src.declared)))
	if err != nil {
		m.failed = true
		return nil, err
	}
	return m.obj.Get("exports"), nil
}

// jsonErrLine is the line of a JSON syntax error.
func jsonErrLine(src []byte, err error) int {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return 0
	}
	off := min(se.Offset, int64(len(src)))
	return 1 + strings.Count(string(src[:off]), "\n")
}

// syntaxError records the parser's first error.
func (e *evaluator) syntaxError(name string, src []byte, err error) {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		line := list[0].Position.Line
		msg := list[0].Message
		if hint := esmHint(src, line); hint != "" {
			msg += hint
		}
		e.fail(name, line, "syntax error: %s", msg)
		return
	}
	e.fail(name, 0, "syntax error: %v", err)
}

var esmRe = regexp.MustCompile(`^\s*(import|export)\b`)

// esmHint explains an import or export statement: model files are
// CommonJS here.
func esmHint(src []byte, line int) string {
	lines := strings.Split(string(src), "\n")
	if line >= 1 && line <= len(lines) && esmRe.MatchString(lines[line-1]) {
		return " (import/export statements are not supported: use require() and module.exports)"
	}
	return ""
}

// nodeModules are named in the refusal of a Node module.
var nodeModules = map[string]bool{"fs": true, "fs/promises": true, "http": true, "https": true, "net": true, "child_process": true,
	"os": true, "path": true, "process": true, "dgram": true, "tls": true, "vm": true, "worker_threads": true, "cluster": true, "dns": true}

// resolve finds what require(spec) in file from names, or says why not.
func (e *evaluator) resolve(from, spec string) (string, string) {
	switch {
	case spec == "":
		return "", "require() needs a file name, such as './helpers'"
	case strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, `\`) || (len(spec) > 1 && spec[1] == ':'):
		return "", fmt.Sprintf("require('%s'): an absolute path: a model may require only files of its model folder, by a relative path such as './helpers'", spec)
	case strings.HasPrefix(spec, "node:") || nodeModules[spec]:
		return "", fmt.Sprintf("require('%s'): Node modules are not available to models (no file, network/process access); require a file of the model folder, such as './helpers'", spec)
	case !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") && spec != "." && spec != "..":
		return "", fmt.Sprintf("require('%s'): packages are not available to models (no file, network/process access); require a file of the model folder by a relative path, such as './helpers'", spec)
	}
	p := path.Join(path.Dir(from), spec)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Sprintf("require('%s'): the path leads out of the model folder: a model may require only files of its folder", spec)
	}
	for _, c := range []string{p, p + ".js", p + ".json", p + "/index.js"} {
		if _, ok := e.files[c]; ok {
			lc := strings.ToLower(c)
			if !strings.HasSuffix(lc, ".js") && !strings.HasSuffix(lc, ".json") {
				return "", fmt.Sprintf("require('%s'): %s is not a .js or .json file", spec, c)
			}
			return c, ""
		}
	}
	return "", fmt.Sprintf("require('%s'): there is no file %s (or %s.js, %s.json) in the model folder", spec, p, p, p)
}

func (e *evaluator) requireFunc(from string) func(goja.FunctionCall) goja.Value {
	return func(c goja.FunctionCall) goja.Value {
		spec := c.Argument(0)
		if _, ok := spec.(*goja.Object); ok || goja.IsUndefined(spec) {
			e.throw("TypeError", "require() needs a file name, such as './helpers'")
		}
		name, why := e.resolve(from, spec.String())
		if why != "" {
			e.throw("Error", "%s", why)
		}
		v, err := e.require(name)
		if err != nil {
			var qe quietError
			if errors.As(err, &qe) {
				e.throw("Error", "require('%s'): %s", spec.String(), qe.msg)
			}
			panic(err)
		}
		return v
	}
}

// define is cube() and view(): the definition is recorded, and turned
// into YAML once every file has run.
func (e *evaluator) define(kind string) func(goja.FunctionCall) goja.Value {
	return func(c goja.FunctionCall) goja.Value {
		name := e.nameOf(c.Argument(0))
		if name == "" {
			e.throw("TypeError", "%s() needs the %s's name first: %s('name', { … })", kind, kind, kind)
		}
		obj, ok := c.Argument(1).(*goja.Object)
		if !ok || e.refPath(obj) != "" {
			e.throw("TypeError", "%s('%s', …) needs the definition object second", kind, name)
		}
		if _, fn := goja.AssertFunction(obj); fn {
			e.throw("TypeError", "%s('%s', …) needs the definition object second, not a function", kind, name)
		}
		file, line, col := e.caller()
		e.defs = append(e.defs, &def{kind: kind, name: name, obj: obj, file: file, line: line, col: col})
		return e.ref(name)
	}
}

// nameOf reads a cube or view name: a string or a reference.
func (e *evaluator) nameOf(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	if o, ok := v.(*goja.Object); ok {
		return e.refPath(o)
	}
	return v.String()
}

// asyncModule runs fn; its promise must settle by the end of the load.
func (e *evaluator) asyncModule(c goja.FunctionCall) goja.Value {
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		e.throw("TypeError", "asyncModule() needs a function: asyncModule(async () => { … })")
	}
	file, line, _ := e.caller()
	v, err := fn(goja.Undefined())
	if err != nil {
		panic(err)
	}
	if o, ok := v.(*goja.Object); ok && o.ExportType() == reflect.TypeOf((*goja.Promise)(nil)) {
		if p, ok := o.Export().(*goja.Promise); ok {
			e.asyncs = append(e.asyncs, &asyncCall{promise: p, file: file, line: line})
		}
	}
	return v
}

var stackPosRe = regexp.MustCompile(`([^\s()]+):(\d+):\d+`)

// trackRejection is goja's promise rejection tracker: a promise rejected
// with no handler is remembered (with the place of the rejection), and
// forgotten when a handler is attached later.
func (e *evaluator) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		file, line, _ := e.caller()
		e.rejected = append(e.rejected, &rejection{promise: p, file: file, line: line})
	case goja.PromiseRejectionHandle:
		for _, r := range e.rejected {
			if r.promise == p {
				r.handled = true
			}
		}
	}
}

// checkRejections reports the promises still rejected with no handler
// when the model has run: an error in a .then() callback or in an async
// function nobody awaits (ts.forEach(async (t) => …)) would otherwise
// vanish, and the cubes it would define with it. asyncModule's own
// promise is reported by checkAsync.
func (e *evaluator) checkRejections() {
	own := map[*goja.Promise]bool{}
	for _, a := range e.asyncs {
		own[a.promise] = true
	}
	seen := map[string]bool{} // one report for the same failure at the same place
	for _, r := range e.rejected {
		if r.handled || own[r.promise] || r.promise.State() != goja.PromiseStateRejected {
			continue
		}
		reason := r.promise.Result()
		file, line := e.placeOf(reason, r.file, r.line)
		msg := "a promise was rejected and nothing handled it (a .then() callback or an async function that nobody awaits failed): " + describe(reason)
		b, budget := exportBudget(reason)
		if budget {
			msg = b.msg
		}
		if k := fmt.Sprint(file, line, msg); !seen[k] {
			seen[k] = true
			e.fail(file, line, "%s", msg)
			e.errs[len(e.errs)-1].Budget = budget
		}
	}
}

// placeOf is the place a thrown value names in its stack (the innermost
// model-file frame), else file:line.
func (e *evaluator) placeOf(v goja.Value, file string, line int) (string, int) {
	if o, ok := v.(*goja.Object); ok {
		if st := o.Get("stack"); st != nil {
			for _, m := range stackPosRe.FindAllStringSubmatch(st.String(), -1) {
				if _, ok := e.files[m[1]]; ok {
					n, _ := strconv.Atoi(m[2])
					return m[1], n
				}
			}
		}
	}
	return file, line
}

// checkAsync reports asyncModule promises that failed or never settled.
// goja runs promise jobs when the outermost call returns, so every job
// has run by now.
func (e *evaluator) checkAsync() {
	for _, a := range e.asyncs {
		switch a.promise.State() {
		case goja.PromiseStatePending:
			e.fail(a.file, a.line, "asyncModule(): the function never finished: it awaits a promise that never settles (timers, network and other events do not happen while a model loads)")
		case goja.PromiseStateRejected:
			r := a.promise.Result()
			file, line := e.placeOf(r, a.file, a.line)
			if ie, ok := exportBudget(r); ok {
				e.fail(file, line, "%s", ie.msg)
				e.errs[len(e.errs)-1].Budget = true
				continue
			}
			e.fail(file, line, "asyncModule(): %s", describe(r))
		}
	}
}

// exportBudget is the budget error a value wraps (an object's Export
// would copy it, recursively in Go).
func exportBudget(v goja.Value) (*budgetError, bool) {
	if v == nil || v.ExportType() != reflect.TypeOf((*budgetError)(nil)) {
		return nil, false
	}
	b, ok := v.Export().(*budgetError)
	return b, ok
}

// docs turns every definition into YAML, grouped by the file of its
// cube() or view() call.
func (e *evaluator) docs() []Doc {
	type group struct {
		root         *yaml.Node
		cubes, views *yaml.Node
	}
	groups := map[string]*group{}
	for i := 0; i < len(e.defs); i++ { // a sql function may define more
		d := e.defs[i]
		var src *source
		if m, ok := e.mods[d.file]; ok {
			src = m.src
		}
		n, err := e.convertDef(d, src)
		if ce, ok := err.(*convError); ok {
			e.fail(ce.file, ce.line, "%s %q: %s", d.kind, d.name, ce.msg)
			continue
		}
		if err != nil {
			if e.report(err, d.file) {
				return nil
			}
			continue
		}
		g := groups[d.file]
		if g == nil {
			g = &group{root: &yaml.Node{Kind: yaml.MappingNode, Line: d.line}}
			groups[d.file] = g
		}
		list := &g.cubes
		key := "cubes"
		if d.kind == "view" {
			list, key = &g.views, "views"
		}
		if *list == nil {
			*list = &yaml.Node{Kind: yaml.SequenceNode, Line: d.line}
			g.root.Content = append(g.root.Content, strNode(key, d.line), *list)
		}
		(*list).Content = append((*list).Content, n)
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Doc, 0, len(names))
	for _, n := range names {
		out = append(out, Doc{File: n, Root: groups[n].root})
	}
	return out
}

// source is a parsed module: where its lines start, the cube() and
// view() calls by line, and the names its top level declares with var.
type source struct {
	lineStarts []int
	calls      map[int][]callSite
	declared   map[string]bool
}

type callSite struct {
	col int
	def ast.Expression // the definition argument
}

// line is the 1-based line of a parser index.
func (s *source) line(idx int) int {
	off := idx - 1
	return sort.Search(len(s.lineStarts), func(i int) bool { return s.lineStarts[i] > off })
}

func (s *source) col(idx int) int {
	ln := s.line(idx)
	return idx - 1 - s.lineStarts[ln-1] + 1
}
