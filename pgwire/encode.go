package pgwire

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// appendText appends v in PostgreSQL's text output format for type oid.
// Values arrive normalized by the warehouse (see warehouse.Rows); the Go
// type decides the spelling, the OID only where one Go type has several
// Postgres spellings (date vs timestamp, bytea vs text).
// AppendText appends v in PostgreSQL's text form for type oid (what a
// DataRow carries in text format).
func AppendText(buf []byte, oid uint32, v any) ([]byte, error) { return appendText(buf, oid, v) }

func appendText(buf []byte, oid uint32, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append(buf, x...), nil
	case int64:
		if oid == pgtype.BoolOID {
			// A boolean the warehouse keeps as an integer (MySQL's
			// TINYINT(1), ClickHouse's UInt8).
			return appendText(buf, oid, x != 0)
		}
		return strconv.AppendInt(buf, x, 10), nil
	case float64:
		return appendFloat(buf, x, oid), nil
	case bool:
		if x {
			return append(buf, 't'), nil
		}
		return append(buf, 'f'), nil
	case time.Time:
		return appendTime(buf, oid, x), nil
	case pgtype.Numeric:
		return appendNumeric(buf, x), nil
	case []byte:
		if oid == pgtype.ByteaOID {
			buf = append(buf, `\x`...)
			return hex.AppendEncode(buf, x), nil
		}
		return append(buf, x...), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case float32:
		return appendFloat(buf, float64(x), pgtype.Float4OID), nil
	case pgtype.Time:
		return appendClock(buf, x.Microseconds), nil
	case pgtype.Interval:
		return appendInterval(buf, x), nil
	}
	// The rarer types (interval, uuid, …) go through pgtype's encoders.
	out, err := typeMap.Encode(oid, pgtype.TextFormatCode, v, buf)
	if err != nil {
		return buf, fmt.Errorf("encode %T as type %d: %w", v, oid, err)
	}
	return out, nil
}

var typeMap = pgtype.NewMap()

// appendFloat spells a float as PostgreSQL does with extra_float_digits
// >= 1: the shortest exact form, in exponent notation outside 1e-4..1e15.
func appendFloat(buf []byte, f float64, oid uint32) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	}
	bits := 64
	if oid == pgtype.Float4OID {
		bits = 32
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(buf, "-0"...)
		}
		return append(buf, '0')
	}
	exp := math.Floor(math.Log10(math.Abs(f)))
	if exp < -4 || exp >= 15 {
		return strconv.AppendFloat(buf, f, 'e', -1, bits)
	}
	return strconv.AppendFloat(buf, f, 'f', -1, bits)
}

func appendTime(buf []byte, oid uint32, t time.Time) []byte {
	switch oid {
	case pgtype.DateOID:
		return appendYMD(buf, t)
	case pgtype.TimestamptzOID:
		buf = appendYMD(buf, t)
		buf = append(buf, ' ')
		buf = appendHMS(buf, t)
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		buf = append(buf, sign)
		buf = append2(buf, off/3600)
		if m := off % 3600 / 60; m != 0 {
			buf = append(buf, ':')
			buf = append2(buf, m)
		}
		return buf
	default: // timestamp
		buf = appendYMD(buf, t)
		buf = append(buf, ' ')
		return appendHMS(buf, t)
	}
}

func appendYMD(buf []byte, t time.Time) []byte {
	y := t.Year()
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	if y < 1000 {
		buf = append(buf, fmt.Sprintf("%04d", y)...)
	} else {
		buf = strconv.AppendInt(buf, int64(y), 10)
	}
	buf = append(buf, '-')
	buf = append2(buf, int(t.Month()))
	buf = append(buf, '-')
	buf = append2(buf, t.Day())
	if bc {
		return append(buf, " BC"...)
	}
	return buf
}

func appendHMS(buf []byte, t time.Time) []byte {
	us := (int64(t.Hour())*3600+int64(t.Minute())*60+int64(t.Second()))*1e6 + int64(t.Nanosecond()/1000)
	return appendClock(buf, us)
}

