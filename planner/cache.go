package planner

import (
	"fmt"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/postgres/pgnames"

	"github.com/cubegate/cubegate/query"
)

// cacheable is how the result cache may answer a warehouse statement of
// the session over the named cubes (nil: the gateway has no cache, or
// the statement reads the clock).
//
// A statement that reaches here is deterministic for a given warehouse
// state — push-down allows no volatile function (random(), nextval()
// are refused with 42883) — except for the clock: now(), current_date
// and their kin answer differently from one moment to the next, and a
// psql user expects them to, so such a statement is never cached (a cube
// query's relative date ranges are resolved into its arguments, which
// are in the key).
func (s *Session) cacheable(sel *pg_query.SelectStmt, cubeNames []string) *query.Cacheable {
	if s.h.opts.Queries.Cache == nil || readsClock(sel) {
		return nil
	}
	return query.NewCacheable(s.h.opts.Source, s.h.wh, s.h.Model(), cubeNames, false)
}

// clockFuncs read the time of day: those the push-down writes (its
// allow-list, funcs.go and sqlValueFunction; the others are refused).
var clockFuncs = map[string]bool{"now": true, "age": true, "current_date": true, "current_timestamp": true, "localtimestamp": true}

// readsClock reports whether sel reads the time of day (now(),
// CURRENT_DATE, …; age(x) is age from now).
func readsClock(sel *pg_query.SelectStmt) bool {
	if sel == nil {
		return false
	}
	found := false
	catalog.Walk(sel.ProtoReflect(), func(m proto.Message) bool {
		switch n := m.(type) {
		case *pg_query.FuncCall:
			name := strings.ToLower(pgnames.Func(n))
			if i := strings.LastIndex(name, "."); i >= 0 {
				name = name[i+1:]
			}
			if clockFuncs[name] && (name != "age" || len(n.GetArgs()) == 1) {
				found = true
			}
		case *pg_query.SQLValueFunction:
			if clockFuncs[strings.ToLower(pgnames.SQLValueFunction(n.GetOp()))] {
				found = true
			}
		}
		return !found
	})
	return found
}

// cacheLine is EXPLAIN's line on the result cache for a statement ("" when
// the gateway has none): whether it holds a fresh answer now.
func (s *Session) cacheLine(sel *pg_query.SelectStmt, sql string, args []any, cubeNames []string) string {
	if s.h.opts.Queries.Cache != nil && readsClock(sel) {
		return "Result cache: not used (the statement reads the clock)"
	}
	c := s.cacheable(sel, cubeNames)
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
