package cubes

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// One expression's own allocation is bounded too, before the work is
// done: gonja's filters, string methods and operators allocate what
// their arguments ask for ('x' * 3000000000, center(3000000000)), and the
// output cap would only see the result. Each is checked against
// MaxRenderedBytes for a string and jinjaLimits.listLen for a list.
//
// gonja has no hook for operators: after parsing, the template's tree is
// rewritten so that a * b, a + b and a ~ b are calls of filters of ours
// (jinjaOpFilters), which check the operands' sizes and then compute what
// gonja would (a string repeated a negative number of times is empty, as
// in Python, rather than gonja's panic). Every {{ }} is given a last
// filter that measures what it prints before gonja turns it into text.

const (
	opMul    = "__cubegate_mul"
	opAdd    = "__cubegate_add"
	opConcat = "__cubegate_concat"
	opPrint  = "__cubegate_print"
	opIter   = "__cubegate_iter"
)

// opNoise is what gonja's error messages say of our filters, errors
// passing through them: taken out, the message reads as gonja's would.
var opNoise = regexp.MustCompile(`unable to evaluate filter &\{<Token[^>]*> __cubegate_\w+ .*? map\[\]\}: (?:invalid call to filter '__cubegate_\w+': |unable to evaluate parameter [^:]*: )?`)

func cleanOpNoise(msg string) string {
	msg = opNoise.ReplaceAllString(msg, "")
	return strings.ReplaceAll(msg, "filtered_expression(", "(")
}

func tooLarge(what string, n int) error {
	return fmt.Errorf("%s would be %d bytes, more than %d MiB: refused", what, n, MaxRenderedBytes>>20)
}

func tooLong(what string, n int) error {
	return fmt.Errorf("%s would have %d items, more than %d: refused", what, n, jinjaLimits.listLen)
}

