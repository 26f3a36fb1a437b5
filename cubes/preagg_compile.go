package cubes

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// RollupColumnKind is what a rollup table's column holds.
type RollupColumnKind string

// Rollup column kinds.
const (
	RollupDimension RollupColumnKind = "dimension"
	RollupTime      RollupColumnKind = "time" // the time dimension, truncated
	RollupSegment   RollupColumnKind = "segment"
	RollupMeasure   RollupColumnKind = "measure"
)

// RollupColumn is one column of a rollup's table.
type RollupColumn struct {
	// Name is the column's name: the alias the compiler gives the member
	// ("orders__status", "orders__created_at__day", a segment's
	// "orders__completed" as a boolean).
	Name        string
	Kind        RollupColumnKind
	Member      Member
	Granularity string // of the time column
	// Reaggregate is the aggregate that combines rows of the column
	// (measures only): sum, min or max; "" when the measure cannot be
	// combined (count_distinct, count_distinct_approx without a mergeable
	// sketch, avg, number…) and is read only where the query groups
	// exactly as the rollup.
	Reaggregate string
}

// RollupColumns lists the columns of a rollup's table, in the order
// CompileRollup selects them: dimensions, segments, the time dimension,
// then measures.
func RollupColumns(pa *PreAggregation) []RollupColumn {
	alias := func(name string) string { return strings.ReplaceAll(name, ".", "__") }
	var out []RollupColumn
	for _, d := range pa.Dimensions {
		out = append(out, RollupColumn{Name: alias(FullName(d)), Kind: RollupDimension, Member: d})
	}
	for _, s := range pa.Segments {
		out = append(out, RollupColumn{Name: alias(FullName(s)), Kind: RollupSegment, Member: s})
	}
	if pa.TimeDimension != nil {
		out = append(out, RollupColumn{Name: alias(FullName(pa.TimeDimension) + "." + pa.Granularity), Kind: RollupTime,
			Member: pa.TimeDimension, Granularity: pa.Granularity})
	}
	for _, m := range pa.Measures {
		out = append(out, RollupColumn{Name: alias(FullName(m)), Kind: RollupMeasure, Member: m, Reaggregate: reaggregate(m)})
	}
	return out
}

// reaggregate is the aggregate that combines partial results of m: a
// count is summed. Neither dialect exposes a mergeable distinct-count
// sketch, so count_distinct_approx is not combinable.
func reaggregate(m *Measure) string {
	switch resolveMember(m).(*Measure).Type {
	case TypeCount, TypeSum:
		return "sum"
	case TypeMin:
		return "min"
	case TypeMax:
		return "max"
	}
	return ""
}

// RollupQuery is the query that builds a rollup: its measures, grouped by
// its dimensions, its segments (boolean columns, not filters: a query may
// use any of them) and its time dimension at the rollup's granularity; no
// order, no limit. Its segments are named in Dimensions, which only
// CompileRollup reads so: compile it with CompileRollup.
func (m *Model) RollupQuery(pa *PreAggregation) *Query {
	q := &Query{Order: Order{}}
	for _, d := range pa.Dimensions {
		q.Dimensions = append(q.Dimensions, FullName(d))
	}
	for _, s := range pa.Segments {
		q.Dimensions = append(q.Dimensions, FullName(s))
	}
	if pa.TimeDimension != nil {
		q.TimeDimensions = []TimeDimension{{Dimension: FullName(pa.TimeDimension), Granularity: pa.Granularity}}
	}
	for _, ms := range pa.Measures {
		q.Measures = append(q.Measures, FullName(ms))
	}
	return q
}

// CompileRollup compiles the statement that builds a rollup's table for
// dialect d (the SELECT of a CREATE TABLE … AS): RollupQuery, with each
// segment a boolean column. No policy applies: a rollup holds every row.
// Its columns are named as RollupColumns lists them.
func (m *Model) CompileRollup(pa *PreAggregation, d Dialect) (*Compiled, error) {
	return m.compileRollup(pa, d, nil)
}

// compileRollup compiles RollupQuery, changed by edit when set.
func (m *Model) compileRollup(pa *PreAggregation, d Dialect, edit func(*Query)) (*Compiled, error) {
	if pa.Type != PreAggRollup {
		return nil, fmt.Errorf("pre-aggregation %s is a %s, not a rollup", pa.FullName(), pa.Type)
	}
	q := m.RollupQuery(pa)
	if edit != nil {
		edit(q)
	}
	return m.rollupModel(pa).CompileWith(q, d, Options{})
}

