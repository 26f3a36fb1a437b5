package cubes

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// RefreshKey is when a cube's cache or a pre-aggregation is rebuilt: every
// Every (a duration, or a cron schedule kept as text), or when the result
// of SQL changes.
type RefreshKey struct {
	// Every as written ("1 hour", "*/5 * * * *").
	Every string
	// EveryDuration is Every read as a duration; 0 for a cron schedule.
	EveryDuration time.Duration
	// Cron is Every when it is a cron schedule.
	Cron     string
	Timezone string
	SQL      string
	// Immutable: the data never changes once built (cubes only).
	Immutable bool
	// Incremental refreshes only the latest partitions, those within
	// UpdateWindow (pre-aggregations only).
	Incremental  bool
	UpdateWindow string
	// UpdateWindowDuration is UpdateWindow read as a duration.
	UpdateWindowDuration time.Duration
	Pos                  Pos
}

// defaultRefreshEvery is Cube's refresh interval of a cube without a
// refresh_key.
const defaultRefreshEvery = 10 * time.Second

// RefreshEvery is how often the cube's refresh key is checked: its
// refresh_key's every, Cube's 10 seconds without one (or with only sql),
// and 0 for an immutable cube or a cron schedule (RefreshKey.Cron).
func (c *Cube) RefreshEvery() time.Duration {
	k := c.RefreshKey
	switch {
	case k == nil || k.Every == "":
		if k != nil && k.Immutable {
			return 0
		}
		return defaultRefreshEvery
	case k.Cron != "" || k.Immutable:
		return 0
	}
	return k.EveryDuration
}

// PreAggregationType is a pre-aggregation's type as the model spells it.
type PreAggregationType string

// Pre-aggregation types.
const (
	PreAggRollup       PreAggregationType = "rollup"
	PreAggOriginalSQL  PreAggregationType = "original_sql"
	PreAggRollupJoin   PreAggregationType = "rollup_join"
	PreAggRollupLambda PreAggregationType = "rollup_lambda"
)

// PreAggregation is a cube's or view's pre-aggregation: for a rollup, the
// measures aggregated by the dimensions, segments and the time dimension at
// a granularity, stored in a table a matching query reads instead.
type PreAggregation struct {
	Cube *Cube
	Name string
	Type PreAggregationType
	// Members as the model lists them: the cube's own, or (joined
	// members, users.city) another cube's. A view's are the view's.
	Measures   []*Measure
	Dimensions []*Dimension
	Segments   []*Segment
	// TimeDimension, when set, is stored truncated to Granularity.
	TimeDimension        *Dimension
	Granularity          string
	PartitionGranularity string
	RefreshKey           *RefreshKey
	// BuildRangeStart and BuildRangeEnd are the SQL of build_range_start
	// and build_range_end.
	BuildRangeStart, BuildRangeEnd string
	Indexes                        []PreAggregationIndex
	// Rollups are the pre-aggregations a rollup_join or rollup_lambda
	// combines, as written.
	Rollups                      []string
	ScheduledRefresh             bool
	External                     bool
	AllowNonStrictDateRangeMatch bool
	Pos                          Pos

	refs preaggRefs // as written, until resolved
}

// PreAggregationIndex is an index of a rollup's table: its columns are
// members of the rollup.
type PreAggregationIndex struct {
	Name    string
	Columns []Member
	Pos     Pos
	refs    []preaggRef
}

// FullName is "cube.pre_aggregation".
func (pa *PreAggregation) FullName() string { return pa.Cube.Name + "." + pa.Name }

type preaggRef struct {
	name string
	pos  Pos
}

type preaggRefs struct {
	measures, dimensions, segments []preaggRef
	timeDimension                  *preaggRef
}

var preaggTypes = map[PreAggregationType]bool{PreAggRollup: true, PreAggOriginalSQL: true, PreAggRollupJoin: true, PreAggRollupLambda: true}

// cronRe recognises a cron schedule: five or six fields of cron syntax.
var cronRe = regexp.MustCompile(`^\s*[0-9*/,?LW#A-Za-z-]+(\s+[0-9*/,?LW#A-Za-z-]+){4,5}\s*$`)

// parseEvery reads Cube's "every": a duration ("10 second", "1 hour",
// "30 minutes", "1 day"), or a cron schedule (returned as cron).
func parseEvery(s string) (d time.Duration, cron string, err error) {
	if cronRe.MatchString(s) && !intervalWords.MatchString(s) {
		return 0, strings.TrimSpace(s), nil
	}
	d, err = parseDuration(s)
	return d, "", err
}

var intervalWords = regexp.MustCompile(`(?i)(second|minute|hour|day|week|month|quarter|year)`)

