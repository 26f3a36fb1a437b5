package cubes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Rollup suggestions (cubegate preagg suggest): the query history is
// grouped by shape — the members a query names, its filters' members and
// operators, its time dimension and granularity, values ignored — each
// shape a rollup could answer gets a candidate rollup, candidates of one
// cube are merged while the union still answers every shape of both, and
// each is scored by the time of the history's queries it would have
// answered. What "would have answered" means is the matcher's verdict
// (checkRollup, as MatchRollup runs it) on each query against the model
// with the candidate added after its cube's own rollups: a query an
// existing rollup already answers is not counted.

// SuggestQuery is one query of the history: a REST query (values may be
// the audit log's $n placeholders), how long it took and when.
type SuggestQuery struct {
	Query    *Query
	Duration time.Duration
	When     time.Time
}

// Suggestion is a proposed rollup and what it would have served.
type Suggestion struct {
	// Cube is the cube (or view) whose pre_aggregations it goes under.
	Cube string `json:"cube"`
	Name string `json:"name"`
	// YAML is the item to paste under the cube's pre_aggregations:.
	YAML          string   `json:"yaml"`
	Measures      []string `json:"measures"`
	Dimensions    []string `json:"dimensions,omitempty"`
	Segments      []string `json:"segments,omitempty"`
	TimeDimension string   `json:"time_dimension,omitempty"`
	Granularity   string   `json:"granularity,omitempty"`
	// Queries is how many of the history's queries it would have
	// answered; Share that count over the history's length.
	Queries int     `json:"queries"`
	Share   float64 `json:"share"`
	// Total and Mean are those queries' durations.
	Total time.Duration `json:"total_ns"`
	Mean  time.Duration `json:"mean_ns"`
	// Shapes is how many query shapes it was made from.
	Shapes int `json:"shapes"`

	// Served marks the history's queries it would have answered.
	Served []bool          `json:"-"`
	pa     *PreAggregation // in memory, as the loader would resolve YAML
}

// SuggestMaxDimensions is how many dimensions a merged rollup may hold:
// beyond it, shapes stay in rollups of their own.
const SuggestMaxDimensions = 8

// SuggestReport is Suggest's whole answer: the suggestions and the
// shapes no rollup can answer (with why), and the queries a rollup of
// the model already answers.
type SuggestReport struct {
	Suggestions []Suggestion `json:"suggestions"`
	// Unservable are the shapes no rollup can answer, most queries first.
	Unservable []UnservableShape `json:"unservable,omitempty"`
	// AlreadyServed counts the queries an existing rollup answers.
	AlreadyServed int `json:"already_served"`
	// Queries is the history's length.
	Queries int `json:"queries"`
}

// UnservableShape is a query shape no rollup can answer.
type UnservableShape struct {
	Example string `json:"example"` // the shape's first query, as JSON
	Queries int    `json:"queries"`
	Why     string `json:"why"`
}

// Suggest returns the n rollups that would have answered the most of the
// history's query time (see SuggestAll).
func Suggest(m *Model, history []SuggestQuery, n int) []Suggestion {
	return SuggestAll(m, history, n, time.Now()).Suggestions
}

