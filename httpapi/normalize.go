package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/query"
)

// Cube's query types: one query, a query with compareDateRange (one query
// per range), and an array of queries blended on a time axis.
const (
	regularQuery          = "regularQuery"
	compareDateRangeQuery = "compareDateRangeQuery"
	blendingQuery         = "blendingQuery"
)

// cubeRequest is a request's queries as Cube's gateway reads them
// (getNormalizedQueries in its api-gateway).
type cubeRequest struct {
	// queryType is Cube's: regularQuery, compareDateRangeQuery or
	// blendingQuery.
	queryType string
	// clientType is the request's queryType parameter: "multi" from
	// @cubejs-client/core 1.x, "" from older clients and curl.
	clientType string
	// array: the request sent an array of queries.
	array   bool
	queries []*cubeQuery
}

// multi reports whether the answer is Cube's {queryType, results,
// pivotQuery, slowQuery}.
func (r *cubeRequest) multi() bool { return r.clientType == "multi" }

// cubeQuery is one query of a request: q is what compiles (normalized:
// member.granularity dimensions as time dimensions, date ranges resolved,
// filters keyed member, Cube's default order made explicit), the rest is
// what the answer echoes.
type cubeQuery struct {
	q cubes.Query
	// order is the order as sent (nil: none), which the echo shows.
	order cubes.Order
	// side holds what cubes.Query does not: renewQuery, responseFormat.
	side querySide
	// compareRange is the date range of a compareDateRange query's part:
	// its rows carry "compareDateRange": "from - to".
	compareRange string
	// blendKey is "time.<granularity>" for a blending query's part: its
	// rows carry it with the value of its first time dimension.
	blendKey string

	c   *cubes.Compiled
	lim rowLimit
	// cache is what the query asks of the result cache.
	cache cachePolicy
	// rollup is the pre-aggregation answering the query from engine, the
	// rollup store (nil: the warehouse).
	rollup *cubes.PreAggregation
	engine query.Engine
	// tables is the query compiled for the cubes' tables when a rollup
	// answers: the way back if its table is gone.
	tables *cubes.Compiled
}

// querySide is what a query may carry beyond cubes.Query.
type querySide struct {
	RenewQuery     *bool  `json:"renewQuery"`
	ResponseFormat string `json:"responseFormat"`
}

// readCubeRequest reads and normalizes a request's queries (a.queries
// reads the body, under its bounds and slots). Errors are *statusError.
func (a *REST) readCubeRequest(r *http.Request, now time.Time) (*cubeRequest, func(), error) {
	var scan *bodyScan
	if r.Method != http.MethodGet && r.Body != nil {
		scan = &bodyScan{rc: r.Body}
		r.Body = scan
	}
	qs, array, release, err := a.queries(r)
	clientType := r.URL.Query().Get("queryType")
	// src holds a small query to read again: the body ({"query": …}) up to
	// largeBody, or ?query=.
	var src []byte
	if scan != nil {
		if !scan.bad && scan.queryType != "" {
			clientType = scan.queryType
		}
		if !scan.overflow {
			src = scan.small
		}
	} else {
		src = []byte(r.URL.Query().Get("query"))
	}
	var raw json.RawMessage // the query itself, when it is read again whole
	if err != nil {
		var se *statusError
		if !errors.As(err, &se) || se.status != http.StatusBadRequest || len(src) == 0 {
			return nil, release, err
		}
		// Cube takes filter values as numbers and booleans too, and a
		// query sent as a JSON string: a small query is read so before it
		// is refused.
		if raw = queryOf(src, scan != nil); len(raw) == 0 {
			return nil, release, err
		}
		lq, larray, lerr := lenientQueries(raw)
		if lerr != nil {
			return nil, release, err
		}
		if a.checkFilterValues(lq) != nil {
			return nil, release, err
		}
		qs, array = lq, larray
	}
	sides := make([]querySide, len(qs))
	switch {
	case raw != nil && array:
		json.Unmarshal(raw, &sides)
	case raw != nil:
		json.Unmarshal(raw, &sides[0])
	case scan != nil:
		if !scan.bad && len(scan.sides) == len(qs) {
			sides = scan.sides
		}
	case array:
		json.Unmarshal(src, &sides)
	default:
		json.Unmarshal(src, &sides[0])
	}
	if len(sides) != len(qs) {
		sides = make([]querySide, len(qs))
	}
	req, err := normalizeRequest(qs, sides, array, clientType, now)
	return req, release, err
}

