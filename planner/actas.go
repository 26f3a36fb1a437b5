package planner

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres/pgnames"
)

// actAs applies Cube's user switching: WHERE __user = 'alice' (an AND
// term of the statement's WHERE) reads with the security context of the
// team member alice's credentials, for a credential the operator allowed
// to act for others (auth.Credential.ActAs); any other is refused (42501).
// It returns the statement without those terms; the session acts for the
// member until the statement ends (planWith restores it).
func (s *Session) actAs(ctx context.Context, sel *pg_query.SelectStmt) (*pg_query.SelectStmt, error) {
	if s.text != "" && !strings.Contains(s.text, "__user") {
		return sel, nil // the common case, found without walking the tree
	}
	found := false
	eachSelect(sel, func(sel *pg_query.SelectStmt) {
		for _, t := range andTerms(sel.GetWhereClause()) {
			found = found || userColumn(t)
		}
	})
	if !found {
		return sel, nil
	}
	out := proto.Clone(sel).(*pg_query.SelectStmt)
	member, loc := "", int32(-1)
	var conflict error
	// Every SELECT of the statement (subqueries, CTEs, set operations'
	// sides): Tableau and Power BI filter inside their wrappers.
	eachSelect(out, func(sel *pg_query.SelectStmt) {
		terms := andTerms(sel.GetWhereClause())
		if len(terms) == 0 {
			return
		}
		var keep []*pg_query.Node
		for _, t := range terms {
			name, ok := s.userTerm(t)
			if !ok {
				keep = append(keep, t)
				continue
			}
			if member != "" && name != member && conflict == nil {
				conflict = pgerr.New(pgerrcode.InsufficientPrivilege, "a statement acts for one user: __user is both %q and %q", member, name).At(pgnames.Location(t) + 1)
			}
			member, loc = name, pgnames.Location(t)
		}
		switch len(keep) {
		case 0:
			sel.WhereClause = nil
		case 1:
			sel.WhereClause = keep[0]
		default:
			sel.WhereClause = &pg_query.Node{Node: &pg_query.Node_BoolExpr{BoolExpr: &pg_query.BoolExpr{Boolop: pg_query.BoolExprType_AND_EXPR, Args: keep}}}
		}
	})
	if conflict != nil {
		return nil, conflict
	}
	if member == "" {
		return sel, nil
	}
	p, _ := s.info.Principal.(auth.Principal)
	if !p.ActAs || s.h.opts.MemberSecurity == nil {
		return nil, pgerr.New(pgerrcode.InsufficientPrivilege, "permission denied to act as user %q", member).At(loc + 1).
			WithHint("the operator allows a credential to act for team members: cubegate credentials create --act-as")
	}
	sec, err := s.h.opts.MemberSecurity(ctx, s.tenant(), member)
	if errors.Is(err, auth.ErrNotFound) {
		return nil, pgerr.New(pgerrcode.UndefinedObject, "user %q does not exist", member).At(loc + 1).
			WithHint("__user names a team member: the member of a credential of this tenant")
	}
	if err != nil {
		return nil, pgerr.Wrap(err, pgerrcode.InsufficientPrivilege, "cannot act as user %q: %v", member, err).At(loc + 1)
	}
	who := s.principal()
	who.Security, who.Username = sec, who.Username+" as "+member
	s.who = &who
	return out, nil
}

// eachSelect calls f on sel and every SELECT inside it: set operations'
// sides, CTEs, subqueries in FROM.
func eachSelect(sel *pg_query.SelectStmt, f func(*pg_query.SelectStmt)) {
	if sel == nil {
		return
	}
	f(sel)
	eachSelect(sel.GetLarg(), f)
	eachSelect(sel.GetRarg(), f)
	for _, cte := range sel.GetWithClause().GetCtes() {
		eachSelect(cte.GetCommonTableExpr().GetCtequery().GetSelectStmt(), f)
	}
	var from func(n *pg_query.Node)
	from = func(n *pg_query.Node) {
		switch {
		case n.GetRangeSubselect() != nil:
			eachSelect(n.GetRangeSubselect().GetSubquery().GetSelectStmt(), f)
		case n.GetJoinExpr() != nil:
			from(n.GetJoinExpr().GetLarg())
			from(n.GetJoinExpr().GetRarg())
		}
	}
	for _, n := range sel.GetFromClause() {
		from(n)
	}
}

// andTerms are a WHERE clause's AND terms.
func andTerms(where *pg_query.Node) []*pg_query.Node {
	if where == nil {
		return nil
	}
	if be := where.GetBoolExpr(); be != nil && be.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		return be.GetArgs()
	}
	return []*pg_query.Node{where}
}

// userColumn reports an equality with __user on one side.
func userColumn(n *pg_query.Node) bool {
	e := n.GetAExpr()
	if e == nil || e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || pgnames.Op(e.GetName()) != "=" {
		return false
	}
	return isUserColumn(e.GetLexpr()) || isUserColumn(e.GetRexpr())
}

func isUserColumn(x *pg_query.Node) bool {
	cr := x.GetColumnRef()
	if cr == nil {
		return false
	}
	f := cr.GetFields()
	return len(f) > 0 && f[len(f)-1].GetString_().GetSval() == "__user"
}

// userTerm reads __user = 'name' (either way round).
func (s *Session) userTerm(n *pg_query.Node) (string, bool) {
	if !userColumn(n) {
		return "", false
	}
	e := n.GetAExpr()
	for _, side := range [][2]*pg_query.Node{{e.GetLexpr(), e.GetRexpr()}, {e.GetRexpr(), e.GetLexpr()}} {
		if isUserColumn(side[0]) {
			if c, ok := s.params.constOf(side[1]); ok && !c.isNull {
				return c.text, true
			}
		}
	}
	return "", false
}