// rollupModel is m with pa's segments as boolean dimensions, as
// RollupQuery names them.
func (m *Model) rollupModel(pa *PreAggregation) *Model {
	bm := &Model{Cubes: m.Cubes, byName: m.byName, byFold: m.byFold, extra: map[string]Member{}}
	for _, s := range pa.Segments {
		o := resolveMember(s).(*Segment)
		bm.extra[FullName(s)] = &Dimension{Cube: o.Cube, Name: o.Name, Type: TypeBoolean, SQL: "(" + o.SQL + ")", Pos: o.Pos}
	}
	return bm
}

// CompileRollupPartition is CompileRollup for one partition of a
// partitioned rollup: the rows whose time dimension falls in [from, to).
func (m *Model) CompileRollupPartition(pa *PreAggregation, d Dialect, from, to time.Time) (*Compiled, error) {
	if pa.TimeDimension == nil {
		return nil, fmt.Errorf("pre-aggregation %s has no time_dimension to partition by", pa.FullName())
	}
	return m.compileRollup(pa, d, func(q *Query) {
		const layout = "2006-01-02T15:04:05.000"
		q.TimeDimensions[0].DateRange = DateRange{Pair: []string{from.UTC().Format(layout), to.Add(-time.Millisecond).UTC().Format(layout)}}
	})
}

// PartitionsQuery is the query listing the periods of partition
// granularity g in which pa's time dimension has rows: one row each,
// the period's start (in UTC).
func (m *Model) PartitionsQuery(pa *PreAggregation, g string) *Query {
	return &Query{Order: Order{{ID: FullName(pa.TimeDimension)}},
		TimeDimensions: []TimeDimension{{Dimension: FullName(pa.TimeDimension), Granularity: g}}}
}

// NextPeriod is the start of the period of granularity g after the one
// starting at t (a predefined granularity: second … year).
func NextPeriod(t time.Time, g string) (time.Time, bool) {
	switch g {
	case "second":
		return t.Add(time.Second), true
	case "minute":
		return t.Add(time.Minute), true
	case "hour":
		return t.Add(time.Hour), true
	case "day":
		return t.AddDate(0, 0, 1), true
	case "week":
		return t.AddDate(0, 0, 7), true
	case "month":
		return t.AddDate(0, 1, 0), true
	case "quarter":
		return t.AddDate(0, 3, 0), true
	case "year":
		return t.AddDate(1, 0, 0), true
	}
	return t, false
}

// rollupCube is the name of the synthetic cube over a rollup's table.
const rollupCube = "__rollup"

