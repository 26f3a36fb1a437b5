package pgwire

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Values are spelled as PostgreSQL 15 spells them in text format.
func TestAppendText(t *testing.T) {
	num := func(i int64, exp int32) pgtype.Numeric {
		return pgtype.Numeric{Int: big.NewInt(i), Exp: exp, Valid: true}
	}
	ts := time.Date(2023, 2, 1, 10, 20, 30, 123400000, time.UTC)
	cases := []struct {
		oid  uint32
		v    any
		want string
	}{
		{pgtype.Int8OID, int64(-42), "-42"},
		{pgtype.Float8OID, 1.5, "1.5"},
		{pgtype.Float8OID, 1234567.0, "1234567"},
		{pgtype.Float8OID, 1e20, "1e+20"},
		{pgtype.Float8OID, 0.0001, "0.0001"},
		{pgtype.Float8OID, 0.00001, "1e-05"},
		{pgtype.Float8OID, math.Inf(-1), "-Infinity"},
		{pgtype.Float8OID, math.NaN(), "NaN"},
		{pgtype.Float4OID, float64(float32(0.1)), "0.1"},
		{pgtype.NumericOID, num(2504374129, -2), "25043741.29"},
		{pgtype.NumericOID, num(100, -2), "1.00"},
		{pgtype.NumericOID, num(5, -3), "0.005"},
		{pgtype.NumericOID, num(-5, -3), "-0.005"},
		{pgtype.NumericOID, num(12, 2), "1200"},
		{pgtype.NumericOID, int64(7), "7"},
		{pgtype.BoolOID, true, "t"},
		{pgtype.BoolOID, int64(1), "t"},
		{pgtype.BoolOID, int64(0), "f"},
		{pgtype.TextOID, "naïve", "naïve"},
		{pgtype.TimestampOID, ts, "2023-02-01 10:20:30.1234"},
		{pgtype.TimestampOID, time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC), "2023-02-01 00:00:00"},
		{pgtype.TimestamptzOID, ts, "2023-02-01 10:20:30.1234+00"},
		{pgtype.TimestamptzOID, ts.In(time.FixedZone("x", 5*3600+1800)), "2023-02-01 15:50:30.1234+05:30"},
		{pgtype.DateOID, ts, "2023-02-01"},
		{pgtype.ByteaOID, []byte{0xde, 0xad}, `\xdead`},
		{pgtype.IntervalOID, pgtype.Interval{Months: 14, Days: 3, Microseconds: 3600e6, Valid: true}, "1 year 2 mons 3 days 01:00:00"},
	}
	for _, c := range cases {
		got, err := appendText(nil, c.oid, c.v)
		if err != nil {
			t.Errorf("%v: %v", c.v, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%T %v as %d = %q, want %q", c.v, c.v, c.oid, got, c.want)
		}
	}
}

// Encoding a row allocates nothing per value once the buffers are warm.
func TestAppendTextDoesNotAllocate(t *testing.T) {
	// Values arrive boxed, as warehouse rows deliver them.
	row := []any{time.Date(2023, 2, 1, 10, 20, 30, 123400000, time.UTC), int64(42), "x", 1.5}
	oids := []uint32{pgtype.TimestampOID, pgtype.Int8OID, pgtype.TextOID, pgtype.Float8OID}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		for i, v := range row {
			b = appendTextNoErr(b, oids[i], v)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per row", allocs)
	}
}

func appendTextNoErr(buf []byte, oid uint32, v any) []byte {
	out, _ := appendText(buf, oid, v)
	return out
}
