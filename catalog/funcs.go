package catalog

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// fn is a scalar function: its result type given the argument types, and
// its body. Strict functions return NULL for any NULL argument.
type fn struct {
	ret    func(args []*expr) uint32
	call   func(x *executor, args []any, types []uint32) (any, error)
	strict bool
	min    int
	max    int // -1: variadic
}

func ret(t uint32) func([]*expr) uint32 { return func([]*expr) uint32 { return t } }

func argType(i int) func([]*expr) uint32 {
	return func(a []*expr) uint32 {
		if i < len(a) {
			return resolved(a[i].typ)
		}
		return tText
	}
}

var funcs map[string]fn

func init() {
	s := func(f func(string) any) func(*executor, []any, []uint32) (any, error) {
		return func(x *executor, a []any, t []uint32) (any, error) { return f(x.text(a[0], t[0])), nil }
	}
	yes := func(*executor, []any, []uint32) (any, error) { return true, nil }
	null := func(*executor, []any, []uint32) (any, error) { return nil, nil }
	zero := func(*executor, []any, []uint32) (any, error) { return int64(0), nil }
	funcs = map[string]fn{
		"version":          {ret: ret(tText), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.Version(), nil }},
		"current_database": {ret: ret(tName), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.Database(), nil }},
		"current_catalog":  {ret: ret(tName), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.Database(), nil }},
		"current_schema":   {ret: ret(tName), call: func(*executor, []any, []uint32) (any, error) { return "public", nil }},
		"current_user":     {ret: ret(tName), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.User(), nil }},
		"session_user":     {ret: ret(tName), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.User(), nil }},
		"current_schemas": {ret: ret(tNameArr), min: 1, max: 1, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			if a[0] == true {
				return []any{"pg_catalog", "public"}, nil
			}
			return []any{"public"}, nil
		}},
		"pg_backend_pid": {ret: ret(tInt4), call: func(x *executor, _ []any, _ []uint32) (any, error) { return x.s.BackendPID(), nil }},
		"pg_postmaster_start_time": {ret: ret(tTimestamptz), call: func(*executor, []any, []uint32) (any, error) {
			return startTime.Format("2006-01-02 15:04:05.999999-07"), nil
		}},
		"now": {ret: ret(tTimestamptz), call: func(*executor, []any, []uint32) (any, error) {
			return time.Now().UTC().Format("2006-01-02 15:04:05.999999-07"), nil
		}},
		"pg_is_in_recovery":  {ret: ret(tBool), call: func(*executor, []any, []uint32) (any, error) { return false, nil }},
		"txid_current":       {ret: ret(tInt8), call: func(*executor, []any, []uint32) (any, error) { return int64(1000), nil }},
		"pg_current_xact_id": {ret: ret(tXID), call: func(*executor, []any, []uint32) (any, error) { return int64(1000), nil }},
		"pg_get_userbyid": {ret: ret(tName), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) {
			return x.cat.roleName(x, a[0]), nil
		}},
		"pg_encoding_to_char": {ret: ret(tName), min: 1, max: 1, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			if n, _ := toInt(a[0]); n == 6 {
				return "UTF8", nil
			}
			return "SQL_ASCII", nil
		}},
		"pg_char_to_encoding": {ret: ret(tInt4), min: 1, max: 1, strict: true, call: func(*executor, []any, []uint32) (any, error) { return int64(6), nil }},
		"format_type": {ret: ret(tText), min: 2, max: 2, call: func(x *executor, a []any, _ []uint32) (any, error) {
			if a[0] == nil {
				return nil, nil
			}
			oid, _ := toInt(a[0])
			mod := int64(-1)
			if a[1] != nil {
				mod, _ = toInt(a[1])
			}
			return x.formatType(uint32(oid), int32(mod)), nil
		}},
		"pg_get_expr":                     {ret: ret(tText), min: 2, max: 3, strict: true, call: null},
		"pg_get_indexdef":                 {ret: ret(tText), min: 1, max: 3, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) { return x.cat.indexDef(a) }},
		"pg_get_constraintdef":            {ret: ret(tText), min: 1, max: 2, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) { return x.cat.constraintDef(a) }},
		"pg_get_viewdef":                  {ret: ret(tText), min: 1, max: 2, strict: true, call: null},
		"pg_get_triggerdef":               {ret: ret(tText), min: 1, max: 2, strict: true, call: null},
		"pg_get_ruledef":                  {ret: ret(tText), min: 1, max: 2, strict: true, call: null},
		"pg_get_partkeydef":               {ret: ret(tText), min: 1, max: 1, strict: true, call: null},
		"pg_get_statisticsobjdef_columns": {ret: ret(tText), min: 1, max: 1, strict: true, call: null},
		"pg_get_serial_sequence":          {ret: ret(tText), min: 2, max: 2, strict: true, call: null},
		"pg_get_function_result": {ret: ret(tText), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) {
			return x.cat.procResult(x, a[0]), nil
		}},
		"pg_get_function_arguments":          {ret: ret(tText), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) { return x.cat.procArgs(x, a[0]), nil }},
		"pg_get_function_identity_arguments": {ret: ret(tText), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) { return x.cat.procArgs(x, a[0]), nil }},
		"pg_table_is_visible":                {ret: ret(tBool), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) { return x.cat.classVisible(a[0]), nil }},
		"pg_type_is_visible":                 {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_function_is_visible":             {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_operator_is_visible":             {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_opclass_is_visible":              {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_collation_is_visible":            {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_conversion_is_visible":           {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_ts_config_is_visible":            {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_statistics_obj_is_visible":       {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"has_table_privilege":                {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_schema_privilege":               {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_database_privilege":             {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_column_privilege":               {ret: ret(tBool), min: 3, max: 4, strict: true, call: yes},
		"has_any_column_privilege":           {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_function_privilege":             {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_sequence_privilege":             {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_type_privilege":                 {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_language_privilege":             {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"has_tablespace_privilege":           {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"pg_has_role":                        {ret: ret(tBool), min: 2, max: 3, strict: true, call: yes},
		"pg_relation_is_publishable":         {ret: ret(tBool), min: 1, max: 1, strict: true, call: yes},
		"pg_relation_size":                   {ret: ret(tInt8), min: 1, max: 2, strict: true, call: zero},
		"pg_total_relation_size":             {ret: ret(tInt8), min: 1, max: 1, strict: true, call: zero},
		"pg_table_size":                      {ret: ret(tInt8), min: 1, max: 1, strict: true, call: zero},
		"pg_indexes_size":                    {ret: ret(tInt8), min: 1, max: 1, strict: true, call: zero},
		"pg_database_size":                   {ret: ret(tInt8), min: 1, max: 1, strict: true, call: zero},
		"pg_tablespace_location":             {ret: ret(tText), min: 1, max: 1, strict: true, call: func(*executor, []any, []uint32) (any, error) { return "", nil }},
		"pg_size_pretty": {ret: ret(tText), min: 1, max: 1, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			n, _ := toInt(a[0])
			return sizePretty(n), nil
		}},
		"obj_description": {ret: ret(tText), min: 1, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			cls := "pg_class"
			if len(a) > 1 {
				cls = x.text(a[1], t[1])
			}
			return x.cat.description(a[0], cls, 0), nil
		}},
		"col_description": {ret: ret(tText), min: 2, max: 2, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) {
			n, _ := toInt(a[1])
			return x.cat.description(a[0], "pg_class", n), nil
		}},
		"shobj_description": {ret: ret(tText), min: 2, max: 2, strict: true, call: null},
		"current_setting": {ret: ret(tText), min: 1, max: 2, call: func(x *executor, a []any, t []uint32) (any, error) {
			if a[0] == nil {
				return nil, nil
			}
			v, ok := x.setting(x.text(a[0], t[0]))
			if !ok {
				if len(a) > 1 && a[1] == true {
					return nil, nil
				}
				return nil, pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", x.text(a[0], t[0]))
			}
			return v, nil
		}},
		"set_config": {ret: ret(tText), min: 3, max: 3, call: func(x *executor, a []any, t []uint32) (any, error) {
			if a[0] == nil {
				return nil, pgerr.New(pgerrcode.NullValueNotAllowedDataException, "SET requires parameter name")
			}
			name, val := x.text(a[0], t[0]), x.text(a[1], t[1])
			if err := x.s.SetConfig(name, val, a[2] == true); err != nil {
				return nil, err
			}
			v, _ := x.s.Setting(name)
			return v, nil
		}},
		"pg_sleep": {ret: ret(tVoid), min: 1, max: 1, strict: true, call: func(x *executor, a []any, _ []uint32) (any, error) {
			f, _ := toFloat(a[0])
			if math.IsNaN(f) || f <= 0 {
				return "", nil
			}
			// Past the statement's time budget it sleeps until the
			// budget ends, and fails there (pg_sleep(1e300) is a very
			// long sleep, not an overflowed Duration).
			d, over := time.Until(x.b.deadline), true
			if secs := f * float64(time.Second); secs < float64(d) {
				d, over = time.Duration(max(secs, 0)), false
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				if over {
					return nil, x.b.check()
				}
				return "", nil
			case <-x.ctx.Done():
				return nil, x.b.check()
			}
		}},
		"array_upper": {ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(_ *executor, a []any, t []uint32) (any, error) {
			arr, ok := a[0].([]any)
			if d, _ := toInt(a[1]); !ok || len(arr) == 0 || d != 1 {
				return nil, nil
			}
			if t[0] == tInt2Vector || t[0] == tOIDVector {
				return int64(len(arr) - 1), nil
			}
			return int64(len(arr)), nil
		}},
		"array_lower": {ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(_ *executor, a []any, t []uint32) (any, error) {
			arr, ok := a[0].([]any)
			if d, _ := toInt(a[1]); !ok || len(arr) == 0 || d != 1 {
				return nil, nil
			}
			if t[0] == tInt2Vector || t[0] == tOIDVector {
				return int64(0), nil
			}
			return int64(1), nil
		}},
		"array_length": {ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			arr, ok := a[0].([]any)
			if d, _ := toInt(a[1]); !ok || len(arr) == 0 || d != 1 {
				return nil, nil
			}
			return int64(len(arr)), nil
		}},
		"cardinality": {ret: ret(tInt4), min: 1, max: 1, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			arr, _ := a[0].([]any)
			return int64(len(arr)), nil
		}},
		"array_to_string": {ret: ret(tText), min: 2, max: 3, call: func(x *executor, a []any, t []uint32) (any, error) {
			if a[0] == nil || a[1] == nil {
				return nil, nil
			}
			arr, _ := a[0].([]any)
			var parts []string
			for _, v := range arr {
				if v == nil {
					if len(a) > 2 && a[2] != nil {
						parts = append(parts, x.text(a[2], t[2]))
					}
					continue
				}
				parts = append(parts, x.text(v, elemOf(t[0])))
			}
			sep := x.text(a[1], t[1])
			if err := x.b.fits(joinedSize(parts, sep)); err != nil {
				return nil, err
			}
			return strings.Join(parts, sep), nil
		}},
		"array_position": {ret: ret(tInt4), min: 2, max: 2, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			arr, _ := a[0].([]any)
			for i, v := range arr {
				if v != nil && a[1] != nil && compareValues(v, a[1]) == 0 {
					return int64(i + 1), nil
				}
			}
			return nil, nil
		}},
		"string_to_array": {ret: ret(tTextArr), min: 2, max: 3, call: func(x *executor, a []any, t []uint32) (any, error) {
			if a[0] == nil {
				return nil, nil
			}
			out, err := splitString(x, x.text(a[0], t[0]), a[1])
			if err != nil || len(a) < 3 || a[2] == nil {
				return out, err
			}
			null := x.text(a[2], t[2]) // pieces equal to it are NULL
			for i, p := range out {
				if p == null {
					out[i] = nil
				}
			}
			return out, nil
		}},
		"lower":            {ret: ret(tText), min: 1, max: 1, strict: true, call: s(func(v string) any { return strings.ToLower(v) })},
		"upper":            {ret: ret(tText), min: 1, max: 1, strict: true, call: s(func(v string) any { return strings.ToUpper(v) })},
		"length":           {ret: ret(tInt4), min: 1, max: 1, strict: true, call: s(func(v string) any { return int64(utf8.RuneCountInString(v)) })},
		"char_length":      {ret: ret(tInt4), min: 1, max: 1, strict: true, call: s(func(v string) any { return int64(utf8.RuneCountInString(v)) })},
		"character_length": {ret: ret(tInt4), min: 1, max: 1, strict: true, call: s(func(v string) any { return int64(utf8.RuneCountInString(v)) })},
		"octet_length":     {ret: ret(tInt4), min: 1, max: 1, strict: true, call: s(func(v string) any { return int64(len(v)) })},
		"md5": {ret: ret(tText), min: 1, max: 1, strict: true, call: s(func(v string) any {
			h := md5.Sum([]byte(v))
			return hex.EncodeToString(h[:])
		})},
		"quote_ident":   {ret: ret(tText), min: 1, max: 1, strict: true, call: s(func(v string) any { return quoteIdent(v) })},
		"quote_literal": {ret: ret(tText), min: 1, max: 1, strict: true, call: s(func(v string) any { return "'" + strings.ReplaceAll(v, "'", "''") + "'" })},
		"btrim":         {ret: ret(tText), min: 1, max: 2, strict: true, call: trimFn(strings.Trim)},
		"trim":          {ret: ret(tText), min: 1, max: 2, strict: true, call: trimFn(strings.Trim)},
		"ltrim":         {ret: ret(tText), min: 1, max: 2, strict: true, call: trimFn(strings.TrimLeft)},
		"rtrim":         {ret: ret(tText), min: 1, max: 2, strict: true, call: trimFn(strings.TrimRight)},
		"replace": {ret: ret(tText), min: 3, max: 3, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			s, from, to := x.text(a[0], t[0]), x.text(a[1], t[1]), x.text(a[2], t[2])
			if from == "" {
				return s, nil // as PostgreSQL: nothing to replace
			}
			if n := int64(strings.Count(s, from)); n > 0 {
				if err := x.b.fits(int64(len(s)) + mulSize(n, int64(max(len(to)-len(from), 0)))); err != nil {
					return nil, err
				}
			}
			return strings.ReplaceAll(s, from, to), nil
		}},
		"substring": {ret: ret(tText), min: 2, max: 3, strict: true, call: substring},
		"substr":    {ret: ret(tText), min: 2, max: 3, strict: true, call: substring},
		"left": {ret: ret(tText), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			r := []rune(x.text(a[0], t[0]))
			n, _ := toInt(a[1])
			if n < 0 {
				n = max(int64(len(r))+n, 0)
			}
			return string(r[:min(int(n), len(r))]), nil
		}},
		"right": {ret: ret(tText), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			r := []rune(x.text(a[0], t[0]))
			n, _ := toInt(a[1])
			if n < 0 {
				n = max(int64(len(r))+n, 0)
			}
			return string(r[len(r)-min(int(n), len(r)):]), nil
		}},
		"strpos": {ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			h, n := x.text(a[0], t[0]), x.text(a[1], t[1])
			i := strings.Index(h, n)
			if i < 0 {
				return int64(0), nil
			}
			return int64(utf8.RuneCountInString(h[:i]) + 1), nil
		}},
		"position": {ret: ret(tInt4), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			// position(needle IN haystack) parses as position(haystack, needle).
			h, n := x.text(a[0], t[0]), x.text(a[1], t[1])
			i := strings.Index(h, n)
			if i < 0 {
				return int64(0), nil
			}
			return int64(utf8.RuneCountInString(h[:i]) + 1), nil
		}},
		"split_part": {ret: ret(tText), min: 3, max: 3, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			parts := strings.Split(x.text(a[0], t[0]), x.text(a[1], t[1]))
			n, _ := toInt(a[2])
			if n < 0 {
				n = int64(len(parts)) + n + 1
			}
			if n < 1 || int(n) > len(parts) {
				return "", nil
			}
			return parts[n-1], nil
		}},
		"concat": {ret: ret(tText), max: -1, call: func(x *executor, a []any, t []uint32) (any, error) {
			var b strings.Builder
			for i, v := range a {
				if v != nil {
					s := x.text(v, t[i])
					if err := x.b.fits(int64(b.Len() + len(s))); err != nil {
						return nil, err
					}
					b.WriteString(s)
				}
			}
			return b.String(), nil
		}},
		"concat_ws": {ret: ret(tText), min: 1, max: -1, call: func(x *executor, a []any, t []uint32) (any, error) {
			if a[0] == nil {
				return nil, nil
			}
			var parts []string
			for i, v := range a[1:] {
				if v != nil {
					parts = append(parts, x.text(v, t[i+1]))
				}
			}
			sep := x.text(a[0], t[0])
			if err := x.b.fits(joinedSize(parts, sep)); err != nil {
				return nil, err
			}
			return strings.Join(parts, sep), nil
		}},
		"regexp_replace": {ret: ret(tText), min: 3, max: 4, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			flags := ""
			if len(a) > 3 {
				flags = x.text(a[3], t[3])
			}
			re, err := x.regexp(x.text(a[1], t[1]), strings.Contains(flags, "i"))
			if err != nil {
				return nil, err
			}
			repl := strings.NewReplacer(`\1`, "${1}", `\2`, "${2}", `\&`, "${0}").Replace(x.text(a[2], t[2]))
			src := x.text(a[0], t[0])
			// A bound on the result before building it: at most one
			// match per position, each group reference no longer than
			// the text.
			refs := int64(strings.Count(repl, "${"))
			bound := int64(len(src)) + mulSize(int64(len(src))+1, int64(len(repl))) + mulSize(refs, int64(len(src)))
			if mulSize(int64(len(src))+1, int64(len(repl))) < 0 || mulSize(refs, int64(len(src))) < 0 {
				bound = -1
			}
			if err := x.b.fits(bound); err != nil {
				return nil, err
			}
			if strings.Contains(flags, "g") {
				return re.ReplaceAllString(src, repl), nil
			}
			loc := re.FindStringSubmatchIndex(src)
			if loc == nil {
				return src, nil
			}
			var dst []byte
			dst = re.ExpandString(dst, repl, src, loc)
			return src[:loc[0]] + string(dst) + src[loc[1]:], nil
		}},
		"lpad": {ret: ret(tText), min: 2, max: 3, strict: true, call: padFn(true)},
		"rpad": {ret: ret(tText), min: 2, max: 3, strict: true, call: padFn(false)},
		"starts_with": {ret: ret(tBool), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			return strings.HasPrefix(x.text(a[0], t[0]), x.text(a[1], t[1])), nil
		}},
		"repeat": {ret: ret(tText), min: 2, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			n, _ := toInt(a[1])
			s := x.text(a[0], t[0])
			n = max(n, 0)
			if err := x.b.fits(mulSize(int64(len(s)), n)); err != nil {
				return nil, err
			}
			return strings.Repeat(s, int(n)), nil
		}},
		"to_char": {ret: ret(tText), min: 1, max: 2, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			// Templates are not evaluated here: the statement goes to the
			// warehouse (see planner.inWarehouse).
			return nil, pgerr.New(pgerrcode.FeatureNotSupported, "to_char() is not evaluated by the catalog")
		}},
		"abs": {ret: argType(0), min: 1, max: 1, strict: true, call: func(_ *executor, a []any, _ []uint32) (any, error) {
			switch v := a[0].(type) {
			case int64:
				if v < 0 {
					return -v, nil
				}
				return v, nil
			case float64:
				return math.Abs(v), nil
			}
			return a[0], nil
		}},
		"json_build_object": {ret: ret(tJSON), max: -1, call: func(x *executor, a []any, t []uint32) (any, error) {
			if len(a)%2 != 0 {
				return nil, pgerr.New(pgerrcode.InvalidParameterValue, "argument list must have even number of elements").
					WithHint("The arguments of json_build_object() must consist of alternating keys and values.")
			}
			var parts []string
			for i := 0; i+1 < len(a); i += 2 {
				parts = append(parts, strconv.Quote(x.text(a[i], t[i]))+" : "+jsonValue(a[i+1]))
			}
			return "{" + strings.Join(parts, ", ") + "}", nil
		}},
		"to_regclass": {ret: ret(tRegclass), min: 1, max: 1, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			oid, ok := x.cat.classByName(x.text(a[0], t[0]))
			if !ok {
				return nil, nil
			}
			return int64(oid), nil
		}},
		"to_regtype": {ret: ret(tRegtype), min: 1, max: 1, strict: true, call: func(x *executor, a []any, t []uint32) (any, error) {
			oid, ok := x.typeByText(x.text(a[0], t[0]))
			if !ok {
				return nil, nil
			}
			return int64(oid), nil
		}},
		"inet_server_addr":     {ret: ret(tText), call: null},
		"inet_server_port":     {ret: ret(tInt4), call: null},
		"inet_client_addr":     {ret: ret(tText), call: null},
		"pg_stat_get_numscans": {ret: ret(tInt8), min: 1, max: 1, call: zero},
	}
	funcs["user"] = funcs["current_user"]
}