// mulSize is a*b, saturated.
func mulSize(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

// valueSize measures what a value prints as: its bytes, its items and
// its depth, walking no further than limit bytes (a list that holds the
// same list twice, nested 30 times, is small in memory and huge printed).
func valueSize(v any, limit int) (size, items int) {
	var walk func(x reflect.Value, depth int)
	walk = func(x reflect.Value, depth int) {
		if size > limit || depth > 1000 {
			size = limit + 1
			return
		}
		items++
		switch x.Kind() {
		case reflect.Invalid:
			size += 4
		case reflect.Pointer, reflect.Interface:
			if x.IsNil() {
				size += 4
				return
			}
			if ev, ok := x.Interface().(*exec.Value); ok {
				items--
				walk(ev.Val, depth+1)
				return
			}
			walk(x.Elem(), depth+1)
		case reflect.String:
			size += x.Len() + 2
		case reflect.Slice, reflect.Array:
			size += 2
			for i := 0; i < x.Len() && size <= limit; i++ {
				size += 2
				walk(x.Index(i), depth+1)
			}
		case reflect.Map:
			size += 2
			it := x.MapRange()
			for it.Next() && size <= limit {
				size += 4
				walk(it.Key(), depth+1)
				walk(it.Value(), depth+1)
			}
		case reflect.Struct:
			if d, ok := x.Interface().(exec.Dict); ok {
				size += 2
				for _, p := range d.Pairs {
					if size > limit {
						break
					}
					size += 4
					walk(reflect.ValueOf(p.Key), depth+1)
					walk(reflect.ValueOf(p.Value), depth+1)
				}
				return
			}
			size += 16
		default:
			size += 24
		}
	}
	if ev, ok := v.(*exec.Value); ok {
		if ev == nil {
			return 0, 0
		}
		if ev.IsString() {
			return len(ev.String()), 1
		}
		walk(ev.Val, 0)
		return size, items
	}
	walk(reflect.ValueOf(v), 0)
	return size, items
}

// checkValue refuses a value that prints as more than MaxRenderedBytes
// or is a list longer than listLen.
func checkValue(what string, v *exec.Value) error {
	if v == nil || v.IsError() {
		return nil
	}
	if v.IsString() {
		if n := len(v.String()); n > MaxRenderedBytes {
			return tooLarge(what, n)
		}
		return nil
	}
	if v.IsList() && v.Len() > jinjaLimits.listLen {
		return tooLong(what, v.Len())
	}
	if size, _ := valueSize(v, MaxRenderedBytes); size > MaxRenderedBytes {
		return tooLarge(what, size)
	}
	return nil
}

// arg is a call's argument by position or by keyword, or nil.
func arg(p *exec.VarArgs, pos int, kw string) *exec.Value {
	if p == nil {
		return nil
	}
	if pos >= 0 && pos < len(p.Args) {
		return p.Args[pos]
	}
	if v, ok := p.KwArgs[kw]; ok {
		return v
	}
	return nil
}

func intArg(p *exec.VarArgs, pos int, kw string, def int) int {
	if v := arg(p, pos, kw); v != nil && (v.IsInteger() || v.IsFloat()) {
		if v.IsFloat() {
			f := v.Float()
			if f > math.MaxInt32 || f < math.MinInt32 {
				return math.MaxInt
			}
			return int(f)
		}
		return v.Integer()
	}
	return def
}

func strArg(p *exec.VarArgs, pos int, kw string, def string) string {
	if v := arg(p, pos, kw); v != nil && v.IsString() {
		return v.String()
	}
	return def
}

// occurrences is how many times strings.Replace(s, old, …) replaces.
func occurrences(s, old string, count int) int {
	n := 0
	if old == "" {
		n = utf8.RuneCountInString(s) + 1
	} else {
		n = strings.Count(s, old)
	}
	if count >= 0 && count < n {
		n = count
	}
	return n
}

func replaceSize(s, old, new string, count int) int {
	n := occurrences(s, old, count)
	grow := len(new) - len(old)
	if grow <= 0 {
		return len(s)
	}
	return len(s) + mulSize(n, grow)
}

// maxArgLen is the longest printed argument of a format call.
func maxArgLen(p *exec.VarArgs) int {
	m := 0
	for _, a := range p.Args {
		if n, _ := valueSize(a, MaxRenderedBytes); n > m {
			m = n
		}
	}
	for _, a := range p.KwArgs {
		if n, _ := valueSize(a, MaxRenderedBytes); n > m {
			m = n
		}
	}
	return m
}

// formatSize bounds what a format string prints: each directive (a
// '%' for printf, a '{' for Python's str.format) prints at most its
// widths and precisions plus the longest argument.
func formatSize(f string, directive byte, p *exec.VarArgs) int {
	argLen := maxArgLen(p) + 64
	star := 0
	for _, a := range p.Args {
		if a.IsInteger() && a.Integer() > star {
			star = min(a.Integer(), 1_000_000) // fmt refuses wider
		}
	}
	size := len(f)
	for i := 0; i < len(f); i++ {
		if f[i] != directive {
			continue
		}
		cost := argLen
		for j := i + 1; j < len(f); j++ {
			c := f[j]
			if c >= '0' && c <= '9' {
				k := j
				for k < len(f) && f[k] >= '0' && f[k] <= '9' && k-j < 12 {
					k++
				}
				var n int
				fmt.Sscan(f[j:k], &n)
				cost = cost + n
				j = k - 1
				continue
			}
			if c == '*' {
				cost += star
				continue
			}
			if directive == '%' && strings.IndexByte("+-# 0.[]", c) >= 0 {
				continue
			}
			if directive == '{' && c != '}' {
				continue
			}
			break
		}
		size += cost
		if size > MaxRenderedBytes {
			return size
		}
	}
	return size
}

// filterChecks check a filter's call before gonja runs it.
var filterChecks = map[string]func(in *exec.Value, p *exec.VarArgs) error{
	"center": func(in *exec.Value, p *exec.VarArgs) error {
		if w := intArg(p, 0, "width", 80); w > MaxRenderedBytes {
			return tooLarge(fmt.Sprintf("center(%d)", w), w)
		}
		return nil
	},
	"indent": func(in *exec.Value, p *exec.VarArgs) error {
		w := 4
		if v := arg(p, 0, "width"); v != nil {
			if v.IsString() {
				w = len(v.String())
			} else {
				w = intArg(p, 0, "width", 4)
			}
		}
		s := in.String()
		if n := len(s) + mulSize(strings.Count(s, "\n")+1, w); n > MaxRenderedBytes {
			return tooLarge(fmt.Sprintf("indent(%d) of %d lines", w, strings.Count(s, "\n")+1), n)
		}
		return nil
	},
	"format": func(in *exec.Value, p *exec.VarArgs) error {
		if n := formatSize(in.String(), '%', p); n > MaxRenderedBytes {
			return tooLarge("format()", n)
		}
		return nil
	},
	"replace": func(in *exec.Value, p *exec.VarArgs) error {
		count := intArg(p, 2, "count", -1)
		if n := replaceSize(in.String(), strArg(p, 0, "old", ""), strArg(p, 1, "new", ""), count); n > MaxRenderedBytes {
			return tooLarge("replace()", n)
		}
		return nil
	},
	"join": func(in *exec.Value, p *exec.VarArgs) error {
		d, _ := valueSize(arg(p, 0, "d"), MaxRenderedBytes)
		size, items := valueSize(in, MaxRenderedBytes)
		if n := size + mulSize(items, d); n > MaxRenderedBytes {
			return tooLarge("join()", n)
		}
		return nil
	},
	"batch": func(in *exec.Value, p *exec.VarArgs) error {
		if n := intArg(p, 0, "linecount", 1); n > jinjaLimits.listLen {
			return tooLong(fmt.Sprintf("batch(%d)", n), n)
		} else if n < 1 {
			return fmt.Errorf("batch(%d): the line count must be positive", n)
		}
		return nil
	},
	"slice": func(in *exec.Value, p *exec.VarArgs) error {
		if n := intArg(p, 0, "slices", 1); n > jinjaLimits.listLen {
			return tooLong(fmt.Sprintf("slice(%d)", n), n)
		}
		return nil
	},
	"list": func(in *exec.Value, p *exec.VarArgs) error {
		if in.IsString() {
			if n := utf8.RuneCountInString(in.String()); n > jinjaLimits.listLen {
				return tooLong("list() of a string", n)
			}
		}
		return nil
	},
	"tojson": func(in *exec.Value, p *exec.VarArgs) error {
		size, items := valueSize(in, MaxRenderedBytes)
		// each item on a line of its own, indented by up to its depth
		if n := size + mulSize(items, mulSize(intArg(p, 0, "indent", 0), 8)); n > MaxRenderedBytes {
			return tooLarge("tojson()", n)
		}
		return nil
	},
	"wordwrap": func(in *exec.Value, p *exec.VarArgs) error { return checkValue("wordwrap()", in) },
	"pprint":   func(in *exec.Value, p *exec.VarArgs) error { return checkValue("pprint()", in) },
	"string":   func(in *exec.Value, p *exec.VarArgs) error { return checkValue("string()", in) },
	"truncate": func(in *exec.Value, p *exec.VarArgs) error { return checkValue("truncate()", in) },
	"xmlattr":  func(in *exec.Value, p *exec.VarArgs) error { return checkValue("xmlattr()", in) },
	"urlize":   func(in *exec.Value, p *exec.VarArgs) error { return checkValue("urlize()", in) },
}

// iterating filters go through a string character by character, a value
// of gonja's each.
var iterating = map[string]bool{"batch": true, "first": true, "last": true, "join": true, "list": true, "map": true,
	"max": true, "min": true, "random": true, "reject": true, "rejectattr": true, "reverse": true, "select": true,
	"selectattr": true, "slice": true, "sort": true, "sum": true, "unique": true, "groupby": true, "dictsort": true, "items": true}

// strMethodChecks check a string method's call ('x'.center(9)).
var strMethodChecks = map[string]func(self string, p *exec.VarArgs) error{
	"center": widthCheck("center"),
	"ljust":  widthCheck("ljust"),
	"rjust":  widthCheck("rjust"),
	"zfill":  widthCheck("zfill"),
	"expandtabs": func(self string, p *exec.VarArgs) error {
		tab := max(intArg(p, 1, "tabsize", 8), 8)
		sub := len(strArg(p, 0, "substr", ""))
		if n := len(self) + mulSize(strings.Count(self, "\t")+1, tab+sub); n > MaxRenderedBytes {
			return tooLarge("expandtabs()", n)
		}
		return nil
	},
	"replace": func(self string, p *exec.VarArgs) error {
		if n := replaceSize(self, strArg(p, 0, "old", " "), strArg(p, 1, "new", " "), intArg(p, 2, "count", -1)); n > MaxRenderedBytes {
			return tooLarge("replace()", n)
		}
		return nil
	},
	"join": func(self string, p *exec.VarArgs) error {
		size, items := valueSize(arg(p, 0, "iterable"), MaxRenderedBytes)
		if n := size + mulSize(items, len(self)); n > MaxRenderedBytes {
			return tooLarge("join()", n)
		}
		return nil
	},
	"format":     formatCheck,
	"format_map": formatCheck,
	"split":      splitCheck,
	"rsplit":     splitCheck,
	"splitlines": func(self string, p *exec.VarArgs) error {
		if n := strings.Count(self, "\n") + strings.Count(self, "\r") + 1; n > jinjaLimits.listLen {
			return tooLong("splitlines()", n)
		}
		return nil
	},
}

func widthCheck(name string) func(string, *exec.VarArgs) error {
	return func(self string, p *exec.VarArgs) error {
		if w := intArg(p, 0, "width", 0); w > MaxRenderedBytes {
			return tooLarge(fmt.Sprintf("%s(%d)", name, w), w)
		}
		return nil
	}
}

func formatCheck(self string, p *exec.VarArgs) error {
	if n := formatSize(self, '{', p); n > MaxRenderedBytes {
		return tooLarge("format()", n)
	}
	return nil
}

func splitCheck(self string, p *exec.VarArgs) error {
	n := occurrences(self, strArg(p, 0, "sep", " "), -1) + 1
	if m := intArg(p, 1, "maxsplit", -1); m >= 0 && m+1 < n {
		n = m + 1
	}
	if n > jinjaLimits.listLen {
		return tooLong("split()", n)
	}
	return nil
}

// boundedFilters are gonja's filters, each counted as a step, checked
// before it runs where it can grow its input and its result measured,
// plus the operators' filters.
func boundedFilters() *exec.FilterSet {
	all := unexportedMap[exec.FilterFunction](builtins.Filters, "filters")
	out := make(map[string]exec.FilterFunction, len(all)+4)
	for name, f := range all {
		out[name] = boundFilter(name, f)
	}
	out[opMul] = opFilter(" * ", mulOp)
	out[opAdd] = opFilter(" + ", addOp)
	out[opConcat] = opFilter(" ~ ", concatOp)
	out[opPrint] = func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if in == nil || in.IsError() {
			return in
		}
		b := budgetOf(e.Environment.Context)
		if err := checkValue("{{ }}", in); err != nil {
			return exec.AsValue(b.fail("%s", err))
		}
		return in
	}
	out[opIter] = func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if in == nil || in.IsError() {
			return in
		}
		n := 0
		switch {
		case in.IsString():
			n = utf8.RuneCountInString(in.String())
		case in.IsList(), in.IsDict():
			n = in.Len()
		}
		if n > jinjaLimits.listLen {
			return exec.AsValue(budgetOf(e.Environment.Context).fail("{%% for %%} over %d items (a string's characters, a list's or a dict's items), more than %d: refused", n, jinjaLimits.listLen))
		}
		return in
	}
	return exec.NewFilterSet(out)
}

func boundFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	check := filterChecks[name]
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if in == nil || in.IsError() {
			return f(e, in, p)
		}
		b := budgetOf(e.Environment.Context)
		if err := b.step(1); err != nil {
			return exec.AsValue(err)
		}
		// Many filters print what is not a string (in.String()): a list
		// holding itself twice, 30 deep, is small but prints as 2^30.
		if !in.IsString() && !in.IsNumber() && !in.IsBool() && !in.IsNil() {
			if err := checkValue("its input", in); err != nil {
				return exec.AsValue(b.fail("filter %s: %s", name, err))
			}
		}
		if iterating[name] && in.IsString() {
			if n := utf8.RuneCountInString(in.String()); n > jinjaLimits.listLen {
				return exec.AsValue(b.fail("filter %s: it would go through a string of %d characters, one value each, more than %d: refused", name, n, jinjaLimits.listLen))
			}
		}
		if check != nil {
			if err := check(in, p); err != nil {
				return exec.AsValue(b.fail("filter %s: %s", name, err))
			}
		}
		out := f(e, in, p)
		if err := checkValue("its result", out); err != nil {
			return exec.AsValue(b.fail("filter %s: %s", name, err))
		}
		if err := b.step(0); err != nil {
			return exec.AsValue(err)
		}
		return out
	}
}

