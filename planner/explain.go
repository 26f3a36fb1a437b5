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
	p, err := s.plan(ctx, n.GetQuery())
	if err != nil {
		return nil, err
	}
	defer p.Close()
	var lines []string
	if cp, ok := p.(*cubePortal); ok {
		lines = explainLines(cp.query, cp.compiled, s.h.wh.Dialect(), verbose, cp)
	} else {
		lines = []string{"Answered by cubegate itself: no warehouse query."}
	}
	rows := make([][]any, len(lines))
	for i, l := range lines {
		rows[i] = []any{l}
	}
	return &staticPortal{tag: "EXPLAIN", cols: []pgwire.Column{textCol("QUERY PLAN")}, rows: rows}, nil
}

// explainLines is the printed plan; the golden tests use the same printer.
func explainLines(q *cubes.Query, c *cubes.Compiled, dialect string, verbose bool, cp *cubePortal) []string {
	qj, _ := json.Marshal(q)
	out := []string{"Cube query: " + string(qj), "Warehouse SQL (" + dialect + "):"}
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
