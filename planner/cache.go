package planner

import (
	"fmt"
	"time"

	"github.com/cubegate/cubegate/query"
)

// cacheable is how the result cache may answer a warehouse statement of
// the session over the named cubes (nil: the gateway has no cache).
//
// Every statement that reaches here is deterministic for a given
// warehouse state: push-down allows no volatile function (random(),
// clock_timestamp(), nextval() are refused with 42883), and stable ones
// such as now() are as fresh as the cubes' refresh_key says, as in Cube.
func (s *Session) cacheable(cubeNames []string) *query.Cacheable {
	if s.h.opts.Queries.Cache == nil {
		return nil
	}
	return query.NewCacheable(s.h.opts.Source, s.h.wh, s.h.Model(), cubeNames, false)
}

// cacheLine is EXPLAIN's line on the result cache for a statement ("" when
// the gateway has none): whether it holds a fresh answer now.
func (s *Session) cacheLine(sql string, args []any, cubeNames []string) string {
	c := s.cacheable(cubeNames)
	if c == nil {
		return ""
	}
	stored, expires, ok := s.h.opts.Queries.Cache.Peek(s.principal(), query.Statement{SQL: sql, Args: args, Cache: c})
	if ok {
		now := time.Now()
		return fmt.Sprintf("Result cache: hit (answer stored %s ago, fresh for %s more)", now.Sub(stored).Round(time.Millisecond), expires.Sub(now).Round(time.Millisecond))
	}
	return fmt.Sprintf("Result cache: miss (the warehouse answers; the answer stays fresh for %s)", c.TTL)
}
