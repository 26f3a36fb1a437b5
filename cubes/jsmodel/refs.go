package jsmodel

import (
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// The braces of the model's syntax (a reference's {path}, a context
// variable's token) travel through JavaScript strings as private-use
// markers, so that they are told from braces a model writes as text: in
// Cube's JavaScript only ${…} interpolates, and sql: `${CUBE}.tags @>
// '{status}'` holds the text '{status}'. The converter turns the
// markers into braces, and in SQL escapes the model's own braces as the
// renderer's literal braces (litOpen, litClose: see cubes/render.go).
const (
	synOpen  = "\ue010"
	synClose = "\ue011"
	litOpen  = "\ue07b"
	litClose = "\ue07d"
)

var (
	synReplacer   = strings.NewReplacer("{", synOpen, "}", synClose)
	litReplacer   = strings.NewReplacer("{", litOpen, "}", litClose)
	sqlReplacer   = strings.NewReplacer("{", litOpen, "}", litClose, synOpen, "{", synClose, "}")
	plainReplacer = strings.NewReplacer(synOpen, "{", synClose, "}", litOpen, "{", litClose, "}")
)

// syntax marks the braces of text the model's syntax writes.
func syntax(s string) string { return synReplacer.Replace(s) }

// literal escapes the braces of text a model wrote.
func literal(s string) string { return litReplacer.Replace(s) }

// sqlText is a JavaScript string written in SQL: the model's braces
// escaped, the syntax's braces restored.
func sqlText(s string) string { return sqlReplacer.Replace(s) }

// plainText is a JavaScript string anywhere else: every brace a brace.
func plainText(s string) string { return plainReplacer.Replace(s) }

// textFn is a function returning s: a reference's toString.
func (e *evaluator) textFn(s string) goja.Value {
	return e.vm.ToValue(func(goja.FunctionCall) goja.Value { return e.vm.ToValue(s) })
}

// ref is a reference to a cube or member by path ("orders",
// "orders.count", "CUBE.count"): its text is "{path}", its properties
// are references one level down.
func (e *evaluator) ref(path string) goja.Value {
	text := syntax("{" + path + "}")
	// The target is a function so that calling an unknown name says so
	// rather than "proxy target is not a function".
	target := e.vm.ToValue(func(goja.FunctionCall) goja.Value { return nil }).(*goja.Object)
	return e.vm.ToValue(e.vm.NewProxy(target, &goja.ProxyTrapConfig{
		Apply: func(*goja.Object, goja.Value, []goja.Value) goja.Value {
			e.throw("ReferenceError", "%s is not defined (an undeclared name stands for a cube or member, which cannot be called)", path)
			return nil
		},
		Construct: func(*goja.Object, []goja.Value, *goja.Object) *goja.Object {
			e.throw("ReferenceError", "%s is not defined (an undeclared name stands for a cube or member)", path)
			return nil
		},
		Get: func(_ *goja.Object, p string, _ goja.Value) goja.Value {
			switch p {
			case "toString", "valueOf", "toJSON":
				return e.textFn(text)
			case "then", "constructor", "__proto__":
				// then: a reference is no promise (await ref must not
				// wait on it).
				return goja.Undefined()
			}
			return e.ref(path + "." + p)
		},
		GetIdx: func(_ *goja.Object, i int, _ goja.Value) goja.Value {
			return e.ref(path + "." + strconv.Itoa(i))
		},
		GetSym: func(_ *goja.Object, s *goja.Symbol, _ goja.Value) goja.Value {
			switch s {
			case goja.SymToPrimitive:
				return e.textFn(text)
			case e.refSym:
				return e.vm.ToValue(path)
			}
			return goja.Undefined()
		},
	}))
}

// refPath is the path of a reference, "" for any other value.
func (e *evaluator) refPath(o *goja.Object) string {
	if v := o.GetSymbol(e.refSym); v != nil && !goja.IsUndefined(v) {
		return v.String()
	}
	return ""
}

// scope is the object of the module's `with`: every identifier the
// module does not declare and that is not a global is a reference.
func (e *evaluator) scope(declared map[string]bool) goja.Proxy {
	return e.vm.NewProxy(e.vm.NewObject(), &goja.ProxyTrapConfig{
		Has: func(_ *goja.Object, name string) bool {
			return !declared[name] && !e.isGlobal(name)
		},
		Get: func(_ *goja.Object, name string, _ goja.Value) goja.Value {
			return e.ref(name)
		},
		Set: func(_ *goja.Object, name string, _ goja.Value, _ goja.Value) bool {
			e.throw("ReferenceError", "%s is not declared: declare it with const, let or var (a model may not create globals)", name)
			return false
		},
		HasSym: func(*goja.Object, *goja.Symbol) bool { return false },
		GetSym: func(*goja.Object, *goja.Symbol, goja.Value) goja.Value {
			return goja.Undefined() // Symbol.unscopables: none
		},
	})
}

func (e *evaluator) isGlobal(name string) bool {
	if e.globals[name] {
		return true
	}
	v := e.vm.GlobalObject().Get(name) // set later by a model: globalThis.x = …
	return v != nil
}

// The placeholders a filter callback is called with; the f-string then
// names them as Python lambda parameters.
const (
	phFrom  = "\ue000from\ue001"
	phTo    = "\ue000to\ue001"
	phValue = "\ue000value\ue001"
)

// pyQuote quotes s as a single-quoted Python string.
func pyQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// fString writes s, the text a filter callback returned, as a Python
// f-string naming its parameters: braces of the text are doubled.
func fString(s string) string {
	q := pyQuote(s)
	q = strings.NewReplacer("{", "{{", "}", "}}").Replace(q)
	q = strings.NewReplacer(phFrom, "{from}", phTo, "{to}", phValue, "{value}").Replace(q)
	return "f" + q
}

// contextRef is SECURITY_CONTEXT (and USER_CONTEXT) or FILTER_PARAMS
// at a path: its methods write the renderer's syntax.
func (e *evaluator) contextRef(root string, path []string) goja.Value {
	full := strings.Join(append([]string{root}, path...), ".")
	method := func(name string) goja.Value {
		return e.vm.ToValue(func(c goja.FunctionCall) goja.Value {
			switch {
			case name == "unsafeValue":
				return e.vm.ToValue(syntax("{" + full + ".unsafeValue()}"))
			case len(c.Arguments) == 0:
				e.throw("TypeError", "%s.%s() needs a column: %s('column') or a function", full, name, name)
			}
			arg := c.Argument(0)
			if fn, ok := goja.AssertFunction(arg); ok {
				n := arg.ToObject(e.vm).Get("length").ToInteger()
				params, args := "value", []goja.Value{e.vm.ToValue(phValue)}
				if n >= 2 {
					params, args = "from, to", []goja.Value{e.vm.ToValue(phFrom), e.vm.ToValue(phTo)}
				}
				res, err := fn(goja.Undefined(), args...)
				if err != nil {
					panic(err)
				}
				text := res.String()
				if strings.Contains(text, synOpen) {
					// The callback's text is written into the SQL as
					// it is, not rendered: a reference there would
					// reach the database as {CUBE}.
					e.throw("TypeError", "%s.%s(): the callback's SQL holds a reference or context variable (%s); write the column as the database knows it (the callback's text is not rendered), or pass the column instead: %s('column')",
						full, name, strings.NewReplacer(phFrom, "from", phTo, "to", phValue, "value").Replace(plainText(text)), name)
				}
				return e.vm.ToValue(syntax("{" + full + "." + name + "(lambda " + params + ": " + fString(text) + ")}"))
			}
			return e.vm.ToValue(syntax("{"+full+"."+name+"(") + pyQuote(literal(arg.String())) + syntax(")}"))
		})
	}
	text := syntax("{" + full + "}")
	return e.vm.ToValue(e.vm.NewProxy(e.vm.NewObject(), &goja.ProxyTrapConfig{
		Get: func(_ *goja.Object, p string, _ goja.Value) goja.Value {
			switch p {
			case "toString", "valueOf", "toJSON":
				return e.textFn(text)
			case "then", "constructor", "__proto__":
				return goja.Undefined()
			case "filter":
				if len(path) > 0 {
					return method(p)
				}
			case "requiredFilter", "unsafeValue":
				if root == "SECURITY_CONTEXT" && len(path) > 0 {
					return method(p)
				}
			}
			return e.contextRef(root, append(append([]string{}, path...), p))
		},
		GetSym: func(_ *goja.Object, s *goja.Symbol, _ goja.Value) goja.Value {
			if s == goja.SymToPrimitive {
				return e.textFn(text)
			}
			return goja.Undefined()
		},
	}))
}

// filterGroup is FILTER_GROUP(FILTER_PARAMS.….filter(…), …).
func (e *evaluator) filterGroup(c goja.FunctionCall) goja.Value {
	parts := make([]string, 0, len(c.Arguments))
	for _, a := range c.Arguments {
		s := a.String()
		if !strings.HasPrefix(s, synOpen+"FILTER_PARAMS.") || !strings.HasSuffix(s, synClose) {
			e.throw("TypeError", "FILTER_GROUP() takes FILTER_PARAMS.cube.member.filter(…) values, not %q", plainText(s))
		}
		parts = append(parts, s[len(synOpen):len(s)-len(synClose)])
	}
	return e.vm.ToValue(syntax("{FILTER_GROUP(") + strings.Join(parts, ", ") + syntax(")}"))
}

// convertTz is SQL_UTILS.convertTz(sql).
func (e *evaluator) convertTz(c goja.FunctionCall) goja.Value {
	return e.vm.ToValue(syntax("{SQL_UTILS.convertTz(") + pyQuote(literal(c.Argument(0).String())) + syntax(")}"))
}