// CompileFromRollup compiles q to read the rollup's table (table: a
// table name, schema-qualified or not, quoted here with d unless it
// already holds a quote) instead of the cubes: it re-aggregates the
// rollup's rows by the query's dimensions, applies its filters, segments,
// date ranges and the policy's row filters (o.Policy) to the rollup's
// columns, truncates its time column to the query's granularity, and
// gives the same Columns, order, limit and offset as m.CompileWith(q, d, o).
// The rollup must match q (MatchRollup); if not, it is an error.
func (m *Model) CompileFromRollup(q *Query, pa *PreAggregation, table string, d Dialect, o Options) (*Compiled, error) {
	// Compiling q as it is checks it (members, permissions, values) and
	// gives the columns to answer with and the row filters that apply.
	ref, err := m.CompileWith(q, d, o)
	if err != nil {
		return nil, err
	}
	mt := m.checkRollup(q, pa, o)
	if !mt.ok {
		return nil, pgerr.New(pgerrcode.FeatureNotSupported, "pre-aggregation %s does not match the query: %s", pa.FullName(), mt.why)
	}
	if !strings.Contains(table, `"`) {
		parts := strings.Split(table, ".")
		for i, p := range parts {
			parts[i] = d.QuoteIdent(p)
		}
		table = strings.Join(parts, ".")
	}
	s := &synth{m: m, pa: pa, d: d, cube: &Cube{Name: rollupCube, SQLTable: table, Public: true}, names: map[string]string{},
		leaves: map[*Measure]string{}, given: map[string]bool{}, dims: map[Member]string{}, segs: map[Member]string{}, meas: map[Member]RollupColumn{}, exact: mt.exact}
	for _, col := range RollupColumns(pa) {
		o := resolveMember(col.Member)
		switch col.Kind {
		case RollupDimension:
			s.dims[o] = col.Name
		case RollupSegment:
			s.segs[o] = col.Name
		case RollupTime:
			s.timeDim, s.timeCol = o, col.Name
		case RollupMeasure:
			s.meas[o] = col
		}
	}
	sq := &Query{Limit: q.Limit, Offset: q.Offset, Total: q.Total}
	for _, n := range q.Measures {
		sq.Measures = append(sq.Measures, s.name(n, false))
	}
	for _, n := range q.Dimensions {
		sq.Dimensions = append(sq.Dimensions, s.name(n, false))
	}
	for _, td := range q.TimeDimensions {
		td.Dimension = s.name(td.Dimension, true)
		sq.TimeDimensions = append(sq.TimeDimensions, td)
	}
	for _, n := range q.Segments {
		sq.Segments = append(sq.Segments, s.name(n, false))
	}
	sq.Filters = s.filters(q.Filters)
	sq.Filters = append(sq.Filters, s.filters(ref.RowFilters)...)
	if q.Order != nil {
		sq.Order = Order{}
		for _, it := range q.Order {
			id := it.ID
			if dim, g, ok := GranularMember(id); ok {
				id = s.name(dim, true) + "." + g
			} else if n, ok := s.names[id]; ok {
				id = n // a member the query names as a dimension or measure
			} else {
				id = s.name(id, true)
			}
			sq.Order = append(sq.Order, OrderItem{ID: id, Desc: it.Desc})
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	s.cube.index()
	out, err := newModel([]*Cube{s.cube}).CompileWith(sq, d, Options{Now: o.Now, FirstArg: o.FirstArg})
	if err != nil {
		return nil, err
	}
	if len(out.Columns) != len(ref.Columns) {
		return nil, fmt.Errorf("pre-aggregation %s: %d columns from the rollup, %d from the cubes", pa.FullName(), len(out.Columns), len(ref.Columns))
	}
	// Answer under the query's names: the rollup's aliases are renamed.
	for i, c := range out.Columns {
		from, to := d.QuoteIdent(c.Alias), d.QuoteIdent(ref.Columns[i].Alias)
		out.SQL = strings.ReplaceAll(out.SQL, from, to)
		out.TotalSQL = strings.ReplaceAll(out.TotalSQL, from, to)
	}
	out.Columns, out.RowFilters = ref.Columns, ref.RowFilters
	return out, nil
}

// synth builds the synthetic cube over a rollup's table: one member per
// name the query uses, each reading the rollup's column of the member it
// stands for.
type synth struct {
	m      *Model
	pa     *PreAggregation
	d      Dialect
	cube   *Cube
	names  map[string]string   // query name (+ "\x00t" for a time use) → synthetic full name
	leaves map[*Measure]string // rollup measure → synthetic member name
	given  map[string]bool     // synthetic measures standing for a query name
	// The rollup's columns by the cube member they hold.
	dims    map[Member]string
	segs    map[Member]string
	meas    map[Member]RollupColumn
	timeDim Member
	timeCol string
	exact   bool
	n       int
	err     error
}

func (s *synth) col(name string) string { return "{CUBE}." + s.d.QuoteIdent(name) }

func (s *synth) fresh(prefix string) string {
	s.n++
	return fmt.Sprintf("%s%d", prefix, s.n)
}

// name returns the synthetic member standing for the query's member
// name; asTime: used as a time dimension (the rollup's truncated time
// column when it is the rollup's time dimension).
func (s *synth) name(name string, asTime bool) string {
	key := name
	if asTime {
		key += "\x00t"
	}
	if n, ok := s.names[key]; ok {
		return n
	}
	mem, err := s.m.Member(name)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return name
	}
	var member string
	switch x := resolveMember(mem).(type) {
	case *Measure:
		member = s.measure(x)
		if s.given[member] {
			// Named twice (a view's member and its cube's): two columns,
			// as the compiler gives them.
			alias := s.fresh("m")
			s.cube.Measures = append(s.cube.Measures, &Measure{Cube: s.cube, Name: alias, Type: TypeNumber, SQL: "{" + member + "}"})
			member = alias
		}
		s.given[member] = true
	case *Dimension:
		raw, hasRaw := s.dims[x]
		switch {
		case hasRaw:
			member = s.fresh("d")
			s.cube.Dimensions = append(s.cube.Dimensions, &Dimension{Cube: s.cube, Name: member, Type: x.Type, SQL: s.col(raw)})
		case asTime && s.timeDim == Member(x):
			member = s.fresh("t")
			s.cube.Dimensions = append(s.cube.Dimensions, &Dimension{Cube: s.cube, Name: member, Type: TypeTime, SQL: s.col(s.timeCol),
				Granularities: x.Granularities})
		default:
			s.fail("%s is not in the rollup", name)
		}
	case *Segment:
		col, ok := s.segs[x]
		if !ok {
			s.fail("%s is not in the rollup", name)
			break
		}
		member = s.fresh("s")
		s.cube.Segments = append(s.cube.Segments, &Segment{Cube: s.cube, Name: member, SQL: s.col(col)})
	}
	full := rollupCube + "." + member
	s.names[key] = full
	return full
}

func (s *synth) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("pre-aggregation %s: "+format, append([]any{s.pa.FullName()}, args...)...)
	}
}