// parseDuration reads an interval as a duration; a month counts 30 days
// (as a refresh interval, not a calendar step).
func parseDuration(s string) (time.Duration, error) {
	months, seconds, err := parseInterval(s)
	if err != nil {
		return 0, err
	}
	d := time.Duration(seconds)*time.Second + time.Duration(months)*30*24*time.Hour
	if d <= 0 {
		return 0, fmt.Errorf("interval %q must be positive", s)
	}
	return d, nil
}

// refreshKey reads a refresh_key: a cube's (every, sql, immutable) or a
// pre-aggregation's (every, sql, incremental, update_window).
func (l *loader) refreshKey(n *yaml.Node, preagg bool) *RefreshKey {
	k := &RefreshKey{Pos: l.pos(n)}
	keys := map[string]func(*yaml.Node){
		"every":    l.str(&k.Every),
		"sql":      l.str(&k.SQL),
		"timezone": l.str(&k.Timezone),
	}
	if preagg {
		keys["incremental"] = l.boolean(&k.Incremental)
		keys["update_window"] = l.str(&k.UpdateWindow)
	} else {
		keys["immutable"] = l.boolean(&k.Immutable)
	}
	l.mapping(n, "refresh_key", keys)
	if k.Every != "" {
		var err error
		if k.EveryDuration, k.Cron, err = parseEvery(k.Every); err != nil {
			l.errorf(n, "refresh_key every: %v (want a duration such as \"1 hour\" or a cron schedule)", err)
		}
	}
	if k.UpdateWindow != "" {
		var err error
		if k.UpdateWindowDuration, err = parseDuration(k.UpdateWindow); err != nil {
			l.errorf(n, "refresh_key update_window: %v", err)
		}
		if !k.Incremental {
			l.errorf(n, "refresh_key update_window needs incremental: true")
		}
	}
	if k.Timezone != "" && k.Cron == "" {
		l.errorf(n, "refresh_key timezone applies to a cron schedule only")
	}
	return k
}

// preAggregations reads a cube's or view's pre_aggregations.
func (l *loader) preAggregations(c *Cube) func(*yaml.Node) {
	return func(v *yaml.Node) {
		l.seq(v, "pre_aggregations", func(n *yaml.Node) {
			if pa := l.preAggregation(c, n); pa != nil {
				c.PreAggregations = append(c.PreAggregations, pa)
			}
		})
	}
}

