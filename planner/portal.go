package planner

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/warehouse"
)

// cubePortal runs a compiled cube query in the warehouse and streams its
// rows, reordered into the statement's SELECT list.
type cubePortal struct {
	h        *Handler
	query    *cubes.Query
	compiled *cubes.Compiled
	cols     []pgwire.Column
	idx      []int // output i reads compiled column idx[i]
	rows     warehouse.Rows
	row      []any
	// release frees the tenant's running-query slot.
	release func()
	// done is told, at Close, how many rows went out and how it ended.
	done  func(rows int64, warehouse time.Duration, err error)
	count int64
	err   error
	// wait is the time spent waiting on the warehouse.
	wait time.Duration
}

func newCubePortal(h *Handler, q *cubes.Query, c *cubes.Compiled, outs []output) (*cubePortal, error) {
	p := &cubePortal{h: h, query: q, compiled: c, cols: make([]pgwire.Column, len(outs)), idx: make([]int, len(outs)), row: make([]any, len(outs))}
	for i, o := range outs {
		p.cols[i] = o.col
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

func (p *cubePortal) Columns() []pgwire.Column { return p.cols }

func (p *cubePortal) Next(ctx context.Context) ([]any, error) {
	start := time.Now()
	defer func() { p.wait += time.Since(start) }()
	if p.rows == nil {
		rows, err := p.h.wh.Query(ctx, p.compiled.SQL, p.compiled.Args...)
		if err != nil {
			p.err = err
			return nil, err
		}
		p.rows = rows
	}
	if !p.rows.Next() {
		if err := p.rows.Err(); err != nil {
			p.err = err
			return nil, err
		}
		return nil, io.EOF
	}
	vals, err := p.rows.Values()
	if err != nil {
		p.err = err
		return nil, err
	}
	for i, j := range p.idx {
		p.row[i] = vals[j]
	}
	p.count++
	return p.row, nil
}

func (p *cubePortal) Tag(n int64) string { return fmt.Sprintf("SELECT %d", n) }

func (p *cubePortal) Close() error {
	if p.done != nil {
		p.done(p.count, p.wait, p.err)
		p.done = nil
	}
	if p.release != nil {
		p.release()
		p.release = nil
	}
	if p.rows != nil {
		return p.rows.Close()
	}
	return nil
}