// boundedStrMethods are gonja's string methods, checked likewise. A
// method has no access to the render's budget: its refusal is its error.
func boundedStrMethods() *exec.MethodSet[string] {
	all := unexportedMap[exec.Method[string]](builtins.Methods.Str, "methods")
	out := make(map[string]exec.Method[string], len(all))
	for name, m := range all {
		check := strMethodChecks[name]
		out[name] = func(self string, sv *exec.Value, p *exec.VarArgs) (any, error) {
			// An error is returned as the result: gonja would quote the
			// whole string in the message of an error returned as one.
			if check != nil {
				if err := check(self, p); err != nil {
					return fmt.Errorf("%s(): %w", name, err), nil
				}
			}
			r, err := m(self, sv, p)
			if err != nil {
				return fmt.Errorf("invalid call to method '%s': %w", name, err), nil
			}
			if cerr := checkValue("its result", exec.AsValue(r)); cerr != nil {
				return fmt.Errorf("%s(): %w", name, cerr), nil
			}
			return r, nil
		}
	}
	return exec.NewMethodSet(out)
}

// unexportedMap reads a map field gonja does not export.
func unexportedMap[V any](set any, field string) map[string]V {
	f := reflect.ValueOf(set).Elem().FieldByName(field)
	m, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(map[string]V)
	return m
}

