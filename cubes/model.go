// Package cubes is the semantic model: Cube's YAML data model (cubes,
// views, measures, dimensions, segments, joins), the query a client asks of
// it (Query, Cube's REST query JSON) and the compiler from Query to SQL for a
// warehouse dialect.
package cubes

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// MemberType is a measure or dimension type as the model spells it.
type MemberType string

// Measure and dimension types.
const (
	TypeCount         MemberType = "count"
	TypeCountDistinct MemberType = "count_distinct"
	TypeCountApprox   MemberType = "count_distinct_approx"
	TypeSum           MemberType = "sum"
	TypeAvg           MemberType = "avg"
	TypeMin           MemberType = "min"
	TypeMax           MemberType = "max"
	TypeNumber        MemberType = "number"
	TypeString        MemberType = "string"
	TypeTime          MemberType = "time"
	TypeBoolean       MemberType = "boolean"
)

// Pos is a place in a model file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Model is a compiled, validated data model. It is immutable once loaded,
// so a reload builds a new Model and swaps it in.
type Model struct {
	// Cubes in declaration order (files sorted by path), views included.
	Cubes []*Cube
	// generation tells models apart for as long as the process lives
	// (a reload is a new one): caches key on it, not on an address.
	generation uint64
	byName     map[string]*Cube
	byFold     map[string][]*Cube // lower-cased name → cubes (for case-insensitive lookup)
	// extra are members only a rollup's build sees (its segments as
	// boolean dimensions), by full name.
	extra map[string]Member
}

// Cube is a cube or a view.
type Cube struct {
	Name        string
	SQLTable    string
	SQL         string
	Title       string
	Description string
	Public      bool
	IsView      bool
	// Meta is the model's meta: map as written (JSON-ready).
	Meta any
	// Folders group a view's members for clients (views only).
	Folders []Folder
	// Hierarchies are drill paths through a cube's dimensions.
	Hierarchies []Hierarchy
	Measures    []*Measure
	Dimensions  []*Dimension
	Segments    []*Segment
	Joins       []*Join
	// RefreshKey is the cube's refresh_key (nil: Cube's default, every
	// 10 seconds); PreAggregations its rollups, in model order.
	RefreshKey      *RefreshKey
	PreAggregations []*PreAggregation
	Pos             Pos

	members map[string]Member
	extends string // the cube this one extends, until inherited
}

// Member is a measure, dimension or segment.
type Member interface {
	MemberName() string
	OwnerCube() *Cube
	Position() Pos
}

// Measure is an aggregate over a cube's rows.
type Measure struct {
	Cube        *Cube
	Name        string
	Type        MemberType
	SQL         string
	Title       string
	Description string
	Format      string
	Filters     []string
	Public      bool
	Meta        any
	// DrillMembers are the members (cube.member) a client drills down to
	// from this measure, as the model's drill_members lists them.
	DrillMembers []string
	drillRefs    []drillRef
	// Rolling makes the measure a rolling window over time.
	Rolling *RollingWindow
	Pos     Pos
	origin  Member // for a view's member: the cube member it stands for
	source  Member // for a view's member: the member it includes (a view's, for a view of a view)
}

// RollingWindow is a measure's window around each period: trailing and
// leading durations (Unbounded: no lower bound), anchored at the period's
// end (default) or start.
type RollingWindow struct {
	TrailingMonths, LeadingMonths   int
	TrailingSeconds, LeadingSeconds int64
	Unbounded, HasLeading           bool
	AtStart                         bool
}

// Dimension is an attribute rows are grouped or filtered by.
type Dimension struct {
	Cube        *Cube
	Name        string
	Type        MemberType
	SQL         string
	Title       string
	Description string
	PrimaryKey  bool
	Public      bool
	// Format is how clients show values: currency, percent, number, id,
	// imageUrl or link; FormatLabel is a link's label, given as
	// {type: link, label: …} (FormatObject: written as that object).
	Format       string
	FormatLabel  string
	FormatObject bool
	Meta         any
	// SuggestFilterValues: clients may offer the dimension's values as
	// filter suggestions (suggest_filter_values, default true).
	SuggestFilterValues bool
	Case                *CaseDef
	// Granularities are the custom time buckets of a time dimension.
	Granularities []Granularity
	// SubQuery: SQL is a measure of a joined cube, computed per row of
	// this cube.
	SubQuery bool
	Pos      Pos
	origin   Member
	source   Member
}

// Granularity is a custom time bucket: a whole number of months, or of
// seconds, counted from an origin.
type Granularity struct {
	Name    string
	Title   string
	Months  int
	Seconds int64
	Origin  time.Time
	// Interval, Offset and OriginText are as the model writes them.
	Interval, Offset, OriginText string
}

// Folder is a named group of a view's members; Members are member names
// of the view, Folders nested folders, in the order written.
type Folder struct {
	Name  string
	Items []FolderItem
}

// FolderItem is a member name or a nested folder.
type FolderItem struct {
	Member string
	Folder *Folder
}

// Hierarchy is a named drill path through a cube's dimensions (levels:
// member names of the cube).
type Hierarchy struct {
	Name   string
	Title  string
	Levels []string
	Public bool
	Pos    Pos
}

// CaseDef is a dimension defined by CASE WHEN … THEN label … ELSE label.
type CaseDef struct {
	When []CaseWhen
	Else *string
}

