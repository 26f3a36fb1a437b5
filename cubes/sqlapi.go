package cubes

// What Cube's SQL API means by a member read through SQL: which members a
// client sees, and which SQL aggregates may stand for a measure.

// IsPublic reports whether a member is shown to clients (public: true,
// the default).
func IsPublic(m Member) bool {
	switch mm := m.(type) {
	case *Measure:
		return mm.Public
	case *Dimension:
		return mm.Public
	case *Segment:
		return mm.Public
	}
	return false
}

// aggregateAgrees says which SQL aggregates may stand for a measure type,
// as in Cube's SQL API: Tableau writes SUM("orders"."count").
var aggregateAgrees = map[string]map[MemberType]bool{
	"sum":            {TypeSum: true, TypeCount: true, TypeNumber: true},
	"count":          {TypeCount: true, TypeNumber: true},
	"count_distinct": {TypeCountDistinct: true, TypeCountApprox: true, TypeNumber: true},
	"min":            {TypeMin: true, TypeNumber: true, TypeString: true, TypeTime: true, TypeBoolean: true},
	"max":            {TypeMax: true, TypeNumber: true, TypeString: true, TypeTime: true, TypeBoolean: true},
	"avg":            {TypeAvg: true, TypeNumber: true},
	// APPROX_DISTINCT, as Cube's SQL API reads it.
	"approx_distinct": {TypeCountApprox: true},
}

// AggregateAgrees reports whether SQL aggregate agg ("sum", "count",
// "count_distinct", "min", "max", "avg", "approx_distinct") may stand for a measure of type
// t: SUM over a sum measure is the measure itself.
func AggregateAgrees(agg string, t MemberType) bool { return aggregateAgrees[agg][t] }
