package catalog

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// The SQL functions information_schema's views are written with; tools
// (Excel, Google Sheets, …) call them directly.
func init() {
	typmodFn := func(f func(typ uint32, mod int64) any) fn {
		return fn{ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			t, _ := toInt(a[0])
			m, _ := toInt(a[1])
			return f(uint32(t), m), nil
		}}
	}
	funcs["_pg_numeric_precision"] = typmodFn(func(t uint32, mod int64) any {
		switch t {
		case tInt2:
			return int64(16)
		case tInt4:
			return int64(32)
		case tInt8:
			return int64(64)
		case tFloat4:
			return int64(24)
		case tFloat8:
			return int64(53)
		case tNumeric:
			if mod == -1 {
				return nil
			}
			return ((mod - 4) >> 16) & 65535
		}
		return nil
	})
	funcs["_pg_numeric_precision_radix"] = typmodFn(func(t uint32, _ int64) any {
		switch t {
		case tInt2, tInt4, tInt8, tFloat4, tFloat8:
			return int64(2)
		case tNumeric:
			return int64(10)
		}
		return nil
	})
	funcs["_pg_numeric_scale"] = typmodFn(func(t uint32, mod int64) any {
		switch t {
		case tInt2, tInt4, tInt8:
			return int64(0)
		case tNumeric:
			if mod == -1 {
				return nil
			}
			return (mod - 4) & 65535
		}
		return nil
	})
	funcs["_pg_datetime_precision"] = typmodFn(func(t uint32, mod int64) any {
		switch t {
		case tDate:
			return int64(0)
		case 1083, 1266, tTimestamp, tTimestamptz:
			if mod < 0 {
				return int64(6)
			}
			return mod
		case tInterval:
			if mod < 0 || mod&65535 == 65535 {
				return int64(6)
			}
			return mod & 65535
		}
		return nil
	})
	funcs["_pg_char_max_length"] = typmodFn(func(t uint32, mod int64) any {
		switch t {
		case tBPChar, tVarchar:
			if mod == -1 {
				return nil
			}
			return mod - 4
		case 1560, 1562:
			if mod == -1 {
				return nil
			}
			return mod
		}
		return nil
	})
	funcs["_pg_char_octet_length"] = typmodFn(func(t uint32, mod int64) any {
		switch t {
		case tBPChar, tVarchar, tText:
			if mod == -1 {
				return int64(1073741824)
			}
			return (mod - 4) * 4
		}
		return nil
	})
	funcs["_pg_interval_type"] = fn{ret: ret(tText), min: 2, max: 2, strict: true, call: func(*executor, []any, []uint32) (any, error) { return nil, nil }}
	recordFn := func(f func(att, typ *record) any) fn {
		return fn{ret: ret(tOID), min: 2, max: 2, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			att, ok1 := a[0].(*record)
			typ, ok2 := a[1].(*record)
			if !ok1 || !ok2 {
				return nil, pgerr.New(pgerrcode.DatatypeMismatch, "arguments must be pg_attribute and pg_type rows")
			}
			return f(att, typ), nil
		}}
	}
	funcs["_pg_truetypid"] = recordFn(func(att, typ *record) any {
		if typ.get("typtype") == "d" {
			return typ.get("typbasetype")
		}
		return att.get("atttypid")
	})
	tm := recordFn(func(att, typ *record) any {
		if typ.get("typtype") == "d" {
			return typ.get("typtypmod")
		}
		return att.get("atttypmod")
	})
	tm.ret = ret(tInt4)
	funcs["_pg_truetypmod"] = tm
	funcs["pg_my_temp_schema"] = fn{ret: ret(tOID), call: func(*executor, []any, []uint32) (any, error) { return int64(0), nil }}
	funcs["pg_is_other_temp_schema"] = fn{ret: ret(tBool), min: 1, max: 1, strict: true, call: func(*executor, []any, []uint32) (any, error) { return false, nil }}
	funcs["format"] = fn{ret: ret(tText), min: 1, max: -1, call: format}
}

// format is PostgreSQL's format(): %s, %I, %L and %%, with positions
// (%2$s), the - flag and widths (%10s, %*s, %*3$s).
func format(x *executor, a []any, t []uint32) (any, error) {
	if a[0] == nil {
		return nil, nil
	}
	f := x.text(a[0], t[0])
	unterminated := pgerr.New(pgerrcode.InvalidParameterValue, "unterminated format() type specifier").
		WithHint("For a single \"%%\" use \"%%%%\".")
	// number reads digits at f[i:]; ok is false when there are none.
	number := func(i int) (n int64, end int, ok bool) {
		end = i
		for end < len(f) && f[end] >= '0' && f[end] <= '9' {
			if n > math.MaxInt32/10 {
				return 0, end, false
			}
			n = n*10 + int64(f[end]-'0')
			end++
		}
		return n, end, end > i
	}
	argument := func(n int64) (int, error) {
		switch {
		case n < 1:
			return 0, pgerr.New(pgerrcode.InvalidParameterValue, "format specifies argument 0, but arguments are numbered from 1")
		case n >= int64(len(a)):
			return 0, pgerr.New(pgerrcode.InvalidParameterValue, "too few arguments for format()")
		}
		return int(n), nil
	}
	var b strings.Builder
	next := int64(1)
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i++; i >= len(f) {
			return nil, unterminated
		}
		if f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		pos := int64(-1) // an explicit n$
		if n, end, ok := number(i); ok && end < len(f) && f[end] == '$' {
			pos, i = n, end+1
		}
		left := false
		if i < len(f) && f[i] == '-' {
			left, i = true, i+1
		}
		width := int64(0)
		switch {
		case i < len(f) && f[i] == '*':
			i++
			wArg := next
			if n, end, ok := number(i); ok && end < len(f) && f[end] == '$' {
				wArg, i = n, end+1
			}
			k, err := argument(wArg)
			if err != nil {
				return nil, err
			}
			next = wArg + 1
			if a[k] != nil {
				width, _ = toInt(a[k])
			}
			if width < 0 {
				left, width = true, -width
			}
		case i < len(f) && f[i] >= '0' && f[i] <= '9':
			n, end, ok := number(i)
			if !ok {
				return nil, pgerr.New(pgerrcode.InvalidParameterValue, "number is out of range")
			}
			width, i = n, end
		}
		if i >= len(f) {
			return nil, unterminated
		}
		if pos < 0 {
			pos = next
		}
		k, err := argument(pos)
		if err != nil {
			return nil, err
		}
		next = pos + 1
		v := a[k]
		var piece string
		switch f[i] {
		case 's':
			if v != nil {
				piece = x.text(v, t[k])
			}
		case 'I':
			if v == nil {
				return nil, pgerr.New(pgerrcode.NullValueNotAllowedDataException, "null values cannot be formatted as an SQL identifier")
			}
			piece = quoteIdent(x.text(v, t[k]))
		case 'L':
			if v == nil {
				piece = "NULL"
			} else {
				piece = "'" + strings.ReplaceAll(x.text(v, t[k]), "'", "''") + "'"
			}
		default:
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "unrecognized format() type specifier \"%c\"", f[i]).
				WithHint("For a single \"%%\" use \"%%%%\".")
		}
		pad := max(width-int64(utf8.RuneCountInString(piece)), 0)
		if err := x.b.fits(int64(b.Len()) + int64(len(piece)) + pad); err != nil {
			return nil, err
		}
		if !left {
			b.WriteString(strings.Repeat(" ", int(pad)))
		}
		b.WriteString(piece)
		if left {
			b.WriteString(strings.Repeat(" ", int(pad)))
		}
	}
	return b.String(), nil
}
