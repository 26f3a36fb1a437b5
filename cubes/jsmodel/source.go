package jsmodel

import (
	"reflect"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
)

// newSource indexes a parsed module (its wrapper included).
func newSource(wrapped string, prg *ast.Program) *source {
	s := &source{lineStarts: []int{0}, calls: map[int][]callSite{}, declared: map[string]bool{}}
	for i := 0; i < len(wrapped); i++ {
		if wrapped[i] == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	for _, p := range wrapParams {
		s.declared[p] = true
	}
	wrapper := false
	walk(reflect.ValueOf(prg), func(n any) bool {
		switch x := n.(type) {
		case *ast.FunctionLiteral:
			if !wrapper { // the wrapper: its var declarations
				wrapper = true
				for _, d := range x.DeclarationList {
					for _, b := range d.List {
						bindingNames(b.Target, s.declared)
					}
				}
				// Function declarations of the top level are block
				// scoped inside the with block; no need to list them.
			}
		case *ast.CallExpression:
			if id, ok := x.Callee.(*ast.Identifier); ok && (id.Name == "cube" || id.Name == "view") && len(x.ArgumentList) >= 2 {
				idx := int(x.LeftParenthesis)
				ln := s.line(idx)
				s.calls[ln] = append(s.calls[ln], callSite{col: s.col(idx), def: x.ArgumentList[1]})
			}
		}
		return true
	})
	return s
}

// bindingNames adds the names a var declaration binds.
func bindingNames(t ast.BindingTarget, out map[string]bool) {
	walk(reflect.ValueOf(t), func(n any) bool {
		if id, ok := n.(*ast.Identifier); ok {
			out[id.Name.String()] = true
		}
		return true
	})
}

var (
	idxType  = reflect.TypeOf(file.Idx(0))
	nodeType = reflect.TypeOf((*ast.Node)(nil)).Elem()
)

// walk visits every AST node below v in source order (goja's ast has no
// walker), with an explicit stack: a deeply nested expression must not
// recurse in Go (see depth.go).
func walk(root reflect.Value, visit func(any) bool) {
	stack := []reflect.Value{root}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v.Kind() {
		case reflect.Interface:
			if !v.IsNil() {
				stack = append(stack, v.Elem())
			}
		case reflect.Pointer:
			if v.IsNil() {
				continue
			}
			if v.Type().Implements(nodeType) || v.Type().Elem().Kind() == reflect.Struct {
				if v.Type().Implements(nodeType) && !visit(v.Interface()) {
					continue
				}
				stack = append(stack, v.Elem())
			}
		case reflect.Struct:
			for i := v.NumField() - 1; i >= 0; i-- { // pushed last first: visited in order
				f := v.Field(i)
				if !f.CanInterface() || f.Type() == idxType {
					continue
				}
				stack = append(stack, f)
			}
		case reflect.Slice:
			for i := v.Len() - 1; i >= 0; i-- {
				stack = append(stack, v.Index(i))
			}
		}
	}
}

// defLiteral finds the definition expression of the cube() or view()
// call at line:col.
func (s *source) defLiteral(line, col int) ast.Expression {
	if s == nil {
		return nil
	}
	sites := s.calls[line]
	for _, c := range sites {
		if c.col == col {
			return c.def
		}
	}
	if len(sites) == 1 {
		return sites[0].def
	}
	return nil
}

// property finds key in an object literal: the line of the key and the
// value's expression (the last one written, as in JavaScript). A spread
// after it may override it: then the value's expression is unknown.
func (s *source) property(lit ast.Expression, key string) (line int, val ast.Expression, ok bool) {
	ol, isObj := lit.(*ast.ObjectLiteral)
	if s == nil || !isObj {
		return 0, nil, false
	}
	for _, p := range ol.Value {
		switch x := p.(type) {
		case *ast.PropertyKeyed:
			if x.Computed {
				continue
			}
			if k, isName := keyName(x.Key); isName && k == key {
				line, val, ok = s.line(int(x.Key.Idx0())), x.Value, true
			}
		case *ast.PropertyShort:
			if x.Name.Name.String() == key {
				line, val, ok = s.line(int(x.Name.Idx)), &x.Name, true
			}
		case *ast.SpreadElement:
			if ok {
				val = nil
			}
		}
	}
	return line, val, ok
}

func keyName(k ast.Expression) (string, bool) {
	switch x := k.(type) {
	case *ast.StringLiteral:
		return x.Value.String(), true
	case *ast.Identifier:
		return x.Name.String(), true
	case *ast.NumberLiteral:
		return x.Literal, true
	}
	return "", false
}

// element is the expression of an array literal's element i (none once
// a spread makes the indexes unknown).
func (s *source) element(lit ast.Expression, i int) (line int, val ast.Expression) {
	al, ok := lit.(*ast.ArrayLiteral)
	if s == nil || !ok || i >= len(al.Value) {
		return 0, nil
	}
	for _, v := range al.Value[:i+1] {
		if _, spread := v.(*ast.SpreadElement); spread {
			return 0, nil
		}
	}
	return s.line(int(al.Value[i].Idx0())), al.Value[i]
}

// returned is what a function literal returns when it is one
// expression (() => x, function () { return x }), for the lines of a
// value a sql or drillMembers function builds.
func returned(lit ast.Expression) ast.Expression {
	switch f := lit.(type) {
	case *ast.ArrowFunctionLiteral:
		switch b := f.Body.(type) {
		case *ast.ExpressionBody:
			return b.Expression
		case *ast.BlockStatement:
			return singleReturn(b)
		}
	case *ast.FunctionLiteral:
		return singleReturn(f.Body)
	}
	return nil
}

func singleReturn(b *ast.BlockStatement) ast.Expression {
	if b != nil && len(b.List) == 1 {
		if r, ok := b.List[0].(*ast.ReturnStatement); ok {
			return r.Argument
		}
	}
	return nil
}