// queryOf is the query of a request read again: the body's "query" (or
// src itself for ?query=), a query sent as a JSON string unquoted.
func queryOf(src []byte, inBody bool) json.RawMessage {
	raw := json.RawMessage(src)
	if inBody {
		var b struct {
			Query json.RawMessage `json:"query"`
		}
		if json.Unmarshal(src, &b) != nil {
			return nil
		}
		raw = b.Query
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	return raw
}

// lenientQueries decodes a query (or an array of them) whose filter
// values hold numbers or booleans, as Cube does: their text.
func lenientQueries(raw json.RawMessage) ([]cubes.Query, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	var fix func(fs any)
	fix = func(fs any) {
		list, _ := fs.([]any)
		for _, f := range list {
			obj, ok := f.(map[string]any)
			if !ok {
				continue
			}
			if vals, ok := obj["values"].([]any); ok {
				for i, x := range vals {
					switch y := x.(type) {
					case json.Number:
						vals[i] = y.String()
					case bool:
						vals[i] = strconv.FormatBool(y)
					}
				}
			}
			fix(obj["and"])
			fix(obj["or"])
		}
	}
	array := false
	var list []any
	switch x := v.(type) {
	case []any:
		array, list = true, x
	case map[string]any:
		list = []any{x}
	default:
		return nil, false, fmt.Errorf("a query is an object")
	}
	for _, q := range list {
		if obj, ok := q.(map[string]any); ok {
			fix(obj["filters"])
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, false, err
	}
	var qs []cubes.Query
	if err := json.Unmarshal(b, &qs); err != nil {
		return nil, false, err
	}
	if len(qs) == 0 {
		return nil, false, fmt.Errorf("no query")
	}
	return qs, array, nil
}

func badRequest(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// normalizeRequest tells the request's query type and normalizes its
// queries as Cube's gateway does: compareDateRange expanded to one query
// per range, a blending query's granularities checked.
func normalizeRequest(qs []cubes.Query, sides []querySide, array bool, clientType string, now time.Time) (*cubeRequest, error) {
	req := &cubeRequest{queryType: regularQuery, clientType: clientType, array: array}
	if array {
		req.queryType = blendingQuery
		for _, q := range qs {
			for _, td := range q.TimeDimensions {
				if len(td.CompareDateRange) > 0 {
					// Cube would answer the query as if it had no date
					// range: refuse it rather than answer wrong data.
					return nil, badRequest("compareDateRange is not supported in an array of queries: send it as a single query")
				}
			}
		}
	}
	var ranges []cubes.DateRange
	compareAt := -1
	if !array {
		for i, td := range qs[0].TimeDimensions {
			if td.CompareDateRange == nil {
				continue
			}
			if compareAt >= 0 {
				return nil, badRequest("compareDateRange can only exist for one timeDimension")
			}
			if !td.DateRange.IsZero() {
				return nil, badRequest(`%s: "dateRange" and "compareDateRange" exclude each other`, td.Dimension)
			}
			compareAt, ranges = i, td.CompareDateRange
		}
		if compareAt >= 0 {
			if len(ranges) == 0 {
				return nil, badRequest("compareDateRange of %s holds no date range", qs[0].TimeDimensions[compareAt].Dimension)
			}
			req.queryType = compareDateRangeQuery
			base := qs[0]
			qs = make([]cubes.Query, len(ranges))
			for i, r := range ranges {
				cp := base
				cp.TimeDimensions = slices.Clone(base.TimeDimensions)
				cp.TimeDimensions[compareAt].CompareDateRange = nil
				cp.TimeDimensions[compareAt].DateRange = r
				qs[i] = cp
			}
			sides = slices.Repeat(sides[:1], len(ranges))
		}
	}
	for i := range qs {
		switch sides[i].ResponseFormat {
		case "", "default", "compact":
		default:
			// Cube's columnar format is not written here: refused rather
			// than answered in another shape.
			return nil, badRequest(`responseFormat %q is not supported: use "default" or "compact"`, sides[i].ResponseFormat)
		}
		cq, err := normalizeQuery(qs[i], now)
		if err != nil {
			return nil, err
		}
		cq.side = sides[i]
		if compareAt >= 0 {
			cq.compareRange = strings.Join(cq.q.TimeDimensions[compareAt].DateRange.Pair, " - ")
		}
		req.queries = append(req.queries, cq)
	}
	return req, nil
}

// checkBlending checks a blending query as Cube does: blended on one time
// axis, every query's first time dimension has the same granularity.
func (r *cubeRequest) checkBlending() error {
	if r.queryType != blendingQuery {
		return nil
	}
	var grans []string
	for _, cq := range r.queries {
		if tds := cq.q.TimeDimensions; len(tds) > 0 && tds[0].Granularity != "" && !slices.Contains(grans, tds[0].Granularity) {
			grans = append(grans, tds[0].Granularity)
		}
	}
	switch {
	case len(grans) > 1:
		return badRequest("Data blending query granularities must match")
	case len(grans) == 0:
		return badRequest("Data blending query without granularity is not supported")
	}
	for _, cq := range r.queries {
		if tds := cq.q.TimeDimensions; len(tds) > 0 && tds[0].Granularity != "" {
			cq.blendKey = "time." + tds[0].Granularity
		}
	}
	return nil
}

// normalizeQuery normalizes one query as Cube's normalizeQuery does.
func normalizeQuery(q cubes.Query, now time.Time) (*cubeQuery, error) {
	cq := &cubeQuery{order: q.Order}
	if q.Timezone == "" {
		q.Timezone = "UTC"
	}
	loc := time.UTC
	if !postgres.IsUTC(q.Timezone) {
		l, err := postgres.Location(q.Timezone)
		if err != nil {
			return nil, badRequest("unknown time zone %q: use an IANA time zone name such as Europe/Paris", q.Timezone)
		}
		loc = l
	}
	// "orders.created_at.month" in dimensions is a time dimension with a
	// granularity, listed after the query's own.
	var dims []string
	var extra []cubes.TimeDimension
	for _, d := range q.Dimensions {
		if dim, gran, ok := cubes.GranularMember(d); ok {
			extra = append(extra, cubes.TimeDimension{Dimension: dim, Granularity: gran})
			continue
		}
		dims = append(dims, d)
	}
	if q.Dimensions != nil && dims == nil {
		dims = []string{}
	}
	q.Dimensions = dims
	tds := make([]cubes.TimeDimension, 0, len(q.TimeDimensions)+len(extra))
	for _, td := range q.TimeDimensions {
		if !td.DateRange.IsZero() {
			pair, err := cubes.ResolveDateRange(td.DateRange, now, loc)
			if err != nil {
				return nil, badRequest("dateRange of %s: %v", td.Dimension, err)
			}
			td.DateRange = cubes.DateRange{Pair: pair}
		}
		tds = append(tds, td)
	}
	q.TimeDimensions = append(tds, extra...)
	q.Filters = normalizeFilters(q.Filters)
	// Cube orders a query without an order (or with an empty one) by its
	// first time dimension with a granularity, else by its first measure
	// descending when it has dimensions, else by its first dimension.
	if len(q.Order) == 0 {
		q.Order = defaultOrder(&q)
	}
	cq.q = q
	return cq, nil
}

// normalizeFilters keys every filter by member (Cube's legacy key is
// dimension).
func normalizeFilters(fs []cubes.Filter) []cubes.Filter {
	if fs == nil {
		return nil
	}
	out := make([]cubes.Filter, len(fs))
	for i, f := range fs {
		if f.Member == "" {
			f.Member, f.Dimension = f.Dimension, ""
		} else {
			f.Dimension = ""
		}
		f.And = normalizeFilters(f.And)
		f.Or = normalizeFilters(f.Or)
		out[i] = f
	}
	return out
}

// defaultOrder is Cube's order for a query that gives none (its
// BaseQuery.defaultOrder): never nil, empty when nothing orders.
func defaultOrder(q *cubes.Query) cubes.Order {
	for _, td := range q.TimeDimensions {
		if td.Granularity != "" {
			return cubes.Order{{ID: td.Dimension}}
		}
	}
	switch {
	case len(q.Measures) > 0 && len(q.Dimensions) > 0:
		return cubes.Order{{ID: q.Measures[0], Desc: true}}
	case len(q.Dimensions) > 0:
		return cubes.Order{{ID: q.Dimensions[0]}}
	}
	return cubes.Order{}
}

// echoTimeDimension is a time dimension as Cube echoes it.
type echoTimeDimension struct {
	Dimension   string   `json:"dimension"`
	DateRange   []string `json:"dateRange,omitempty"`
	Granularity string   `json:"granularity,omitempty"`
}

// echoQuery is the normalized query Cube 1.x echoes in "query" and
// "pivotQuery" (its NormalizedQuery, fields in its order).
type echoQuery struct {
	Measures       []string            `json:"measures,omitzero"`
	Dimensions     []string            `json:"dimensions"`
	TimeDimensions []echoTimeDimension `json:"timeDimensions"`
	Segments       []string            `json:"segments,omitzero"`
	Limit          *int64              `json:"limit,omitempty"`
	Offset         *int64              `json:"offset,omitempty"`
	Total          *bool               `json:"total,omitempty"`
	Timezone       string              `json:"timezone"`
	RenewQuery     *bool               `json:"renewQuery,omitempty"`
	Ungrouped      *bool               `json:"ungrouped,omitempty"`
	ResponseFormat string              `json:"responseFormat,omitempty"`
	Filters        []cubes.Filter      `json:"filters"`
	RowLimit       *int64              `json:"rowLimit,omitempty"`
	Order          cubes.Order         `json:"order,omitzero"`
	QueryType      string              `json:"queryType,omitempty"`
}

func boolPtr(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

// echo is the query as the answer shows it: normalized, the key's row
// filters among its filters, its limit (the default one when it gave
// none) also as rowLimit, its order as sent.
func (cq *cubeQuery) echo() echoQuery {
	q := &cq.q
	e := echoQuery{
		Measures:       q.Measures,
		Dimensions:     q.Dimensions,
		Segments:       q.Segments,
		Limit:          q.Limit,
		Total:          boolPtr(q.Total),
		Timezone:       q.Timezone,
		RenewQuery:     cq.side.RenewQuery,
		Ungrouped:      boolPtr(q.Ungrouped),
		ResponseFormat: cq.side.ResponseFormat,
		Filters:        q.Filters,
		RowLimit:       q.Limit,
		Order:          cq.order,
	}
	if e.Dimensions == nil {
		e.Dimensions = []string{}
	}
	if e.Filters == nil {
		e.Filters = []cubes.Filter{}
	}
	if q.Offset > 0 {
		e.Offset = &q.Offset
	}
	e.TimeDimensions = make([]echoTimeDimension, len(q.TimeDimensions))
	for i, td := range q.TimeDimensions {
		e.TimeDimensions[i] = echoTimeDimension{Dimension: td.Dimension, DateRange: td.DateRange.Pair, Granularity: td.Granularity}
	}
	return e
}

// pivotQuery is Cube's pivotQuery of a request: the first query with
// the query type; for compareDateRange its dimensions led by
// "compareDateRange", for blending the measures and dimensions of every
// query and one time dimension "time" at their granularity.
func (r *cubeRequest) pivotQuery() echoQuery {
	p := r.queries[0].echo()
	switch r.queryType {
	case compareDateRangeQuery:
		p.Dimensions = append([]string{"compareDateRange"}, p.Dimensions...)
	case blendingQuery:
		var ms, ds []string
		for _, cq := range r.queries {
			for _, m := range cq.q.Measures {
				if !slices.Contains(ms, m) {
					ms = append(ms, m)
				}
			}
			for _, d := range cq.q.Dimensions {
				if !slices.Contains(ds, d) {
					ds = append(ds, d)
				}
			}
		}
		p.Measures, p.Dimensions = ms, ds
		if p.Dimensions == nil {
			p.Dimensions = []string{}
		}
		p.TimeDimensions = nil
		for _, cq := range r.queries {
			if tds := cq.q.TimeDimensions; len(tds) > 0 && tds[0].Granularity != "" {
				p.TimeDimensions = []echoTimeDimension{{Dimension: "time", Granularity: tds[0].Granularity}}
				break
			}
		}
		if p.TimeDimensions == nil {
			p.TimeDimensions = []echoTimeDimension{}
		}
	}
	p.QueryType = r.queryType
	return p
}

// orderObject writes an order as Cube's queryOrder and /sql's order do:
// {"member": "asc"|"desc"}, in order.
type orderObject cubes.Order

func (o orderObject) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	seen := map[string]bool{}
	for _, it := range o {
		if seen[it.ID] {
			continue
		}
		seen[it.ID] = true
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, it.ID)
		if it.Desc {
			buf = append(buf, `:"desc"`...)
		} else {
			buf = append(buf, `:"asc"`...)
		}
	}
	return append(buf, '}'), nil
}

// granularityLevel ranks granularities finest first, as Cube does to
// pick the value a time dimension's bare key shows.
func granularityLevel(g string) int {
	if i := slices.Index([]string{"second", "minute", "hour", "day", "week", "month", "quarter", "year"}, g); i >= 0 {
		return i + 1
	}
	return 10 // a custom granularity
}

// rowPlan is how a compiled query's rows are keyed, as Cube keys them:
// each column under its name; a time dimension with a granularity also
// under its bare name (the finest granularity's value when it has several)
// unless the query asks for the dimension itself; a compareDateRange
// query's rows with their range, a blending query's with the time axis.
type rowPlan struct {
	cols []planColumn
	// tail is appended to every row: `,"compareDateRange":"…"`.
	tail []byte
	// blendKey, when set, repeats the value of column blendCol.
	blendKey string
	blendCol int
}

type planColumn struct {
	index   int
	measure bool
	boolean bool // a boolean member: an integer from the warehouse is its truth
	keys    []string
}

// value spells the column's value in v as Cube's REST API does.
func (pc planColumn) value(vals []any) []byte {
	v := vals[pc.index]
	if n, ok := v.(int64); ok && pc.boolean {
		v = n != 0
	}
	return cubeValue(v, pc.measure)
}

func newRowPlan(cq *cubeQuery) *rowPlan {
	c := cq.c
	p := &rowPlan{blendCol: -1}
	bare := map[string]int{} // bare name → index in p.cols
	for i, col := range c.Columns {
		if col.Hidden {
			continue
		}
		// Row by row, a measure is its column's value (a count is the
		// integer 1), which Cube spells by its SQL type: integers as
		// numbers, as for dimensions; grouped, counts and sums are bigint
		// or numeric, spelled as strings.
		pc := planColumn{index: i, measure: col.IsMeasure() && !cq.q.Ungrouped, boolean: col.IsBoolean(), keys: []string{col.Name}}
		p.cols = append(p.cols, pc)
		if col.Granularity == "" {
			continue
		}
		name := cubes.FullName(col.Member)
		if slices.Contains(cq.q.Dimensions, name) {
			continue
		}
		if j, ok := bare[name]; ok && granularityLevel(c.Columns[p.cols[j].index].Granularity) < granularityLevel(col.Granularity) {
			continue
		}
		bare[name] = len(p.cols) - 1
	}
	for name, j := range bare {
		p.cols[j].keys = append(p.cols[j].keys, name)
	}
	if cq.compareRange != "" {
		p.tail = append(p.tail, `,"compareDateRange":`...)
		p.tail = strconv.AppendQuote(p.tail, cq.compareRange)
	}
	if cq.blendKey != "" && len(cq.q.TimeDimensions) > 0 {
		td := cq.q.TimeDimensions[0]
		for i, pc := range p.cols {
			if c.Columns[pc.index].Name == td.Dimension+"."+td.Granularity {
				p.blendKey, p.blendCol = cq.blendKey, i
				break
			}
		}
	}
	return p
}

// members are the keys of a row in Cube's compact format: the columns,
// then the bare time dimensions, then compareDateRange or the time axis.
func (p *rowPlan) members() []string {
	out := make([]string, 0, len(p.cols)+2)
	for _, pc := range p.cols {
		out = append(out, pc.keys[0])
	}
	for _, pc := range p.cols {
		out = append(out, pc.keys[1:]...)
	}
	if len(p.tail) > 0 {
		out = append(out, "compareDateRange")
	}
	if p.blendKey != "" {
		out = append(out, p.blendKey)
	}
	return out
}

// appendCompact writes one row in Cube's compact format: its values in
// the order of members.
func (p *rowPlan) appendCompact(buf []byte, vals []any) []byte {
	buf = append(buf, '[')
	for i, pc := range p.cols {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, pc.value(vals)...)
	}
	for _, pc := range p.cols {
		for range pc.keys[1:] {
			buf = append(buf, ',')
			buf = append(buf, pc.value(vals)...)
		}
	}
	if len(p.tail) > 0 {
		// p.tail is `,"compareDateRange":"…"`: its value.
		buf = append(buf, ',')
		buf = append(buf, p.tail[len(`,"compareDateRange":`):]...)
	}
	if p.blendCol >= 0 {
		buf = append(buf, ',')
		buf = append(buf, p.cols[p.blendCol].value(vals)...)
	}
	return append(buf, ']')
}

// appendRow writes one row as Cube does (see rowPlan).
func (p *rowPlan) appendRow(buf []byte, vals []any) []byte {
	buf = append(buf, '{')
	first := true
	var blend []byte
	for i, pc := range p.cols {
		v := pc.value(vals)
		for _, key := range pc.keys {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = strconv.AppendQuote(buf, key)
			buf = append(buf, ':')
			buf = append(buf, v...)
		}
		if i == p.blendCol {
			blend = v
		}
	}
	buf = append(buf, p.tail...)
	if blend != nil {
		buf = append(buf, ',')
		buf = strconv.AppendQuote(buf, p.blendKey)
		buf = append(buf, ':')
		buf = append(buf, blend...)
	}
	return append(buf, '}')
}

// transformedQuery describes a query as Cube's dry-run does
// (canUseTransformedQuery, what pre-aggregation matching reads), from
// what cubegate knows of it: its members, their additivity, its time
// dimensions and filters. cubegate has no pre-aggregations, so no
// granularity hierarchy is given.
func transformedQuery(m *cubes.Model, q *cubes.Query) map[string]any {
	measures := append([]string{}, q.Measures...)
	dims := append([]string{}, q.Dimensions...)
	slices.Sort(dims)
	var tds, tdsAsIs [][]any
	noBare := true
	for _, td := range q.TimeDimensions {
		if td.Granularity == "" {
			noBare = false
			tdsAsIs = append(tdsAsIs, []any{td.Dimension, nil})
			continue
		}
		tds = append(tds, []any{td.Dimension, td.Granularity})
		tdsAsIs = append(tdsAsIs, []any{td.Dimension, td.Granularity})
	}
	sortPairs := func(ps [][]any) [][]any {
		out := slices.Clone(ps)
		slices.SortFunc(out, func(a, b []any) int { return strings.Compare(fmt.Sprint(a...), fmt.Sprint(b...)) })
		if out == nil {
			out = [][]any{}
		}
		return out
	}
	additive := true
	leafs := map[string]any{}
	for _, name := range q.Measures {
		typ := ""
		if mem, err := m.Member(name); err == nil {
			if ms, ok := mem.(*cubes.Measure); ok {
				typ = string(ms.Type)
			}
		}
		add := slices.Contains([]string{"count", "sum", "min", "max", "count_distinct_approx"}, typ)
		additive = additive && add
		leafs[name] = []any{map[string]any{"measure": name, "additive": add, "type": cubeMeasureType(typ)}}
	}
	selected := map[string]bool{}
	for _, d := range q.Dimensions {
		selected[d] = true
	}
	for _, td := range q.TimeDimensions {
		selected[td.Dimension] = true
	}
	within := true
	cubes.EachFilter(q.Filters, func(f cubes.Filter) {
		if name := f.MemberName(); name != "" && !selected[name] {
			within = false
		}
	})
	return map[string]any{
		"allFiltersWithinSelectedDimensions":       within,
		"granularityHierarchies":                   map[string]any{},
		"hasNoTimeDimensionsWithoutGranularity":    noBare,
		"isAdditive":                               additive,
		"leafMeasureAdditive":                      additive,
		"leafMeasures":                             measures,
		"measures":                                 measures,
		"measureToLeafMeasures":                    leafs,
		"sortedDimensions":                         dims,
		"sortedTimeDimensions":                     sortPairs(tds),
		"timeDimensions":                           nonNilPairs(tds),
		"ownedDimensions":                          dims,
		"ownedTimeDimensionsAsIs":                  sortPairs(tdsAsIs),
		"ownedTimeDimensionsWithRollupGranularity": sortPairs(tds),
		"ungrouped": func() any {
			if q.Ungrouped {
				return true
			}
			return nil
		}(),
	}
}

func nonNilPairs(ps [][]any) [][]any {
	if ps == nil {
		return [][]any{}
	}
	return ps
}

// cubeMeasureType spells a measure type as Cube's schema does.
func cubeMeasureType(t string) string {
	switch t {
	case "count_distinct":
		return "countDistinct"
	case "count_distinct_approx":
		return "countDistinctApprox"
	}
	return t
}

// userError is a query Cube refuses as a UserError, with Cube's message:
// 400 {"type": "UserError", "error"}.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// cubeOperators are the filter operators Cube's query format allows.
var cubeOperators = []string{"equals", "notEquals", "contains", "notContains", "startsWith", "notStartsWith",
	"endsWith", "notEndsWith", "in", "notIn", "gt", "gte", "lt", "lte", "set", "notSet", "inDateRange",
	"notInDateRange", "onTheDate", "beforeDate", "beforeOrOnDate", "afterDate", "afterOrOnDate", "measureFilter"}

// checkQuery refuses what Cube refuses before it compiles a query, with
// its messages: a filter that is not of its format (an unknown or missing
// operator), a member that is not of its kind in the model.
func checkQuery(m *cubes.Model, q *cubes.Query) error {
	var leafOK func(f cubes.Filter) bool
	leafOK = func(f cubes.Filter) bool {
		if f.And != nil || f.Or != nil {
			for _, g := range append(slices.Clone(f.And), f.Or...) {
				if !leafOK(g) {
					return false
				}
			}
			return true
		}
		return slices.Contains(cubeOperators, f.Operator)
	}
	for i, f := range q.Filters {
		if !leafOK(f) {
			return badRequest(`Invalid query format: "filters[%d]" does not match any of the allowed types`, i)
		}
	}
	granular := false
	for _, td := range q.TimeDimensions {
		granular = granular || td.Granularity != ""
	}
	if len(q.Measures) == 0 && len(q.Dimensions) == 0 && !granular {
		return &userError{"Query should contain either measures, dimensions or timeDimensions with granularities in order to be valid"}
	}
	notFound := func(path string) error {
		cube, name, _ := strings.Cut(path, ".")
		if _, ok := m.Cube(cube); !ok {
			return &sqlStateError{&userError{fmt.Sprintf("Cube '%s' not found for path '%s'", cube, path)}, pgerrcode.UndefinedTable}
		}
		return &sqlStateError{&userError{fmt.Sprintf("'%s' not found for path '%s'", name, path)}, pgerrcode.UndefinedColumn}
	}
	kind := func(names []string, ok func(cubes.Member) bool) error {
		for _, name := range names {
			mem, err := m.Member(name)
			if err != nil || !ok(mem) {
				return notFound(name)
			}
		}
		return nil
	}
	isMeasure := func(mem cubes.Member) bool { _, ok := mem.(*cubes.Measure); return ok }
	isDimension := func(mem cubes.Member) bool { _, ok := mem.(*cubes.Dimension); return ok }
	isSegment := func(mem cubes.Member) bool { _, ok := mem.(*cubes.Segment); return ok }
	anyKind := func(cubes.Member) bool { return true }
	var tds, filtered []string
	for _, td := range q.TimeDimensions {
		tds = append(tds, td.Dimension)
	}
	cubes.EachFilter(q.Filters, func(f cubes.Filter) {
		if name := f.MemberName(); name != "" {
			filtered = append(filtered, name)
		}
	})
	for _, err := range []error{kind(q.Measures, isMeasure), kind(q.Dimensions, isDimension), kind(tds, isDimension),
		kind(q.Segments, isSegment), kind(filtered, anyKind)} {
		if err != nil {
			return err
		}
	}
	return nil
}

// ungroupedError is Cube's refusal of an ungrouped query without the
// primary keys of the cubes it reads, naming every one missing.
func ungroupedError(m *cubes.Model, q *cubes.Query, compilerMsg string) error {
	have := map[string]bool{}
	for _, d := range q.Dimensions {
		if mem, err := m.Member(d); err == nil {
			if o := cubes.Origin(mem); o != nil {
				mem = o
			}
			have[cubes.FullName(mem)] = true
		}
	}
	var missing []string
	for _, name := range q.Members() {
		mem, err := m.Member(name)
		if err != nil {
			continue
		}
		if o := cubes.Origin(mem); o != nil {
			mem = o
		}
		pk := mem.OwnerCube().PrimaryKey()
		if pk == nil {
			continue
		}
		if key := cubes.FullName(pk); !have[key] && !slices.Contains(missing, "'"+key+"'") {
			missing = append(missing, "'"+key+"'")
		}
	}
	if len(missing) == 0 {
		return &userError{compilerMsg}
	}
	return &userError{fmt.Sprintf("Ungrouped query requires primary keys to be present in dimensions: %s. Pass allowUngroupedWithoutPrimaryKey option to disable this check.", strings.Join(missing, ", "))}
}