var startTime = time.Now().UTC()

func trimFn(f func(string, string) string) func(*executor, []any, []uint32) (any, error) {
	return func(x *executor, a []any, t []uint32) (any, error) {
		cut := " "
		if len(a) > 1 {
			cut = x.text(a[1], t[1])
		}
		return f(x.text(a[0], t[0]), cut), nil
	}
}

func padFn(left bool) func(*executor, []any, []uint32) (any, error) {
	return func(x *executor, a []any, t []uint32) (any, error) {
		r := []rune(x.text(a[0], t[0]))
		n, _ := toInt(a[1])
		fill := []rune(" ")
		if len(a) > 2 {
			fill = []rune(x.text(a[2], t[2]))
		}
		if n <= int64(len(r)) || len(fill) == 0 {
			return string(r[:max(min(n, int64(len(r))), 0)]), nil
		}
		per := int64(len(string(fill)))/int64(len(fill)) + 1 // bytes per pad character, at most
		if err := x.b.fits(mulSize(n, per)); err != nil {
			return nil, err
		}
		var pad []rune
		for len(pad) < int(n)-len(r) {
			pad = append(pad, fill[len(pad)%len(fill)])
		}
		if left {
			return string(pad) + string(r), nil
		}
		return string(r) + string(pad), nil
	}
}

