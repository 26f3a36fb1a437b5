package planner

import (
	"context"
	"encoding/json"
	"strconv"
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

// explain plans a statement without running it and prints the plan; the
// golden tests use the same printer.
func (s *Session) explain(ctx context.Context, n *pg_query.Node, verbose bool) ([]string, error) {
	s.explaining = true
	defer func() { s.explaining = false }()
	p, err := s.plan(ctx, n)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	switch pp := p.(type) {
	case *cubePortal:
		return explainLines(pp.query, pp.compiled, s.h.dialect.Name(), verbose, pp), nil
	case *rowsPortal:
		return pp.explain(s.h.dialect.Name()), nil
	}
	return []string{"Answered by cubegate itself: no warehouse query."}, nil
}

// explain prints a pushed-down statement: its plan, then the warehouse
// SQL and its arguments.
func (p *rowsPortal) explain(dialect string) []string {
	out := []string{"Push-down: one warehouse statement over cube row sources"}
	for _, s := range p.sources {
		out = append(out, "  "+s)
	}
	out = append(out, "Warehouse SQL ("+dialect+"):", "  "+p.sql)
	for i, a := range p.args {
		out = append(out, "  parameter $"+strconv.Itoa(i+1)+" = "+cubes.FormatArg(a))
	}
	return out
}

// explainLines prints a cube query's plan.
func explainLines(q *cubes.Query, c *cubes.Compiled, dialect string, verbose bool, cp *cubePortal) []string {
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
	if verbose && cp != nil {
		out = append(out, "Output columns:")
		for i, col := range cp.cols {
			out = append(out, "  "+col.Name+" ← "+c.Columns[cp.idx[i]].Name)
		}
	}
	return out
}
