package query

import (
	"github.com/cubegate/cubegate/cubes"
)

// Rollups are where built pre-aggregations are read: the rollup store.
type Rollups interface {
	// Table is the table holding pa's built rows for the data source and
	// the engine that reads it (nil: the data source's warehouse itself,
	// for a rollup built there, external: false); false while none is
	// built.
	Table(source string, pa *cubes.PreAggregation) (engine Engine, table string, ok bool)
	// Tables are the warehouse tables read in place of cubes' own, by
	// cube name: their built original_sql pre-aggregations.
	Tables(source string, m *cubes.Model) map[string]string
}

// Engine is a warehouse that names its dialect (the rollup store is one).
type Engine interface {
	Warehouse
	Dialect() string
}

// Plan is how a cube query is answered, chosen once: its SQL, and what
// runs it — the data source's warehouse, or the rollup store when a built
// pre-aggregation covers the query.
type Plan struct {
	Compiled *cubes.Compiled
	// Rollup is the pre-aggregation that answers (nil: the cubes' own
	// tables), read from Engine (nil: the warehouse, where a rollup with
	// external: false is built).
	Rollup *cubes.PreAggregation
	Engine Engine
	// Rollups explain the choice, one line per candidate pre-aggregation
	// (EXPLAIN; REST's usedPreAggregations comes from Rollup).
	Rollups []string
	// Tables is the query compiled for the cubes' own tables, when a
	// rollup answers: the way back if the rollup's table is gone.
	Tables *cubes.Compiled
	// Materialized are the tables read in place of cubes' own (their
	// original_sql pre-aggregations), by cube name.
	Materialized map[string]string
}

// Fallback is the statement's way back to the cubes' tables on wh (the
// data source's warehouse) when a rollup answers; nil otherwise.
func (pl *Plan) Fallback(wh Warehouse) *Fallback {
	if pl.Rollup == nil || pl.Tables == nil {
		return nil
	}
	return &Fallback{SQL: pl.Tables.SQL, Args: pl.Tables.Args, Warehouse: wh}
}

// Plan compiles q for the data source source, as Compile does, and
// routes it to the first built pre-aggregation that covers it (see
// cubes.MatchRollup): the query then reads the rollup's table in the
// rollup store. A matching rollup not built yet leaves the query on the
// warehouse, and the plan says so.
func (s *Service) Plan(p Principal, source string, m *cubes.Model, d cubes.Dialect, q *cubes.Query, o cubes.Options) (*Plan, error) {
	pol, err := s.Policy(p, m)
	if err != nil {
		return nil, err
	}
	o.Policy = pol
	if o.Security == nil {
		o.Security = p.Security.Claims
	}
	if s.Rollups != nil {
		o.Tables = s.Rollups.Tables(source, m)
	}
	c, err := m.CompileWith(q, d, o)
	if err != nil {
		return nil, err
	}
	pl := &Plan{Compiled: c, Materialized: o.Tables}
	if s.Rollups == nil {
		return pl, nil
	}
	pa, lines := m.MatchRollup(q, o)
	pl.Rollups = lines
	if pa == nil {
		return pl, nil
	}
	eng, table, ok := s.Rollups.Table(source, pa)
	if !ok {
		pl.Rollups = append(pl.Rollups, pa.FullName()+" is not built yet: the warehouse answers")
		return pl, nil
	}
	ed := d
	if eng != nil {
		if ed, ok = cubes.DialectByName(eng.Dialect()); !ok {
			return pl, nil
		}
	}
	rc, err := m.CompileFromRollup(q, pa, table, ed, o)
	if err != nil {
		pl.Rollups = append(pl.Rollups, pa.FullName()+" cannot be read: "+err.Error()+"; the warehouse answers")
		return pl, nil
	}
	pl.Compiled, pl.Rollup, pl.Engine, pl.Tables = rc, pa, eng, c
	return pl, nil
}
