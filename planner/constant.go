package planner

import (
	"encoding/json"
	"strconv"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
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
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && e.GetLexpr() == nil && pgnames.Op(e.GetName()) == "-" {
			v, ok := p.constOf(e.GetRexpr())
			if ok && !v.isNull && (v.oid == pgtype.Int4OID || v.oid == pgtype.Int8OID || v.oid == pgtype.NumericOID) {
				v.text = "-" + v.text
				return v, true
			}
		}
	}
	return constVal{}, false
}

// textLike are types whose values stay the text they were written as.
func textLike(oid uint32) bool {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.QCharOID,
		pgtype.JSONOID, pgtype.JSONBOID, pgtype.UnknownOID, 0:
		return true
	}
	return false
}

// constValue turns a constant into the Go value of its type, as Postgres'
// input function for the type would, or 22P02.
func constValue(v constVal) (any, error) {
	if v.isNull {
		return nil, nil
	}
	if v.oid == pgtype.JSONOID || v.oid == pgtype.JSONBOID {
		if !json.Valid([]byte(v.text)) {
			return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type json").At(v.loc + 1)
		}
		if v.oid == pgtype.JSONBOID {
			return normalizeJSONB(v.text)
		}
	}
	if textLike(v.oid) {
		return v.text, nil
	}
	out, err := postgres.DecodeText(v.oid, v.text)
	if err != nil {
		switch v.oid {
		case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.TimeOID, pgtype.IntervalOID:
			// PostgreSQL's code for dates it cannot read; cubegate reads
			// fewer formats than PostgreSQL, so the statement is retried
			// in the warehouse (see Session.inWarehouse).
			return nil, pgerr.New(pgerrcode.InvalidDatetimeFormat, "invalid input syntax for type %s: %q", postgres.TypeName(v.oid), v.text).At(v.loc + 1)
		}
		return nil, pgerr.New(pgerrcode.InvalidTextRepresentation, "invalid input syntax for type %s: %q", postgres.TypeName(v.oid), v.text).At(v.loc + 1)
	}
	return out, nil
}

// planConstant answers a SELECT without FROM whose targets are literals
// and parameters, typed and spelled by PostgreSQL's input functions (the
// catalog evaluator answers the rest: functions, operators, casts).
func (s *Session) planConstant(sel *pg_query.SelectStmt) (pgwire.Portal, error) {
	cols := make([]pgwire.Column, 0, len(sel.GetTargetList()))
	row := make([]any, 0, len(sel.GetTargetList()))
	for _, t := range sel.GetTargetList() {
		rt := t.GetResTarget()
		name, oid, val, err := s.evalConst(rt.GetVal())
		if err != nil {
			return nil, err
		}
		if rt.GetName() != "" {
			name = rt.GetName()
		}
		cols = append(cols, pgwire.Column{Name: name, TypeOID: oid})
		row = append(row, val)
	}
	return &staticPortal{tag: "SELECT", cols: cols, rows: [][]any{row}}, nil
}

func (s *Session) version() string {
	return "PostgreSQL " + ServerVersion + " on x86_64-pc-linux-gnu, compiled by Go, 64-bit"
}

// evalConst evaluates one constant target, returning the column name
// Postgres would give it, its type and value.
func (s *Session) evalConst(n *pg_query.Node) (string, uint32, any, error) {
	// Named as PostgreSQL names an unnamed column (one namer for the
	// constant path and the push-down).
	name := pgnames.FigureColname(n)
	if v, ok := s.params.constOf(n); ok {
		if v.param > 0 {
			// An untyped parameter in the select list is text, as in Postgres.
			s.params.infer(v.param, pgtype.TextOID)
			if v.oid == 0 {
				v.oid = pgtype.TextOID
			}
		}
		if v.param > 0 && s.params.describing() {
			return name, v.oid, nil, nil // described only: no value yet
		}
		val, err := constValue(v)
		return name, v.oid, val, err
	}
	return "", 0, nil, pgerr.New(pgerrcode.FeatureNotSupported, "this expression is not supported without FROM").
		At(pgnames.Location(n) + 1)
}

// typeOID resolves a type name as written in a cast, arrays included.
func typeOID(t *pg_query.TypeName) (uint32, bool) {
	oid, ok := postgres.TypeOID(pgnames.Type(t))
	if ok && len(t.GetArrayBounds()) > 0 {
		return postgres.ArrayOf(oid)
	}
	return oid, ok
}
