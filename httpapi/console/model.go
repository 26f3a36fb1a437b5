package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/query"
)

// The Model explorer and the Playground. Both act as the signed-in
// principal through the gateway's own engine (Explorer): the model and
// policy a REST request of the principal's reads, the REST API's load
// and sql handlers, and the SQL API's planner in a session of the
// principal's — so the security context, the limits and the audit log
// apply as they do to any client.

// Explorer is the gateway as the Model and Playground pages use it, as
// principal p on data source source ("" the tenant's first).
type Explorer interface {
	// Model is the model p's REST requests read on source, and p's
	// policy on it.
	Model(ctx context.Context, p query.Principal, source string) (*cubes.Model, *cubes.Policy, error)
	// REST serves a request of the Cube API (path /cubejs-api/v1/load or
	// /sql, body the request's JSON) as p, through the REST API's own
	// handler, and returns its status and answer.
	REST(ctx context.Context, p query.Principal, source, path string, body []byte) (status int, answer []byte)
	// SQL runs one statement through the SQL API's planner in a new
	// session of p's: its first max rows as text, the others counted.
	// A refusal is an error with its SQLSTATE (pgerr).
	SQL(ctx context.Context, p query.Principal, source, sql string, max int) (*SQLResult, error)
}

// SQLResult is a statement's answer: columns, rows in PostgreSQL's text
// form (nil: NULL) as psql shows them, and how many more rows there were.
type SQLResult struct {
	Columns []SQLColumn
	Rows    [][]*string
	More    int64
	// MoreAtLeast: the counting stopped at More (there are more).
	MoreAtLeast bool
	Tag         string
}

// SQLColumn is a result column: its name, type name and type OID.
type SQLColumn struct {
	Name, Type string
	OID        uint32
}

// Lines is the first column's values, a line each (EXPLAIN's plan).
func (r *SQLResult) Lines() string {
	var b strings.Builder
	for i, row := range r.Rows {
		if i > 0 {
			b.WriteByte('\n')
		}
		if len(row) > 0 && row[0] != nil {
			b.WriteString(*row[0])
		}
	}
	return b.String()
}

// queryPrincipal is the signed-in principal as the query service knows
// it: an API key's id, security context and scopes, or a console user
// (no security context) named as the audit log names it.
func queryPrincipal(s *Session, r *http.Request) query.Principal {
	p := query.Principal{TenantID: s.Principal.TenantID, Scopes: slices.Clone(s.Principal.Scopes), Username: s.Principal.Name(),
		Address: httpapi.RemoteAddr(r).String()}
	if k := s.Principal.Key; k != nil {
		p.APIKeyID, p.Security = k.ID, k.Security
	}
	return p
}

// errorText is a refusal as people read it: SQLSTATE and message.
func errorText(err error) string {
	pe := pgerr.From(err)
	return pe.Code + ": " + pe.Message
}

// restError is a REST answer's {"error", "code"}.
type restError struct {
	Error any    `json:"error"`
	Code  string `json:"code"`
	Type  string `json:"type"`
}

// restFailure is a REST answer that is not 200 as an error.
func restFailure(status int, body []byte) *RunError {
	var e restError
	_ = json.Unmarshal(body, &e)
	msg := fmt.Sprint(e.Error)
	if e.Error == nil {
		msg = strings.TrimSpace(string(body))
	}
	return &RunError{Status: status, Code: e.Code, Message: msg}
}

