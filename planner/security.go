package planner

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// tenant is the session's tenant.
func (s *Session) tenant() string {
	if p, ok := s.info.Principal.(auth.Principal); ok && p.TenantID != "" {
		return p.TenantID
	}
	return auth.DefaultTenant
}

// admit holds a warehouse query to its tenant's statement rate and
// running queries (auth.Limiter.Admit, as REST does; 53400 over either);
// release frees its slot when it ends.
func (s *Session) admit() (release func(), err error) {
	release, err = s.h.opts.Limits.Admit(s.tenant())
	var le *auth.LimitError
	if !errors.As(err, &le) {
		return release, err
	}
	if le.Busy {
		return nil, pgerr.New(pgerrcode.ConfigurationLimitExceeded, "tenant %s already runs as many queries as it may", le.Tenant).
			WithHint("retry when one of them has finished")
	}
	return nil, pgerr.New(pgerrcode.ConfigurationLimitExceeded, "the rate limit of tenant %s is exceeded", le.Tenant).
		WithHint("retry in %s", le.Wait.Round(time.Millisecond))
}

// auditQuery records a statement once it has run: its principal, its
// normalized text and fingerprint (computed by the audit writer), the
// warehouse SQL, rows, duration and outcome.
func (s *Session) auditQuery(sel *pg_query.SelectStmt, text, action, warehouseSQL string, started time.Time, wait time.Duration, rows int64, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	if obs := s.h.opts.Observe; obs != nil {
		obs(action, outcome, rows, time.Since(started), wait)
	}
	a := s.h.opts.Audit
	if a == nil {
		return
	}
	e := auth.AuditEvent{Kind: "query", Action: action, Outcome: "ok", TenantID: s.tenant(), Username: s.info.User,
		WarehouseSQL: warehouseSQL, Rows: rows, DurationMS: float64(time.Since(started).Microseconds()) / 1000}
	if p, ok := s.info.Principal.(auth.Principal); ok {
		e.CredentialID = p.CredentialID
	}
	if s.info.RemoteAddr != nil {
		e.Address = s.info.RemoteAddr.String()
	}
	if err != nil {
		e.Outcome, e.Error = "error", err.Error()
	}
	e.Normalize = func() (string, string) {
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
	}
	a.Log(e)
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
	return s.security().Policy(m)
}
