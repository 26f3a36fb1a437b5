package query

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// NormalizeREST is a REST query (Cube's query JSON) as the audit log
// keeps it, like SQL's normalized text: every value a client or a row
// filter supplies — filter values, at any depth of and/or, date ranges,
// compared date ranges — replaced by $1, $2, … in order, and a
// fingerprint of that form (the same for queries that differ only in
// values). Text that is not JSON is kept as nothing rather than raw.
func NormalizeREST(text string) (statement, fingerprint string) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return "", ""
	}
	n := 0
	param := func() string { n++; return "$" + strconv.Itoa(n) }
	var walk func(v any) any
	var values func(v any) any
	values = func(v any) any {
		switch x := v.(type) {
		case []any:
			for i := range x {
				x[i] = values(x[i])
			}
			return x
		case nil:
			return nil
		}
		return param()
	}
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			// In key order, as the JSON is written: the same query is
			// numbered the same way every time.
			for _, k := range slices.Sorted(maps.Keys(x)) {
				e := x[k]
				switch k {
				case "values", "dateRange", "compareDateRange":
					x[k] = values(e)
				default:
					x[k] = walk(e)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		return "", ""
	}
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:8])
}
