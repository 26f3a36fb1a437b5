package httpapi

import (
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
)

// /cubejs-api/v1/meta and the annotation of /load answers, as Cube 1.x
// gives them: its schema compiler's CubeToMetaTransformer (titles,
// visibility, connected components, formats, drill members, folders),
// the API gateway's filterVisibleItemsInMeta and metaExtended, and its
// prepareAnnotation. Where cubegate differs, a comment says so and why.

// cubeMeta is one cube or view of /v1/meta, fields in Cube's order.
type cubeMeta struct {
	Name               string          `json:"name"`
	Type               string          `json:"type"`
	Title              string          `json:"title"`
	IsVisible          bool            `json:"isVisible"`
	Public             bool            `json:"public"`
	Description        string          `json:"description,omitempty"`
	ConnectedComponent int             `json:"connectedComponent,omitempty"`
	Meta               any             `json:"meta,omitempty"`
	Measures           []measureMeta   `json:"measures"`
	Dimensions         []dimensionMeta `json:"dimensions"`
	Segments           []segmentMeta   `json:"segments"`
	Hierarchies        []hierarchyMeta `json:"hierarchies"`
	Folders            []flatFolder    `json:"folders"`
	NestedFolders      []nestedFolder  `json:"nestedFolders"`

	// extended=true
	SQL      string     `json:"sql,omitempty"`
	FileName string     `json:"fileName,omitempty"`
	Joins    []joinMeta `json:"joins,omitempty"`
}

type measureMeta struct {
	Name                string       `json:"name"`
	Title               string       `json:"title"`
	Description         string       `json:"description,omitempty"`
	ShortTitle          string       `json:"shortTitle"`
	Format              any          `json:"format,omitempty"`
	CumulativeTotal     bool         `json:"cumulativeTotal"`
	Cumulative          bool         `json:"cumulative"`
	Type                string       `json:"type"`
	AggType             string       `json:"aggType"`
	DrillMembers        []string     `json:"drillMembers"`
	DrillMembersGrouped drillGrouped `json:"drillMembersGrouped"`
	AliasMember         string       `json:"aliasMember,omitempty"`
	Meta                any          `json:"meta,omitempty"`
	IsVisible           bool         `json:"isVisible"`
	Public              bool         `json:"public"`
	SQL                 string       `json:"sql,omitempty"`
	Filters             []sqlMeta    `json:"filters,omitempty"`
}

type drillGrouped struct {
	Measures   []string `json:"measures"`
	Dimensions []string `json:"dimensions"`
}

type dimensionMeta struct {
	Name                string            `json:"name"`
	Title               string            `json:"title"`
	Type                string            `json:"type"`
	Description         string            `json:"description,omitempty"`
	ShortTitle          string            `json:"shortTitle"`
	SuggestFilterValues bool              `json:"suggestFilterValues"`
	Format              any               `json:"format,omitempty"`
	Meta                any               `json:"meta,omitempty"`
	IsVisible           bool              `json:"isVisible"`
	Public              bool              `json:"public"`
	PrimaryKey          bool              `json:"primaryKey"`
	AliasMember         string            `json:"aliasMember,omitempty"`
	Granularities       []granularityMeta `json:"granularities,omitempty"`
	SQL                 string            `json:"sql,omitempty"`
	Case                *caseMeta         `json:"case,omitempty"`
}

type granularityMeta struct {
	Name     string `json:"name"`
	Title    string `json:"title"`
	Interval string `json:"interval"`
	Offset   string `json:"offset,omitempty"`
	Origin   string `json:"origin,omitempty"`
}

type segmentMeta struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	ShortTitle  string `json:"shortTitle"`
	Description string `json:"description,omitempty"`
	Meta        any    `json:"meta,omitempty"`
	IsVisible   bool   `json:"isVisible"`
	Public      bool   `json:"public"`
	SQL         string `json:"sql,omitempty"`
}

type hierarchyMeta struct {
	Name   string   `json:"name"`
	Title  string   `json:"title,omitempty"`
	Levels []string `json:"levels"`
	Public bool     `json:"public"`
}

type flatFolder struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

