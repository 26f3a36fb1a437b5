// Package pgnames names what a parsed statement shows as PostgreSQL does:
// the column an unnamed result is called (FigureColname), and the parts
// of type, operator and function names. It is apart from package postgres
// because it reads pg_query's trees (cgo): pgwire and the compiler use
// postgres and never link the parser.
package pgnames

import (
	"reflect"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Type is the last part of a parsed type name, lower-case
// ("pg_catalog.int4" → "int4").
func Type(t *pg_query.TypeName) string {
	names := t.GetNames()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// Op is an operator's name without its schema (OPERATOR(pg_catalog.+)
// is "+").
func Op(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

// Func is a function call's name without its schema, lower-case.
func Func(fc *pg_query.FuncCall) string {
	names := fc.GetFuncname()
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// SQLValueFunction is the name of CURRENT_DATE and its kin as a
// column is named after them ("current_date"); "?column?" for others.
func SQLValueFunction(op pg_query.SQLValueFunctionOp) string {
	switch op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return "current_date"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return "current_time"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return "current_timestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "localtime"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "localtimestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
		return "current_user"
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return "session_user"
	case pg_query.SQLValueFunctionOp_SVFOP_USER:
		return "user"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return "current_role"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return "current_catalog"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return "current_schema"
	}
	return "?column?"
}

// FigureColname names an unnamed result column as PostgreSQL does
// (parser/parse_target.c's FigureColname): after the column, function or
// type it shows, "?column?" otherwise.
func FigureColname(n *pg_query.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().GetFields()
		return f[len(f)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		return Func(n.GetFuncCall())
	case n.GetTypeCast() != nil:
		if s := FigureColname(n.GetTypeCast().GetArg()); s != "?column?" {
			return s
		}
		return Type(n.GetTypeCast().GetTypeName())
	case n.GetCaseExpr() != nil:
		if d := n.GetCaseExpr().GetDefresult(); d != nil {
			if s := FigureColname(d); s != "?column?" {
				return s
			}
		}
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().GetOp() == pg_query.MinMaxOp_IS_GREATEST {
			return "greatest"
		}
		return "least"
	case n.GetAExpr() != nil && n.GetAExpr().GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif"
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		switch sl.GetSubLinkType() {
		case pg_query.SubLinkType_EXISTS_SUBLINK:
			return "exists"
		case pg_query.SubLinkType_ARRAY_SUBLINK:
			return "array"
		case pg_query.SubLinkType_EXPR_SUBLINK:
			if t := sl.GetSubselect().GetSelectStmt().GetTargetList(); len(t) == 1 {
				rt := t[0].GetResTarget()
				if rt.GetName() != "" {
					return rt.GetName()
				}
				return FigureColname(rt.GetVal())
			}
		}
	case n.GetSqlvalueFunction() != nil:
		return SQLValueFunction(n.GetSqlvalueFunction().GetOp())
	case n.GetAArrayExpr() != nil:
		return "array"
	}
	return "?column?"
}

// SetOp is a set operation's keyword.
func SetOp(op pg_query.SetOperation) string {
	switch op {
	case pg_query.SetOperation_SETOP_INTERSECT:
		return "INTERSECT"
	case pg_query.SetOperation_SETOP_EXCEPT:
		return "EXCEPT"
	}
	return "UNION"
}

// Location returns a node's 0-based location in the statement, or -1.
func Location(n *pg_query.Node) int32 {
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