func substring(x *executor, a []any, t []uint32) (any, error) {
	r := []rune(x.text(a[0], t[0]))
	if len(a) == 2 {
		if _, isNum := a[1].(int64); !isNum {
			// substring(text FROM pattern): a regular expression.
			re, err := x.regexp(x.text(a[1], t[1]), false)
			if err != nil {
				return nil, err
			}
			m := re.FindStringSubmatch(string(r))
			if m == nil {
				return nil, nil
			}
			if len(m) > 1 {
				return m[1], nil
			}
			return m[0], nil
		}
	}
	start, _ := toInt(a[1])
	end := int64(len(r)) + 1
	if len(a) > 2 {
		n, _ := toInt(a[2])
		if n < 0 {
			return nil, pgerr.New(pgerrcode.SubstringError, "negative substring length not allowed")
		}
		end = start + n
	}
	start = max(start, 1)
	end = min(end, int64(len(r))+1)
	if start >= end {
		return "", nil
	}
	return string(r[start-1 : end-1]), nil
}

func sizePretty(n int64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB"}
	f := n
	i := 0
	for i < len(units)-1 && (f >= 10*1024 || f <= -10*1024) {
		f = (f + 512) / 1024
		i++
	}
	return strconv.FormatInt(f, 10) + " " + units[i]
}