func (l *loader) preAggregation(c *Cube, n *yaml.Node) *PreAggregation {
	pa := &PreAggregation{Cube: c, Type: PreAggRollup, ScheduledRefresh: true, External: true, Pos: l.pos(n)}
	var typ string
	refList := func(dst *[]preaggRef) func(*yaml.Node) {
		return func(v *yaml.Node) {
			l.seq(v, "member list", func(it *yaml.Node) {
				if it.Kind != yaml.ScalarNode {
					l.errorf(it, "expected a member name")
					return
				}
				*dst = append(*dst, preaggRef{name: it.Value, pos: l.pos(it)})
			})
		}
	}
	buildRange := func(dst *string, what string) func(*yaml.Node) {
		return func(v *yaml.Node) {
			l.mapping(v, what, map[string]func(*yaml.Node){"sql": l.str(dst)})
			if *dst == "" {
				l.errorf(v, "%s needs sql", what)
			}
		}
	}
	l.mapping(n, "pre-aggregation", map[string]func(*yaml.Node){
		"name":       l.str(&pa.Name),
		"type":       l.str(&typ),
		"measures":   refList(&pa.refs.measures),
		"dimensions": refList(&pa.refs.dimensions),
		"segments":   refList(&pa.refs.segments),
		"time_dimension": func(v *yaml.Node) {
			var s string
			l.str(&s)(v)
			pa.refs.timeDimension = &preaggRef{name: s, pos: l.pos(v)}
		},
		"time_dimensions": func(v *yaml.Node) {
			l.errorf(v, "time_dimensions (several time dimensions) is not supported yet: use time_dimension and granularity")
		},
		"granularity":                       l.str(&pa.Granularity),
		"partition_granularity":             l.str(&pa.PartitionGranularity),
		"refresh_key":                       func(v *yaml.Node) { pa.RefreshKey = l.refreshKey(v, true) },
		"build_range_start":                 buildRange(&pa.BuildRangeStart, "build_range_start"),
		"build_range_end":                   buildRange(&pa.BuildRangeEnd, "build_range_end"),
		"indexes":                           l.preaggIndexes(pa),
		"scheduled_refresh":                 l.boolean(&pa.ScheduledRefresh),
		"external":                          l.boolean(&pa.External),
		"allow_non_strict_date_range_match": l.boolean(&pa.AllowNonStrictDateRangeMatch),
		"rollups": func(v *yaml.Node) {
			l.seq(v, "rollups", func(it *yaml.Node) { pa.Rollups = append(pa.Rollups, it.Value) })
		},
		// Storage hints that do not change what a rollup holds.
		"sql_alias":                         ignored,
		"unique_key_columns":                ignored,
		"union_with_source_data":            ignored,
		"use_original_sql_pre_aggregations": ignored,
		"output_column_types":               ignored,
		"read_only":                         ignored,
	})
	if typ != "" {
		pa.Type = PreAggregationType(typ)
	}
	where := fmt.Sprintf("pre-aggregation %s.%s", c.Name, pa.Name)
	switch {
	case pa.Name == "":
		l.errorf(n, "pre-aggregation in %q needs a name", c.Name)
		return nil
	case !identRe.MatchString(pa.Name):
		l.errorf(n, "pre-aggregation name %q must be an identifier (letters, digits, _)", pa.Name)
		return nil
	case !preaggTypes[pa.Type]:
		l.errorf(n, "%s: unknown type %q (want rollup, original_sql, rollup_join or rollup_lambda)", where, typ)
		return nil
	case pa.Type == PreAggRollupLambda:
		l.errorf(n, "%s: type rollup_lambda is not supported yet", where)
		return nil
	case pa.Type == PreAggRollupJoin && len(pa.Rollups) == 0:
		l.errorf(n, "%s: a rollup_join needs rollups", where)
	case pa.Type != PreAggRollupJoin && len(pa.Rollups) > 0:
		l.errorf(n, "%s: rollups belongs to a rollup_join", where)
	case (pa.BuildRangeStart == "") != (pa.BuildRangeEnd == ""):
		l.errorf(n, "%s: build_range_start and build_range_end go together", where)
	case pa.Type == PreAggRollup && len(pa.refs.measures)+len(pa.refs.dimensions)+len(pa.refs.segments) == 0 && pa.refs.timeDimension == nil:
		l.errorf(n, "%s: a rollup needs measures, dimensions, segments or a time_dimension", where)
	case pa.refs.timeDimension != nil && pa.Granularity == "":
		l.errorf(n, "%s: time_dimension needs a granularity", where)
	case pa.refs.timeDimension == nil && pa.Granularity != "":
		l.errorf(n, "%s: granularity needs a time_dimension", where)
	case pa.refs.timeDimension == nil && pa.PartitionGranularity != "":
		l.errorf(n, "%s: partition_granularity needs a time_dimension", where)
	case pa.RefreshKey != nil && pa.RefreshKey.Incremental && pa.PartitionGranularity == "":
		l.errorf(n, "%s: an incremental refresh_key needs a partition_granularity", where)
	}
	return pa
}

