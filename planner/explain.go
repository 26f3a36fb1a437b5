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
	return p.lines(explainOptions{verbose: verbose, showSQL: s.principal().Holds("sql"), session: s}), nil
}

// What EXPLAIN prints instead of the warehouse SQL (table names, the
// model's SQL, bound values) and the security context's row filters for
// principals without scope sql.
const (
	hiddenSQL          = "(hidden: the warehouse SQL and its parameters are shown to principals with scope sql)"
	hiddenRowFilters   = "Row filters: (hidden: shown to principals with scope sql)"
	hiddenRollupReason = "the security context's row filters are not in it (details are shown to principals with scope sql)"
)

// explainLines prints a cube query's plan.
func explainLines(q *cubes.Query, c *cubes.Compiled, dialect string, o explainOptions, outs []output) []string {
	qj, _ := json.Marshal(q)
	out := []string{"Cube query: " + string(qj)}
	switch {
	case len(c.RowFilters) > 0 && o.showSQL:
		// The security context's row filters, on the cubes the query
		// reads (a view's included).
		fj, _ := json.Marshal(c.RowFilters)
		out = append(out, "Row filters: "+string(fj))
	case len(c.RowFilters) > 0:
		out = append(out, hiddenRowFilters)
	}
	out = append(out, "Warehouse SQL ("+dialect+"):")
	if !o.showSQL {
		out = append(out, "  "+hiddenSQL)
	} else {
		for _, l := range strings.Split(c.String(), "\n") {
			if strings.HasPrefix(l, "-- $") {
				l = "  parameter " + strings.TrimPrefix(l, "-- ")
			} else {
				l = "  " + l
			}
			out = append(out, l)
		}
	}
	if o.verbose {
		out = append(out, "Output columns:")
		for _, o := range outs {
			out = append(out, "  "+o.col.Name+" ← "+o.key)
		}
	}
	return out
}