type nestedFolder struct {
	Name    string `json:"name"`
	Members []any  `json:"members"` // member names and nestedFolders
}

type sqlMeta struct {
	SQL string `json:"sql"`
}

type caseMeta struct {
	When []caseWhenMeta `json:"when"`
	Else *caseElseMeta  `json:"else,omitempty"`
}

type caseWhenMeta struct {
	SQL   string `json:"sql"`
	Label string `json:"label"`
}

type caseElseMeta struct {
	Label string `json:"label"`
}

type joinMeta struct {
	Name         string `json:"name"`
	Relationship string `json:"relationship"`
	SQL          string `json:"sql"`
}

func (a *REST) meta(w http.ResponseWriter, r *http.Request, k auth.APIKey) {
	rq := a.req(r.Context())
	m := rq.engine.Model()
	pol, err := a.policyOf(r.Context())
	if err != nil {
		restError(w, http.StatusForbidden, "%s", errorMessage(err))
		return
	}
	// Cube answers metaExtended whenever the parameter is present.
	_, extended := r.URL.Query()["extended"]
	if extended && !rq.principal.Holds("sql") {
		// The model's SQL is shown, like EXPLAIN's, to keys with the sql scope only.
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "extended meta shows the model's SQL: it needs a key with the sql scope", "code": "ACCESS_DENIED_PERMISSIONS"})
		return
	}
	onlyViews := r.URL.Query().Get("onlyViews") == "true"
	out := []cubeMeta{}
	for _, c := range metaCubes(m, pol, extended) {
		if onlyViews && c.Type != "view" {
			continue
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cubes": out})
}

// metaCubes is /v1/meta's cube list for a key's policy: Cube's meta of
// every cube and view, with what is not visible left out as
// filterVisibleItemsInMeta does (hidden members; a cube left with none
// — a hidden cube's members are all hidden), and so is what the policy
// does not let the key read.
func metaCubes(m *cubes.Model, pol *cubes.Policy, extended bool) []cubeMeta {
	comps := connectedComponents(m)
	var out []cubeMeta
	for _, c := range m.Cubes {
		cm := describeCube(m, c, comps, pol, extended)
		if len(cm.Measures)+len(cm.Dimensions)+len(cm.Segments) == 0 {
			continue
		}
		out = append(out, cm)
	}
	return out
}

func describeCube(m *cubes.Model, c *cubes.Cube, comps map[string]int, pol *cubes.Policy, extended bool) cubeMeta {
	title := cubeTitle(c)
	cm := cubeMeta{Name: c.Name, Type: "cube", Title: title, IsVisible: c.Public, Public: c.Public,
		Description: c.Description, ConnectedComponent: comps[c.Name], Meta: c.Meta,
		Measures: []measureMeta{}, Dimensions: []dimensionMeta{}, Segments: []segmentMeta{},
		Hierarchies: []hierarchyMeta{}, Folders: []flatFolder{}, NestedFolders: []nestedFolder{}}
	if c.IsView {
		cm.Type = "view"
	}
	allowed := func(name string) bool {
		mem, err := m.Member(name)
		return err == nil && pol.Allows(mem)
	}
	for _, x := range c.Measures {
		if !c.Public || !x.Public || !pol.Allows(x) {
			continue
		}
		cm.Measures = append(cm.Measures, describeMeasure(m, x, title, pol, extended))
	}
	for _, x := range c.Dimensions {
		if !c.Public || !x.Public || !pol.Allows(x) {
			continue
		}
		cm.Dimensions = append(cm.Dimensions, describeDimension(x, title, extended))
	}
	for _, x := range c.Segments {
		if !c.Public || !x.Public || !pol.Allows(x) {
			continue
		}
		cm.Segments = append(cm.Segments, describeSegment(x, title, extended))
	}
	for _, h := range c.Hierarchies {
		hm := hierarchyMeta{Name: c.Name + "." + h.Name, Title: h.Title, Levels: []string{}, Public: h.Public}
		for _, lv := range h.Levels {
			full := c.Name + "." + strings.TrimPrefix(lv, c.Name+".")
			if allowed(full) {
				hm.Levels = append(hm.Levels, full)
			}
		}
		cm.Hierarchies = append(cm.Hierarchies, hm)
	}
	// Folders as Cube lists them with its default (empty)
	// nestedFoldersDelimiter: top folders flat, a nested folder's
	// members merged into its top folder's; and nested as written.
	for _, f := range c.Folders {
		var flat []string
		nested := nestFolder(c, f, &flat, allowed)
		cm.Folders = append(cm.Folders, flatFolder{Name: f.Name, Members: dedupe(flat)})
		cm.NestedFolders = append(cm.NestedFolders, nested)
	}
	if extended {
		cm.SQL = c.SQL
		if c.SQL == "" && c.SQLTable != "" {
			// Cube's sql_table is sql: SELECT * FROM table.
			cm.SQL = "SELECT * FROM " + c.SQLTable
		}
		cm.FileName = c.Pos.File
		for _, j := range c.Joins {
			cm.Joins = append(cm.Joins, joinMeta{Name: j.Name, Relationship: relationshipName[j.Relationship], SQL: j.SQL})
		}
	}
	return cm
}

// relationshipName is a join's relationship as Cube's compiled model
// names it.
var relationshipName = map[string]string{"many_to_one": "belongsTo", "one_to_many": "hasMany", "one_to_one": "hasOne"}

func nestFolder(c *cubes.Cube, f cubes.Folder, flat *[]string, allowed func(string) bool) nestedFolder {
	nf := nestedFolder{Name: f.Name, Members: []any{}}
	for _, it := range f.Items {
		if it.Folder != nil {
			nf.Members = append(nf.Members, nestFolder(c, *it.Folder, flat, allowed))
			continue
		}
		full := c.Name + "." + it.Member
		if !allowed(full) {
			continue
		}
		*flat = append(*flat, full)
		nf.Members = append(nf.Members, full)
	}
	return nf
}

func dedupe(names []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func cubeTitle(c *cubes.Cube) string {
	if c.Title != "" {
		return c.Title
	}
	return Titleize(c.Name)
}

// memberTitle is Cube's title (cube title, then the member's) and short
// title (the member's: declared, else its name titleized).
func memberTitle(cubeTitle, declared, name string) (title, short string) {
	short = declared
	if short == "" {
		short = Titleize(name)
	}
	return cubeTitle + " " + short, short
}

// aliasMember is the cube member a view's member stands for, as Cube
// names it; "" for a cube's own member.
func aliasMember(mem cubes.Member) string {
	if o := cubes.Origin(mem); o != nil {
		return cubes.FullName(o)
	}
	return ""
}

// aggTypes are measure types as Cube's compiled model spells them
// (camelCase).
var aggTypes = map[cubes.MemberType]string{cubes.TypeCountDistinct: "countDistinct", cubes.TypeCountApprox: "countDistinctApprox"}

// memberDataType is Cube's toMemberDataType: what a measure's values are.
func memberDataType(t cubes.MemberType) string {
	switch t {
	case cubes.TypeString, cubes.TypeTime, cubes.TypeBoolean:
		return string(t)
	}
	return "number"
}

func describeMeasure(m *cubes.Model, x *cubes.Measure, cubeTitle string, pol *cubes.Policy, extended bool) measureMeta {
	title, short := memberTitle(cubeTitle, x.Title, x.Name)
	agg := aggTypes[x.Type]
	if agg == "" {
		agg = string(x.Type)
	}
	mm := measureMeta{Name: cubes.FullName(x), Title: title, Description: x.Description, ShortTitle: short,
		Type: memberDataType(x.Type), AggType: agg, DrillMembers: []string{},
		DrillMembersGrouped: drillGrouped{Measures: []string{}, Dimensions: []string{}},
		AliasMember:         aliasMember(x), Meta: x.Meta, IsVisible: true, Public: true}
	if x.Format != "" {
		mm.Format = x.Format
	}
	// A rolling window makes a measure cumulative; Cube's views do not
	// carry the window into their members (CubeSymbols'
	// generateIncludeMembers), so a view's measure is not.
	if x.Rolling != nil && cubes.Origin(x) == nil {
		mm.Cumulative, mm.CumulativeTotal = true, true
	}
	for _, name := range x.DrillMembers {
		mem, err := m.Member(name)
		if err != nil || !pol.Allows(mem) {
			continue // a drill member the key may not read is not named
		}
		mm.DrillMembers = append(mm.DrillMembers, name)
		switch mem.(type) {
		case *cubes.Measure:
			mm.DrillMembersGrouped.Measures = append(mm.DrillMembersGrouped.Measures, name)
		case *cubes.Dimension:
			mm.DrillMembersGrouped.Dimensions = append(mm.DrillMembersGrouped.Dimensions, name)
		}
	}
	if extended {
		mm.SQL = x.SQL
		if cubes.Origin(x) != nil {
			mm.SQL = "{" + aliasMember(x) + "}"
		}
		for _, f := range x.Filters {
			mm.Filters = append(mm.Filters, sqlMeta{SQL: f})
		}
	}
	return mm
}

func dimensionFormat(x *cubes.Dimension) any {
	switch {
	case x.FormatObject:
		f := map[string]any{"type": x.Format}
		if x.FormatLabel != "" {
			f["label"] = x.FormatLabel
		}
		return f
	case x.Format != "":
		return x.Format
	}
	return nil
}

func describeDimension(x *cubes.Dimension, cubeTitle string, extended bool) dimensionMeta {
	title, short := memberTitle(cubeTitle, x.Title, x.Name)
	dm := dimensionMeta{Name: cubes.FullName(x), Title: title, Type: string(x.Type), Description: x.Description,
		ShortTitle: short, SuggestFilterValues: x.SuggestFilterValues, Format: dimensionFormat(x), Meta: x.Meta,
		IsVisible: true, Public: true, PrimaryKey: x.PrimaryKey, AliasMember: aliasMember(x)}
	// Only the granularities the model declares; Cube lists no
	// predefined ones here (they are named in the annotation).
	for _, g := range x.Granularities {
		_, gShort := memberTitle(cubeTitle, g.Title, g.Name)
		dm.Granularities = append(dm.Granularities, granularityMeta{Name: g.Name, Title: gShort, Interval: g.Interval, Offset: g.Offset, Origin: g.OriginText})
	}
	if extended {
		dm.SQL = x.SQL
		if cubes.Origin(x) != nil {
			dm.SQL = "{" + aliasMember(x) + "}"
		}
		if x.Case != nil && cubes.Origin(x) == nil {
			cm := &caseMeta{}
			for _, w := range x.Case.When {
				cm.When = append(cm.When, caseWhenMeta{SQL: w.SQL, Label: w.Label})
			}
			if x.Case.Else != nil {
				cm.Else = &caseElseMeta{Label: *x.Case.Else}
			}
			dm.Case = cm
		}
	}
	return dm
}

func describeSegment(x *cubes.Segment, cubeTitle string, extended bool) segmentMeta {
	title, short := memberTitle(cubeTitle, x.Title, x.Name)
	sm := segmentMeta{Name: cubes.FullName(x), Title: title, ShortTitle: short, Description: x.Description,
		Meta: x.Meta, IsVisible: true, Public: true}
	if extended {
		sm.SQL = x.SQL
		if cubes.Origin(x) != nil {
			sm.SQL = "{" + aliasMember(x) + "}"
		}
	}
	return sm
}

// connectedComponents numbers the join graph's components as Cube's
// JoinGraph does: the cubes with joins of their own, in model order,
// each start a walk over joins in both directions and take the next
// number — even when the walk finds the cube already numbered, so
// numbers can be skipped. A cube no join touches (and every view) has
// none, and /v1/meta leaves the field out.
func connectedComponents(m *cubes.Model) map[string]int {
	adj := map[string][]string{}
	var from []string
	for _, c := range m.Cubes {
		if c.IsView || len(c.Joins) == 0 {
			continue
		}
		from = append(from, c.Name)
		for _, j := range c.Joins {
			adj[c.Name] = append(adj[c.Name], j.Name)
			adj[j.Name] = append(adj[j.Name], c.Name)
		}
	}
	comps := map[string]int{}
	var walk func(id int, name string)
	walk = func(id int, name string) {
		if comps[name] != 0 {
			return
		}
		comps[name] = id
		for _, n := range adj[name] {
			walk(id, n)
		}
	}
	for i, name := range from {
		walk(i+1, name)
	}
	return comps
}

// annotationFor describes the query's members as Cube's prepareAnnotation
// does: each member's title, short title, description, type, format and
// meta (measures with their drill members; a time dimension's
// granularities), and a time dimension with a granularity under
// cube.dim.granularity, with that granularity, and under cube.dim unless
// the query lists it among its dimensions.
// Under a key's policy (nil: none), a drill member the key may not read
// is not named, as in /v1/meta.
func annotationFor(m *cubes.Model, q *cubes.Query, pol *cubes.Policy) map[string]any {
	describe := func(name string) (map[string]any, bool) {
		cube, member, _ := strings.Cut(name, ".")
		member, _, _ = strings.Cut(member, ".")
		c, ok := m.Cube(cube)
		if !ok {
			return nil, false
		}
		mem, ok := c.LookupMember(member)
		if !ok {
			return nil, false
		}
		title := cubeTitle(c)
		out := map[string]any{}
		put := func(k string, v any, present bool) {
			if present {
				out[k] = v
			}
		}
		switch x := mem.(type) {
		case *cubes.Measure:
			mm := describeMeasure(m, x, title, pol, false)
			out["title"], out["shortTitle"], out["type"] = mm.Title, mm.ShortTitle, mm.Type
			put("description", mm.Description, mm.Description != "")
			put("format", mm.Format, mm.Format != nil)
			put("meta", mm.Meta, mm.Meta != nil)
			out["drillMembers"], out["drillMembersGrouped"] = mm.DrillMembers, mm.DrillMembersGrouped
		case *cubes.Dimension:
			dm := describeDimension(x, title, false)
			out["title"], out["shortTitle"], out["type"] = dm.Title, dm.ShortTitle, dm.Type
			put("description", dm.Description, dm.Description != "")
			put("format", dm.Format, dm.Format != nil)
			put("meta", dm.Meta, dm.Meta != nil)
			put("granularities", dm.Granularities, dm.Granularities != nil)
		case *cubes.Segment:
			sm := describeSegment(x, title, false)
			out["title"], out["shortTitle"] = sm.Title, sm.ShortTitle
			put("description", sm.Description, sm.Description != "")
			put("meta", sm.Meta, sm.Meta != nil)
		}
		return out, true
	}
	section := func(names []string) map[string]any {
		out := map[string]any{}
		for _, name := range names {
			if d, ok := describe(name); ok {
				out[name] = d
			}
		}
		return out
	}
	tds := map[string]any{}
	for _, td := range q.TimeDimensions {
		if td.Granularity == "" {
			continue
		}
		key := td.Dimension + "." + td.Granularity
		if d, ok := describe(key); ok {
			g, _ := d["granularities"].([]granularityMeta)
			delete(d, "granularities")
			d["granularity"] = granularityAnnotation(td.Granularity, g)
			tds[key] = d
		}
		if slicesContains(q.Dimensions, td.Dimension) {
			continue
		}
		if d, ok := describe(td.Dimension); ok {
			delete(d, "granularities")
			tds[td.Dimension] = d
		}
	}
	return map[string]any{
		"measures":       section(q.Measures),
		"dimensions":     section(q.Dimensions),
		"segments":       section(q.Segments),
		"timeDimensions": tds,
	}
}

// granularityAnnotation is the granularity a time dimension is grouped
// by, as Cube 1.x's prepareAnnotation names it: a predefined one by its
// name and "1 name" interval, a custom one as /v1/meta lists it.
func granularityAnnotation(name string, custom []granularityMeta) any {
	if cubes.Granularities[name] {
		return granularityMeta{Name: name, Title: name, Interval: "1 " + name}
	}
	for _, g := range custom {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Titleize is Cube's titleize of a name: camelCase(name, {pascalCase:
// true}) (the camelcase package), then inflection's underscore and
// titleize — words capitalized except small ones (and, of, at, by, …)
// after the first: signed_up_at is "Signed Up at".
func Titleize(name string) string {
	return inflectionTitleize(inflectionUnderscore(pascalCase(name)))
}

var (
	camelSeparators = regexp.MustCompile(`[_.\- ]+([\p{L}\p{Nl}\p{N}_]|$)`)
	camelDigits     = regexp.MustCompile(`[0-9]+([\p{L}\p{Nl}\p{N}_]|$)`)
	leadingSeps     = regexp.MustCompile(`^[_.\- ]+`)
)

// pascalCase follows camelcase 6's camelCase with pascalCase: true.
func pascalCase(s string) string {
	s = strings.TrimSpace(s)
	rs := []rune(s)
	switch len(rs) {
	case 0:
		return ""
	case 1:
		return strings.ToUpper(s)
	}
	if s != strings.ToLower(s) {
		s = preserveCamelCase(rs)
	}
	s = leadingSeps.ReplaceAllString(s, "")
	s = strings.ToLower(s)
	if rs := []rune(s); len(rs) > 0 {
		s = string(unicode.ToUpper(rs[0])) + string(rs[1:])
	}
	s = camelSeparators.ReplaceAllStringFunc(s, func(m string) string {
		return strings.ToUpper(camelSeparators.FindStringSubmatch(m)[1])
	})
	return camelDigits.ReplaceAllStringFunc(s, strings.ToUpper)
}

// preserveCamelCase puts a dash where a word of a camelCase name starts
// (before an upper-case letter after a lower-case one, and before the
// last of several upper-case letters followed by a lower-case one).
func preserveCamelCase(rs []rune) string {
	lower := func(r rune) bool { return unicode.ToLower(r) == r && unicode.ToUpper(r) != r }
	upper := func(r rune) bool { return unicode.ToUpper(r) == r && unicode.ToLower(r) != r }
	lastLower, lastUpper, lastLastUpper := false, false, false
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case lastLower && unicode.IsUpper(c):
			rs = append(rs[:i], append([]rune{'-'}, rs[i:]...)...)
			lastLower, lastLastUpper, lastUpper = false, lastUpper, true
			i++
		case lastUpper && lastLastUpper && unicode.IsLower(c):
			rs = append(rs[:i-1], append([]rune{'-'}, rs[i-1:]...)...)
			lastLastUpper, lastUpper, lastLower = lastUpper, false, true
		default:
			lastLower, lastLastUpper, lastUpper = lower(c), lastUpper, upper(c)
		}
	}
	return string(rs)
}

var asciiUpper = regexp.MustCompile(`[A-Z]`)

// inflectionUnderscore is inflection's underscore: an underscore before
// each upper-case ASCII letter, none leading, all lower case.
func inflectionUnderscore(s string) string {
	s = asciiUpper.ReplaceAllString(s, "_$0")
	s = strings.TrimPrefix(s, "_")
	return strings.ToLower(s)
}

// smallWords stay lower case in a title (inflection's
// non_titlecased_words), except as its first word.
var smallWords = map[string]bool{"and": true, "or": true, "nor": true, "a": true, "an": true, "the": true, "so": true,
	"but": true, "to": true, "of": true, "at": true, "by": true, "from": true, "into": true, "on": true, "onto": true,
	"off": true, "out": true, "in": true, "over": true, "with": true, "for": true}

// inflectionTitleize is inflection's titleize.
func inflectionTitleize(s string) string {
	words := strings.Split(strings.ReplaceAll(strings.ToLower(s), "_", " "), " ")
	for i, w := range words {
		parts := strings.Split(w, "-")
		for j, p := range parts {
			if !smallWords[p] {
				parts[j] = capitalize(p)
			}
		}
		words[i] = strings.Join(parts, "-")
	}
	return capitalize1(strings.Join(words, " "))
}

func capitalize(s string) string { return capitalize1(strings.ToLower(s)) }

func capitalize1(s string) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return s
	}
	return string(unicode.ToUpper(rs[0])) + string(rs[1:])
}
