package planner

import (
	"context"
	"encoding/json"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
)

// planExplain answers EXPLAIN [VERBOSE]: the semantic (Cube) query, the
// exact warehouse SQL and its bound parameters, without running it.
func (s *Session) planExplain(ctx context.Context, n *pg_query.ExplainStmt) (pgwire.Portal, error) {
	verbose := false
	for _, o := range n.GetOptions() {
		switch strings.ToLower(o.GetDefElem().GetDefname()) {
		case "verbose":
			verbose = true
		case "analyze":
			return nil, unsupported(nil, "EXPLAIN ANALYZE is not supported yet").WithHint("EXPLAIN shows the warehouse SQL; run it on the warehouse to analyze it")
		}
	}
	lines, err := s.explain(ctx, n.GetQuery(), verbose)
	if err != nil {
		return nil, err
	}
	rows := make([][]any, len(lines))
	for i, l := range lines {
		rows[i] = []any{l}
	}
	return &staticPortal{tag: "EXPLAIN", cols: []pgwire.Column{textCol("QUERY PLAN")}, rows: rows}, nil
}

// explain routes a statement without running it and prints its plan;
// the golden tests use the same printer. EXPLAIN explains a SELECT (set
// operations, WITH and VALUES included) and EXECUTE of a prepared one.
func (s *Session) explain(ctx context.Context, n *pg_query.Node, verbose bool) ([]string, error) {
	return s.explainPlan(ctx, n, verbose, false)
}

// explainPlan prints the plan of n without running it; any statement
// when every is set (the golden files print session commands, COPY and
// temporary tables too), else only what EXPLAIN explains.
func (s *Session) explainPlan(ctx context.Context, n *pg_query.Node, verbose, every bool) ([]string, error) {
	if ex := n.GetExecuteStmt(); ex != nil {
		ps, values, err := s.executeArgs(ex)
		if err != nil {
			return nil, err
		}
		if ps.node.GetSelectStmt() == nil {
			return nil, unsupported(nil, "EXPLAIN EXECUTE explains prepared SELECT statements")
		}
		s.params, s.text, s.prep = &params{oids: append([]uint32(nil), ps.types...), values: values}, ps.text, ps
		defer func() { s.params, s.text, s.prep = nil, "", nil }()
		n = ps.node
	}
	if sel := n.GetSelectStmt(); !every && n.GetDeclareCursorStmt() == nil && (sel == nil || sel.GetIntoClause() != nil) {
		return nil, unsupported(nil, "EXPLAIN explains SELECT, DECLARE … CURSOR FOR SELECT and EXECUTE of a prepared SELECT")
	}
	p, err := s.route(ctx, n)
	if err != nil {
		return nil, err
	}
	inner := p
	for {
		switch w := inner.node.(type) {
		case *cursorNode:
			inner = w.inner
			continue
		case *copyNode:
			inner = w.inner
			continue
		case *evaluatedNode:
			w.p.Close()
		case *catalogNode:
			// Compiled, not run: what the catalog cannot answer fails here.
			if _, err := s.catalog().Describe(ctx, w.sel, s.catalogSession()); err != nil {
				return nil, err
			}
		}
		break
	}
	lines := p.lines(verbose)
	if !s.principal().Holds("sql") {
		lines = hideWarehouseSQL(lines)
	}
	return lines, nil
}

// The warehouse SQL (table names, the model's SQL, bound values) and
// the security context's row filters are shown only to principals with
// scope sql, as REST's /sql requires it.
const (
	hiddenSQL        = "(hidden: the warehouse SQL and its parameters are shown to principals with scope sql)"
	hiddenRowFilters = "Row filters: (hidden: shown to principals with scope sql)"
)

// hideWarehouseSQL replaces, in a printed plan, each "Warehouse SQL"
// section's lines (those indented under it) by one saying they are
// hidden and which scope shows them, and each row filters line by one
// without the filters' values. A push-down's row sources name cubes
// only and stay.
func hideWarehouseSQL(lines []string) []string {
	out := make([]string, 0, len(lines))
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		body, at := strings.TrimLeft(l, " "), indent(l)
		switch {
		case strings.HasPrefix(body, "Row filters: "):
			out = append(out, l[:at]+hiddenRowFilters)
		case strings.HasPrefix(body, "Row source ") && strings.Contains(body, " (row filters: "):
			src, _, _ := strings.Cut(l, " (row filters: ")
			out = append(out, src+" (row filters hidden: shown to principals with scope sql)")
		case strings.HasPrefix(body, "Warehouse SQL"):
			out = append(out, l, l[:at]+"  "+hiddenSQL)
			for i+1 < len(lines) && indent(lines[i+1]) > at {
				i++
			}
		default:
			out = append(out, l)
		}
	}
	return out
}

// explainLines prints a cube query's plan.
func explainLines(q *cubes.Query, c *cubes.Compiled, dialect string, verbose bool, outs []output) []string {
	qj, _ := json.Marshal(q)
	out := []string{"Cube query: " + string(qj)}
	if len(c.RowFilters) > 0 {
		// The security context's row filters, on the cubes the query
		// reads (a view's included).
		fj, _ := json.Marshal(c.RowFilters)
		out = append(out, "Row filters: "+string(fj))
	}
	out = append(out, "Warehouse SQL ("+dialect+"):")
	for _, l := range strings.Split(c.String(), "\n") {
		if strings.HasPrefix(l, "-- $") {
			l = "  parameter " + strings.TrimPrefix(l, "-- ")
		} else {
			l = "  " + l
		}
		out = append(out, l)
	}
	if verbose {
		out = append(out, "Output columns:")
		for _, o := range outs {
			out = append(out, "  "+o.col.Name+" ← "+o.key)
		}
	}
	return out
}
