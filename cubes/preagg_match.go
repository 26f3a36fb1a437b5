package cubes

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cubegate/cubegate/postgres"
)

// MatchRollup returns the first rollup, in model order among the
// pre-aggregations of every cube and view the query names (a view's
// member counts for its cube too), that answers q exactly as the cubes
// would, with o.Policy's row filters treated as filters of q; nil when
// none does. Reasons hold one line per candidate for EXPLAIN:
// "orders.by_day: yes" or "orders.by_month: no — orders.customer_id
// (filter) not in the rollup". o.Now resolves relative date ranges.
//
// A rollup matches, as Cube's matching does, when every measure,
// dimension, segment, filter and row filter member of the query is in it
// (a number measure may be computed from the rollup's measures), its time
// dimension's granularity divides the query's, date bounds on it fall on
// its periods' boundaries (unless allow_non_strict_date_range_match), its
// measures combine (count, sum, min, max; others only when the query
// groups exactly as the rollup), no join multiplies a measure, the query
// is grouped and in UTC (rollups are built in UTC) and has no rolling
// window measure.
func (m *Model) MatchRollup(q *Query, o Options) (*PreAggregation, []string) {
	var found *PreAggregation
	var reasons []string
	for _, pa := range m.candidates(q) {
		mt := m.checkRollup(q, pa, o)
		line := pa.FullName() + ": "
		if mt.ok {
			line += "yes"
			if mt.note != "" {
				line += " — " + mt.note
			}
			if found == nil {
				found = pa
			}
		} else {
			line += "no — " + mt.why
		}
		reasons = append(reasons, line)
	}
	return found, reasons
}

// touchedCubes are the cubes and views q's members belong to, with the
// cubes (and views) a view's members stand for.
func (m *Model) touchedCubes(q *Query) map[*Cube]bool {
	touched := map[*Cube]bool{}
	for _, name := range q.Members() {
		mem, err := m.Member(name)
		if err != nil {
			if dim, _, ok := GranularMember(name); ok {
				mem, err = m.Member(dim)
			}
			if err != nil {
				continue
			}
		}
		touched[mem.OwnerCube()] = true
		for x := mem; x != nil; x = Source(x) {
			touched[x.OwnerCube()] = true
		}
		touched[resolveMember(mem).OwnerCube()] = true
	}
	return touched
}

// candidates are the pre-aggregations of the cubes and views q names,
// with the cubes a view's members stand for, in model order.
func (m *Model) candidates(q *Query) []*PreAggregation {
	touched := m.touchedCubes(q)
	var out []*PreAggregation
	for _, c := range m.Cubes {
		if touched[c] {
			out = append(out, c.PreAggregations...)
		}
	}
	return out
}

// rollupMatch is the verdict on one rollup: ok, or why not; exact when
// the query groups as the rollup (no re-aggregation needed); note says
// what a yes relies on.
type rollupMatch struct {
	ok, exact bool
	why, note string
}

func no(format string, args ...any) rollupMatch {
	return rollupMatch{why: fmt.Sprintf(format, args...)}
}

// rollupSet is a rollup's members by the cube members they stand for.
type rollupSet struct {
	pa       *PreAggregation
	dims     map[Member]bool
	segs     map[Member]bool
	measures map[Member]bool
	timeDim  Member
}

func newRollupSet(pa *PreAggregation) *rollupSet {
	s := &rollupSet{pa: pa, dims: map[Member]bool{}, segs: map[Member]bool{}, measures: map[Member]bool{}}
	for _, d := range pa.Dimensions {
		s.dims[resolveMember(d)] = true
	}
	for _, x := range pa.Segments {
		s.segs[resolveMember(x)] = true
	}
	for _, x := range pa.Measures {
		s.measures[resolveMember(x)] = true
	}
	if pa.TimeDimension != nil {
		s.timeDim = resolveMember(pa.TimeDimension)
	}
	return s
}