// appendClock spells us microseconds as HH:MM:SS[.ffffff], as Postgres
// writes times of day and the time part of intervals (hours may pass 24):
// the fraction without trailing zeros. No allocation: it runs per value.
func appendClock(buf []byte, us int64) []byte {
	if h := us / 3600e6; h < 100 {
		buf = append2(buf, int(h))
	} else {
		buf = strconv.AppendInt(buf, h, 10)
	}
	buf = append(buf, ':')
	buf = append2(buf, int(us/60e6%60))
	buf = append(buf, ':')
	buf = append2(buf, int(us/1e6%60))
	if frac := us % 1e6; frac != 0 {
		var d [6]byte
		for k := 5; k >= 0; k-- {
			d[k] = byte('0' + frac%10)
			frac /= 10
		}
		n := 6
		for d[n-1] == '0' {
			n--
		}
		buf = append(buf, '.')
		buf = append(buf, d[:n]...)
	}
	return buf
}

func append2(buf []byte, n int) []byte {
	return append(buf, byte('0'+n/10%10), byte('0'+n%10))
}

// appendNumeric spells a numeric: digits with the decimal point placed by
// the exponent, keeping the scale (trailing zeros) as Postgres does.
func appendNumeric(buf []byte, n pgtype.Numeric) []byte {
	switch {
	case n.NaN:
		return append(buf, "NaN"...)
	case n.InfinityModifier == pgtype.Infinity:
		return append(buf, "Infinity"...)
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return append(buf, "-Infinity"...)
	}
	i := n.Int
	if i == nil {
		i = new(big.Int)
	}
	neg := i.Sign() < 0
	digits := new(big.Int).Abs(i).String()
	if neg {
		buf = append(buf, '-')
	}
	if n.Exp >= 0 {
		buf = append(buf, digits...)
		if digits != "0" {
			for k := int32(0); k < n.Exp; k++ {
				buf = append(buf, '0')
			}
		}
		return buf
	}
	scale := int(-n.Exp)
	if len(digits) <= scale {
		buf = append(buf, '0', '.')
		for k := len(digits); k < scale; k++ {
			buf = append(buf, '0')
		}
		return append(buf, digits...)
	}
	buf = append(buf, digits[:len(digits)-scale]...)
	buf = append(buf, '.')
	return append(buf, digits[len(digits)-scale:]...)
}

// appendInterval spells an interval in IntervalStyle postgres:
// "1 year 2 mons 3 days 04:05:06.5".
func appendInterval(buf []byte, iv pgtype.Interval) []byte {
	start := len(buf)
	unit := func(n int64, one, many string) {
		if n == 0 {
			return
		}
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, n, 10)
		if n == 1 {
			buf = append(buf, one...)
		} else {
			buf = append(buf, many...)
		}
	}
	unit(int64(iv.Months/12), " year", " years")
	unit(int64(iv.Months%12), " mon", " mons")
	unit(int64(iv.Days), " day", " days")
	us := iv.Microseconds
	if us == 0 && len(buf) > start {
		return buf
	}
	if len(buf) > start {
		buf = append(buf, ' ')
	}
	if us < 0 {
		buf = append(buf, '-')
		us = -us
	} else if len(buf) > start && (iv.Months < 0 || iv.Days < 0) {
		buf = append(buf, '+')
	}
	return appendClock(buf, us)
}

// appendBinary appends v in PostgreSQL's binary format for type oid, after
// converting the warehouse's Go value to one pgtype encodes as that type.
func appendBinary(buf []byte, oid uint32, v any) ([]byte, error) {
	switch oid {
	case pgtype.NumericOID:
		switch x := v.(type) {
		case int64:
			v = pgtype.Numeric{Int: big.NewInt(x), Valid: true}
		case float64:
			var n pgtype.Numeric
			if err := n.Scan(string(appendFloat(nil, x, pgtype.Float8OID))); err != nil {
				return buf, err
			}
			v = n
		}
	case pgtype.Float4OID:
		if x, ok := v.(float64); ok {
			v = float32(x)
		}
	case pgtype.BoolOID:
		if x, ok := v.(int64); ok {
			v = x != 0 // a boolean kept as an integer
		}
	case pgtype.QCharOID:
		if x, ok := v.(string); ok && len(x) > 0 {
			return append(buf, x[0]), nil
		}
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		if n, ok := v.(pgtype.Numeric); ok {
			i, err := n.Int64Value()
			if err != nil {
				return buf, err
			}
			v = i.Int64
		}
	}
	out, err := typeMap.Encode(oid, pgtype.BinaryFormatCode, v, buf)
	if err != nil {
		return buf, fmt.Errorf("encode %T as type %d: %w", v, oid, err)
	}
	return out, nil
}
