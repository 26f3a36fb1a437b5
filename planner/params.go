package planner

import (
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// params are a statement's $n parameters: their types, given by the
// client or inferred from where they stand, and once bound their values
// in text form. A nil *params means the statement has none (simple query).
type params struct {
	oids []uint32
	// values is nil while the statement is only described; a nil entry
	// is SQL NULL.
	values []*string
}

func (p *params) describing() bool { return p != nil && p.values == nil }

// infer records oid as the type of parameter n (1-based) unless the client
// or an earlier use already gave it one.
func (p *params) infer(n int, oid uint32) {
	if p == nil || n < 1 || n > len(p.oids) || oid == 0 {
		return
	}
	if p.oids[n-1] == 0 {
		p.oids[n-1] = oid
	}
}

// placeholder stands in for a parameter's value while describing: a value
// every binder check accepts for that type.
func placeholder(oid uint32) string {
	switch oid {
	case pgtype.BoolOID:
		return "true"
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return "2000-01-01"
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, 0:
		return "%x%"
	}
	return "0"
}

// param reads $n.
func (p *params) param(pr *pg_query.ParamRef) (constVal, error) {
	n := int(pr.GetNumber())
	v := constVal{loc: pr.GetLocation(), param: n}
	if p == nil || n < 1 {
		return v, pgerr.New(pgerrcode.UndefinedParameter, "there is no parameter $%d", n).At(pr.GetLocation() + 1)
	}
	for len(p.oids) < n {
		if p.values != nil {
			return v, pgerr.New(pgerrcode.UndefinedParameter, "there is no parameter $%d", n).At(pr.GetLocation() + 1)
		}
		p.oids = append(p.oids, 0)
	}
	v.oid = p.oids[n-1]
	if p.values == nil {
		v.text = placeholder(v.oid)
		return v, nil
	}
	if p.values[n-1] == nil {
		v.isNull = true
		return v, nil
	}
	v.text = *p.values[n-1]
	return v, nil
}
