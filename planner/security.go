package planner

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/query"
)

// principal is the session as the query service sees it: its tenant,
// credential, user, address and security context (made once per session:
// it is read for every statement, and for every member a statement reads).
func (s *Session) principal() query.Principal {
	if s.who == nil {
		p := query.Principal{Username: s.info.User, Session: strconv.FormatUint(uint64(s.info.ProcessID), 10)}
		if ap, ok := s.info.Principal.(auth.Principal); ok {
			p.TenantID, p.CredentialID, p.Security, p.Scopes = ap.TenantID, ap.CredentialID, ap.Security, ap.Scopes
		}
		if s.info.RemoteAddr != nil {
			p.Address = s.info.RemoteAddr.String()
		}
		s.who = &p
	}
	return *s.who
}

// tenant is the session's tenant.
func (s *Session) tenant() string { return s.principal().Tenant() }

// admit holds a warehouse query to its tenant's statement rate and
// running queries (the query service's admission, as REST's; 53400 over
// either).
func (s *Session) admit() (*query.Admission, error) {
	a, err := s.h.opts.Queries.Admit(s.principal())
	var le *auth.LimitError
	if !errors.As(err, &le) {
		return a, err
	}
	if le.Busy {
		return nil, pgerr.New(pgerrcode.ConfigurationLimitExceeded, "tenant %s already runs as many queries as it may", le.Tenant).
			WithHint("retry when one of them has finished")
	}
	return nil, pgerr.New(pgerrcode.ConfigurationLimitExceeded, "the rate limit of tenant %s is exceeded", le.Tenant).
		WithHint("retry in %s", le.Wait.Round(time.Millisecond))
}

// statement is a SELECT as the query service records it: the audit log
// gets its normalized text and fingerprint (computed by the audit
// writer), from the text the client sent or, for a statement planned
// from a tree (a cursor's), from its deparsed form.
func (s *Session) statement(sel *pg_query.SelectStmt, kind, action, sql string, args []any) query.Statement {
	text := s.text
	return query.Statement{API: "sql", Kind: kind, Action: action, SQL: sql, Args: args, Normalize: func() (string, string) {
		if text != "" {
			return s.h.norms.of(text)
		}
		sql, derr := pg_query.Deparse(&pg_query.ParseResult{Stmts: []*pg_query.RawStmt{{Stmt: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}}}}})
		if derr != nil {
			return "", ""
		}
		norm, nerr := pg_query.Normalize(sql)
		if nerr != nil {
			return "", ""
		}
		fp, _ := pg_query.Fingerprint(sql)
		return norm, fp
	}}
}

// normalized remembers statements' normalized text and fingerprint for
// the audit log, by the text the client sent: dashboards and prepared
// statements send the same text again and again.
type normalized struct {
	m sync.Map // text → [2]string{normalized, fingerprint}
	n atomic.Int64
}

func (c *normalized) of(text string) (string, string) {
	if v, ok := c.m.Load(text); ok {
		r := v.([2]string)
		return r[0], r[1]
	}
	norm, err := pg_query.Normalize(text)
	if err != nil {
		return "", ""
	}
	fp, _ := pg_query.Fingerprint(text)
	if c.n.Add(1) > 4096 {
		c.m.Clear() // a simple bound: start over
		c.n.Store(1)
	}
	c.m.Store(text, [2]string{norm, fp})
	return norm, fp
}

// catalogAllows is what the catalog shows of a model under a security
// context: the members its policy allows (nothing when the context does
// not resolve against the model).
func catalogAllows(sec auth.SecurityContext, m *cubes.Model) func(cube, member string) bool {
	p, err := sec.Policy(m)
	if err != nil {
		return func(string, string) bool { return false }
	}
	return auth.MemberAllows(p, m)
}

// policy is the session's security context resolved against m.
func (s *Session) policy(m *cubes.Model) (*cubes.Policy, error) {
	return s.h.opts.Queries.Policy(s.principal(), m)
}