// SuggestAll is Suggest with the shapes it cannot serve; now resolves
// relative date ranges written as values (placeholders become whole
// days, see probe).
func SuggestAll(m *Model, history []SuggestQuery, n int, now time.Time) SuggestReport {
	rep := SuggestReport{Queries: len(history)}
	o := Options{Now: now}
	probes := make([]*Query, len(history))
	type shape struct {
		key     string
		queries []int
		rep     *Query
		pa      *PreAggregation
		total   time.Duration
	}
	byKey := map[string]*shape{}
	var shapes []*shape
	for i, h := range history {
		if h.Query == nil {
			continue
		}
		probes[i] = probe(m, h.Query)
		k := shapeKey(probes[i])
		s := byKey[k]
		if s == nil {
			s = &shape{key: k, rep: probes[i]}
			byKey[k] = s
			shapes = append(shapes, s)
		}
		s.queries = append(s.queries, i)
		s.total += h.Duration
	}
	// A candidate per shape; the shapes it cannot serve are reported.
	var viable []*shape
	unservable := func(s *shape, why string) {
		ex, _ := json.Marshal(history[s.queries[0]].Query)
		rep.Unservable = append(rep.Unservable, UnservableShape{Example: string(ex), Queries: len(s.queries), Why: why})
	}
	for _, s := range shapes {
		if found, _ := m.MatchRollup(s.rep, o); found != nil {
			rep.AlreadyServed += len(s.queries)
			continue
		}
		spec, why := shapeRollup(m, s.rep)
		if why != "" {
			unservable(s, why)
			continue
		}
		pa, why := spec.build(m)
		if why != "" {
			unservable(s, why)
			continue
		}
		if got, why := m.matchWith(s.rep, o, pa); got != pa {
			unservable(s, why)
			continue
		}
		s.pa = pa
		viable = append(viable, s)
	}
	// Merge, greatest time first: a shape joins the first cluster whose
	// union still serves every shape of both.
	sort.SliceStable(viable, func(i, j int) bool { return viable[i].total > viable[j].total })
	type cluster struct {
		spec   rollupSpec
		pa     *PreAggregation
		shapes []*shape
	}
	var clusters []*cluster
	for _, s := range viable {
		spec, _ := shapeRollup(m, s.rep)
		merged := false
		for _, c := range clusters {
			u, ok := c.spec.union(spec)
			if !ok {
				continue
			}
			pa, why := u.build(m)
			if why != "" {
				continue
			}
			all := true
			for _, x := range append(slices.Clip(c.shapes), s) {
				if got, _ := m.matchWith(x.rep, o, pa); got != pa {
					all = false
					break
				}
			}
			if all {
				c.spec, c.pa, c.shapes = u, pa, append(c.shapes, s)
				merged = true
				break
			}
		}
		if !merged {
			clusters = append(clusters, &cluster{spec: spec, pa: s.pa, shapes: []*shape{s}})
		}
	}
	// What each would have served, over the whole history.
	taken := map[string]bool{}
	for _, c := range m.Cubes {
		for _, pa := range c.PreAggregations {
			taken[pa.FullName()] = true
		}
	}
	var out []Suggestion
	for _, c := range clusters {
		sg := Suggestion{Cube: c.pa.Cube.Name, Shapes: len(c.shapes), Served: make([]bool, len(history)), pa: c.pa}
		for i, q := range probes {
			if q == nil {
				continue
			}
			if got, _ := m.matchWith(q, o, c.pa); got == c.pa {
				sg.Served[i] = true
				sg.Queries++
				sg.Total += history[i].Duration
			}
		}
		if sg.Queries == 0 {
			continue
		}
		sg.Share = float64(sg.Queries) / float64(len(history))
		sg.Mean = sg.Total / time.Duration(sg.Queries)
		out = append(out, sg)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Queries > out[j].Queries
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	for i := range out {
		s := &out[i]
		pa := s.pa
		pa.Name = uniqueName(rollupName(pa), pa.Cube.Name, taken)
		taken[pa.FullName()] = true
		s.Name = pa.Name
		ref := func(mem Member) string {
			if mem.OwnerCube() == pa.Cube {
				return mem.MemberName()
			}
			return FullName(mem)
		}
		for _, x := range pa.Measures {
			s.Measures = append(s.Measures, ref(x))
		}
		for _, x := range pa.Dimensions {
			s.Dimensions = append(s.Dimensions, ref(x))
		}
		for _, x := range pa.Segments {
			s.Segments = append(s.Segments, ref(x))
		}
		if pa.TimeDimension != nil {
			s.TimeDimension, s.Granularity = ref(pa.TimeDimension), pa.Granularity
		}
		s.YAML = s.yaml(pa.PartitionGranularity)
	}
	sort.SliceStable(rep.Unservable, func(i, j int) bool { return rep.Unservable[i].Queries > rep.Unservable[j].Queries })
	rep.Suggestions = out
	return rep
}

// yaml is the pre_aggregations item, members as the cube refers to them.
func (s *Suggestion) yaml(partition string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: %s\n", s.Name)
	list := func(key string, xs []string) {
		if len(xs) > 0 {
			fmt.Fprintf(&b, "  %s: [%s]\n", key, strings.Join(xs, ", "))
		}
	}
	list("measures", s.Measures)
	list("dimensions", s.Dimensions)
	list("segments", s.Segments)
	if s.TimeDimension != "" {
		fmt.Fprintf(&b, "  time_dimension: %s\n  granularity: %s\n", s.TimeDimension, s.Granularity)
		if partition != "" {
			fmt.Fprintf(&b, "  partition_granularity: %s\n", partition)
		}
	}
	return b.String()
}

// matchWith is MatchRollup on the model with extra added after its
// cube's own pre-aggregations: the rollup that would answer q, or nil
// and why extra does not.
func (m *Model) matchWith(q *Query, o Options, extra *PreAggregation) (*PreAggregation, string) {
	touched := m.touchedCubes(q)
	why := extra.Cube.Name + " is not a cube of the query"
	for _, c := range m.Cubes {
		if !touched[c] {
			continue
		}
		list := c.PreAggregations
		if c == extra.Cube {
			list = append(slices.Clip(list), extra)
		}
		for _, pa := range list {
			mt := m.checkRollup(q, pa, o)
			if mt.ok {
				return pa, ""
			}
			if pa == extra {
				why = mt.why
			}
		}
	}
	return nil, why
}

// placeholderRe is a value the audit log replaced.
var placeholderRe = regexp.MustCompile(`^\$\d+$`)

// probe is q as the matcher should see it: date bounds the audit log
// replaced by $n become whole days (the matcher checks that bounds fall
// on a rollup's periods; the suggested rollups are by day or finer when
// a query bounds dates, so whole-day bounds are what is assumed).
func probe(m *Model, q *Query) *Query {
	p := *q
	p.TimeDimensions = slices.Clone(q.TimeDimensions)
	for i, td := range p.TimeDimensions {
		if td.DateRange.Relative != "" && placeholderRe.MatchString(td.DateRange.Relative) ||
			len(td.DateRange.Pair) > 0 && placeholderRe.MatchString(td.DateRange.Pair[0]) {
			p.TimeDimensions[i].DateRange = DateRange{Pair: []string{"2000-01-01", "2000-01-31"}}
		}
	}
	var fix func(fs []Filter) []Filter
	fix = func(fs []Filter) []Filter {
		out := make([]Filter, len(fs))
		for i, f := range fs {
			f.And, f.Or = fix(f.And), fix(f.Or)
			if len(f.Values) > 0 && placeholderRe.MatchString(f.Values[0]) {
				if d, ok := lookupDim(m, f.MemberName()); ok && d.Type == TypeTime {
					switch f.Operator {
					case "inDateRange", "notInDateRange":
						f.Values = []string{"2000-01-01", "2000-01-31"}
					case "beforeDate", "lt", "afterOrOnDate", "gte":
						f.Values = []string{"2000-01-01"}
					case "beforeOrOnDate", "lte", "afterDate", "gt":
						f.Values = []string{"2000-01-31T23:59:59.999"}
					}
				}
			}
			out[i] = f
		}
		return out
	}
	if q.Filters != nil {
		p.Filters = fix(q.Filters)
	}
	return &p
}

func lookupDim(m *Model, name string) (*Dimension, bool) {
	mem, err := m.Member(name)
	if err != nil {
		return nil, false
	}
	d, ok := resolveMember(mem).(*Dimension)
	return d, ok
}

// shapeKey is what queries of one shape share: members, filter members
// and operators, time dimensions with their granularity and whether
// they bound dates, measures ordered by, time zone; not values, limits
// or the order of lists.
func shapeKey(q *Query) string {
	sorted := func(xs []string) []string { x := slices.Clone(xs); sort.Strings(x); return x }
	var tds, filters, order []string
	for _, td := range q.TimeDimensions {
		tds = append(tds, fmt.Sprintf("%s/%s/%v/%d", td.Dimension, td.Granularity, !td.DateRange.IsZero(), len(td.CompareDateRange)))
	}
	EachFilter(q.Filters, func(f Filter) {
		if f.MemberName() != "" {
			filters = append(filters, f.MemberName()+" "+f.Operator)
		}
	})
	for _, it := range q.Order {
		order = append(order, it.ID)
	}
	b, _ := json.Marshal([]any{sorted(q.Measures), sorted(q.Dimensions), sorted(q.Segments), sorted(tds), sorted(filters), sorted(order), q.Timezone, q.Ungrouped})
	return string(b)
}

// rollupSpec is a candidate rollup by member names as the query names
// them.
type rollupSpec struct {
	host          *Cube
	measures      []string
	dimensions    []string
	segments      []string
	timeDimension string
	// grans are the granularities the rollup's must divide.
	grans []string
}

// shapeRollup is the rollup a query's shape needs, or why there is none.
func shapeRollup(m *Model, q *Query) (rollupSpec, string) {
	var s rollupSpec
	if q.Ungrouped {
		return s, "an ungrouped query reads rows, not a rollup"
	}
	add := func(list *[]string, name string) {
		if !slices.Contains(*list, name) {
			*list = append(*list, name)
		}
	}
	var why string
	var measure func(name string, depth int)
	measure = func(name string, depth int) {
		mem, err := m.Member(name)
		if err != nil {
			why = name + " is not a member of the model"
			return
		}
		x, ok := resolveMember(mem).(*Measure)
		if !ok {
			return
		}
		switch {
		case x.Rolling != nil:
			why = name + " is a rolling window measure: its windows need raw rows"
		case x.Type == TypeCount || x.Type == TypeSum || x.Type == TypeMin || x.Type == TypeMax:
			add(&s.measures, name)
		case x.Type == TypeNumber && depth < 8:
			// Stored as the measures it is computed from.
			if len(x.Filters) > 0 {
				why = name + " is a number measure with filters: not computed from a rollup"
				return
			}
			if rest := refRe.ReplaceAllString(x.SQL, ""); rest == x.SQL || !arithmeticRe.MatchString(rest) {
				why = name + " is a number measure whose SQL is not arithmetic over measures: it does not combine across rollup rows"
				return
			}
			for _, ref := range refRe.FindAllStringSubmatch(x.SQL, -1) {
				r, ok := refMember(m, x.Cube, ref[1], ref[2]).(*Measure)
				if !ok {
					why = name + " is a number measure over " + ref[0] + ", which is not a measure: it does not combine across rollup rows"
					return
				}
				measure(FullName(r), depth+1)
			}
		default:
			why = fmt.Sprintf("%s (%s) does not combine across rollup rows: only count, sum, min, max and number measures over them do", name, x.Type)
		}
	}
	for _, name := range q.Measures {
		measure(name, 0)
	}
	for _, it := range q.Order {
		if mem, err := m.Member(it.ID); err == nil {
			if _, ok := mem.(*Measure); ok {
				measure(it.ID, 0)
			}
		}
	}
	for _, name := range q.Dimensions {
		add(&s.dimensions, name)
	}
	for _, name := range q.Segments {
		add(&s.segments, name)
	}
	ranged := false
	for _, td := range q.TimeDimensions {
		switch {
		case len(td.CompareDateRange) > 0:
			why = "compareDateRange is answered one date range at a time"
		case s.timeDimension == "" || s.timeDimension == td.Dimension:
			s.timeDimension = td.Dimension
			if td.Granularity != "" {
				s.grans = append(s.grans, td.Granularity)
			}
			ranged = ranged || !td.DateRange.IsZero()
		default:
			add(&s.dimensions, td.Dimension)
		}
	}
	EachFilter(q.Filters, func(f Filter) {
		name := f.MemberName()
		if name == "" {
			return
		}
		mem, err := m.Member(name)
		if err != nil {
			why = name + " is not a member of the model"
			return
		}
		switch x := resolveMember(mem).(type) {
		case *Measure:
			if f.Operator == "measureFilter" {
				why = name + " (measureFilter) filters raw rows"
				return
			}
			measure(name, 0)
		case *Segment:
			add(&s.segments, name)
		case *Dimension:
			dateOp := map[string]bool{"inDateRange": true, "notInDateRange": true, "beforeDate": true, "beforeOrOnDate": true,
				"afterDate": true, "afterOrOnDate": true, "lt": true, "lte": true, "gt": true, "gte": true, "set": true, "notSet": true}[f.Operator]
			switch {
			case x.Type == TypeTime && dateOp && (s.timeDimension == "" || s.timeDimension == name):
				s.timeDimension = name
				ranged = true
			case name != s.timeDimension:
				add(&s.dimensions, name)
			}
		}
	})
	if why != "" {
		return s, why
	}
	if ranged {
		s.grans = append(s.grans, "day")
	}
	if s.timeDimension != "" && len(s.grans) == 0 {
		s.grans = []string{"day"}
	}
	if len(s.measures) == 0 && len(s.dimensions) == 0 && len(s.segments) == 0 && s.timeDimension == "" {
		return s, "the query names no member"
	}
	// The host: the cube of the first measure, else of the first member.
	first := append(append(append([]string{}, s.measures...), s.dimensions...), s.segments...)
	if s.timeDimension != "" {
		first = append(first, s.timeDimension)
	}
	mem, err := m.Member(first[0])
	if err != nil {
		return s, err.Error()
	}
	s.host = mem.OwnerCube()
	return s, ""
}

// union is the rollup serving both specs: one cube, one time dimension
// (or none), at most SuggestMaxDimensions dimensions.
func (s rollupSpec) union(o rollupSpec) (rollupSpec, bool) {
	if s.host != o.host || s.timeDimension != "" && o.timeDimension != "" && s.timeDimension != o.timeDimension {
		return s, false
	}
	u := rollupSpec{host: s.host, timeDimension: s.timeDimension}
	if u.timeDimension == "" {
		u.timeDimension = o.timeDimension
	}
	merge := func(a, b []string) []string {
		out := slices.Clone(a)
		for _, x := range b {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		return out
	}
	u.measures, u.dimensions, u.segments = merge(s.measures, o.measures), merge(s.dimensions, o.dimensions), merge(s.segments, o.segments)
	u.grans = merge(s.grans, o.grans)
	return u, len(u.dimensions) <= SuggestMaxDimensions
}

// build makes the rollup in memory, as the loader resolves its YAML.
func (s rollupSpec) build(m *Model) (*PreAggregation, string) {
	pa := &PreAggregation{Cube: s.host, Type: PreAggRollup, ScheduledRefresh: true, External: true}
	reach := reachable(m, s.host)
	get := func(name string) (Member, string) {
		mem, err := m.Member(name)
		if err != nil {
			return nil, name + " is not a member of the model"
		}
		// A rollup of a view holds the view's members; of a cube, its
		// own and those of the cubes its joins reach.
		if s.host.IsView && mem.OwnerCube() != s.host {
			return nil, fmt.Sprintf("%s is not a member of the view %s", name, s.host.Name)
		}
		if o := resolveMember(mem).OwnerCube(); !s.host.IsView && !reach[o] {
			return nil, fmt.Sprintf("%s is in cube %s, which no join of %s reaches", name, o.Name, s.host.Name)
		}
		return mem, ""
	}
	for _, n := range s.measures {
		mem, why := get(n)
		if why != "" {
			return nil, why
		}
		pa.Measures = append(pa.Measures, mem.(*Measure))
	}
	for _, n := range s.dimensions {
		mem, why := get(n)
		if why != "" {
			return nil, why
		}
		d, ok := mem.(*Dimension)
		if !ok {
			return nil, n + " is not a dimension"
		}
		pa.Dimensions = append(pa.Dimensions, d)
	}
	for _, n := range s.segments {
		mem, why := get(n)
		if why != "" {
			return nil, why
		}
		sg, ok := mem.(*Segment)
		if !ok {
			return nil, n + " is not a segment"
		}
		pa.Segments = append(pa.Segments, sg)
	}
	if len(pa.Dimensions) > SuggestMaxDimensions {
		return nil, fmt.Sprintf("it groups by %d dimensions, more than a rollup suggestion holds (%d)", len(pa.Dimensions), SuggestMaxDimensions)
	}
	if s.timeDimension != "" {
		mem, why := get(s.timeDimension)
		if why != "" {
			return nil, why
		}
		d, ok := mem.(*Dimension)
		if !ok || resolveMember(d).(*Dimension).Type != TypeTime {
			return nil, s.timeDimension + " is not a time dimension"
		}
		pa.TimeDimension = d
		pa.Granularity = coarsestDividing(s.grans, d)
		if pa.Granularity == "" {
			return nil, fmt.Sprintf("no granularity divides %s", strings.Join(s.grans, ", "))
		}
		if granularityRank[pa.Granularity] <= granularityRank["day"] {
			pa.PartitionGranularity = "month"
		}
	}
	return pa, ""
}

// coarsestDividing is the coarsest built-in granularity dividing every
// one of grans ("" for none), or their one custom granularity.
func coarsestDividing(grans []string, d *Dimension) string {
	if len(grans) > 0 && slices.IndexFunc(grans, func(g string) bool { return g != grans[0] }) < 0 {
		return grans[0]
	}
	for _, g := range []string{"year", "quarter", "month", "week", "day", "hour", "minute", "second"} {
		ok := true
		for _, x := range grans {
			ok = ok && divides(g, x, d)
		}
		if ok {
			return g
		}
	}
	return ""
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// rollupName is <cube>_<dimensions>_<granularity>, snake_case.
func rollupName(pa *PreAggregation) string {
	parts := []string{pa.Cube.Name}
	for i, d := range pa.Dimensions {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and_%d_more", len(pa.Dimensions)-3))
			break
		}
		parts = append(parts, d.MemberName())
	}
	for _, s := range pa.Segments {
		parts = append(parts, s.MemberName())
	}
	if pa.TimeDimension != nil {
		parts = append(parts, pa.Granularity)
	}
	if len(parts) == 1 {
		parts = append(parts, "totals")
	}
	name := nonIdent.ReplaceAllString(strings.ToLower(strings.Join(parts, "_")), "_")
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		name = "r_" + name
	}
	return name
}

// uniqueName is name, or name_2, name_3 … when cube has one by that name.
func uniqueName(name, cube string, taken map[string]bool) string {
	for i := 2; taken[cube+"."+name]; i++ {
		name = strings.TrimSuffix(name, fmt.Sprintf("_%d", i-1)) + fmt.Sprintf("_%d", i)
	}
	return name
}

// ParseAuditQuery reads a REST query as the audit log keeps it: Cube's
// query JSON with values replaced by $n placeholders.
func ParseAuditQuery(statement string) (*Query, error) {
	var q Query
	dec := json.NewDecoder(strings.NewReader(statement))
	if err := dec.Decode(&q); err != nil {
		return nil, err
	}
	return &q, nil
}

// WithPreAggregation returns the model files with item (one or more
// pre_aggregations items, as Suggestion.YAML) added under cube's
// pre_aggregations, the way a person pastes it: what LoadFiles of the
// result loads is what the suggestion claims.
func WithPreAggregation(files map[string][]byte, cube, item string) (map[string][]byte, error) {
	var add yaml.Node
	if err := yaml.Unmarshal([]byte(item), &add); err != nil || len(add.Content) == 0 || add.Content[0].Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("the pre-aggregation is not a YAML list item: %v", err)
	}
	items := add.Content[0].Content
	out := make(map[string][]byte, len(files))
	found := false
	for name, src := range files {
		out[name] = src
		if found {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content) && !found; i += 2 {
			if k := top.Content[i].Value; (k != "cubes" && k != "views") || top.Content[i+1].Kind != yaml.SequenceNode {
				continue
			}
			for _, c := range top.Content[i+1].Content {
				if c.Kind != yaml.MappingNode || mappingValue(c, "name") == nil || mappingValue(c, "name").Value != cube {
					continue
				}
				list := mappingValue(c, "pre_aggregations")
				if list == nil || list.Kind != yaml.SequenceNode {
					list = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
					if old := mappingValue(c, "pre_aggregations"); old != nil {
						*old = *list
						list = old
					} else {
						c.Content = append(c.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "pre_aggregations"}, list)
					}
				}
				list.Content = append(list.Content, items...)
				found = true
				break
			}
		}
		if found {
			var b bytes.Buffer
			enc := yaml.NewEncoder(&b)
			enc.SetIndent(2)
			if err := enc.Encode(&doc); err != nil {
				return nil, err
			}
			out[name] = b.Bytes()
		}
	}
	if !found {
		return nil, fmt.Errorf("no model file defines cube %s", cube)
	}
	return out, nil
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// VerifySuggestion pastes s's YAML under its cube in the model files,
// loads them and asks MatchRollup about every query of the history: how
// many the loaded rollup answers (Suggest claims s.Queries), or why the
// YAML does not load.
func VerifySuggestion(files map[string][]byte, history []SuggestQuery, s Suggestion, now time.Time) (int, error) {
	withIt, err := WithPreAggregation(files, s.Cube, s.YAML)
	if err != nil {
		return 0, err
	}
	m, err := LoadFiles(withIt)
	if err != nil {
		return 0, fmt.Errorf("the suggestion %s does not load: %w", s.Name, err)
	}
	n := 0
	for i, h := range history {
		if h.Query == nil {
			continue
		}
		pa, _ := m.MatchRollup(probe(m, h.Query), Options{Now: now})
		served := pa != nil && pa.FullName() == s.Cube+"."+s.Name
		if served {
			n++
		}
		if s.Served != nil && i < len(s.Served) && served != s.Served[i] {
			return n, fmt.Errorf("the suggestion %s, loaded, answers %s %s than claimed", s.Name, mustJSON(h.Query), map[bool]string{true: "more", false: "less"}[served])
		}
	}
	return n, nil
}

func mustJSON(q *Query) string {
	b, _ := json.Marshal(q)
	return string(b)
}