// preaggIndexes reads indexes, written as a list of {name, columns} or
// as a mapping of name to {columns}.
func (l *loader) preaggIndexes(pa *PreAggregation) func(*yaml.Node) {
	one := func(n *yaml.Node, name string) {
		ix := PreAggregationIndex{Name: name, Pos: l.pos(n)}
		l.mapping(n, "index", map[string]func(*yaml.Node){
			"name": l.str(&ix.Name),
			"columns": func(v *yaml.Node) {
				l.seq(v, "index columns", func(it *yaml.Node) { ix.refs = append(ix.refs, preaggRef{name: it.Value, pos: l.pos(it)}) })
			},
			"type": ignored, // regular or aggregate: a storage choice
		})
		if ix.Name == "" || len(ix.refs) == 0 {
			l.errorf(n, "index of pre-aggregation %s needs a name and columns", pa.Name)
			return
		}
		pa.Indexes = append(pa.Indexes, ix)
	}
	return func(v *yaml.Node) {
		switch v.Kind {
		case yaml.SequenceNode:
			for _, it := range v.Content {
				one(it, "")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(v.Content); i += 2 {
				one(v.Content[i+1], v.Content[i].Value)
			}
		default:
			l.errorf(v, "indexes must be a list or a mapping")
		}
	}
}

// inheritPreAggregations gives a cube that extends another the parent's
// pre-aggregations it does not declare itself (rebound to the child, so
// CUBE names the child), and the parent's refresh_key if it has none.
func inheritPreAggregations(c, parent *Cube) {
	if c.RefreshKey == nil {
		c.RefreshKey = parent.RefreshKey
	}
	have := map[string]bool{}
	for _, pa := range c.PreAggregations {
		have[pa.Name] = true
	}
	var out []*PreAggregation
	for _, pa := range parent.PreAggregations {
		if !have[pa.Name] {
			cp := *pa
			cp.Cube = c
			out = append(out, &cp)
		}
	}
	c.PreAggregations = append(out, c.PreAggregations...)
}

// refPathRe reads a member reference as Cube's YAML writes it:
// status, CUBE.status, orders.status, {CUBE}.status, {CUBE.status},
// ${CUBE}.status.
var refPathRe = regexp.MustCompile(`^\$?\{?([A-Za-z_][A-Za-z0-9_]*)\}?(?:\.\{?([A-Za-z_][A-Za-z0-9_]*)\}?)?$`)

// preaggMember resolves a member reference of a pre-aggregation.
func preaggMember(m *Model, c *Cube, ref string) (Member, error) {
	s := strings.TrimSpace(ref)
	if strings.HasPrefix(s, "${") || strings.HasPrefix(s, "{") {
		// {CUBE.status} and ${CUBE.status}: strip the outer braces.
		inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "$"), "{"), "}")
		if !strings.ContainsAny(inner, "{}") {
			s = inner
		}
	}
	p := refPathRe.FindStringSubmatch(s)
	if p == nil {
		return nil, fmt.Errorf("cannot read member reference %q (want member, CUBE.member or cube.member)", ref)
	}
	a, b := p[1], p[2]
	if b == "" {
		if mem, ok := c.Member(a); ok {
			return mem, nil
		}
		return nil, fmt.Errorf("unknown member %q: %s has no member %q", ref, c.Name, a)
	}
	target := c
	if a != "CUBE" && a != c.Name {
		other, ok := m.Cube(a)
		if !ok {
			return nil, fmt.Errorf("unknown member %q: there is no cube %q", ref, a)
		}
		target = other
	}
	mem, ok := target.Member(b)
	if !ok {
		return nil, fmt.Errorf("unknown member %q: %s has no member %q", ref, target.Name, b)
	}
	return mem, nil
}

// reachable lists the cubes a pre-aggregation of c may read members of:
// those its joins reach (for a view, those its cubes' joins reach).
func reachable(m *Model, c *Cube) map[*Cube]bool {
	out := map[*Cube]bool{}
	for _, u := range Underlying(c) {
		for x := range joinPaths(m, u) {
			out[x] = true
		}
	}
	return out
}

