package catalog

import (
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
)

// canonical is pg_type's name of a type as SQL spells it; the one-word
// char is bpchar here, as SQL's CHAR is.
func canonical(name string) string {
	if name == "char" {
		return "bpchar"
	}
	return postgres.Canonical(name)
}

// resolveType maps a TypeName to its OID.
func (x *executor) resolveType(tn *pg_query.TypeName) (uint32, error) {
	names := tn.GetNames()
	name := fieldName(names[len(names)-1])
	if len(names) == 1 && name == "char" {
		name = "bpchar"
	}
	if len(names) == 2 && fieldName(names[0]) == "pg_catalog" && name == "char" {
		name = "char" // the internal one-byte type
	}
	name = canonical(name)
	oid, ok := snapshot().typeByName[name]
	if len(names) == 2 && fieldName(names[0]) != "pg_catalog" {
		oid, ok = snapshot().typeIn(fieldName(names[0]), name)
	}
	if !ok {
		if o, ok2 := x.cat.modelTypeByName(name); ok2 {
			oid, ok = o, true
		}
	}
	// A domain is its base type once cast, as PostgreSQL describes it.
	for t := snapshot().types[oid]; t != nil && t.typtype == "d"; t = snapshot().types[oid] {
		oid = t.base
	}
	if !ok {
		return 0, pgerr.New(pgerrcode.UndefinedObject, "type %q does not exist", name)
	}
	if len(tn.GetArrayBounds()) > 0 {
		oid = arrayOf(oid)
	}
	return oid, nil
}

// typeByText parses a type name as regtype input does.
func (x *executor) typeByText(s string) (uint32, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	arr := strings.HasSuffix(s, "[]")
	s = strings.TrimSuffix(s, "[]")
	s = strings.TrimPrefix(s, "pg_catalog.")
	if i := strings.Index(s, "("); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.Trim(s, `"`)
	s = canonical(s)
	oid, ok := snapshot().typeByName[s]
	if !ok {
		oid, ok = x.cat.modelTypeByName(s)
	}
	if ok && arr {
		oid = arrayOf(oid)
	}
	return oid, ok
}

func typeLabel(tn *pg_query.TypeName) string {
	names := tn.GetNames()
	n := fieldName(names[len(names)-1])
	return postgres.Canonical(n)
}

// cast converts an expression to type t.
func (x *executor) cast(e *expr, t uint32) *expr {
	if e.typ == t {
		return e
	}
	from := e.typ
	return &expr{typ: t, name: e.name, weak: e.weak, fields: e.fields, eval: func(en *env) (any, error) {
		v, err := e.eval(en)
		if err != nil || v == nil {
			return nil, err
		}
		return x.convert(v, from, t)
	}}
}

// castValue converts without failing (comparisons): on error v stays.
func (x *executor) castValue(v any, from, to uint32) any {
	out, err := x.convert(v, from, to)
	if err != nil {
		return v
	}
	return out
}

