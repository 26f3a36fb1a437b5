package catalog

import (
	"strings"

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

// format is PostgreSQL's format(): %s, %I, %L and %%, with positions.
func format(x *executor, a []any, t []uint32) (any, error) {
	if a[0] == nil {
		return nil, nil
	}
	f := x.text(a[0], t[0])
	var b strings.Builder
	next := 1
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "unterminated format() type specifier")
		}
		if f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		arg := next
		if j := strings.IndexByte(f[i:], '$'); j > 0 {
			if n, ok := toInt(f[i : i+j]); ok {
				arg = int(n)
				i += j + 1
			}
		}
		if i >= len(f) {
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "unterminated format() type specifier")
		}
		if arg < 1 {
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "format specifies argument 0, but arguments are numbered from 1")
		}
		if arg >= len(a) {
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "too few arguments for format()")
		}
		if err := x.b.fits(int64(b.Len())); err != nil {
			return nil, err
		}
		next = arg + 1
		v := a[arg]
		switch f[i] {
		case 's':
			if v != nil {
				b.WriteString(x.text(v, t[arg]))
			}
		case 'I':
			if v == nil {
				return nil, pgerr.New(pgerrcode.NullValueNotAllowedDataException, "null values cannot be formatted as an SQL identifier")
			}
			b.WriteString(quoteIdent(x.text(v, t[arg])))
		case 'L':
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.WriteString("'" + strings.ReplaceAll(x.text(v, t[arg]), "'", "''") + "'")
			}
		default:
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "unrecognized format() type specifier %q", string(f[i]))
		}
	}
	return b.String(), nil
}
