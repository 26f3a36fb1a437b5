package planner

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// constVal is a literal or a bound parameter from the statement.
type constVal struct {
	text   string
	isNull bool
	oid    uint32 // the value's type: int4, int8, numeric, text, bool, 0 for a parameter of unknown type
	loc    int32
	param  int // n of $n, 0 for a literal
}

// constOf reads a literal (a constant, a cast constant, a negated number)
// or a parameter $n.
func (p *params) constOf(n *pg_query.Node) (constVal, bool) {
	switch {
	case n.GetParamRef() != nil:
		v, err := p.param(n.GetParamRef())
		return v, err == nil
	case n.GetAConst() != nil:
		c := n.GetAConst()
		v := constVal{loc: c.GetLocation()}
		switch {
		case c.GetIsnull():
			v.isNull, v.oid = true, pgtype.TextOID
		case c.GetIval() != nil:
			v.text, v.oid = strconv.FormatInt(int64(c.GetIval().GetIval()), 10), pgtype.Int4OID
		case c.GetFval() != nil:
			v.text, v.oid = c.GetFval().GetFval(), pgtype.NumericOID
			if _, err := strconv.ParseInt(v.text, 10, 64); err == nil {
				v.oid = pgtype.Int8OID
			}
		case c.GetBoolval() != nil:
			v.text, v.oid = "false", pgtype.BoolOID
			if c.GetBoolval().GetBoolval() {
				v.text = "true"
			}
		case c.GetSval() != nil:
			v.text, v.oid = c.GetSval().GetSval(), pgtype.TextOID
		default:
			return v, false
		}
		return v, true
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		v, ok := p.constOf(tc.GetArg())
		if !ok {
			return v, false
		}
		if oid, ok := typeOID(tc.GetTypeName()); ok {
			if v.param > 0 {
				p.infer(v.param, oid)
			}
			v.oid = oid
		}
		return v, true
	case n.GetAExpr() != nil:
		e := n.GetAExpr()
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && e.GetLexpr() == nil && opName(e.GetName()) == "-" {
			v, ok := p.constOf(e.GetRexpr())
			if ok && !v.isNull && (v.oid == pgtype.Int4OID || v.oid == pgtype.Int8OID || v.oid == pgtype.NumericOID) {
				v.text = "-" + v.text
				return v, true
			}
		}
	}
	return constVal{}, false
}

// typeNameOf returns the last part of a type name ("pg_catalog.int4" → "int4").
func typeNameOf(t *pg_query.TypeName) string {
	names := t.GetNames()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// typeOID resolves a type name as written in a cast, arrays included.
func typeOID(t *pg_query.TypeName) (uint32, bool) {
	name := typeNameOf(t)
	if len(t.GetArrayBounds()) > 0 {
		oid, ok := castOID(name)
		if !ok {
			return 0, false
		}
		if typ, ok := typeMap.TypeForOID(oid); ok {
			if arr, ok := typeMap.TypeForName("_" + typ.Name); ok {
				return arr.OID, true
			}
		}
		return 0, false
	}
	return castOID(name)
}

// typeMap knows Postgres' built-in types, for casts and parameters.
var typeMap = pgtype.NewMap()

func castOID(name string) (uint32, bool) {
	switch name {
	case "int2", "smallint":
		return pgtype.Int2OID, true
	case "int4", "int", "integer":
		return pgtype.Int4OID, true
	case "int8", "bigint":
		return pgtype.Int8OID, true
	case "numeric", "decimal":
		return pgtype.NumericOID, true
	case "float4", "real":
		return pgtype.Float4OID, true
	case "float8", "double precision":
		return pgtype.Float8OID, true
	case "text":
		return pgtype.TextOID, true
	case "bool", "boolean":
		return pgtype.BoolOID, true
	case "date":
		return pgtype.DateOID, true
	case "timestamp":
		return pgtype.TimestampOID, true
	case "timestamptz":
		return pgtype.TimestamptzOID, true
	case "varchar":
		return pgtype.VarcharOID, true
	case "bpchar":
		return pgtype.BPCharOID, true
	case "name":
		return pgtype.NameOID, true
	case "char":
		return pgtype.QCharOID, true
	}
	if t, ok := typeMap.TypeForName(name); ok {
		return t.OID, true
	}
	return 0, false
}

func opName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

func funcName(fc *pg_query.FuncCall) string {
	names := fc.GetFuncname()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

func (s *Session) version() string {
	return "PostgreSQL " + ServerVersion + " on x86_64-pc-linux-gnu, compiled by Go, 64-bit"
}

// location returns a node's 0-based location in the statement, or -1.
func location(n *pg_query.Node) int32 {
	type located interface{ GetLocation() int32 }
	if n == nil {
		return -1
	}
	v := nodeMessage(n)
	if l, ok := v.(located); ok {
		return l.GetLocation()
	}
	return -1
}

// nodeMessage unwraps a Node's oneof to the message inside.
func nodeMessage(n *pg_query.Node) any {
	v := reflect.ValueOf(n.GetNode())
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	return v.Elem().Field(0).Interface()
}
