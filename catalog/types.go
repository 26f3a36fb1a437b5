package catalog

import (
	"math"
	"strconv"
	"strings"
)

// Type OIDs as PostgreSQL 15 assigns them.
const (
	tBool         = 16
	tBytea        = 17
	tChar         = 18 // "char"
	tName         = 19
	tInt8         = 20
	tInt2         = 21
	tInt2Vector   = 22
	tInt4         = 23
	tRegproc      = 24
	tText         = 25
	tOID          = 26
	tXID          = 28
	tOIDVector    = 30
	tJSON         = 114
	tNodeTree     = 194
	tFloat4       = 700
	tFloat8       = 701
	tUnknown      = 705
	tBoolArr      = 1000
	tCharArr      = 1002
	tNameArr      = 1003
	tInt2Arr      = 1005
	tInt4Arr      = 1007
	tTextArr      = 1009
	tInt8Arr      = 1016
	tOIDArr       = 1028
	tACLItem      = 1033
	tACLItemArr   = 1034
	tBPChar       = 1042
	tVarchar      = 1043
	tDate         = 1082
	tTimestamp    = 1114
	tTimestamptz  = 1184
	tInterval     = 1186
	tNumeric      = 1700
	tRegprocedure = 2202
	tRegoper      = 2203
	tRegclass     = 2205
	tRegtype      = 2206
	tRecord       = 2249
	tCString      = 2275
	tAnyArray     = 2277
	tVoid         = 2278
	tRegnamespace = 4089
	tRegrole      = 4096
	tFloat8Arr    = 1022

	pgCatalogNamespace = 11
	publicNamespace    = 2200
)

// builtinElem is the element type of the array types the snapshot's own
// rows hold (needed before pg_type itself is loaded).
var builtinElem = map[uint32]uint32{
	tBoolArr: tBool, tCharArr: tChar, tNameArr: tName, tInt2Arr: tInt2, tInt4Arr: tInt4, tTextArr: tText,
	tInt8Arr: tInt8, tOIDArr: tOID, tACLItemArr: tACLItem, tFloat8Arr: tFloat8, 1021: tFloat4, 1015: tVarchar,
	1231: tNumeric, 2211: tRegtype, 1263: tCString, 1010: tTID, 1041: 869, 1014: tBPChar,
}

const tTID = 27

// elemOf is an array type's element type, 0 for a non-array.
func elemOf(t uint32) uint32 {
	switch t {
	case tInt2Vector:
		return tInt2
	case tOIDVector:
		return tOID
	}
	if e, ok := builtinElem[t]; ok {
		return e
	}
	if snap != nil {
		if ti := snap.types[t]; ti != nil && ti.category == "A" {
			return ti.elem
		}
	}
	return 0
}

// arrayOf is the array type of an element type (text[] when unknown).
func arrayOf(t uint32) uint32 {
	for a, e := range builtinElem {
		if e == t {
			return a
		}
	}
	if ti := snapshot().types[t]; ti != nil && ti.array != 0 {
		return ti.array
	}
	return tTextArr
}

func isInt(t uint32) bool {
	switch t {
	case tInt2, tInt4, tInt8, tOID, tXID, tRegproc, tRegprocedure, tRegoper, tRegclass, tRegtype, tRegnamespace, tRegrole:
		return true
	}
	return false
}

func isReg(t uint32) bool {
	switch t {
	case tRegproc, tRegprocedure, tRegoper, tRegclass, tRegtype, tRegnamespace, tRegrole:
		return true
	}
	return false
}

func isString(t uint32) bool {
	switch t {
	case tText, tName, tChar, tVarchar, tBPChar, tUnknown, tNodeTree, tACLItem, tCString, tJSON:
		return true
	}
	return false
}

func isFloat(t uint32) bool { return t == tFloat4 || t == tFloat8 || t == tNumeric }

// parseCopyText reads a value in PostgreSQL's text output format.
func parseCopyText(s string, t uint32) any {
	if e := elemOf(t); e != 0 {
		if t == tInt2Vector || t == tOIDVector {
			var out []any
			for _, f := range strings.Fields(s) {
				out = append(out, parseCopyText(f, e))
			}
			if out == nil {
				out = []any{}
			}
			return out
		}
		vals, ok := parseArray(s)
		if !ok {
			return s
		}
		out := make([]any, len(vals))
		for i, v := range vals {
			if v != nil {
				out[i] = parseCopyText(*v, e)
			}
		}
		return out
	}
	switch {
	case t == tBool:
		return s == "t" || s == "true"
	case isInt(t):
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return s
		}
		return n
	case isFloat(t):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		return f
	}
	return s
}

// parseArray splits a one-dimensional array literal ({a,"b c",NULL}).
func parseArray(s string) ([]*string, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "="); strings.HasPrefix(s, "[") && i > 0 {
		s = s[i+1:] // [0:2]={...}
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	out := []*string{}
	if strings.TrimSpace(body) == "" {
		return out, true
	}
	for i := 0; i <= len(body); {
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var b strings.Builder
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
			i++ // closing quote
			for i < len(body) && body[i] != ',' {
				i++
			}
		} else {
			for i < len(body) && body[i] != ',' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
		}
		v := b.String()
		if !quoted {
			v = strings.TrimSpace(v)
		}
		if !quoted && strings.EqualFold(v, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &v)
		}
		i++ // comma
	}
	return out, true
}

// formatArray writes an array literal as PostgreSQL's output does.
func (x *executor) formatArray(vals []any, t uint32) string {
	e := elemOf(t)
	if t == tInt2Vector || t == tOIDVector {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = x.text(v, e)
		}
		return strings.Join(parts, " ")
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		if v == nil {
			b.WriteString("NULL")
			continue
		}
		if sub, ok := v.([]any); ok && t != tInt2Vector && t != tOIDVector {
			// A dimension of a multidimensional array: {{1,2},{3,4}}, not
			// a quoted string (which escaped itself at every level).
			b.WriteString(x.formatArray(sub, t))
			continue
		}
		s := x.text(v, e)
		if s == "" || strings.EqualFold(s, "NULL") || strings.ContainsAny(s, "{},\"\\ \t\n") {
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
			b.WriteByte('"')
		} else {
			b.WriteString(s)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// text is v's text output as type t.
func (x *executor) text(v any, t uint32) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "t"
		}
		return "f"
	case int64:
		if isReg(t) {
			return x.regName(v, t)
		}
		return strconv.FormatInt(v, 10)
	case float64:
		return formatFloat(v, t)
	case []any:
		return x.formatArray(v, t)
	case *record:
		var b strings.Builder
		b.WriteByte('(')
		for i, f := range v.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			s := x.text(f, v.types[i])
			if f != nil && (s == "" || strings.ContainsAny(s, "(),\" \\")) {
				s = `"` + strings.NewReplacer(`\`, `\\`, `"`, `""`).Replace(s) + `"`
			}
			b.WriteString(s)
		}
		b.WriteByte(')')
		return b.String()
	}
	return ""
}

func formatFloat(f float64, t uint32) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if t == tNumeric {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	bits := 64
	if t == tFloat4 {
		bits = 32
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// record is a composite value (a row from a set-returning function).
type record struct {
	names []string
	types []uint32
	vals  []any
}