// CaseWhen is one branch of a case dimension.
type CaseWhen struct {
	SQL   string
	Label string
}

// Segment is a named boolean filter.
type Segment struct {
	Cube        *Cube
	Name        string
	SQL         string
	Title       string
	Description string
	Public      bool
	Meta        any
	Pos         Pos
	origin      Member
	source      Member
}

// Join links a cube to another one.
type Join struct {
	Name         string // the target cube
	Relationship string // one_to_one, one_to_many, many_to_one
	SQL          string
	Pos          Pos
}

func (m *Measure) MemberName() string   { return m.Name }
func (m *Measure) OwnerCube() *Cube     { return m.Cube }
func (m *Measure) Position() Pos        { return m.Pos }
func (d *Dimension) MemberName() string { return d.Name }
func (d *Dimension) OwnerCube() *Cube   { return d.Cube }
func (d *Dimension) Position() Pos      { return d.Pos }
func (s *Segment) MemberName() string   { return s.Name }
func (s *Segment) OwnerCube() *Cube     { return s.Cube }
func (s *Segment) Position() Pos        { return s.Pos }

// FullName is "cube.member".
func FullName(m Member) string { return m.OwnerCube().Name + "." + m.MemberName() }

var generations atomic.Uint64

// Generation is the model's number among the models this process made.
func (m *Model) Generation() uint64 { return m.generation }

// Cube returns the cube or view named name (exact match).
func (m *Model) Cube(name string) (*Cube, bool) {
	c, ok := m.byName[name]
	return c, ok
}

// LookupCube finds a cube by name: exactly, or else case-insensitively
// when that is unambiguous (as Cube's SQL API does).
func (m *Model) LookupCube(name string) (*Cube, bool) {
	if c, ok := m.byName[name]; ok {
		return c, true
	}
	if cs := m.byFold[strings.ToLower(name)]; len(cs) == 1 {
		return cs[0], true
	}
	return nil, false
}

// Member resolves "cube.member".
func (m *Model) Member(path string) (Member, error) {
	if mem, ok := m.extra[path]; ok {
		return mem, nil
	}
	cubeName, member, ok := strings.Cut(path, ".")
	if !ok {
		return nil, fmt.Errorf("member %q: expected cube.member", path)
	}
	c, ok := m.Cube(cubeName)
	if !ok {
		return nil, fmt.Errorf("cube %q not found for member %q", cubeName, path)
	}
	mem, ok := c.Member(member)
	if !ok {
		return nil, fmt.Errorf("member %q not found in cube %q", member, cubeName)
	}
	return mem, nil
}

// Member returns the member called name (exact match).
func (c *Cube) Member(name string) (Member, bool) {
	mem, ok := c.members[name]
	return mem, ok
}

// LookupMember finds a member exactly, or else case-insensitively when
// that is unambiguous.
func (c *Cube) LookupMember(name string) (Member, bool) {
	if mem, ok := c.members[name]; ok {
		return mem, true
	}
	var found Member
	n := 0
	for k, mem := range c.members {
		if strings.EqualFold(k, name) {
			found = mem
			n++
		}
	}
	return found, n == 1
}

// PrimaryKey returns the cube's primary-key dimension, if any.
func (c *Cube) PrimaryKey() *Dimension {
	for _, d := range c.Dimensions {
		if d.PrimaryKey {
			return d
		}
	}
	return nil
}

// CountMeasure returns the measure COUNT(*) maps to: the one named "count"
// (as in Cube's SQL API), else the first measure of type count.
func (c *Cube) CountMeasure() *Measure {
	var first *Measure
	for _, m := range c.Measures {
		if m.Type != TypeCount {
			continue
		}
		if m.Name == "count" {
			return m
		}
		if first == nil {
			first = m
		}
	}
	return first
}

func (c *Cube) index() {
	c.members = make(map[string]Member, len(c.Measures)+len(c.Dimensions)+len(c.Segments))
	for _, m := range c.Measures {
		c.members[m.Name] = m
	}
	for _, d := range c.Dimensions {
		c.members[d.Name] = d
	}
	for _, s := range c.Segments {
		c.members[s.Name] = s
	}
}

func newModel(cubes []*Cube) *Model {
	m := &Model{Cubes: cubes, byName: map[string]*Cube{}, byFold: map[string][]*Cube{}, generation: generations.Add(1)}
	for _, c := range cubes {
		m.byName[c.Name] = c
		k := strings.ToLower(c.Name)
		m.byFold[k] = append(m.byFold[k], c)
	}
	return m
}

// CubeNames returns the names of every cube and view, sorted.
func (m *Model) CubeNames() []string {
	out := make([]string, 0, len(m.Cubes))
	for _, c := range m.Cubes {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

// AggregatesTime reports whether a min or max measure aggregates a time
// dimension's column (a "last order at" measure), so its values are times.
func AggregatesTime(m *Measure) bool {
	if m.Type != TypeMin && m.Type != TypeMax {
		return false
	}
	src := resolveMember(m).(*Measure)
	for _, d := range src.Cube.Dimensions {
		if d.Type == TypeTime && (d.SQL == src.SQL || "{"+d.Name+"}" == src.SQL || "{CUBE}."+d.SQL == src.SQL) {
			return true
		}
	}
	return false
}