// opFilter is an operator as a filter: in is the left operand, the one
// argument the right.
func opFilter(op string, f func(l, r *exec.Value) (*exec.Value, error)) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if in == nil || in.IsError() {
			return in
		}
		if len(p.Args) != 1 {
			return exec.AsValue(fmt.Errorf("operator%s: 2 operands expected", op))
		}
		b := budgetOf(e.Environment.Context)
		v, err := f(in, p.Args[0])
		if err != nil {
			var be *budgetError
			if errors.As(err, &be) {
				return exec.AsValue(err)
			}
			return exec.AsValue(b.fail("%s", err))
		}
		return v
	}
}

// mulOp is gonja's *, sizes checked first.
func mulOp(l, r *exec.Value) (*exec.Value, error) {
	if l.IsFloat() || r.IsFloat() {
		return exec.AsValue(l.Float() * r.Float()), nil
	}
	if l.IsString() {
		s, n := l.String(), r.Integer()
		if n <= 0 || s == "" {
			return exec.AsValue(""), nil
		}
		if size := mulSize(len(s), n); size > MaxRenderedBytes {
			return nil, fmt.Errorf("a string of %d bytes * %d would be %d bytes, more than %d MiB: refused (build the text in a {%% for %%} loop if it must be long)", len(s), n, size, MaxRenderedBytes>>20)
		}
		return exec.AsValue(strings.Repeat(s, n)), nil
	}
	return exec.AsValue(l.Integer() * r.Integer()), nil
}

// addOp is gonja's +, sizes checked first.
func addOp(l, r *exec.Value) (*exec.Value, error) {
	if l.IsList() {
		if !r.IsList() {
			return exec.AsValue(fmt.Errorf("unable to concatenate list to %s", r.String())), nil
		}
		if n := l.Len() + r.Len(); n > jinjaLimits.listLen {
			return nil, tooLong("list + list", n)
		}
		out := make([]any, 0, l.Len()+r.Len())
		for _, x := range []*exec.Value{l, r} {
			rv := reflect.ValueOf(x.Interface())
			for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
				rv = rv.Elem()
			}
			for i := 0; i < rv.Len(); i++ {
				out = append(out, rv.Index(i).Interface())
			}
		}
		return exec.AsValue(out), nil
	}
	if l.IsFloat() || r.IsFloat() {
		return exec.AsValue(l.Float() + r.Float()), nil
	}
	if l.IsString() || r.IsString() {
		if err := concatSize(l, r); err != nil {
			return nil, err
		}
		return exec.AsValue(l.String() + r.String()), nil
	}
	return exec.AsValue(l.Integer() + r.Integer()), nil
}

func concatSize(l, r *exec.Value) error {
	a, _ := valueSize(l, MaxRenderedBytes)
	b, _ := valueSize(r, MaxRenderedBytes)
	if a+b > MaxRenderedBytes {
		return tooLarge("concatenating", a+b)
	}
	return nil
}

// concatOp is gonja's ~, sizes checked first.
func concatOp(l, r *exec.Value) (*exec.Value, error) {
	if err := concatSize(l, r); err != nil {
		return nil, err
	}
	return exec.AsValue(l.String() + r.String()), nil
}

// rewriteTemplate turns a template's *, + and ~ into the filters above
// and gives each {{ }} the print check, through every node gonja's
// packages define (their fields exported or not).
func rewriteTemplate(t *nodes.Template) {
	rw := &rewriter{seen: map[uintptr]bool{}, ops: map[*nodes.BinaryExpression]*nodes.FilteredExpression{}}
	rw.value(reflect.ValueOf(t), 0)
}