func (m *Model) checkRollup(q *Query, pa *PreAggregation, o Options) rollupMatch {
	if pa.Type != PreAggRollup {
		if pa.Type == PreAggOriginalSQL {
			return no("original_sql: once built, its table is read in place of the cube's by every query, not matched as a rollup")
		}
		return no("%s pre-aggregations are not matched (only rollups are)", pa.Type)
	}
	if q.Ungrouped {
		return no("an ungrouped query reads rows, not a rollup")
	}
	if q.Timezone != "" && !postgres.IsUTC(q.Timezone) {
		return no("the query's time zone %s is not the rollup's (UTC)", q.Timezone)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	rs := newRollupSet(pa)
	k := &matchCheck{m: m, rs: rs, now: now, nonStrict: pa.AllowNonStrictDateRangeMatch, seenMeasure: map[*Measure]bool{}}
	lookup := func(name string) (Member, bool) {
		mem, err := m.Member(name)
		if err != nil {
			k.fail("%s is not a member of the model", name)
			return nil, false
		}
		return mem, true
	}
	for _, name := range q.Measures {
		if mem, ok := lookup(name); ok {
			k.measure(mem, name, "measure")
		}
	}
	queryDims := map[Member]bool{}
	for _, name := range q.Dimensions {
		mem, ok := lookup(name)
		if !ok {
			continue
		}
		o := resolveMember(mem)
		queryDims[o] = true
		switch {
		case rs.dims[o]:
		case o == rs.timeDim:
			k.fail("%s (dimension) is in the rollup only by %s", name, pa.Granularity)
		default:
			k.fail("%s (dimension) not in the rollup", name)
		}
	}
	queryGran := ""
	for _, td := range q.TimeDimensions {
		mem, ok := lookup(td.Dimension)
		if !ok {
			continue
		}
		o := resolveMember(mem)
		if len(td.CompareDateRange) > 0 {
			k.fail("compareDateRange is answered one date range at a time")
			continue
		}
		if td.Granularity != "" {
			queryDims[o] = true
		}
		if rs.dims[o] {
			continue // raw values: any granularity, any range
		}
		if o != rs.timeDim {
			k.fail("%s (time dimension) not in the rollup", td.Dimension)
			continue
		}
		d := o.(*Dimension)
		if g := td.Granularity; g != "" {
			delete(queryDims, o)
			queryGran = g
			if !divides(pa.Granularity, g, d) {
				k.fail("%s by %s cannot be computed from the rollup's %s", td.Dimension, g, pa.Granularity)
				continue
			}
		}
		if !td.DateRange.IsZero() {
			bounds, err := ResolveDateRange(td.DateRange, now, time.UTC)
			if err != nil {
				k.fail("dateRange of %s: %v", td.Dimension, err)
				continue
			}
			k.rangeAligned(td.Dimension, d, "dateRange", bounds[0], bounds[1])
		}
	}
	querySegs := map[Member]bool{}
	for _, name := range q.Segments {
		mem, ok := lookup(name)
		if !ok {
			continue
		}
		querySegs[resolveMember(mem)] = true
		if !rs.segs[resolveMember(mem)] {
			k.fail("%s (segment) not in the rollup", name)
		}
	}
	EachFilter(q.Filters, func(f Filter) { k.filter(f, "filter") })
	for _, it := range q.Order {
		if mem, err := m.Member(it.ID); err == nil {
			if _, ok := mem.(*Measure); ok {
				k.measure(mem, it.ID, "order")
			}
		}
	}
	var rowFilters []Filter
	if o.Policy != nil && k.why == "" {
		cubes, err := m.CubesRead(q)
		if err != nil {
			return no("%s", errMessage(err))
		}
		for _, c := range cubes {
			rowFilters = append(rowFilters, o.Policy.RowFilters(c)...)
		}
		EachFilter(rowFilters, func(f Filter) { k.filter(f, "row filter") })
		for _, c := range cubes {
			for _, d := range rs.pa.Dimensions {
				if x, ok := resolveMember(d).(*Dimension); ok && x.SubQuery && len(o.Policy.RowFilters(c)) > 0 {
					if sc, err := m.subQueryCube(x); err == nil && sc == c {
						k.fail("row filters on %s apply inside %s, which the rollup holds unfiltered", c.Name, FullName(d))
					}
				}
			}
		}
	}
	if k.why != "" {
		return rollupMatch{why: k.why}
	}
	if why := m.checkJoins(q, pa, k.leaves); why != "" {
		return rollupMatch{why: why}
	}
	if why := m.contextCheck(q, pa, o); why != "" {
		return rollupMatch{why: why}
	}
	// Exact: one rollup row per result row, so measures that do not
	// combine may be read as they are.
	exact := queryGran == pa.Granularity && len(queryDims) == len(rs.dims)
	for d := range rs.dims {
		exact = exact && queryDims[d]
	}
	for s := range rs.segs {
		exact = exact && querySegs[s]
	}
	if len(k.nonAdditive) > 0 && !exact {
		return no("%s (%s) does not combine across rollup rows: the query must group exactly by the rollup's dimensions%s",
			k.nonAdditive[0], k.nonAdditiveType[0], granularityNote(pa))
	}
	return rollupMatch{ok: true, exact: exact, note: strings.Join(k.notes, "; ")}
}

func granularityNote(pa *PreAggregation) string {
	if pa.TimeDimension == nil {
		return ""
	}
	return " and " + FullName(pa.TimeDimension) + " by " + pa.Granularity
}

// matchCheck gathers the first reason a rollup does not match.
type matchCheck struct {
	m           *Model
	rs          *rollupSet
	now         time.Time
	nonStrict   bool
	why         string
	notes       []string
	leaves      []*Measure // the rollup's measures the query reads
	seenMeasure map[*Measure]bool
	// nonAdditive are measures read that do not combine (and their types).
	nonAdditive, nonAdditiveType []string
}

func (k *matchCheck) fail(format string, args ...any) {
	if k.why == "" {
		k.why = fmt.Sprintf(format, args...)
	}
}

// measure checks a measure the query reads (as role).
func (k *matchCheck) measure(mem Member, name, role string) {
	x, ok := resolveMember(mem).(*Measure)
	if !ok {
		return
	}
	if x.Rolling != nil {
		k.fail("%s is a rolling window measure: its windows need raw rows", name)
		return
	}
	if why := k.leaf(x, name); why != "" {
		k.fail("%s (%s) %s", name, role, why)
	}
}

// leaf checks that measure x is read from the rollup: one of its
// measures, or a number measure over such measures. It returns why not.
func (k *matchCheck) leaf(x *Measure, name string) string {
	if k.rs.measures[x] {
		if !k.seenMeasure[x] {
			k.seenMeasure[x] = true
			k.leaves = append(k.leaves, x)
			switch x.Type {
			case TypeCount, TypeSum, TypeMin, TypeMax:
			default:
				if x.Type == TypeNumber && k.decomposes(x) == "" {
					break
				}
				k.nonAdditive = append(k.nonAdditive, name)
				k.nonAdditiveType = append(k.nonAdditiveType, string(x.Type))
			}
		}
		return ""
	}
	if x.Type != TypeNumber {
		return "not in the rollup"
	}
	if why := k.decomposes(x); why != "" {
		return why
	}
	var from []string
	for _, ref := range refRe.FindAllStringSubmatch(x.SQL, -1) {
		if mem := refMember(k.m, x.Cube, ref[1], ref[2]); mem != nil {
			from = append(from, FullName(resolveMember(mem)))
		}
	}
	k.notes = append(k.notes, name+" computed from "+strings.Join(from, ", "))
	return ""
}

// decomposes reports why a number measure cannot be computed from the
// rollup's measures ("" when it can), recording the leaves it reads.
func (k *matchCheck) decomposes(x *Measure) string {
	if len(x.Filters) > 0 {
		return "is a number measure with filters: not computed from a rollup"
	}
	if rest := refRe.ReplaceAllString(x.SQL, ""); rest == x.SQL || !arithmeticRe.MatchString(rest) {
		return "is a number measure whose SQL is not arithmetic over measures"
	}
	for _, ref := range refRe.FindAllStringSubmatch(x.SQL, -1) {
		mem := refMember(k.m, x.Cube, ref[1], ref[2])
		ms, ok := mem.(*Measure)
		if !ok {
			return "reads " + ref[0] + ", which is not a measure of the rollup"
		}
		o := resolveMember(ms).(*Measure)
		if o.Rolling != nil {
			return "reads the rolling window measure " + FullName(o)
		}
		if k.rs.measures[o] || o.Type == TypeNumber {
			if why := k.leaf(o, FullName(o)); why != "" {
				return "reads " + FullName(o) + ", which is " + why
			}
			continue
		}
		return "reads " + FullName(o) + ", which is not in the rollup"
	}
	return ""
}

// arithmeticRe is what a number measure computed from a rollup may hold
// besides its references to measures.
var arithmeticRe = regexp.MustCompile(`(?i)^(?:[\s\d.+\-*/(),]|::|nullif|coalesce|cast|as|numeric|decimal|float|double|precision|real|integer|bigint|greatest|least|round|abs|case|when|then|else|end|null|is|not|[<>=]=?|<>)*$`)

// filter checks one filter (or row filter) leaf.
func (k *matchCheck) filter(f Filter, role string) {
	name := f.MemberName()
	if name == "" {
		return
	}
	mem, err := k.m.Member(name)
	if err != nil {
		k.fail("%s is not a member of the model", name)
		return
	}
	if f.Operator == "measureFilter" {
		k.fail("%s (measureFilter) filters raw rows", name)
		return
	}
	o := resolveMember(mem)
	switch x := o.(type) {
	case *Measure:
		k.measure(mem, name, role)
	case *Dimension:
		switch {
		case k.rs.dims[o]:
		case o == k.rs.timeDim:
			k.timeFilter(name, x, f, role)
		default:
			k.fail("%s (%s) not in the rollup", name, role)
		}
	case *Segment:
		if !k.rs.segs[o] {
			k.fail("%s (%s) not in the rollup", name, role)
		}
	}
}

// timeFilter checks a filter on the rollup's time dimension, which the
// rollup holds truncated: its bounds must fall on period boundaries.
//
// A row filter's values are the principal's security context: its
// reasons name the member, never a value.
func (k *matchCheck) timeFilter(name string, d *Dimension, f Filter, role string) {
	what := f.Operator
	if role == "row filter" {
		what = role
	}
	v := func(i int, endOfDay bool) (time.Time, bool) {
		if i >= len(f.Values) {
			return time.Time{}, false
		}
		t, err := parseTime(f.Values[i], endOfDay, nil)
		return t, err == nil
	}
	switch f.Operator {
	case "set", "notSet":
	case "inDateRange", "notInDateRange":
		lo, ok1 := v(0, false)
		hi, ok2 := v(1, true)
		if !ok1 || !ok2 {
			k.fail("%s (%s): invalid date range", name, role)
			return
		}
		k.aligned(name, d, what, lo, true)
		k.aligned(name, d, what, hi, false)
	case "beforeDate", "lt", "afterOrOnDate", "gte":
		if t, ok := v(0, false); ok {
			k.aligned(name, d, what, t, true)
		} else {
			k.fail("%s (%s): invalid date", name, role)
		}
	case "beforeOrOnDate", "lte", "afterDate", "gt":
		if t, ok := v(0, false); ok {
			k.aligned(name, d, what, t, false)
		} else {
			k.fail("%s (%s): invalid date", name, role)
		}
	default:
		if !k.nonStrict {
			k.fail("%s (%s %s) needs raw times; the rollup has them by %s", name, role, f.Operator, k.rs.pa.Granularity)
		}
	}
}

func (k *matchCheck) rangeAligned(name string, d *Dimension, what, from, to string) {
	lo, err1 := parseTime(from, false, nil)
	hi, err2 := parseTime(to, false, nil)
	if err1 != nil || err2 != nil {
		k.fail("%s: invalid %s", name, what)
		return
	}
	k.aligned(name, d, what, lo, true)
	k.aligned(name, d, what, hi, false)
}

// aligned checks that a bound falls on a boundary of the rollup's
// periods: a lower bound (start) at a period's start, an upper bound at
// a period's last millisecond.
func (k *matchCheck) aligned(name string, d *Dimension, what string, t time.Time, start bool) {
	if k.nonStrict {
		return
	}
	b := t
	if !start {
		b = t.Add(time.Millisecond)
	}
	g := k.rs.pa.Granularity
	if truncTime(b, g, d).Equal(b) {
		return
	}
	kind := "start"
	if !start {
		kind = "end"
	}
	if what == "row filter" {
		k.fail("%s (row filter): a bound is not the %s of a %s: the rollup cannot split it", name, kind, g)
		return
	}
	k.fail("%s (%s) bound %s is not the %s of a %s: the rollup cannot split it (allow_non_strict_date_range_match allows it)",
		name, what, t.UTC().Format(cubeTimeLayout), kind, g)
}

// truncTime truncates a UTC time to the start of its period of
// granularity g (built-in, or a custom one of d).
func truncTime(t time.Time, g string, d *Dimension) time.Time {
	t = t.UTC()
	y, mo, day := t.Date()
	switch g {
	case "second":
		return t.Truncate(time.Second)
	case "minute":
		return t.Truncate(time.Minute)
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return time.Date(y, mo, day, 0, 0, 0, 0, time.UTC)
	case "week":
		return time.Date(y, mo, day-(int(t.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
	case "month":
		return time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC)
	case "quarter":
		return time.Date(y, mo-(mo-1)%3, 1, 0, 0, 0, 0, time.UTC)
	case "year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	cg := customGranularity(d, g)
	if cg == nil {
		return time.Time{}
	}
	origin := cg.Origin.UTC()
	if cg.Months > 0 {
		months := (y-origin.Year())*12 + int(mo) - int(origin.Month())
		n := floorDiv(months, cg.Months) * cg.Months
		start := origin.AddDate(0, n, 0)
		if start.After(t) { // within the first days of the month before origin's day
			start = origin.AddDate(0, n-cg.Months, 0)
		}
		return start
	}
	secs := t.Unix() - origin.Unix()
	n := int64(floorDiv(int(secs), int(cg.Seconds))) * cg.Seconds
	return origin.Add(time.Duration(n) * time.Second)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// checkJoins refuses a rollup whose join tree differs from the query's in
// a way that changes results: the query reads from another root cube (a
// rollup over orders LEFT JOIN customers has only the customers with
// orders), or a measure read is multiplied by a join (fan-out) in the
// query or in the rollup.
func (m *Model) checkJoins(q *Query, pa *PreAggregation, leaves []*Measure) string {
	plan := func(names []string) (*joinPlan, error) {
		c := &compiler{r: renderer{model: m, d: Postgres{}}, d: Postgres{}, q: q, model: m}
		for _, n := range names {
			mem, err := c.member(n)
			if err != nil {
				return nil, err
			}
			if ms, ok := mem.(*Measure); ok {
				c.cols = append(c.cols, Column{Name: n, Member: ms})
			}
		}
		return c.planJoins()
	}
	// In the compiler's order: dimensions, time dimensions, measures,
	// filters, segments (the root is the first measure's cube, else the
	// first cube named).
	qNames := append([]string{}, q.Dimensions...)
	for _, td := range q.TimeDimensions {
		qNames = append(qNames, td.Dimension)
	}
	qNames = append(qNames, q.Measures...)
	EachFilter(q.Filters, func(f Filter) {
		if n := f.MemberName(); n != "" {
			qNames = append(qNames, n)
		}
	})
	qNames = append(qNames, q.Segments...)
	qp, err := plan(qNames)
	if err != nil {
		return errMessage(err)
	}
	rq := m.RollupQuery(pa)
	rNames := append([]string{}, rq.Dimensions...)
	for _, td := range rq.TimeDimensions {
		rNames = append(rNames, td.Dimension)
	}
	rNames = append(rNames, rq.Measures...)
	rp, err := plan(rNames)
	if err != nil {
		return errMessage(err)
	}
	if qp.root != rp.root {
		return fmt.Sprintf("the query reads from %s, the rollup from %s (a join keeps only %s's rows)", qp.root.Name, rp.root.Name, rp.root.Name)
	}
	for _, x := range leaves {
		if immune(x) {
			continue
		}
		if qp.multiplied(x.Cube) {
			return fmt.Sprintf("%s is multiplied by a join of the query (fan-out): it is de-duplicated from raw rows", FullName(x))
		}
		if rp.multiplied(x.Cube) {
			return fmt.Sprintf("%s is multiplied by a join of the rollup (fan-out): its de-duplicated values do not combine", FullName(x))
		}
	}
	return ""
}