func quoteIdent(s string) string {
	safe := s != ""
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			safe = false
		}
	}
	if safe && !isKeyword(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func isKeyword(s string) bool {
	kw := snapshot().rels["pg_catalog.pg_get_keywords"]
	if kw == nil {
		return false
	}
	for _, r := range kw.rows {
		if r[0] == s && r[1] != "U" {
			return true
		}
	}
	return false
}

// compileFunc compiles a function call: aggregates, window functions,
// set-returning functions in the select list, and scalar functions.
func (x *executor) compileFunc(n *pg_query.Node, sc *scope) (*expr, error) {
	fc := n.GetFuncCall()
	names := fc.GetFuncname()
	name := strings.ToLower(fieldName(names[len(names)-1]))
	schema := ""
	if len(names) > 1 {
		schema = fieldName(names[len(names)-2])
	}
	if fc.GetOver() != nil && windowFuncs[name] {
		return x.compileWindow(fc, name, sc, nil)
	}
	if aggregates[name] && (schema == "" || schema == "pg_catalog") {
		return x.compileAgg(fc, name, sc, n)
	}
	if srfFuncs[name] {
		if sc.srfs == nil {
			return nil, located(pgerr.New(pgerrcode.FeatureNotSupported, "set-returning functions are not allowed here"), n)
		}
		// Its arguments are evaluated before the select list's
		// set-returning functions run: none may be nested in them.
		srfs := sc.srfs
		sc.srfs = nil
		src, err := x.compileSRF(fc, name, sc)
		sc.srfs = srfs
		if err != nil {
			return nil, err
		}
		i := len(*sc.srfs)
		*sc.srfs = append(*sc.srfs, &srfSlot{eval: func(e *env) ([]any, error) {
			rows, err := src.run(e)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(rows))
			for k, r := range rows {
				if len(src.cols) == 1 {
					out[k] = r[0]
				} else {
					rec := &record{vals: r}
					for _, c := range src.cols {
						rec.names = append(rec.names, c.name)
						rec.types = append(rec.types, c.typ)
					}
					out[k] = rec
				}
			}
			return out, nil
		}})
		typ := uint32(tRecord)
		if len(src.cols) == 1 {
			typ = src.cols[0].typ
		}
		e := &expr{typ: typ, name: name, eval: func(e *env) (any, error) {
			if i >= len(e.srfs) {
				return nil, pgerr.New(pgerrcode.FeatureNotSupported, "set-returning function %s is not allowed here", name)
			}
			return e.srfs[i], nil
		}}
		if len(src.cols) > 1 {
			e.fields = map[string]uint32{}
			for _, c := range src.cols {
				e.fields[c.name] = c.typ
			}
		}
		return e, nil
	}
	f, ok := funcs[name]
	if !ok && strings.HasSuffix(name, "_is_visible") && strings.HasPrefix(name, "pg_") {
		// Every object of pg_catalog and public is on the search path.
		f, ok = fn{ret: ret(tBool), min: 1, max: 1, strict: true, call: func(*executor, []any, []uint32) (any, error) { return true, nil }}, true
	}
	if !ok {
		return nil, located(pgerr.New(pgerrcode.UndefinedFunction, "function %s does not exist", name).
			WithHint("cubegate's catalog answers the functions PostgreSQL clients call while introspecting"), n)
	}
	args, err := x.compileExprs(fc.GetArgs(), sc)
	if err != nil {
		return nil, err
	}
	if len(args) < f.min || (f.max >= 0 && len(args) > f.max) {
		types := make([]string, len(args))
		for i, a := range args {
			types[i] = x.typeName(resolved(a.typ))
		}
		return nil, located(pgerr.New(pgerrcode.UndefinedFunction, "function %s(%s) does not exist", name, strings.Join(types, ", ")).
			WithHint("No function matches the given name and argument types."), n)
	}
	types := make([]uint32, len(args))
	for i, a := range args {
		types[i] = resolved(a.typ)
	}
	return &expr{typ: f.ret(args), name: name, eval: func(e *env) (any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a.eval(e)
			if err != nil {
				return nil, err
			}
			if v == nil && f.strict {
				return nil, nil
			}
			vals[i] = v
		}
		v, err := f.call(x, vals, types)
		if err != nil {
			return nil, err
		}
		// What a function builds is charged to the statement.
		if err := x.b.value(sizeOf(v)); err != nil {
			return nil, err
		}
		return v, nil
	}}, nil
}

