package planner

import (
	"context"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgtype"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// describe plans n without running it, with the given parameter types
// (0 = infer), and returns the prepared statement.
func (s *Session) describe(ctx context.Context, n *pg_query.Node, oids []uint32) (*prepared, error) {
	ps := &prepared{s: s, node: n}
	p := &params{oids: append([]uint32(nil), oids...)}
	portal, err := s.planWith(ctx, n, p)
	if err != nil {
		return nil, err
	}
	ps.cols = portal.Columns()
	portal.Close()
	// A parameter nothing types is described as text, as a literal would
	// be, but stays unknown to the planner: pushed down, the warehouse
	// infers its type from where it stands, as PostgreSQL does (PgJDBC's
	// setTimestamp sends its timestamps untyped).
	ps.types = p.oids
	ps.oids = make([]uint32, len(p.oids))
	for i, oid := range p.oids {
		if oid == 0 {
			oid = pgtype.TextOID
		}
		ps.oids[i] = oid
	}
	return ps, nil
}

// Prepared implements pgwire.SQLPrepared: a statement SQL PREPARE made,
// which the protocol's Describe and Bind reach by name too.
func (s *Session) Prepared(name string) (pgwire.PreparedStatement, bool) {
	ps, ok := s.prepared[name]
	return ps, ok
}

// planPrepare is SQL-level PREPARE name [(types)] AS statement.
func (s *Session) planPrepare(ctx context.Context, n *pg_query.PrepareStmt) (pgwire.Portal, error) {
	name := n.GetName()
	if _, exists := s.prepared[name]; exists {
		return nil, pgerr.New(pgerrcode.DuplicatePreparedStatement, "prepared statement %q already exists", name)
	}
	oids := make([]uint32, len(n.GetArgtypes()))
	for i, t := range n.GetArgtypes() {
		oid, ok := postgres.TypeOID(pgnames.Type(t.GetTypeName()))
		if !ok {
			return nil, unsupported(t, "parameter type %s is not supported", pgnames.Type(t.GetTypeName()))
		}
		oids[i] = oid
	}
	params := s.params
	ps, err := s.describe(ctx, n.GetQuery(), oids)
	s.params = params
	if err != nil {
		return nil, err
	}
	return &staticPortal{tag: "PREPARE", exec: func() { s.prepared[name] = ps }}, nil
}

// planExecute is SQL-level EXECUTE name [(values)].
func (s *Session) planExecute(ctx context.Context, n *pg_query.ExecuteStmt) (pgwire.Portal, error) {
	ps, values, err := s.executeArgs(n)
	if err != nil {
		return nil, err
	}
	return ps.BindParams(ctx, values)
}

// executeArgs finds EXECUTE's prepared statement and its values.
func (s *Session) executeArgs(n *pg_query.ExecuteStmt) (*prepared, []*string, error) {
	ps, ok := s.prepared[n.GetName()]
	if !ok {
		return nil, nil, pgerr.New(pgerrcode.InvalidSQLStatementName, "prepared statement %q does not exist", n.GetName())
	}
	if len(n.GetParams()) != len(ps.oids) {
		return nil, nil, pgerr.New(pgerrcode.SyntaxError, "wrong number of parameters for prepared statement %q", n.GetName()).
			WithDetail("Expected %d parameters but got %d.", len(ps.oids), len(n.GetParams()))
	}
	values := make([]*string, len(ps.oids))
	for i, a := range n.GetParams() {
		c, ok := s.params.constOf(a)
		if !ok {
			return nil, nil, unsupported(a, "EXECUTE takes constant parameters")
		}
		if !c.isNull {
			v := c.text
			values[i] = &v
		}
	}
	return ps, values, nil
}

func (s *Session) planDeallocate(n *pg_query.DeallocateStmt) (pgwire.Portal, error) {
	name := n.GetName()
	if name == "" {
		return &staticPortal{tag: "DEALLOCATE ALL", exec: func() { clear(s.prepared) }}, nil
	}
	if _, ok := s.prepared[name]; !ok {
		return nil, pgerr.New(pgerrcode.InvalidSQLStatementName, "prepared statement %q does not exist", name)
	}
	return &staticPortal{tag: "DEALLOCATE", exec: func() { delete(s.prepared, name) }}, nil
}

func (s *Session) planDiscard(n *pg_query.DiscardStmt) (pgwire.Portal, error) {
	switch n.GetTarget() {
	case pg_query.DiscardMode_DISCARD_ALL:
		if s.tx != 0 {
			return nil, pgerr.New(pgerrcode.ActiveSQLTransaction, "DISCARD ALL cannot run inside a transaction block")
		}
		return &staticPortal{tag: "DISCARD ALL", exec: func() {
			s.vars.resetAll()
			s.closeCursors(true)
			clear(s.prepared)
			clear(s.temps)
			s.tempGen++
			s.discarded = true
		}}, nil
	case pg_query.DiscardMode_DISCARD_PLANS:
		return &staticPortal{tag: "DISCARD PLANS"}, nil
	case pg_query.DiscardMode_DISCARD_SEQUENCES:
		return &staticPortal{tag: "DISCARD SEQUENCES"}, nil
	}
	return &staticPortal{tag: "DISCARD TEMP", exec: func() { clear(s.temps); s.tempGen++ }}, nil
}

// TakeReset implements pgwire.Resetter: true once after DISCARD ALL, so
// the wire drops its prepared statements and portals too.
func (s *Session) TakeReset() bool {
	r := s.discarded
	s.discarded = false
	return r
}
