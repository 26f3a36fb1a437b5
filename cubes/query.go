package cubes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cubegate/cubegate/postgres"
)

// Query is Cube's REST query, field for field: what /cubejs-api/v1/load
// decodes and what the SQL planner binds a statement to.
type Query struct {
	Measures       []string        `json:"measures,omitempty"`
	Dimensions     []string        `json:"dimensions,omitempty"`
	TimeDimensions []TimeDimension `json:"timeDimensions,omitempty"`
	Filters        []Filter        `json:"filters,omitempty"`
	Segments       []string        `json:"segments,omitempty"`
	// Order nil means Cube's default ordering; an empty, non-nil Order means
	// no ORDER BY at all (what the SQL API sends for a statement without one).
	Order     Order  `json:"order,omitzero"`
	Limit     *int64 `json:"limit,omitempty"`
	Offset    int64  `json:"offset,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
	Total     bool   `json:"total,omitempty"`
	Ungrouped bool   `json:"ungrouped,omitempty"`
}

// TimeDimension groups or filters by a time dimension.
type TimeDimension struct {
	Dimension        string      `json:"dimension"`
	Granularity      string      `json:"granularity,omitempty"`
	DateRange        DateRange   `json:"dateRange,omitzero"`
	CompareDateRange []DateRange `json:"compareDateRange,omitempty"`
}

// DateRange is either a [from, to] pair or a relative string such as
// "last 7 days"; exactly one of the fields is set.
type DateRange struct {
	Pair     []string
	Relative string
}

func (r *DateRange) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return json.Unmarshal(b, &r.Pair)
	}
	return json.Unmarshal(b, &r.Relative)
}

func (r DateRange) MarshalJSON() ([]byte, error) {
	if r.Pair != nil {
		return json.Marshal(r.Pair)
	}
	return json.Marshal(r.Relative)
}

// IsZero lets omitempty drop an unset range.
func (r DateRange) IsZero() bool { return r.Pair == nil && r.Relative == "" }

// Filter is a member filter or an and/or group of filters.
type Filter struct {
	Member    string   `json:"member,omitempty"`
	Dimension string   `json:"dimension,omitempty"` // legacy spelling of Member
	Operator  string   `json:"operator,omitempty"`
	Values    []string `json:"values,omitempty"`
	And       []Filter `json:"and,omitempty"`
	Or        []Filter `json:"or,omitempty"`
}

// MemberName returns Member, or the legacy Dimension.
func (f Filter) MemberName() string {
	if f.Member != "" {
		return f.Member
	}
	return f.Dimension
}

// OrderItem is one ORDER BY key.
type OrderItem struct {
	ID   string
	Desc bool
}

// Order is the query's ordering. It decodes Cube's object form
// {"a.b": "desc"} (key order kept) and array forms [["a.b","asc"]] and
// [{"id":"a.b","desc":true}].
type Order []OrderItem

func (o *Order) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	out := Order{}
	dirDesc := func(s string) (bool, error) {
		switch s {
		case "asc":
			return false, nil
		case "desc":
			return true, nil
		}
		return false, fmt.Errorf("order direction %q: want asc or desc", s)
	}
	if len(b) > 0 && b[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			var dir string
			if err := dec.Decode(&dir); err != nil {
				return err
			}
			d, err := dirDesc(dir)
			if err != nil {
				return err
			}
			out = append(out, OrderItem{ID: kt.(string), Desc: d})
		}
		*o = out
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("order: want an object or an array")
	}
	for _, r := range raw {
		var pair []string
		if json.Unmarshal(r, &pair) == nil && len(pair) == 2 {
			d, err := dirDesc(pair[1])
			if err != nil {
				return err
			}
			out = append(out, OrderItem{ID: pair[0], Desc: d})
			continue
		}
		var obj struct {
			ID   string `json:"id"`
			Desc bool   `json:"desc"`
		}
		if err := json.Unmarshal(r, &obj); err != nil || obj.ID == "" {
			return fmt.Errorf("order item %s: want [member, direction] or {\"id\", \"desc\"}", r)
		}
		out = append(out, OrderItem{ID: obj.ID, Desc: obj.Desc})
	}
	*o = out
	return nil
}

func (o Order) MarshalJSON() ([]byte, error) {
	type item struct {
		ID   string `json:"id"`
		Desc bool   `json:"desc"`
	}
	items := make([]item, len(o))
	for i, it := range o {
		items[i] = item(it)
	}
	return json.Marshal(items)
}

// IsZero tells omitzero that only an absent order (Cube's default
// ordering) is left out; an empty order (no ORDER BY) is kept.
func (o Order) IsZero() bool { return o == nil }

// CompareQueries expands compareDateRange: one query per date range of
// the (single) time dimension that has them, in order. A query without
// compareDateRange expands to itself.
func (q Query) CompareQueries() ([]Query, error) {
	at := -1
	for i, td := range q.TimeDimensions {
		if len(td.CompareDateRange) > 0 {
			if at >= 0 {
				return nil, fmt.Errorf("compareDateRange is allowed on one time dimension only")
			}
			at = i
		}
	}
	if at < 0 {
		return []Query{q}, nil
	}
	out := make([]Query, 0, len(q.TimeDimensions[at].CompareDateRange))
	for _, r := range q.TimeDimensions[at].CompareDateRange {
		cp := q
		cp.TimeDimensions = append([]TimeDimension(nil), q.TimeDimensions...)
		cp.TimeDimensions[at].DateRange = r
		cp.TimeDimensions[at].CompareDateRange = nil
		out = append(out, cp)
	}
	return out, nil
}

// EachFilter calls visit for each filter of fs and, depth first, each
// filter of its and/or groups.
func EachFilter(fs []Filter, visit func(Filter)) {
	for _, f := range fs {
		visit(f)
		EachFilter(f.And, visit)
		EachFilter(f.Or, visit)
	}
}

// Members lists every member a query names: measures, dimensions, time
// dimensions, segments, filter members (nested ones too) and order keys.
func (q *Query) Members() []string {
	var out []string
	out = append(out, q.Measures...)
	out = append(out, q.Dimensions...)
	for _, td := range q.TimeDimensions {
		out = append(out, td.Dimension)
	}
	out = append(out, q.Segments...)
	EachFilter(q.Filters, func(f Filter) {
		if name := f.MemberName(); name != "" {
			out = append(out, name)
		}
	})
	for _, o := range q.Order {
		out = append(out, o.ID)
	}
	return out
}

// cubeTimeLayout is how Cube spells a date range bound and a timestamp:
// YYYY-MM-DDTHH:mm:ss.SSS, without a zone.
const cubeTimeLayout = "2006-01-02T15:04:05.000"

var bareDate = regexp.MustCompile(`^\d\d\d\d-\d\d-\d\d$`)

// ResolveDateRange is a date range as Cube's REST API normalizes it: a
// relative string ("last 7 days", "this month", "2023-06-15") resolved at
// now in loc to its first and last millisecond, a pair of bounds with a
// bare date's start at midnight and its end at 23:59:59.999, a bound with
// an offset moved to UTC, a single bound taken as both. The bounds are
// YYYY-MM-DDTHH:mm:ss.SSS, read in the query's time zone.
func ResolveDateRange(r DateRange, now time.Time, loc *time.Location) ([]string, error) {
	if r.Pair == nil {
		from, to, err := relativeRange(r.Relative, now, loc)
		if err != nil {
			return nil, err
		}
		return []string{from.Format(cubeTimeLayout), to.Format(cubeTimeLayout)}, nil
	}
	pair := r.Pair
	switch len(pair) {
	case 1:
		pair = []string{pair[0], pair[0]}
	case 2:
	default:
		return nil, fmt.Errorf("a dateRange holds one or two dates, not %d", len(pair))
	}
	out := make([]string, 2)
	for i, d := range pair {
		d = strings.TrimSpace(d)
		if bareDate.MatchString(d) {
			if _, _, err := postgres.ParseTimestamp(d, time.UTC); err != nil {
				return nil, fmt.Errorf("invalid date %q in dateRange", d)
			}
			out[i] = d + [2]string{"T00:00:00.000", "T23:59:59.999"}[i]
			continue
		}
		t, _, err := postgres.ParseTimestamp(d, time.UTC)
		if err != nil || t.Equal(postgres.Infinity) || t.Equal(postgres.NegativeInfinity) {
			return nil, fmt.Errorf("invalid date %q in dateRange", d)
		}
		out[i] = t.UTC().Format(cubeTimeLayout)
	}
	return out, nil
}

// GranularMember splits a dimension named with a granularity
// ("orders.created_at.month") into the time dimension and the
// granularity; ok is false for a plain "cube.member".
func GranularMember(name string) (dimension, granularity string, ok bool) {
	if strings.Count(name, ".") != 2 {
		return "", "", false
	}
	i := strings.LastIndexByte(name, '.')
	return name[:i], name[i+1:], true
}
