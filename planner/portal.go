package planner

import (
	"context"
	"fmt"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
)

// cubePortal runs a compiled cube query in the warehouse and streams its
// rows, reordered into the statement's SELECT list.
type cubePortal struct {
	rowsPortal
	query    *cubes.Query
	compiled *cubes.Compiled
	idx      []int // output i reads compiled column idx[i]
	row      []any
}

func newCubePortal(h *Handler, q *cubes.Query, c *cubes.Compiled, outs []output, cols []pgwire.Column) (*cubePortal, error) {
	p := &cubePortal{rowsPortal: rowsPortal{sql: c.SQL, args: c.Args, cols: cols},
		query: q, compiled: c, idx: make([]int, len(outs)), row: make([]any, len(outs))}
	for i, o := range outs {
		p.idx[i] = -1
		for j, cc := range c.Columns {
			if cc.Name == o.key {
				p.idx[i] = j
				break
			}
		}
		if p.idx[i] < 0 {
			return nil, fmt.Errorf("planner: output %q has no compiled column %q", o.col.Name, o.key)
		}
	}
	return p, nil
}

func (p *cubePortal) Next(ctx context.Context) ([]any, error) {
	vals, err := p.rowsPortal.Next(ctx)
	if err != nil {
		return nil, err
	}
	for i, j := range p.idx {
		p.row[i] = vals[j]
	}
	return p.row, nil
}