// rewriter walks a template once. An operator node can be referred to
// twice (a method call's receiver is both the call's Parent and its
// attribute's Node): each reference is given the same replacement.
type rewriter struct {
	seen map[uintptr]bool
	ops  map[*nodes.BinaryExpression]*nodes.FilteredExpression
}

var (
	tokenType = reflect.TypeFor[*tokens.Token]()
	nodesPkg  = reflect.TypeFor[nodes.Template]().PkgPath()
	csPkg     = reflect.TypeFor[controlStructures.IfControlStructure]().PkgPath()
	ourPkg    = reflect.TypeFor[guarded]().PkgPath()
)

func (rw *rewriter) value(v reflect.Value, depth int) {
	if depth > 100_000 { // the lexical scan keeps trees far shallower
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type() == tokenType || rw.seen[v.Pointer()] {
			return
		}
		if p := v.Type().Elem().PkgPath(); p != nodesPkg && p != csPkg && p != ourPkg {
			return
		}
		rw.seen[v.Pointer()] = true
		rw.value(v.Elem(), depth+1)
		if f, ok := v.Interface().(*controlStructures.ForControlStructure); ok && f.BodyWrapper != nil {
			// Each iteration is a step: a loop whose body has no tag
			// (over a long string, say) would otherwise run unchecked.
			f.BodyWrapper.Nodes = append([]nodes.Node{&nodes.ControlStructureBlock{Location: f.BodyWrapper.Location, Name: "for", ControlStructure: &loopStep{f.BodyWrapper.Location}}}, f.BodyWrapper.Nodes...)
			// gonja makes a value of each item before the first
			// iteration: what is looped over is measured first.
			if f.ObjectEvaluator != nil {
				f.ObjectEvaluator = &nodes.FilteredExpression{Expression: f.ObjectEvaluator, Filters: []*nodes.FilterCall{{Token: f.BodyWrapper.Location, Name: opIter, Kwargs: map[string]nodes.Expression{}}}}
			}
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		rw.value(v.Elem(), depth+1)
		be, ok := v.Elem().Interface().(*nodes.BinaryExpression)
		if !ok || !v.CanSet() {
			return
		}
		fe := rw.ops[be]
		if fe == nil {
			name := opFilterName(be)
			if name == "" {
				return
			}
			fe = &nodes.FilteredExpression{Expression: be.Left, Filters: []*nodes.FilterCall{{Token: be.Operator.Token, Name: name, Args: []nodes.Expression{be.Right}, Kwargs: map[string]nodes.Expression{}}}}
			rw.ops[be] = fe
		}
		if reflect.TypeOf(fe).Implements(v.Type()) {
			v.Set(reflect.ValueOf(fe))
		}
	case reflect.Struct:
		if p := v.Type().PkgPath(); p != nodesPkg && p != csPkg && p != ourPkg {
			return
		}
		if v.Type() == reflect.TypeFor[nodes.Output]() && v.CanAddr() {
			o := v.Addr().Interface().(*nodes.Output)
			defer func() {
				for _, e := range []*nodes.Expression{&o.Expression, &o.Alternative} {
					if *e != nil {
						*e = &nodes.FilteredExpression{Expression: *e, Filters: []*nodes.FilterCall{{Token: o.Start, Name: opPrint, Kwargs: map[string]nodes.Expression{}}}}
					}
				}
			}()
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !f.CanSet() && f.CanAddr() {
				f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			}
			rw.value(f, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			rw.value(v.Index(i), depth+1)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		it := v.MapRange()
		var keys []reflect.Value
		var vals []reflect.Value
		for it.Next() {
			keys = append(keys, it.Key())
			vals = append(vals, it.Value())
		}
		for i, k := range keys {
			cp := reflect.New(v.Type().Elem()).Elem()
			cp.Set(vals[i])
			rw.value(cp, depth+1)
			if v.Type().Elem().Kind() == reflect.Interface {
				v.SetMapIndex(k, cp)
			}
		}
	}
}

// loopStep, first in a {% for %} body, counts the iteration.
type loopStep struct{ loc *tokens.Token }

func (s *loopStep) Position() *tokens.Token { return s.loc }
func (s *loopStep) String() string          { return "a loop's iteration" }
func (s *loopStep) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	return budgetOf(r.Environment.Context).step(1)
}

func opFilterName(be *nodes.BinaryExpression) string {
	if be.Operator == nil || be.Operator.Token == nil {
		return ""
	}
	switch be.Operator.Token.Type {
	case tokens.Multiply:
		return opMul
	case tokens.Addition:
		return opAdd
	case tokens.Tilde:
		return opConcat
	}
	return ""
}

// execute runs a tag. include, import and from … import are gonja's own,
// but for the template they load, which is rewritten (rewriteTemplate)
// before it runs, as the file's own template is.
func (g *guarded) execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	switch cs := g.ControlStructure.(type) {
	case *controlStructures.IncludeControlStructure:
		if unexportedField[bool](cs, "isEmpty") {
			return nil
		}
		ignoreMissing := unexportedField[bool](cs, "ignoreMissing")
		t, loader, err := loadTemplate(r, unexportedField[nodes.Expression](cs, "filenameExpression"))
		if err != nil {
			if ignoreMissing {
				var be *budgetError
				if !errors.As(err, &be) {
					return nil
				}
			}
			return err
		}
		return exec.NewRenderer(r.Environment, r.Output, r.Config.Inherit(), loader, t).Execute()
	case *controlStructures.ImportControlStructure:
		t, _, err := loadTemplate(r, unexportedField[nodes.Expression](cs, "filenameExpression"))
		if err != nil {
			return err
		}
		macros := map[string]exec.Macro{}
		for name, macro := range t.Macros() {
			fn, err := exec.MacroNodeToFunc(macro, r)
			if err != nil {
				return fmt.Errorf("unable to import macro '%s': %w", name, err)
			}
			macros[name] = fn
		}
		r.Environment.Context.Set(unexportedString(cs, "as"), macros)
		return nil
	case *controlStructures.FromImportControlStructure:
		t, _, err := loadTemplate(r, cs.FilenameExpression)
		if err != nil {
			return err
		}
		imported := t.Macros()
		for alias, name := range cs.As {
			node, ok := imported[name]
			if !ok {
				return fmt.Errorf("unable to import macro '%s': the file has no such macro", name)
			}
			fn, err := exec.MacroNodeToFunc(node, r)
			if err != nil {
				return fmt.Errorf("unable to import macro '%s': %w", name, err)
			}
			r.Environment.Context.Set(alias, fn)
		}
		return nil
	}
	return g.ControlStructure.Execute(r, tag)
}

// loadTemplate parses the template a tag names, as gonja would, and
// rewrites it.
func loadTemplate(r *exec.Renderer, expr nodes.Expression) (*exec.Template, loaders.Loader, error) {
	v := r.Eval(expr)
	if v.IsError() {
		return nil, nil, fmt.Errorf("unable to evaluate filename: %w", v.Interface().(error))
	}
	filename, err := r.Loader.Resolve(v.String())
	if err != nil {
		return nil, nil, fmt.Errorf("failed to resolve filename: %w", err)
	}
	loader, err := r.Loader.Inherit(filename)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to inherit loader from '%s': %w", filename, err)
	}
	t, err := exec.NewTemplate(filename, r.Config, loader, r.Environment)
	if err != nil {
		if b := budgetOf(r.Environment.Context); b.failed != nil {
			return nil, nil, b.failed
		}
		return nil, nil, fmt.Errorf("unable to load template '%s': %s", filename, stripSource(err.Error()))
	}
	rewriteTemplate(t.Root())
	return t, loader, nil
}

// unexportedField reads a field gonja does not export.
func unexportedField[T any](x any, field string) T {
	var zero T
	f := reflect.ValueOf(x).Elem().FieldByName(field)
	if !f.IsValid() {
		return zero
	}
	t, _ := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(T)
	return t
}

// boundedLipsum is lipsum(), its size checked first.
func boundedLipsum(e *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	n, hi := intArg(params, 0, "n", 5), intArg(params, 3, "max", 100)
	if size := mulSize(mulSize(max(n, 0), max(hi, 0)), 16); size > MaxRenderedBytes {
		return exec.AsValue(budgetOf(e.Environment.Context).fail("lipsum(%d) would be about %d bytes, more than %d MiB: refused", n, size, MaxRenderedBytes>>20))
	}
	f, _ := builtins.GlobalFunctions.Get("lipsum")
	if fn, ok := f.(func(*exec.Evaluator, *exec.VarArgs) *exec.Value); ok {
		return fn(e, params)
	}
	return exec.AsValue(errors.New("lipsum is not available"))
}
