package planner

import (
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/cubes"
)

// dimensionOID is the Postgres type a dimension is shown as.
func dimensionOID(d *cubes.Dimension) uint32 {
	return memberTypeOID(d.Type)
}

// measureOID is the Postgres type a measure is shown as: counts are
// bigint, other numbers numeric (exact, unlike Cube's float8).
func measureOID(m *cubes.Measure) uint32 {
	switch m.Type {
	case cubes.TypeCount, cubes.TypeCountDistinct, cubes.TypeCountApprox:
		return pgtype.Int8OID
	case cubes.TypeMin, cubes.TypeMax:
		if cubes.AggregatesTime(m) {
			return pgtype.TimestampOID
		}
		return pgtype.NumericOID
	case cubes.TypeSum, cubes.TypeAvg, cubes.TypeNumber:
		return pgtype.NumericOID
	}
	return memberTypeOID(m.Type)
}

func memberTypeOID(t cubes.MemberType) uint32 {
	switch t {
	case cubes.TypeString:
		return pgtype.TextOID
	case cubes.TypeTime:
		return pgtype.TimestampOID
	case cubes.TypeBoolean:
		return pgtype.BoolOID
	}
	return pgtype.NumericOID
}
