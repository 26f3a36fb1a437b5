package jsmodel

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// noAccess are globals of browsers and Node that reach the network, the
// process or timers: each throws.
var noAccess = []string{"fetch", "XMLHttpRequest", "WebSocket", "EventSource", "setTimeout", "setInterval",
	"setImmediate", "clearTimeout", "clearInterval", "clearImmediate", "importScripts", "Buffer"}

// noAlloc are built-ins a model does not need that allocate in one step.
var noAlloc = []string{"ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray",
	"Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array",
	"BigUint64Array", "WeakRef", "FinalizationRegistry"}

// prelude wraps the built-ins that allocate in one step with size checks
// (limit: characters or elements), before Go would allocate.
// It also measures what goja would parse in Go (JSON.parse's text, a
// regular expression's pattern) or walk natively (flat, toLocaleString,
// JSON.stringify) before a nesting too deep overflows the Go stack (see
// depth.go), and takes eval and the Function constructors away: a model
// has no use for source text compiled at run time.
const prelude = `(function (limit, join, check, maxNest) {
	'use strict';
	const tooBig = (what, n) => { throw new RangeError(what + ': ' + n + ' is more than a model may allocate at once (' + limit + ')'); };
	const def = (o, name, f) => Object.defineProperty(o, name, { value: f, writable: true, configurable: true, enumerable: false });
	const repeat = String.prototype.repeat, padStart = String.prototype.padStart, padEnd = String.prototype.padEnd;
	def(String.prototype, 'repeat', function repeat_(count) {
		const s = String(this), n = s.length * Number(count);
		if (n > limit) tooBig('String.prototype.repeat', n);
		return repeat.call(s, count);
	});
	def(String.prototype, 'padStart', function padStart_(n, fill) {
		if (Number(n) > limit) tooBig('String.prototype.padStart', n);
		return padStart.call(this, n, fill);
	});
	const concat = String.prototype.concat;
	def(String.prototype, 'concat', function concat_(...parts) {
		const ss = [String(this)];
		let n = ss[0].length;
		for (const p of parts) { const s = String(p); n += s.length; ss.push(s); }
		if (n > limit) tooBig('String.prototype.concat', n);
		return concat.apply(ss[0], ss.slice(1));
	});
	def(String.prototype, 'padEnd', function padEnd_(n, fill) {
		if (Number(n) > limit) tooBig('String.prototype.padEnd', n);
		return padEnd.call(this, n, fill);
	});
	const fill = Array.prototype.fill;
	def(Array.prototype, 'fill', function fill_(v, start, end) {
		const n = Number(this.length);
		if (n > limit) tooBig('Array.prototype.fill', n);
		return fill.call(this, v, start, end);
	});
	def(Array.prototype, 'join', join);
	const from = Array.from;
	def(Array, 'from', function from_(items, fn, thisArg) {
		if (items != null && typeof items[Symbol.iterator] !== 'function' && Number(items.length) > limit) tooBig('Array.from', items.length);
		return from.call(this, items, fn, thisArg);
	});
	const checkLength = (args) => {
		if (args.length === 1 && typeof args[0] === 'number' && args[0] > limit) tooBig('Array', args[0]);
	};
	const A = Array;
	globalThis.Array = new Proxy(A, {
		apply(t, self, args) { checkLength(args); return Reflect.apply(t, self, args); },
		construct(t, args, nt) { checkLength(args); return Reflect.construct(t, args, nt === globalThis.Array ? t : nt); },
	});
	def(A.prototype, 'constructor', globalThis.Array);
	const tooDeep = (what) => { throw new RangeError(what + ': the value nests deeper than ' + maxNest + ' levels'); };
	const stringify = JSON.stringify;
	def(JSON, 'stringify', function stringify_(v, replacer, space) {
		// A list of keys is applied here, so that every value passes
		// through r (which measures the depth).
		let keys = null;
		if (Array.isArray(replacer)) {
			keys = [];
			for (const k of replacer) {
				if (typeof k === 'string' || typeof k === 'number' || k instanceof String || k instanceof Number) {
					const s = String(k);
					if (!keys.includes(s)) keys.push(s);
				}
			}
		}
		let size = 0;
		const depths = new WeakMap();
		const r = function (k, val) {
			if (typeof replacer === 'function') val = replacer.call(this, k, val);
			size += String(k).length + (typeof val === 'string' ? val.length : 8);
			if (size > limit) tooBig('JSON.stringify', 'its output');
			if (val !== null && (typeof val === 'object' || typeof val === 'function')) {
				const d = (depths.get(this) || 0) + 1;
				if (d > maxNest) tooDeep('JSON.stringify');
				if (keys && !Array.isArray(val) && typeof val === 'object') {
					const o = {};
					for (const key of keys) if (key in val) o[key] = val[key];
					val = o;
				}
				depths.set(val, d);
			}
			return val;
		};
		return stringify(v, r, space);
	});
	const parse = JSON.parse;
	def(JSON, 'parse', function parse_(text, reviver) {
		const s = String(text);
		check('json', s);
		return parse(s, reviver);
	});
	const flat = Array.prototype.flat;
	def(Array.prototype, 'flat', function flat_(d) {
		if (d !== undefined && Number(d) > maxNest) {
			const stack = [[this, 0]];
			while (stack.length) {
				const [a, level] = stack.pop();
				if (level > maxNest) tooDeep('Array.prototype.flat');
				const n = Number(a.length);
				if (n > limit) tooBig('Array.prototype.flat', n);
				for (let i = 0; i < n; i++) if (Array.isArray(a[i])) stack.push([a[i], level + 1]);
			}
		}
		return flat.call(this, d);
	});
	// In JavaScript, so that nested arrays recurse through the call
	// stack (and its limit) rather than natively.
	def(Array.prototype, 'toLocaleString', function toLocaleString_() {
		const o = Object(this), n = Number(o.length) || 0;
		if (n > limit) tooBig('Array.prototype.toLocaleString', n);
		const parts = [];
		for (let i = 0; i < n; i++) {
			const v = o[i];
			parts.push(v == null ? '' : String(v.toLocaleString()));
		}
		return parts.join(',');
	});
	const R = RegExp;
	const checkRe = (p) => { if (!(p instanceof R)) check('regexp', String(p)); };
	globalThis.RegExp = new Proxy(R, {
		apply(t, self, args) { checkRe(args[0]); return Reflect.apply(t, self, args); },
		construct(t, args, nt) { checkRe(args[0]); return Reflect.construct(t, args, nt === globalThis.RegExp ? t : nt); },
	});
	def(R.prototype, 'constructor', globalThis.RegExp);
	const compile = R.prototype.compile;
	if (compile) def(R.prototype, 'compile', function compile_(p, f) { checkRe(p); return compile.call(this, p, f); });
	for (const name of ['match', 'matchAll', 'search']) {
		const f = String.prototype[name];
		def(String.prototype, name, function (re) {
			if (re === null || (typeof re !== 'object' && typeof re !== 'function')) checkRe(re);
			return f.call(this, re);
		});
	}
	// eval and the Function constructors compile source text at run
	// time; models do not need them.
	const denied = (what) => function () { throw new Error('models cannot use ' + what + ' (source text compiled while the model runs is not available to models)'); };
	def(globalThis, 'eval', denied('eval'));
	const F = Function;
	globalThis.Function = denied('the Function constructor');
	def(F.prototype, 'constructor', globalThis.Function);
	for (const [what, src] of [['the AsyncFunction constructor', 'async function () {}'], ['the GeneratorFunction constructor', 'function* () {}'], ['the AsyncGeneratorFunction constructor', 'async function* () {}']]) {
		let f;
		try { f = (0, F)('return ' + src)(); } catch (e) { continue; } // not supported by this engine
		def(Object.getPrototypeOf(f), 'constructor', denied(what));
	}
})`