// explainREST is the warehouse SQL /cubejs-api/v1/sql gives for a Cube
// query (JSON), and its parameters spelled "$n = value".
func explainREST(ctx context.Context, x Explorer, p query.Principal, source string, q []byte) (sql string, params []string, err error) {
	status, body := x.REST(ctx, p, source, "/cubejs-api/v1/sql", wrapQuery(q))
	if status != http.StatusOK {
		return "", nil, restFailure(status, body)
	}
	var ans struct {
		SQL struct {
			SQL []json.RawMessage `json:"sql"`
		} `json:"sql"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || len(ans.SQL.SQL) == 0 {
		return "", nil, fmt.Errorf("an answer of /v1/sql without SQL: %.200s", body)
	}
	if err := json.Unmarshal(ans.SQL.SQL[0], &sql); err != nil {
		return "", nil, err
	}
	var args []json.RawMessage
	if len(ans.SQL.SQL) > 1 {
		_ = json.Unmarshal(ans.SQL.SQL[1], &args)
	}
	for i, a := range args {
		params = append(params, fmt.Sprintf("$%d = %s", i+1, a))
	}
	return sql, params, nil
}

// wrapQuery is a load or sql request's body for a query.
func wrapQuery(q []byte) []byte {
	return append(append([]byte(`{"query":`), q...), '}')
}

// RunError is why a playground query failed: a REST status and code, or
// a SQLSTATE, and the message.
type RunError struct {
	Status   int
	Code     string
	SQLState string
	Message  string
}

func (e *RunError) Error() string { return e.Message }

// ---- The Model explorer ----

// modelView is the Model page's data.
type modelView struct {
	Cubes   []cubeView
	Diagram template.HTML
	// ShowSQL: the principal holds sql, so members' and joins' SQL is
	// shown (as /v1/meta?extended shows it). ShowHidden: hidden members
	// are listed, marked (an unrestricted admin); Restricted: the
	// principal's security context limits what it reads.
	ShowSQL, ShowHidden, Restricted bool
	Joins                           []diagramEdge
}

// cubeView is a cube or view as the explorer lists it.
type cubeView struct {
	Name, Title, Description, Kind string
	Public                         bool
	SQLTable, SQL, File            string
	Measures, Dimensions, Segments []memberView
	Joins                          []joinView
	// Cubes are a view's cubes (those shown).
	Cubes []string
}

// memberView is a measure, dimension or segment.
type memberView struct {
	Name, Full, Title, Type, Description, Format, SQL string
	Public, PrimaryKey                                bool
	Granularities                                     []string
}

// memberTable is one table of a cube's section.
type memberTable struct {
	ID, Title string
	Members   []memberView
	SQL       bool
}

// Tables are the cube's measures, dimensions and segments, a table each
// (those it has).
func (c cubeView) Tables(showSQL bool) []memberTable {
	var out []memberTable
	for _, t := range []memberTable{{"measures", "Measures", c.Measures, showSQL}, {"dimensions", "Dimensions", c.Dimensions, showSQL}, {"segments", "Segments", c.Segments, showSQL}} {
		if len(t.Members) > 0 {
			t.ID += "-" + slug(c.Name)
			out = append(out, t)
		}
	}
	return out
}

// joinView is a join of a cube.
type joinView struct {
	Name, Relationship, SQL string
}

// explore lists the cubes and views the principal may see: the members
// /v1/meta shows it (public and allowed by its policy), and with
// showHidden the hidden ones too, marked; never a member its policy
// refuses, nor a cube left without members.
func explore(m *cubes.Model, pol *cubes.Policy, showHidden, showSQL bool) []cubeView {
	var out []cubeView
	for _, c := range m.Cubes {
		visible := func(mem cubes.Member, public bool) bool {
			return pol.Allows(mem) && (showHidden || c.Public && public)
		}
		cv := cubeView{Name: c.Name, Title: c.Title, Description: c.Description, Kind: "cube", Public: c.Public, File: c.Pos.String()}
		if c.IsView {
			cv.Kind = "view"
		}
		if showSQL {
			cv.SQLTable, cv.SQL = c.SQLTable, c.SQL
		}
		var behind []string
		note := func(mem cubes.Member) {
			if o := cubes.Origin(mem); o != nil && !slices.Contains(behind, o.OwnerCube().Name) {
				behind = append(behind, o.OwnerCube().Name)
			}
		}
		for _, x := range c.Measures {
			if visible(x, x.Public) {
				mv := memberView{Name: x.Name, Full: cubes.FullName(x), Title: x.Title, Type: string(x.Type), Description: x.Description, Format: x.Format, Public: c.Public && x.Public}
				if showSQL {
					mv.SQL = x.SQL
				}
				cv.Measures = append(cv.Measures, mv)
				note(x)
			}
		}
		for _, x := range c.Dimensions {
			if visible(x, x.Public) {
				mv := memberView{Name: x.Name, Full: cubes.FullName(x), Title: x.Title, Type: string(x.Type), Description: x.Description, Format: x.Format,
					Public: c.Public && x.Public, PrimaryKey: x.PrimaryKey}
				for _, g := range x.Granularities {
					mv.Granularities = append(mv.Granularities, g.Name)
				}
				if showSQL {
					mv.SQL = x.SQL
				}
				cv.Dimensions = append(cv.Dimensions, mv)
				note(x)
			}
		}
		for _, x := range c.Segments {
			if visible(x, x.Public) {
				mv := memberView{Name: x.Name, Full: cubes.FullName(x), Title: x.Title, Type: "segment", Description: x.Description, Public: c.Public && x.Public}
				if showSQL {
					mv.SQL = x.SQL
				}
				cv.Segments = append(cv.Segments, mv)
				note(x)
			}
		}
		if len(cv.Measures)+len(cv.Dimensions)+len(cv.Segments) == 0 {
			continue
		}
		for _, j := range c.Joins {
			jv := joinView{Name: j.Name, Relationship: j.Relationship}
			if showSQL {
				jv.SQL = j.SQL
			}
			cv.Joins = append(cv.Joins, jv)
		}
		cv.Cubes = behind
		out = append(out, cv)
	}
	// Joins and a view's cubes name only cubes that are listed.
	shown := map[string]bool{}
	for _, cv := range out {
		shown[cv.Name] = true
	}
	for i := range out {
		out[i].Joins = slices.DeleteFunc(out[i].Joins, func(j joinView) bool { return !shown[j.Name] })
		out[i].Cubes = slices.DeleteFunc(out[i].Cubes, func(n string) bool { return !shown[n] })
	}
	return out
}

// modelPage serves /console/model: the cubes and views the principal may
// read, as /v1/meta would show them, with a diagram of their joins.
func (c *Console) modelPage() Page {
	return Page{Path: Prefix + "/model", Title: "Model", Nav: true, Scope: "meta", Template: "model", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET here.")
			return
		}
		if c.cfg.Explore == nil {
			c.errorPage(w, r, s, http.StatusNotFound, "This gateway serves no model to the console.")
			return
		}
		p := queryPrincipal(s, r)
		m, pol, err := c.cfg.Explore.Model(r.Context(), p, s.Source)
		if err != nil {
			s.Error(w, err)
			return
		}
		v := modelView{ShowSQL: s.Principal.Holds("sql"), Restricted: len(p.Security.Allow) > 0 || len(p.Security.RowFilters) > 0}
		// Hidden members are for the model's owners: an admin whose
		// security context restricts nothing (/v1/meta never lists them).
		v.ShowHidden = s.Principal.Holds("admin") && !v.Restricted
		v.Cubes = explore(m, pol, v.ShowHidden, v.ShowSQL)
		d := joinDiagram(v.Cubes)
		v.Diagram, v.Joins = d.SVG(), d.Edges
		s.Render(w, http.StatusOK, v)
	}}
}

// ---- The join diagram ----

// diagram is the join graph laid out: views in the top row, then cubes
// by their depth along many-to-one joins (a fact cube above its
// dimensions).
type diagram struct {
	Nodes []diagramNode
	Edges []diagramEdge
	W, H  int
}

type diagramNode struct {
	Name, Kind string
	X, Y       int
}

// diagramEdge is a join (Relationship set) or a view reading a cube.
type diagramEdge struct {
	From, To, Relationship string
}

const (
	nodeW, nodeH, nodeGapX, nodeGapY, diagramMargin = 168, 40, 28, 72, 16
)

// joinDiagram lays out the cubes and views listed.
func joinDiagram(cs []cubeView) diagram {
	var d diagram
	level := map[string]int{}
	index := map[string]int{}
	for i, c := range cs {
		index[c.Name] = i
		for _, j := range c.Joins {
			d.Edges = append(d.Edges, diagramEdge{From: c.Name, To: j.Name, Relationship: j.Relationship})
		}
		for _, b := range c.Cubes {
			d.Edges = append(d.Edges, diagramEdge{From: c.Name, To: b})
		}
	}
	// Longest path from a cube no join reaches: a join's target sits one
	// row below its source (bounded: a cycle stops after len(cs) rounds).
	for range cs {
		changed := false
		for _, e := range d.Edges {
			if e.Relationship == "" || e.From == e.To {
				continue
			}
			if l := level[e.From] + 1; l > level[e.To] && l < len(cs) {
				level[e.To], changed = l, true
			}
		}
		if !changed {
			break
		}
	}
	hasView := slices.ContainsFunc(cs, func(c cubeView) bool { return c.Kind == "view" })
	rows := map[int][]string{}
	maxRow, widest := 0, 0
	for _, c := range cs {
		row := level[c.Name]
		if hasView {
			row++
		}
		if c.Kind == "view" {
			row = 0
		}
		rows[row] = append(rows[row], c.Name)
		maxRow = max(maxRow, row)
		widest = max(widest, len(rows[row]))
	}
	d.W = 2*diagramMargin + widest*(nodeW+nodeGapX) - nodeGapX
	d.H = 2*diagramMargin + (maxRow+1)*(nodeH+nodeGapY) - nodeGapY
	for row := 0; row <= maxRow; row++ {
		names := rows[row]
		rowW := len(names)*(nodeW+nodeGapX) - nodeGapX
		x0 := (d.W - rowW) / 2
		for i, n := range names {
			d.Nodes = append(d.Nodes, diagramNode{Name: n, Kind: cs[index[n]].Kind, X: x0 + i*(nodeW+nodeGapX), Y: diagramMargin + row*(nodeH+nodeGapY)})
		}
	}
	return d
}

// SVG draws the diagram: a node links to its cube's section; every text
// is escaped here.
func (d diagram) SVG() template.HTML {
	if len(d.Nodes) == 0 {
		return ""
	}
	esc := template.HTMLEscapeString
	at := map[string]diagramNode{}
	for _, n := range d.Nodes {
		at[n.Name] = n
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="join-diagram" class="diagram" viewBox="0 0 %d %d" width="%d" height="%d" role="group" aria-labelledby="diagram-title diagram-desc">`, d.W, d.H, d.W, d.H)
	joins, reads := 0, 0
	for _, e := range d.Edges {
		if e.Relationship != "" {
			joins++
		} else {
			reads++
		}
	}
	fmt.Fprintf(&b, `<title id="diagram-title">Join graph</title><desc id="diagram-desc">%d cubes and views, %d joins, %d view-to-cube links; the table of joins below says the same in words.</desc>`, len(d.Nodes), joins, reads)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor"/></marker></defs>`)
	for _, e := range d.Edges {
		from, ok1 := at[e.From]
		to, ok2 := at[e.To]
		if !ok1 || !ok2 || e.From == e.To {
			continue
		}
		x1, y1, x2, y2 := edgeEnds(from, to)
		dash := ""
		label := e.Relationship
		if e.Relationship == "" {
			dash, label = ` stroke-dasharray="4 3"`, "includes"
		}
		fmt.Fprintf(&b, `<g class="edge" data-from="%s" data-to="%s"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="currentColor"%s marker-end="url(#arrow)"/>`,
			esc(e.From), esc(e.To), x1, y1, x2, y2, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="currentColor" opacity="0.8">%s</text><title>%s → %s (%s)</title></g>`,
			(x1+x2)/2, (y1+y2)/2-4, esc(label), esc(e.From), esc(e.To), esc(label))
	}
	for _, n := range d.Nodes {
		rx, dash := "4", ""
		if n.Kind == "view" {
			rx, dash = "18", ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<a href="#cube-%s" class="node" data-node="%s" data-kind="%s"><rect x="%d" y="%d" width="%d" height="%d" rx="%s" fill="none" stroke="currentColor" stroke-width="1.5"%s/>`,
			esc(slug(n.Name)), esc(n.Name), n.Kind, n.X, n.Y, nodeW, nodeH, rx, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" dominant-baseline="middle" fill="currentColor" font-size="13">%s</text><title>%s %s</title></a>`,
			n.X+nodeW/2, n.Y+nodeH/2, esc(shorten(n.Name, 22)), n.Kind, esc(n.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// edgeEnds are where an edge between two nodes starts and ends: bottom to
// top between rows, side to side within one.
func edgeEnds(a, b diagramNode) (x1, y1, x2, y2 int) {
	switch {
	case a.Y < b.Y:
		return a.X + nodeW/2, a.Y + nodeH, b.X + nodeW/2, b.Y
	case a.Y > b.Y:
		return a.X + nodeW/2, a.Y, b.X + nodeW/2, b.Y + nodeH
	case a.X < b.X:
		return a.X + nodeW, a.Y + nodeH/2, b.X, b.Y + nodeH/2
	}
	return a.X, a.Y + nodeH/2, b.X + nodeW, b.Y + nodeH/2
}

// ---- The Playground ----

// Playground page sizes: how many rows of an answer the table shows.
var playgroundPageSizes = []int{50, 100, 500, 1000, 5000}

const playgroundPageSize = 100

// Filter operators the builder offers (Cube's).
var filterOperators = []string{"equals", "notEquals", "contains", "notContains", "startsWith", "endsWith", "gt", "gte", "lt", "lte",
	"set", "notSet", "inDateRange", "notInDateRange", "beforeDate", "afterDate"}

// Granularities the builder offers.
var granularities = []string{"second", "minute", "hour", "day", "week", "month", "quarter", "year"}

// builderForm is the query builder's form, as posted.
type builderForm struct {
	Measures, Dimensions, Segments               []string
	TimeDimension, Granularity, DateFrom, DateTo string
	Filters                                      []filterRow
	Order                                        []orderRow
	Limit                                        string
	JSON                                         string
}

// filterRow and orderRow are rows of the form (N: 1-based, for labels).
type filterRow struct {
	N                        int
	Member, Operator, Values string
}

type orderRow struct {
	N           int
	Member, Dir string
}

// builder rows: filters and orders the form offers.
const builderFilters, builderOrders = 3, 2

func emptyBuilder() builderForm {
	f := builderForm{Filters: make([]filterRow, builderFilters), Order: make([]orderRow, builderOrders), Limit: "1000"}
	for i := range f.Filters {
		f.Filters[i].N = i + 1
	}
	for i := range f.Order {
		f.Order[i].N = i + 1
	}
	return f
}

// readBuilder reads the posted builder form.
func readBuilder(r *http.Request) builderForm {
	f := emptyBuilder()
	pf := r.PostForm
	f.Measures, f.Dimensions, f.Segments = nonEmpty(pf["measures"]), nonEmpty(pf["dimensions"]), nonEmpty(pf["segments"])
	f.TimeDimension, f.Granularity = pf.Get("time_dimension"), pf.Get("granularity")
	f.DateFrom, f.DateTo = strings.TrimSpace(pf.Get("date_from")), strings.TrimSpace(pf.Get("date_to"))
	for i := range f.Filters {
		n := strconv.Itoa(i)
		f.Filters[i] = filterRow{N: i + 1, Member: pf.Get("filter_member_" + n), Operator: pf.Get("filter_op_" + n), Values: pf.Get("filter_values_" + n)}
	}
	for i := range f.Order {
		n := strconv.Itoa(i)
		f.Order[i] = orderRow{N: i + 1, Member: pf.Get("order_member_" + n), Dir: pf.Get("order_dir_" + n)}
	}
	f.Limit = strings.TrimSpace(pf.Get("limit"))
	f.JSON = strings.TrimSpace(pf.Get("query_json"))
	return f
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// cubeQuery is the builder's query as Cube's JSON, members in the order
// picked.
type cubeQuery struct {
	Measures       []string        `json:"measures,omitempty"`
	Dimensions     []string        `json:"dimensions,omitempty"`
	Segments       []string        `json:"segments,omitempty"`
	TimeDimensions []timeDimension `json:"timeDimensions,omitempty"`
	Filters        []cubeFilter    `json:"filters,omitempty"`
	Order          [][2]string     `json:"order,omitempty"`
	Limit          int64           `json:"limit,omitempty"`
}

type timeDimension struct {
	Dimension   string   `json:"dimension"`
	Granularity string   `json:"granularity,omitempty"`
	DateRange   []string `json:"dateRange,omitempty"`
}

type cubeFilter struct {
	Member   string   `json:"member"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// query is the form as Cube's query JSON (a form error says which
// field is wrong).
func (f builderForm) query() ([]byte, error) {
	q := cubeQuery{Measures: f.Measures, Dimensions: f.Dimensions, Segments: f.Segments}
	if f.TimeDimension != "" {
		td := timeDimension{Dimension: f.TimeDimension, Granularity: f.Granularity}
		switch {
		case f.DateFrom != "" && f.DateTo != "":
			td.DateRange = []string{f.DateFrom, f.DateTo}
		case f.DateFrom != "" || f.DateTo != "":
			return nil, errors.New("a date range needs both its start and its end")
		}
		q.TimeDimensions = []timeDimension{td}
	} else if f.Granularity != "" || f.DateFrom != "" || f.DateTo != "" {
		return nil, errors.New("a granularity or date range needs a time dimension")
	}
	for i, fr := range f.Filters {
		if fr.Member == "" {
			continue
		}
		if !slices.Contains(filterOperators, fr.Operator) {
			return nil, fmt.Errorf("filter %d: pick an operator", i+1)
		}
		cf := cubeFilter{Member: fr.Member, Operator: fr.Operator}
		if fr.Operator != "set" && fr.Operator != "notSet" {
			for _, v := range strings.Split(fr.Values, ",") {
				if v = strings.TrimSpace(v); v != "" {
					cf.Values = append(cf.Values, v)
				}
			}
			if len(cf.Values) == 0 {
				return nil, fmt.Errorf("filter %d (%s %s) needs a value", i+1, fr.Member, fr.Operator)
			}
		}
		q.Filters = append(q.Filters, cf)
	}
	for _, o := range f.Order {
		if o.Member == "" {
			continue
		}
		dir := "asc"
		if o.Dir == "desc" {
			dir = "desc"
		}
		q.Order = append(q.Order, [2]string{o.Member, dir})
	}
	if f.Limit != "" {
		n, err := strconv.ParseInt(f.Limit, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("limit %q is not a positive number of rows", f.Limit)
		}
		q.Limit = n
	}
	if len(q.Measures)+len(q.Dimensions)+len(q.TimeDimensions)+len(q.Segments) == 0 {
		return nil, errors.New("pick at least one measure, dimension or time dimension")
	}
	return json.MarshalIndent(q, "", "  ")
}

// option is a member the builder offers; optionGroup a cube's or
// view's.
type option struct{ Value, Label string }

type optionGroup struct {
	Label   string
	Options []option
}

// add puts an option in its group (the last one, or a new one).
func add(groups []optionGroup, group string, o option) []optionGroup {
	if n := len(groups); n == 0 || groups[n-1].Label != group {
		groups = append(groups, optionGroup{Label: group})
	}
	groups[len(groups)-1].Options = append(groups[len(groups)-1].Options, o)
	return groups
}

// Picked reports whether the form picked v in field (measures,
// dimensions, segments, time_dimension, granularity).
func (f builderForm) Picked(field, v string) bool {
	switch field {
	case "measures":
		return slices.Contains(f.Measures, v)
	case "dimensions":
		return slices.Contains(f.Dimensions, v)
	case "segments":
		return slices.Contains(f.Segments, v)
	case "time_dimension":
		return f.TimeDimension == v
	case "granularity":
		return f.Granularity == v
	}
	return false
}

// playgroundView is the Playground's data.
type playgroundView struct {
	Measures, Dimensions, TimeDimensions, Segments, Filterable []optionGroup
	Operators, Granularities                                   []string
	PageSizes                                                  []int
	PageSize                                                   int
	Form                                                       builderForm
	SQL                                                        string
	// Ran is what ran: "builder" (the form or its JSON) or "sql".
	Ran string
	// Query is the Cube query the builder ran (JSON).
	Query  string
	Result *Result
	Chart  template.HTML
	// LimitNote says the query's own limit was reached, or the default
	// limit cut the answer.
	LimitNote string
	// Explain is the warehouse SQL: /v1/sql's for the builder, EXPLAIN's
	// for the SQL box; ExplainError why there is none.
	Explain, ExplainFrom, ExplainError string
	// ExplainParams are /v1/sql's parameters ("$1 = 100").
	ExplainParams []string
	FormError     string
	Error         *RunError
	CanExplain    bool
}

// playgroundPage serves /console/playground: the query builder and the
// SQL box, each run as the principal through the engine clients use.
func (c *Console) playgroundPage() Page {
	return Page{Path: Prefix + "/playground", Title: "Playground", Nav: true, Scope: "load", Template: "model-playground", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		if c.cfg.Explore == nil {
			c.errorPage(w, r, s, http.StatusNotFound, "This gateway runs no queries for the console.")
			return
		}
		x := c.cfg.Explore
		p := queryPrincipal(s, r)
		v := playgroundView{Operators: filterOperators, Granularities: granularities, PageSizes: playgroundPageSizes, PageSize: playgroundPageSize,
			Form: emptyBuilder(), CanExplain: s.Principal.Holds("sql")}
		m, pol, err := x.Model(r.Context(), p, s.Source)
		if err != nil {
			s.Error(w, err)
			return
		}
		v.options(m, pol)
		status := http.StatusOK
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			// A statement or Cube query to start from (not run).
			v.SQL = r.URL.Query().Get("sql")
			if q := r.URL.Query().Get("query"); q != "" {
				v.Form.JSON = q
			}
		case http.MethodPost:
			if err := r.ParseForm(); err != nil {
				c.errorPage(w, r, s, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if n, err := strconv.Atoi(r.PostForm.Get("page_size")); err == nil && slices.Contains(playgroundPageSizes, n) {
				v.PageSize = n
			}
			// Each form carries the other's text (the SQL, the Cube JSON) so
			// that running one keeps the other.
			v.Form, v.SQL = readBuilder(r), r.PostForm.Get("sql")
			if run := r.PostForm.Get("run"); run != "builder" && run != "json" {
				keep := v.Form.JSON
				v.Form = emptyBuilder()
				v.Form.JSON = keep
			}
			switch r.PostForm.Get("run") {
			case "builder", "json":
				v.Ran = "builder"
				q, err := v.Form.query()
				if r.PostForm.Get("run") == "json" {
					q, err = userQuery(v.Form.JSON)
				}
				if err != nil {
					v.FormError, status = err.Error(), http.StatusBadRequest
					break
				}
				v.Query = string(q)
				v.Form.JSON = v.Query
				c.runBuilder(r.Context(), x, p, s.Source, q, &v)
			case "sql":
				v.Ran = "sql"
				if strings.TrimSpace(v.SQL) == "" {
					v.FormError, status = "Write a SQL statement first.", http.StatusBadRequest
					break
				}
				c.runSQL(r.Context(), x, p, s.Source, &v)
			default:
				v.FormError, status = "Run the builder's query or the SQL box's statement.", http.StatusBadRequest
			}
			if v.Result != nil {
				if ch, ok := ChartOf(v.Result, "The answer as a chart"); ok {
					v.Chart = ch.SVG()
				}
			}
		default:
			c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET or POST here.")
			return
		}
		s.Render(w, status, v)
	}}
}

// userQuery reads a Cube query written as JSON (an object).
func userQuery(text string) ([]byte, error) {
	var q map[string]any
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if err := d.Decode(&q); err != nil {
		return nil, fmt.Errorf("the query is not a JSON object: %v", err)
	}
	return json.MarshalIndent(q, "", "  ")
}

// options lists the members the principal may query, as /v1/meta does.
func (v *playgroundView) options(m *cubes.Model, pol *cubes.Policy) {
	for _, c := range explore(m, pol, false, false) {
		group := c.Name
		if c.Title != "" {
			group = c.Title + " (" + c.Name + ")"
		}
		label := func(mv memberView) string {
			if mv.Title != "" {
				return mv.Title + " — " + mv.Full
			}
			return mv.Full
		}
		for _, mv := range c.Measures {
			v.Measures = add(v.Measures, group, option{mv.Full, label(mv)})
			v.Filterable = add(v.Filterable, group, option{mv.Full, label(mv)})
		}
		for _, mv := range c.Dimensions {
			v.Dimensions = add(v.Dimensions, group, option{mv.Full, label(mv)})
			v.Filterable = add(v.Filterable, group, option{mv.Full, label(mv)})
			if mv.Type == string(cubes.TypeTime) {
				v.TimeDimensions = add(v.TimeDimensions, group, option{mv.Full, label(mv)})
			}
		}
		for _, mv := range c.Segments {
			v.Segments = add(v.Segments, group, option{mv.Full, label(mv)})
		}
	}
}

// runBuilder runs a Cube query through the REST API's load handler (the
// compact format keeps the columns' order) and fetches its warehouse
// SQL from /v1/sql.
func (c *Console) runBuilder(ctx context.Context, x Explorer, p query.Principal, source string, q []byte, v *playgroundView) {
	body, err := withField(q, "responseFormat", "compact")
	if err != nil {
		v.FormError = err.Error()
		return
	}
	status, ans := x.REST(ctx, p, source, "/cubejs-api/v1/load", wrapQuery(body))
	if status != http.StatusOK {
		v.Error = restFailure(status, ans)
		return
	}
	res, note, err := compactResult(ans, v.PageSize, q)
	if err != nil {
		v.Error = &RunError{Status: status, Message: err.Error()}
		return
	}
	v.Result, v.LimitNote = res, note
	if !v.CanExplain {
		v.ExplainError = "The warehouse SQL is shown to principals holding the sql scope, as /cubejs-api/v1/sql shows it."
		return
	}
	v.ExplainFrom = "/cubejs-api/v1/sql"
	if v.Explain, v.ExplainParams, err = explainREST(ctx, x, p, source, q); err != nil {
		v.ExplainError = err.Error()
	}
}

// withField adds a field to a JSON object.
func withField(q []byte, k string, val any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(q, &m); err != nil {
		return nil, fmt.Errorf("the query is not a JSON object: %v", err)
	}
	b, _ := json.Marshal(val)
	m[k] = b
	return json.Marshal(m)
}

// compactResult reads a load answer in Cube's compact format into a
// Result of at most pageSize rows: values keep their exact text (a
// measure's decimal string, a number as written).
func compactResult(ans []byte, pageSize int, q []byte) (*Result, string, error) {
	var a struct {
		Data struct {
			Members []string            `json:"members"`
			Dataset [][]json.RawMessage `json:"dataset"`
		} `json:"data"`
		Annotation map[string]map[string]struct {
			Title string `json:"title"`
			Type  string `json:"type"`
		} `json:"annotation"`
		RowLimit struct {
			Limit     int  `json:"limit"`
			Default   bool `json:"default"`
			Truncated bool `json:"truncated"`
		} `json:"rowLimit"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(ans, &a); err != nil {
		return nil, "", fmt.Errorf("the answer could not be read: %v", err)
	}
	if a.Error != "" {
		// The status was sent before the error (an error while streaming).
		return nil, "", errors.New(a.Error)
	}
	res := &Result{Total: -1}
	// A time dimension comes twice (with and without its granularity):
	// the table shows the one with.
	keep := []int{}
	for i, name := range a.Data.Members {
		if slices.ContainsFunc(a.Data.Members, func(o string) bool { return strings.HasPrefix(o, name+".") }) {
			continue
		}
		col := ResultColumn{Name: name, Title: name}
		for kind, ms := range a.Annotation {
			if an, ok := ms[name]; ok {
				col.Title, col.Type = an.Title, an.Type
				col.Numeric = kind == "measures"
				col.Time = kind == "timeDimensions" || an.Type == "time"
			}
		}
		res.Columns = append(res.Columns, col)
		keep = append(keep, i)
	}
	for _, row := range a.Data.Dataset {
		if len(res.Rows) == pageSize {
			res.More++
			continue
		}
		out := make([]*string, len(keep))
		for j, i := range keep {
			if i < len(row) {
				out[j] = jsonText(row[i])
			}
		}
		res.Rows = append(res.Rows, out)
	}
	var ql struct {
		Limit int64 `json:"limit"`
	}
	_ = json.Unmarshal(q, &ql)
	res.Limit = ql.Limit
	n := int64(len(a.Data.Dataset))
	switch {
	case a.RowLimit.Truncated:
		return res, fmt.Sprintf("The query has no limit: the default of %d rows applied and cut the answer — there are more rows. Set a limit to choose.", a.RowLimit.Limit), nil
	case ql.Limit > 0 && n == ql.Limit:
		return res, fmt.Sprintf("The answer has as many rows as the query's limit (%d): there may be more rows. Raise the limit to see.", ql.Limit), nil
	}
	return res, "", nil
}

// jsonText is a JSON value's text: a string's contents, a number as
// written, true/false; nil for null.
func jsonText(raw json.RawMessage) *string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return &s
		}
	}
	s := string(raw)
	return &s
}

// runSQL runs the SQL box's statement through the SQL API's planner, then
// EXPLAIN of it for the warehouse SQL.
func (c *Console) runSQL(ctx context.Context, x Explorer, p query.Principal, source string, v *playgroundView) {
	out, err := x.SQL(ctx, p, source, v.SQL, v.PageSize)
	if err != nil {
		pe := pgerr.From(err)
		v.Error = &RunError{SQLState: pe.Code, Message: pe.Message}
		return
	}
	res := &Result{Total: -1, More: out.More, MoreAtLeast: out.MoreAtLeast, Rows: out.Rows}
	for _, col := range out.Columns {
		rc := ResultColumn{Name: col.Name, Title: col.Name, Type: col.Type}
		switch col.OID {
		case 20, 21, 23, 700, 701, 1700: // int8, int2, int4, float4, float8, numeric
			rc.Numeric = true
		case 1082, 1114, 1184: // date, timestamp, timestamptz
			rc.Time = true
		}
		res.Columns = append(res.Columns, rc)
	}
	v.Result = res
	v.ExplainFrom = "EXPLAIN"
	plan, err := x.SQL(ctx, p, source, "EXPLAIN "+v.SQL, 100000)
	if err != nil {
		v.ExplainError = "EXPLAIN: " + errorText(err)
		return
	}
	v.Explain = plan.Lines()
	if !v.CanExplain {
		v.ExplainError = "EXPLAIN shows the warehouse SQL to principals holding the sql scope."
	}
}