// measure returns the synthetic measure standing for x: a rollup
// column re-aggregated, or a number measure over such measures.
func (s *synth) measure(x *Measure) string {
	if n, ok := s.leaves[x]; ok {
		return n
	}
	name := s.fresh("m")
	s.leaves[x] = name
	sm := &Measure{Cube: s.cube, Name: name, Type: TypeNumber}
	col, ok := s.meas[x]
	switch {
	case ok && col.Reaggregate == "sum" && x.Type == TypeCount:
		// A count stays an integer of the count's type (sum would
		// widen it: numeric on PostgreSQL, HUGEINT on DuckDB), and of no
		// rows is 0, not the NULL a sum of none is.
		sm.SQL = "CAST(coalesce(sum(" + s.col(col.Name) + "), 0) AS BIGINT)"
	case ok && col.Reaggregate != "":
		sm.Type, sm.SQL = MemberType(col.Reaggregate), s.col(col.Name)
	case ok && s.exact:
		// Grouped as the rollup: one row per group, nothing to combine.
		sm.Type, sm.SQL = TypeMax, s.col(col.Name)
	case x.Type == TypeNumber && len(x.Filters) == 0:
		sm.SQL = s.rewrite(x)
	case ok:
		s.fail("%s cannot be re-aggregated", FullName(x))
	default:
		s.fail("%s is not in the rollup", FullName(x))
	}
	s.cube.Measures = append(s.cube.Measures, sm)
	return name
}

// rewrite renders a number measure's SQL over the synthetic measures of
// the measures it references.
func (s *synth) rewrite(x *Measure) string {
	return refRe.ReplaceAllStringFunc(x.SQL, func(ref string) string {
		p := refRe.FindStringSubmatch(ref)
		mem := refMember(s.m, x.Cube, p[1], p[2])
		ms, ok := mem.(*Measure)
		if !ok {
			s.fail("%s references %s, which is not a measure", FullName(x), ref)
			return ref
		}
		return "{" + s.measure(resolveMember(ms).(*Measure)) + "}"
	})
}

// refMember resolves a {a.b} reference written in cube c to a member, or
// nil when it names something else (a column, a cube).
func refMember(m *Model, c *Cube, a, b string) Member {
	if a == "CUBE" || a == c.Name {
		if b == "" {
			return nil
		}
		mem, _ := c.Member(b)
		return mem
	}
	if b == "" {
		mem, _ := c.Member(a)
		return mem
	}
	if other, ok := m.Cube(a); ok {
		mem, _ := other.Member(b)
		return mem
	}
	return nil
}

func (s *synth) filters(fs []Filter) []Filter {
	var out []Filter
	for _, f := range fs {
		g := Filter{Operator: f.Operator, Values: f.Values, And: s.filters(f.And), Or: s.filters(f.Or)}
		if n := f.MemberName(); n != "" {
			g.Member = s.name(n, true)
		}
		out = append(out, g)
	}
	return out
}