func (x *executor) convert(v any, from, to uint32) (any, error) {
	if v == nil || from == to {
		return v, nil
	}
	if e := elemOf(to); e != 0 {
		var vals []any
		switch a := v.(type) {
		case []any:
			vals = a
		case string:
			// An array costs its elements' slots, three times over while it
			// is built: charged before it is.
			n := int64(strings.Count(a, ",") + 1)
			if to == tInt2Vector || to == tOIDVector {
				n = int64(len(a)/2 + 1)
			}
			if x.b != nil {
				if err := x.b.value(mulSize(n, 3*slotBytes)); err != nil {
					return nil, err
				}
			}
			if to == tInt2Vector || to == tOIDVector {
				for _, f := range strings.Fields(a) {
					vals = append(vals, f)
				}
				break
			}
			parts, ok := parseArray(a)
			if !ok {
				return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "malformed array literal: %q", a)
			}
			for _, p := range parts {
				if p == nil {
					vals = append(vals, nil)
				} else {
					vals = append(vals, *p)
				}
			}
		default:
			return v, nil
		}
		fromElem := elemOf(from)
		if fromElem == 0 {
			fromElem = tUnknown
		}
		out := make([]any, len(vals))
		for i, el := range vals {
			c, err := x.convert(el, fromElem, e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	switch {
	case to == tText || to == tVarchar || to == tName || to == tBPChar || to == tUnknown || to == tCString || to == tJSON || to == 3802:
		if b, ok := v.(bool); ok {
			if b {
				return "true", nil
			}
			return "false", nil
		}
		return x.text(v, from), nil
	case to == tChar:
		s := x.text(v, from)
		if len(s) > 1 {
			s = s[:1]
		}
		return s, nil
	case to == tBool:
		switch v := v.(type) {
		case bool:
			return v, nil
		case int64:
			return v != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "t", "true", "y", "yes", "on", "1":
				return true, nil
			case "f", "false", "n", "no", "off", "0":
				return false, nil
			}
			return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type boolean: %q", v)
		}
	case isReg(to):
		s, ok := v.(string)
		if !ok {
			n, _ := toInt(v)
			return n, nil
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n, nil
		}
		return x.regFromText(s, to)
	case isInt(to):
		switch v := v.(type) {
		case int64:
			return v, nil
		case float64:
			return int64(v + 0.5*sign(v)), nil
		case bool:
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type %s: %q", x.typeName(to), v)
			}
			return n, nil
		}
	case isFloat(to):
		switch v := v.(type) {
		case int64:
			return float64(v), nil
		case float64:
			return v, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type %s: %q", x.typeName(to), v)
			}
			return f, nil
		}
	}
	return v, nil
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// regFromText is the input function of the reg* types.
func (x *executor) regFromText(s string, t uint32) (any, error) {
	switch t {
	case tRegclass:
		if oid, ok := x.cat.classByName(s); ok {
			return int64(oid), nil
		}
		return nil, pgerr.New(pgerrcode.UndefinedTable, "relation %q does not exist", s)
	case tRegtype:
		if oid, ok := x.typeByText(s); ok {
			return int64(oid), nil
		}
		return nil, pgerr.New(pgerrcode.UndefinedObject, "type %q does not exist", s)
	case tRegproc, tRegprocedure:
		name := strings.TrimPrefix(s, "pg_catalog.")
		if i := strings.Index(name, "("); i >= 0 {
			name = name[:i]
		}
		if oid, ok := snapshot().procByName[name]; ok {
			return int64(oid), nil
		}
		return nil, pgerr.New(pgerrcode.UndefinedFunction, "function %q does not exist", s)
	case tRegnamespace:
		if oid, ok := snapshot().nspOID[strings.Trim(s, `"`)]; ok {
			return int64(oid), nil
		}
		return nil, pgerr.New(pgerrcode.InvalidSchemaName, "schema %q does not exist", s)
	case tRegrole:
		if oid, ok := x.cat.roleOID(x, strings.Trim(s, `"`)); ok {
			return int64(oid), nil
		}
		return nil, pgerr.New(pgerrcode.UndefinedObject, "role %q does not exist", s)
	}
	return nil, pgerr.New(pgerrcode.FeatureNotSupported, "input of type %s is not supported", x.typeName(t))
}

// regName is the output function of the reg* types.
func (x *executor) regName(oid int64, t uint32) string {
	if oid == 0 {
		return "-"
	}
	switch t {
	case tRegclass:
		if name, ok := x.cat.className(uint32(oid)); ok {
			return name
		}
	case tRegtype:
		if snapshot().types[uint32(oid)] != nil || x.cat.modelType(uint32(oid)) != "" {
			return x.formatType(uint32(oid), -1)
		}
	case tRegproc, tRegprocedure:
		if name, ok := snapshot().procs[uint32(oid)]; ok {
			return name
		}
	case tRegnamespace:
		if name, ok := snapshot().nspName[uint32(oid)]; ok {
			return name
		}
	case tRegrole:
		return x.cat.roleName(x, oid).(string)
	}
	return strconv.FormatInt(oid, 10)
}