// sqlValueFunction compiles CURRENT_USER and its kin, named as PostgreSQL
// names their columns ("user" for USER, "current_role" for CURRENT_ROLE).
func (x *executor) sqlValueFunction(f *pg_query.SQLValueFunction) (*expr, error) {
	name := pgnames.SQLValueFunction(f.GetOp())
	switch f.GetOp() {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg_query.SQLValueFunctionOp_SVFOP_USER, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return &expr{typ: tName, name: name, eval: func(*env) (any, error) { return x.s.User(), nil }}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return &expr{typ: tName, name: name, eval: func(*env) (any, error) { return x.s.User(), nil }}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return &expr{typ: tName, name: name, eval: func(*env) (any, error) { return x.s.Database(), nil }}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return &expr{typ: tName, name: name, eval: func(*env) (any, error) { return "public", nil }}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return &expr{typ: tTimestamptz, name: name, eval: func(*env) (any, error) {
			return time.Now().UTC().Format("2006-01-02 15:04:05.999999-07"), nil
		}}, nil
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return &expr{typ: tDate, name: name, eval: func(*env) (any, error) { return time.Now().UTC().Format("2006-01-02"), nil }}, nil
	}
	return nil, unsupported(nil, "this SQL value function is not supported")
}

// formatType is format_type(oid, typmod).
func (x *executor) formatType(oid uint32, mod int32) string {
	ti := snapshot().types[oid]
	if ti == nil {
		if t := x.cat.modelType(oid); t != "" {
			return t
		}
		return "???"
	}
	if ti.category == "A" && ti.elem != 0 && ti.len == -1 && oid != tInt2Vector && oid != tOIDVector {
		return x.formatType(ti.elem, mod) + "[]"
	}
	withMod := func(base string) string {
		if mod < 0 {
			return base
		}
		return base + "(" + strconv.Itoa(int(mod)) + ")"
	}
	switch oid {
	case tBool:
		return "boolean"
	case tInt2:
		return "smallint"
	case tInt4:
		return "integer"
	case tInt8:
		return "bigint"
	case tFloat4:
		return "real"
	case tFloat8:
		return "double precision"
	case tVarchar:
		if mod >= 4 {
			return "character varying(" + strconv.Itoa(int(mod-4)) + ")"
		}
		return "character varying"
	case tBPChar:
		if mod >= 4 {
			return "character(" + strconv.Itoa(int(mod-4)) + ")"
		}
		return "character"
	case tChar:
		return `"char"`
	case tName:
		return "name"
	case tNumeric:
		if mod >= 4 {
			m := mod - 4
			return fmt.Sprintf("numeric(%d,%d)", (m>>16)&0xffff, m&0xffff)
		}
		return "numeric"
	case tTimestamp:
		return withPrecision("timestamp", mod, " without time zone")
	case tTimestamptz:
		return withPrecision("timestamp", mod, " with time zone")
	case 1083:
		return withPrecision("time", mod, " without time zone")
	case 1266:
		return withPrecision("time", mod, " with time zone")
	case tInterval:
		return withMod("interval")
	case 1560:
		return withMod("bit")
	case 1562:
		return withMod("bit varying")
	}
	if ti.nsp != pgCatalogNamespace {
		return snapshot().nspName[ti.nsp] + "." + ti.name
	}
	return ti.name
}

func withPrecision(base string, mod int32, suffix string) string {
	if mod >= 0 {
		return base + "(" + strconv.Itoa(int(mod)) + ")" + suffix
	}
	return base + suffix
}

// typeName is a type's name in error messages.
func (x *executor) typeName(oid uint32) string {
	if oid == tUnknown {
		return "unknown"
	}
	return x.formatType(oid, -1)
}

// setting reads a session setting, else the value PostgreSQL 15 shows
// in pg_settings (block_size, max_index_keys, …).
func (x *executor) setting(name string) (string, bool) {
	if v, ok := x.s.Setting(name); ok {
		return v, true
	}
	r := snapshot().rels["pg_catalog.pg_settings"]
	for _, row := range r.rows {
		if strings.EqualFold(row[0].(string), name) {
			return row[1].(string), true
		}
	}
	return "", false
}