// setup defines the model globals and the sandbox.
func (e *evaluator) setup() error {
	vm := e.vm
	e.refSym = goja.NewSymbol("cubegate.reference")
	set := func(name string, v any) {
		if err := vm.Set(name, v); err != nil {
			panic(err)
		}
	}
	set("cube", e.define("cube"))
	set("view", e.define("view"))
	set("asyncModule", e.asyncModule)
	set("CUBE", e.ref("CUBE"))
	set("TABLE", e.ref("CUBE"))
	set("SECURITY_CONTEXT", e.contextRef("SECURITY_CONTEXT", nil))
	set("USER_CONTEXT", e.contextRef("SECURITY_CONTEXT", nil))
	set("FILTER_PARAMS", e.contextRef("FILTER_PARAMS", nil))
	set("FILTER_GROUP", e.filterGroup)
	sqlUtils := vm.NewObject()
	sqlUtils.Set("convertTz", e.convertTz)
	set("SQL_UTILS", sqlUtils)

	ctx := e.opts.CompileContext
	if ctx == nil {
		ctx = map[string]any{}
	}
	b, err := json.Marshal(ctx)
	if err != nil {
		return fmt.Errorf("COMPILE_CONTEXT: %v", err)
	}
	cc, err := vm.RunString(`(function freeze(o) { Object.freeze(o); for (const k of Object.keys(o)) if (o[k] && typeof o[k] === 'object') freeze(o[k]); return o; })(` + string(b) + `)`)
	if err != nil {
		return fmt.Errorf("COMPILE_CONTEXT: %v", err)
	}
	set("COMPILE_CONTEXT", cc)

	// JavaScript functions, so that new XMLHttpRequest() throws the
	// same message as a call.
	var denied [][2]string
	for _, name := range noAccess {
		denied = append(denied, [2]string{name, fmt.Sprintf("models cannot use %s (network/process access is not available to models)", name)})
	}
	for _, name := range noAlloc {
		denied = append(denied, [2]string{name, fmt.Sprintf("models cannot use %s (not available to models)", name)})
	}
	deny, err := vm.RunString(`(function (denied) {
		for (const [name, msg] of denied) {
			globalThis[name] = function () { throw new Error(msg); };
		}
	})`)
	if err != nil {
		return err
	}
	denyFn, _ := goja.AssertFunction(deny)
	if _, err := denyFn(goja.Undefined(), vm.ToValue(denied)); err != nil {
		return err
	}
	throwing := vm.ToValue(func(goja.FunctionCall) goja.Value {
		e.throw("Error", "models cannot read process (network/process access is not available to models)")
		return nil
	})
	if err := vm.GlobalObject().DefineAccessorProperty("process", throwing, nil, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	console := vm.NewObject()
	for _, level := range []string{"log", "info", "warn", "error", "debug"} {
		console.Set(level, func(c goja.FunctionCall) goja.Value {
			if e.opts.Warn != nil && !e.abandoned.Load() {
				parts := make([]string, len(c.Arguments))
				for i, a := range c.Arguments {
					parts[i] = plainText(a.String())
				}
				file, line, _ := e.caller()
				e.opts.Warn(file, line, "console: "+strings.Join(parts, " "))
			}
			return goja.Undefined()
		})
	}
	set("console", console)

	wrap, err := vm.RunString(prelude)
	if err != nil {
		return err
	}
	fn, _ := goja.AssertFunction(wrap)
	if _, err := fn(goja.Undefined(), vm.ToValue(e.opts.MaxAlloc), vm.ToValue(e.join), vm.ToValue(e.checkDepth), vm.ToValue(maxNesting)); err != nil {
		return err
	}
	e.globals = map[string]bool{}
	for _, k := range vm.GlobalObject().GetOwnPropertyNames() {
		e.globals[k] = true
	}
	return nil
}

// checkDepth is check(kind, text) of the prelude: JSON.parse's text
// ("json") or a regular expression's pattern ("regexp") must not nest
// deeper than maxNesting.
func (e *evaluator) checkDepth(c goja.FunctionCall) goja.Value {
	text := c.Argument(1).String()
	switch c.Argument(0).String() {
	case "json":
		if d, line := jsonDepth(text); line > 0 {
			e.throw("RangeError", "JSON.parse: the text nests %d levels deep (from its line %d), more than %d", d, line, maxNesting)
		}
	case "regexp":
		if d := regexpDepth(text); d > maxNesting {
			e.throw("SyntaxError", "Invalid regular expression: its groups nest %d levels deep, more than %d", d, maxNesting)
		}
	}
	return goja.Undefined()
}

// join is Array.prototype.join with a size check as the string grows,
// and a depth check: an array's elements are joined with their
// toString, which is join again for a nested array — natively, in Go.
func (e *evaluator) join(c goja.FunctionCall) goja.Value {
	e.joinDepth++
	defer func() { e.joinDepth-- }()
	if e.joinDepth > maxNesting {
		e.throw("RangeError", "Array.prototype.join: arrays nested deeper than %d levels", maxNesting)
	}
	o := c.This.ToObject(e.vm)
	n := o.Get("length").ToInteger()
	if n > int64(e.opts.MaxAlloc) {
		e.throw("RangeError", "Array.prototype.join: %d elements are more than a model may allocate at once (%d)", n, e.opts.MaxAlloc)
	}
	sep := ","
	if s := c.Argument(0); !goja.IsUndefined(s) {
		sep = s.String()
	}
	var b strings.Builder
	for i := int64(0); i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		v := o.Get(fmt.Sprint(i))
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			continue
		}
		s := v.String()
		if b.Len()+len(s) > e.opts.MaxAlloc {
			e.throw("RangeError", "Array.prototype.join: the string would be longer than a model may allocate at once (%d)", e.opts.MaxAlloc)
		}
		b.WriteString(s)
	}
	return e.vm.ToValue(b.String())
}

// heapMetric is the bytes of heap objects, live and not yet swept.
const heapMetric = "/memory/classes/heap/objects:bytes"

// watchHeap interrupts the runtime when the heap grew by more than
// MaxHeapGrowth since the start (confirmed after a GC, so that garbage
// not yet collected does not count); it returns the function that stops
// watching. Other goroutines' allocations count too: the budget is
// generous so that only a runaway model reaches it.
func (e *evaluator) watchHeap() func() {
	sample := []metrics.Sample{{Name: heapMetric}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	base := read()
	limit := base + e.opts.MaxHeapGrowth
	next := limit
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if read() <= next {
				continue
			}
			runtime.GC()
			if now := read(); now > limit {
				e.interrupt(fmt.Sprintf("evaluation grew the heap by more than %d MiB, the memory budget of a model load", e.opts.MaxHeapGrowth>>20))
				return
			} else {
				// Under the limit once garbage is collected: look
				// again soon after the limit is passed (not a whole
				// budget later, which let live data reach twice
				// the budget), but not every tick.
				next = max(limit, now) + e.opts.MaxHeapGrowth/8
			}
		}
	}()
	return func() { close(stop) }
}