// resolvePreAggregations resolves the members of every pre-aggregation
// once all cubes and views are known, and checks what needs them.
func (l *loader) resolvePreAggregations(m *Model) {
	fail := func(p Pos, format string, args ...any) {
		l.errs = append(l.errs, &ValidationError{Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
	for _, c := range l.cubes {
		names := map[string]Pos{}
		var reach map[*Cube]bool
		for _, pa := range c.PreAggregations {
			where := "pre-aggregation " + pa.FullName()
			if prev, ok := names[pa.Name]; ok {
				fail(pa.Pos, "%s is defined twice (first at %s)", where, prev)
				continue
			}
			names[pa.Name] = pa.Pos
			if reach == nil {
				reach = reachable(m, c)
			}
			bad := false
			resolve := func(r preaggRef, list string) Member {
				mem, err := preaggMember(m, c, r.name)
				if err != nil {
					fail(r.pos, "%s: %s: %v", where, list, err)
					bad = true
					return nil
				}
				if o := resolveMember(mem).OwnerCube(); !reach[o] {
					fail(r.pos, "%s: %s: %s is in cube %s, which no join of %s reaches", where, list, FullName(mem), o.Name, c.Name)
					bad = true
					return nil
				}
				return mem
			}
			kindOf := func(mem Member) string {
				switch mem.(type) {
				case *Measure:
					return "a measure"
				case *Dimension:
					return "a dimension"
				}
				return "a segment"
			}
			pa.Measures, pa.Dimensions, pa.Segments, pa.TimeDimension = nil, nil, nil, nil
			seen := map[Member]bool{}
			dup := func(mem Member, r preaggRef, list string) bool {
				if seen[mem] {
					fail(r.pos, "%s: %s: %s is listed twice", where, list, FullName(mem))
					bad = true
					return true
				}
				seen[mem] = true
				return false
			}
			for _, r := range pa.refs.measures {
				switch mem := resolve(r, "measures").(type) {
				case nil:
				case *Measure:
					if !dup(mem, r, "measures") {
						pa.Measures = append(pa.Measures, mem)
					}
				default:
					fail(r.pos, "%s: measures: %s is %s, not a measure", where, FullName(mem), kindOf(mem))
					bad = true
				}
			}
			for _, r := range pa.refs.dimensions {
				switch mem := resolve(r, "dimensions").(type) {
				case nil:
				case *Dimension:
					if !dup(mem, r, "dimensions") {
						pa.Dimensions = append(pa.Dimensions, mem)
					}
				default:
					fail(r.pos, "%s: dimensions: %s is %s, not a dimension", where, FullName(mem), kindOf(mem))
					bad = true
				}
			}
			for _, r := range pa.refs.segments {
				switch mem := resolve(r, "segments").(type) {
				case nil:
				case *Segment:
					if !dup(mem, r, "segments") {
						pa.Segments = append(pa.Segments, mem)
					}
				default:
					fail(r.pos, "%s: segments: %s is %s, not a segment", where, FullName(mem), kindOf(mem))
					bad = true
				}
			}
			if r := pa.refs.timeDimension; r != nil {
				switch mem := resolve(*r, "time_dimension").(type) {
				case nil:
				case *Dimension:
					if mem.Type != TypeTime {
						fail(r.pos, "%s: time_dimension %s is of type %s, not time", where, FullName(mem), mem.Type)
						bad = true
						break
					}
					pa.TimeDimension = mem
					if !Granularities[pa.Granularity] && customGranularity(mem, pa.Granularity) == nil {
						fail(pa.Pos, "%s: unknown granularity %q for %s (want second, minute, hour, day, week, month, quarter, year%s)",
							where, pa.Granularity, FullName(mem), customList(mem))
						bad = true
						break
					}
					if pg := pa.PartitionGranularity; pg != "" {
						switch {
						case !Granularities[pg]:
							fail(pa.Pos, "%s: unknown partition_granularity %q (want second, minute, hour, day, week, month, quarter or year)", where, pg)
							bad = true
						case !divides(pa.Granularity, pg, mem):
							fail(pa.Pos, "%s: partition_granularity %s is finer than granularity %s (a partition must hold whole %s periods)", where, pg, pa.Granularity, pa.Granularity)
							bad = true
						}
					}
				default:
					fail(r.pos, "%s: time_dimension %s is %s, not a time dimension", where, FullName(mem), kindOf(mem))
					bad = true
				}
			}
			for i := range pa.Indexes {
				ix := &pa.Indexes[i]
				ix.Columns = nil
				for _, r := range ix.refs {
					mem := resolve(r, "index "+ix.Name)
					if mem == nil {
						continue
					}
					if !seen[mem] && mem != Member(pa.TimeDimension) {
						fail(r.pos, "%s: index %s: %s is not in the pre-aggregation", where, ix.Name, FullName(mem))
						bad = true
						continue
					}
					ix.Columns = append(ix.Columns, mem)
				}
			}
			if bad || pa.Type != PreAggRollup {
				continue
			}
			// The rollup must compile: its members joined from one cube.
			if _, err := m.CompileRollup(pa, Postgres{}); err != nil {
				fail(pa.Pos, "%s: %s", where, errMessage(err))
			}
		}
	}
}

func customList(d *Dimension) string {
	var b strings.Builder
	if o, ok := resolveMember(d).(*Dimension); ok {
		d = o
	}
	for _, g := range d.Granularities {
		b.WriteString(", " + g.Name)
	}
	return b.String()
}

// granularityRank orders the built-in granularities, finest first.
var granularityRank = map[string]int{"second": 0, "minute": 1, "hour": 2, "day": 3, "week": 4, "month": 5, "quarter": 6, "year": 7}

// divides reports whether every period of granularity coarse is a whole
// number of periods of fine (fine's buckets never straddle coarse's
// boundaries): day divides week and month, month divides quarter and
// year, but week divides neither month nor year. Custom granularities of
// d are divided by a built-in one when their interval and origin are
// whole periods of it; a custom fine granularity divides only itself.
func divides(fine, coarse string, d *Dimension) bool {
	if fine == coarse {
		return true
	}
	fr, fok := granularityRank[fine]
	cr, cok := granularityRank[coarse]
	if !fok {
		return false
	}
	if cok {
		if fine == "week" {
			return false // weeks straddle months, quarters and years
		}
		return fr < cr
	}
	g := customGranularity(d, coarse)
	if g == nil {
		return false
	}
	if g.Months > 0 {
		// Month-based periods start at a month start (the loader checks).
		return fine == "month" || (fr <= granularityRank["day"])
	}
	unit := map[string]int64{"second": 1, "minute": 60, "hour": 3600, "day": 86400}[fine]
	if unit == 0 {
		return false // a week's start is a Monday, not an origin's multiple
	}
	return g.Seconds%unit == 0 && g.Origin.Unix()%unit == 0
}
