package cubes

// Query-time context variables in cube and member SQL, as Cube's models
// write them:
//
//	{SECURITY_CONTEXT.a.b.filter('col')}          (col = $n), (col IN ($n, $m)); (1 = 1) without the claim
//	{SECURITY_CONTEXT.a.requiredFilter('col')}    the same; 42501 without the claim
//	{SECURITY_CONTEXT.a}, ….unsafeValue()         the claim's value as a bound parameter ($n; an array: $n, $m)
//	{FILTER_PARAMS.cube.member.filter('col')}     the query's filters on cube.member, on col
//	{FILTER_PARAMS.cube.member.filter(lambda from, to: f'col >= {from} AND col <= {to}')}
//	{FILTER_GROUP(FILTER_PARAMS.c.a.filter('a'), FILTER_PARAMS.c.b.filter('b'))}
//	{SQL_UTILS.convertTz('col')}                   col in the query's time zone
//
// USER_CONTEXT is SECURITY_CONTEXT's old name; ${…} is read as {…}.
//
// Every value is a bound parameter: a claim never becomes SQL text (Cube
// inlines unsafeValue() raw; here it is a parameter too, so a claim can
// be a value but never a table or column name, and a token inside a
// quoted SQL string is refused at load). FILTER_PARAMS is a hint for
// partition pruning only: the query's own WHERE keeps every filter, so
// a hint that pushes less (a filter inside an or group, an operator a
// callback cannot express) never changes an answer.
//
// The tokens are parsed, not matched by regular expressions: strings
// with escapes and nested parentheses are read as such, and an unknown
// form is a load-time error with the file and line of its cube or member.

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// ctxKeywords start a context-variable token.
var ctxKeywords = []string{"SECURITY_CONTEXT", "USER_CONTEXT", "FILTER_PARAMS", "FILTER_GROUP", "SQL_UTILS"}

// hasContextVars is a quick test for text that may hold a token.
func hasContextVars(s string) bool {
	for _, k := range ctxKeywords {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

type ctxKind int

const (
	ctxSecurity ctxKind = iota
	ctxFilterParams
	ctxFilterGroup
	ctxConvertTz
)

// ctxToken is one parsed context-variable token.
type ctxToken struct {
	kind ctxKind
	text string // as written, for messages
	// SECURITY_CONTEXT: the claim's path and the method called ("",
	// "filter", "requiredFilter", "unsafeValue"); arg is the column SQL
	// of a filter, the expression of convertTz.
	path   []string
	method string
	arg    string
	// FILTER_PARAMS (one), FILTER_GROUP (several).
	params []filterParam
}

// filterParam is FILTER_PARAMS.cube.member.filter(column or callback).
type filterParam struct {
	cube, member string
	column       string
	fn           *lambda
}

// lambda is a callback: lambda a, b: f'… {a} … {b} …'.
type lambda struct {
	params []string
	parts  []fpart
}

// fpart is literal text, or (param >= 0) the param-th parameter.
type fpart struct {
	text  string
	param int
}

// tmplSegment is a piece of a template: literal SQL or a token.
type tmplSegment struct {
	text string
	tok  *ctxToken
}

// splitTemplate splits SQL into literal text and context-variable
// tokens. A token inside a quoted string or identifier is an error: it
// renders bound parameters, which quotes would make text.
func splitTemplate(sql string) ([]tmplSegment, error) {
	var out []tmplSegment
	start := 0
	var quote byte // ' or " while inside one
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		if quote != 0 {
			if ch == quote {
				quote = 0
			}
			if ch == '{' && isTokenStart(sql[i:]) {
				return nil, fmt.Errorf("context variable inside a quoted string or identifier near %q: it renders bound parameters; write it outside the quotes", excerpt(sql[i:]))
			}
			continue
		}
		switch {
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(sql)
			}
		case ch == '/' && strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(sql)
			}
		case ch == '{' || (ch == '$' && strings.HasPrefix(sql[i:], "${")):
			at := i
			if ch == '$' {
				i++
			}
			if !isTokenStart(sql[i:]) {
				i = at
				continue
			}
			p := &tparser{s: sql, pos: i + 1}
			tok, err := p.token()
			if err != nil {
				return nil, err
			}
			tok.text = sql[at:p.pos]
			if at > start {
				out = append(out, tmplSegment{text: sql[start:at]})
			}
			out = append(out, tmplSegment{tok: tok})
			start = p.pos
			i = p.pos - 1
		}
	}
	if start < len(sql) {
		out = append(out, tmplSegment{text: sql[start:]})
	}
	return out, nil
}

// isTokenStart reports whether s ("{…") opens a context-variable token.
func isTokenStart(s string) bool {
	s = strings.TrimLeft(s[1:], " \t\r\n")
	for _, k := range ctxKeywords {
		if strings.HasPrefix(s, k) && (len(s) == len(k) || !isIdentByte(s[len(k)])) {
			return true
		}
	}
	return false
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func excerpt(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// tparser reads one token from s at pos (just past its opening brace)
// to its closing brace.
type tparser struct {
	s   string
	pos int
}

func (p *tparser) errorf(format string, args ...any) error {
	return fmt.Errorf("context variable near %q: %s", excerpt(p.s[max(0, p.pos-20):]), fmt.Sprintf(format, args...))
}

func (p *tparser) ws() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *tparser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *tparser) ident() (string, error) {
	p.ws()
	start := p.pos
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
		p.pos++
	}
	if start == p.pos || (p.s[start] >= '0' && p.s[start] <= '9') {
		return "", p.errorf("expected a name")
	}
	return p.s[start:p.pos], nil
}

func (p *tparser) expect(ch byte) error {
	p.ws()
	if p.peek() != ch {
		return p.errorf("expected %q", ch)
	}
	p.pos++
	return nil
}

// token reads KEYWORD… up to and including the closing brace.
func (p *tparser) token() (*ctxToken, error) {
	tok, err := p.expr(true)
	if err != nil {
		return nil, err
	}
	if err := p.expect('}'); err != nil {
		return nil, err
	}
	return tok, nil
}

// expr reads one context expression; group allows FILTER_GROUP (not
// inside another).
func (p *tparser) expr(group bool) (*ctxToken, error) {
	kw, err := p.ident()
	if err != nil {
		return nil, err
	}
	switch kw {
	case "SECURITY_CONTEXT", "USER_CONTEXT":
		return p.security()
	case "FILTER_PARAMS":
		fp, err := p.filterParam()
		if err != nil {
			return nil, err
		}
		return &ctxToken{kind: ctxFilterParams, params: []filterParam{fp}}, nil
	case "FILTER_GROUP":
		if !group {
			return nil, p.errorf("FILTER_GROUP takes FILTER_PARAMS only")
		}
		if err := p.expect('('); err != nil {
			return nil, err
		}
		tok := &ctxToken{kind: ctxFilterGroup}
		for {
			if kw, err := p.ident(); err != nil || kw != "FILTER_PARAMS" {
				return nil, p.errorf("FILTER_GROUP takes FILTER_PARAMS.cube.member.filter(…) arguments")
			}
			fp, err := p.filterParam()
			if err != nil {
				return nil, err
			}
			tok.params = append(tok.params, fp)
			p.ws()
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if err := p.expect(')'); err != nil {
				return nil, err
			}
			return tok, nil
		}
	case "SQL_UTILS":
		if err := p.expect('.'); err != nil {
			return nil, err
		}
		fn, err := p.ident()
		if err != nil {
			return nil, err
		}
		if fn != "convertTz" {
			return nil, p.errorf("SQL_UTILS has convertTz only, not %s", fn)
		}
		arg, err := p.stringArg()
		if err != nil {
			return nil, err
		}
		return &ctxToken{kind: ctxConvertTz, arg: arg}, nil
	}
	return nil, p.errorf("unknown context variable %s", kw)
}

// security reads .a.b[.method(…)] after SECURITY_CONTEXT.
func (p *tparser) security() (*ctxToken, error) {
	tok := &ctxToken{kind: ctxSecurity}
	for {
		p.ws()
		if p.peek() != '.' {
			break
		}
		p.pos++
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.peek() != '(' {
			tok.path = append(tok.path, name)
			continue
		}
		switch name {
		case "filter", "requiredFilter":
			arg, err := p.stringArg()
			if err != nil {
				return nil, err
			}
			tok.method, tok.arg = name, arg
		case "unsafeValue":
			p.pos++
			if err := p.expect(')'); err != nil {
				return nil, err
			}
			tok.method = name
		default:
			return nil, p.errorf("SECURITY_CONTEXT has filter('column'), requiredFilter('column') and unsafeValue(), not %s()", name)
		}
		break
	}
	if len(tok.path) == 0 {
		return nil, p.errorf("SECURITY_CONTEXT needs a claim: SECURITY_CONTEXT.name")
	}
	return tok, nil
}

// filterParam reads .cube.member.filter(arg) after FILTER_PARAMS.
func (p *tparser) filterParam() (filterParam, error) {
	var names []string
	for len(names) < 3 {
		if err := p.expect('.'); err != nil {
			return filterParam{}, p.errorf("FILTER_PARAMS is written FILTER_PARAMS.cube.member.filter(…)")
		}
		n, err := p.ident()
		if err != nil {
			return filterParam{}, err
		}
		names = append(names, n)
	}
	if names[2] != "filter" {
		return filterParam{}, p.errorf("FILTER_PARAMS is written FILTER_PARAMS.cube.member.filter(…), not .%s", names[2])
	}
	fp := filterParam{cube: names[0], member: names[1]}
	if err := p.expect('('); err != nil {
		return fp, err
	}
	p.ws()
	if strings.HasPrefix(p.s[p.pos:], "lambda") && (p.pos+6 >= len(p.s) || !isIdentByte(p.s[p.pos+6])) {
		p.pos += 6
		fn, err := p.lambda()
		if err != nil {
			return fp, err
		}
		fp.fn = fn
	} else {
		s, err := p.str()
		if err != nil {
			return fp, err
		}
		fp.column = s
	}
	return fp, p.expect(')')
}

// lambda reads "a, b: f'…'" after the word lambda.
func (p *tparser) lambda() (*lambda, error) {
	fn := &lambda{}
	for {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		fn.params = append(fn.params, name)
		p.ws()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		break
	}
	p.ws()
	if p.peek() != 'f' {
		return nil, p.errorf("a callback returns an f-string: lambda %s: f'…'", strings.Join(fn.params, ", "))
	}
	p.pos++
	body, err := p.str()
	if err != nil {
		return nil, err
	}
	// {name} is a parameter, {{ and }} are braces.
	var lit strings.Builder
	for i := 0; i < len(body); i++ {
		switch ch := body[i]; {
		case ch == '{' && i+1 < len(body) && body[i+1] == '{', ch == '}' && i+1 < len(body) && body[i+1] == '}':
			lit.WriteByte(ch)
			i++
		case ch == '{':
			j := strings.IndexByte(body[i:], '}')
			if j < 0 {
				return nil, p.errorf("unclosed { in the callback's f-string (write {{ for a brace)")
			}
			name := strings.TrimSpace(body[i+1 : i+j])
			k := -1
			for n, prm := range fn.params {
				if prm == name {
					k = n
				}
			}
			if k < 0 {
				return nil, p.errorf("the callback's f-string names {%s}, which is not one of its parameters (%s)", name, strings.Join(fn.params, ", "))
			}
			if lit.Len() > 0 {
				fn.parts = append(fn.parts, fpart{text: lit.String(), param: -1})
				lit.Reset()
			}
			fn.parts = append(fn.parts, fpart{param: k})
			i += j
		case ch == '}':
			return nil, p.errorf("a single } in the callback's f-string (write }} for a brace)")
		default:
			lit.WriteByte(ch)
		}
	}
	if lit.Len() > 0 {
		fn.parts = append(fn.parts, fpart{text: lit.String(), param: -1})
	}
	return fn, nil
}

// stringArg reads ('text').
func (p *tparser) stringArg() (string, error) {
	if err := p.expect('('); err != nil {
		return "", err
	}
	p.ws()
	s, err := p.str()
	if err != nil {
		return "", err
	}
	return s, p.expect(')')
}

// str reads a quoted string: '…', "…", `…` or the triple-quoted ”'…”'
// and """…""", with backslash escapes (\\, \', \", \`, \n, \t; any
// other backslash stays, as in Python).
func (p *tparser) str() (string, error) {
	p.ws()
	q := p.peek()
	if q != '\'' && q != '"' && q != '`' {
		return "", p.errorf("expected a quoted string")
	}
	delim := string(q)
	if q != '`' && strings.HasPrefix(p.s[p.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	p.pos += len(delim)
	var b strings.Builder
	for p.pos < len(p.s) {
		if strings.HasPrefix(p.s[p.pos:], delim) {
			p.pos += len(delim)
			return b.String(), nil
		}
		ch := p.s[p.pos]
		if ch == '\\' && p.pos+1 < len(p.s) {
			p.pos += 2
			switch e := p.s[p.pos-1]; e {
			case '\\', '\'', '"', '`':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			continue
		}
		if len(delim) == 1 && ch == '\n' && q != '`' {
			return "", p.errorf("a string ends at the end of its line")
		}
		b.WriteByte(ch)
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// queryContext is what the tokens read at query time.
type queryContext struct {
	security map[string]any
	c        *compiler
	// err is the first error rendering a cube's table (table() has no
	// error of its own): the compilation fails with it.
	err error
	// read is the first token rendered that reads the security context
	// or the query's filters, as written and where ("" none yet): the
	// SQL's rows depend on who asks and how (contextCheck).
	read string
}

// readsQueryContext reports whether the cube's SQL or its members' reads
// the security context or the query's filters. It looks at the cube's own
// text only (a join, or a member of another cube it references, is not
// seen): the renderer's table() uses it for original_sql tables, which
// stand for the cube's own sql; rollups are checked by rendering
// (contextCheck).
func readsQueryContext(c *Cube) bool {
	reads := func(s string) bool {
		return strings.Contains(s, "SECURITY_CONTEXT") || strings.Contains(s, "USER_CONTEXT") ||
			strings.Contains(s, "FILTER_PARAMS") || strings.Contains(s, "FILTER_GROUP")
	}
	if reads(c.SQL) || reads(c.SQLTable) {
		return true
	}
	for _, m := range c.Measures {
		if reads(m.SQL) || reads(strings.Join(m.Filters, " ")) {
			return true
		}
	}
	for _, d := range c.Dimensions {
		if reads(d.SQL) {
			return true
		}
		if d.Case != nil {
			for _, w := range d.Case.When {
				if reads(w.SQL) {
					return true
				}
			}
		}
	}
	for _, s := range c.Segments {
		if reads(s.SQL) {
			return true
		}
	}
	return false
}

// contextRead compiles q as the warehouse would be asked it, without
// claims, and returns the first token reading the security context or
// the query's filters that its SQL rendered ("" none) — wherever it is
// written: a cube's sql, a member, a member of another cube a member
// references, a join on the query's join path, a segment, a row filter
// of o.Policy. The compilation's error, if any, is returned too (the
// token found before it stands).
func (m *Model) contextRead(q *Query, o Options) (string, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o = Options{Now: o.Now, Policy: o.Policy, UngroupedWithoutPrimaryKey: o.UngroupedWithoutPrimaryKey}
	c := &compiler{r: renderer{model: m, d: Postgres{}}, d: Postgres{}, q: q, model: m, now: o.Now, opts: o}
	if o.Policy != nil {
		c.r.rowFilters = c.policyConditions
	}
	c.r.qc = &queryContext{c: c}
	_, err := c.compile()
	if err == nil {
		err = c.r.qc.err
	}
	return c.r.qc.read, err
}

// RollupQueryContext is the first token reading the security context or
// the query's filters that the SQL building rollup pa renders ("" none):
// such a rollup holds every principal's rows, unfiltered, and is neither
// built nor read. "" too when the rollup does not compile (its build
// reports that).
func (m *Model) RollupQueryContext(pa *PreAggregation) string {
	if pa.Type != PreAggRollup {
		return ""
	}
	tok, _ := m.rollupModel(pa).contextRead(m.RollupQuery(pa), Options{})
	return tok
}

// contextCheck is why rollup pa cannot answer q because of the
// query-time context ("" it can): the SQL of the rollup's definition, or
// of q (with o's row filters), renders a token reading the security
// context or the query's filters, so the rows depend on who asks and
// how, and the rollup was built without either. Decided on the rendered
// SQL, not the model's text, so that no path is missed (joins, members
// referencing other cubes' members, segments, the time dimension).
func (m *Model) contextCheck(q *Query, pa *PreAggregation, o Options) string {
	tok, err := m.rollupModel(pa).contextRead(m.RollupQuery(pa), Options{Now: o.Now})
	if tok != "" {
		return fmt.Sprintf("the rollup's SQL reads the query-time context (%s), which the rollup was built without", tok)
	}
	if err != nil {
		return "the rollup's SQL cannot be checked for the query-time context: " + errMessage(err)
	}
	tok, err = m.contextRead(q, o)
	if tok != "" {
		return fmt.Sprintf("the query's SQL reads the query-time context (%s), which the rollup was built without", tok)
	}
	if err != nil {
		return "the query's SQL cannot be checked for the query-time context: " + errMessage(err)
	}
	return ""
}

// cubeText renders a cube's sql or sql_table: its context-variable
// tokens only (other braces are left as written).
func (r *renderer) cubeText(c *Cube, sql string) string {
	if !hasContextVars(sql) {
		return sql
	}
	s, err := r.template(c, sql, false)
	if err != nil {
		if r.qc != nil && r.qc.err == nil {
			r.qc.err = err
		}
		return sql
	}
	return s
}

// template renders sql written in cube c: its context-variable tokens,
// and with refs its {member} references too.
func (r *renderer) template(c *Cube, sql string, refs bool) (string, error) {
	segs, err := splitTemplate(sql)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, seg := range segs {
		if seg.tok == nil {
			if !refs {
				b.WriteString(seg.text)
				continue
			}
			s, err := r.refs(c, seg.text)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			continue
		}
		s, err := r.token(c, seg.tok, refs)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// token renders one token. Without a query context (the loader's checks,
// analyses of the model) it renders neutral SQL after checking its names.
func (r *renderer) token(c *Cube, tok *ctxToken, member bool) (string, error) {
	if r.qc != nil && r.qc.read == "" && tok.kind != ctxConvertTz {
		r.qc.read = tok.text + " in cube " + c.Name
	}
	switch tok.kind {
	case ctxSecurity:
		return r.securityToken(c, tok, member)
	case ctxConvertTz:
		expr, err := r.column(c, tok.arg, member)
		if err != nil {
			return "", err
		}
		if r.qc == nil || r.qc.c == nil || r.qc.c.loc == nil {
			return expr, nil
		}
		return r.d.ConvertTz(expr, r.qc.c.arg(r.qc.c.loc.String())), nil
	default:
		return r.filterParams(c, tok, member)
	}
}

// column renders the column SQL a token names: its references expanded
// (a bare name in member SQL is the cube's column, as member SQL reads).
func (r *renderer) column(c *Cube, sql string, member bool) (string, error) {
	if hasContextVars(sql) {
		return "", fmt.Errorf("a context variable's argument cannot hold another context variable: %q", sql)
	}
	if member {
		return r.expand(c, sql)
	}
	return r.refs(c, sql)
}

// claim looks a path up in the claims; ok is false when it is absent
// (or null).
func claim(claims map[string]any, path []string) (any, bool) {
	var cur any = claims
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// claimArgs binds a claim's value: a scalar as one parameter, an array
// as one per element.
func (r *renderer) claimArgs(tok *ctxToken, v any) ([]string, error) {
	vals := []any{v}
	if arr, ok := v.([]any); ok {
		vals = arr
	}
	out := make([]string, 0, len(vals))
	for _, x := range vals {
		switch x.(type) {
		case string, bool, int64, float64, int, int32, float32, uint64:
		default:
			return nil, pgerr.New(pgerrcode.InvalidParameterValue, "claim %s of the security context is %s: %s needs a string, number or boolean (or an array of them)",
				strings.Join(tok.path, "."), jsonKind(x), tok.text)
		}
		out = append(out, r.qc.c.arg(x))
	}
	return out, nil
}

func jsonKind(x any) string {
	switch x.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", x)
}

func (r *renderer) securityToken(c *Cube, tok *ctxToken, member bool) (string, error) {
	var col string
	if tok.method == "filter" || tok.method == "requiredFilter" {
		var err error
		if col, err = r.column(c, tok.arg, member); err != nil {
			return "", err
		}
	}
	if r.qc == nil || r.qc.c == nil {
		if col != "" {
			return "(1 = 1)", nil
		}
		return "NULL", nil
	}
	v, ok := claim(r.qc.security, tok.path)
	name := strings.Join(tok.path, ".")
	switch tok.method {
	case "filter", "requiredFilter":
		if !ok {
			if tok.method == "requiredFilter" {
				return "", pgerr.New(pgerrcode.InsufficientPrivilege, "cube %s requires the claim %s in the security context, which has none", c.Name, name).
					WithHint("an administrator adds %q to the credential's or key's security context", name)
			}
			return "(1 = 1)", nil
		}
		ps, err := r.claimArgs(tok, v)
		if err != nil {
			return "", err
		}
		switch len(ps) {
		case 0:
			return "(1 = 0)", nil // an empty list matches nothing
		case 1:
			return "(" + col + " = " + ps[0] + ")", nil
		}
		return "(" + col + " IN (" + strings.Join(ps, ", ") + "))", nil
	}
	if !ok {
		return "NULL", nil
	}
	ps, err := r.claimArgs(tok, v)
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		return "NULL", nil
	}
	return strings.Join(ps, ", "), nil
}

// convertsTz reports whether a time dimension's SQL converts itself to
// the query's time zone ({SQL_UTILS.convertTz(…)}): the compiler does not
// convert it again (Cube would, and warns against it).
func convertsTz(d *Dimension) bool { return strings.Contains(d.SQL, "SQL_UTILS.convertTz") }

// fpTarget is one FILTER_PARAMS argument resolved to its member.
type fpTarget struct {
	fp  filterParam
	dim *Dimension // the cube dimension the filters must be on
	col string     // the column SQL (string form)
}

// filterParams renders FILTER_PARAMS (one target) or FILTER_GROUP. A
// query's filters are a conjunction: each conjunct (a filter, or an or
// group) on the targets' members is rendered on their columns; an or
// group is rendered only in a FILTER_GROUP holding every member it names
// (else the hint could leave out rows the group keeps). A time
// dimension's dateRange counts as an inDateRange filter.
func (r *renderer) filterParams(c *Cube, tok *ctxToken, member bool) (string, error) {
	targets := make([]fpTarget, len(tok.params))
	for i, fp := range tok.params {
		mem, err := r.model.Member(fp.cube + "." + fp.member)
		if err != nil {
			return "", fmt.Errorf("FILTER_PARAMS.%s.%s: %v", fp.cube, fp.member, err)
		}
		d, ok := resolveMember(mem).(*Dimension)
		if !ok {
			return "", fmt.Errorf("FILTER_PARAMS.%s.%s: filters are pushed on dimensions only", fp.cube, fp.member)
		}
		targets[i] = fpTarget{fp: fp, dim: d}
		if fp.fn == nil {
			if targets[i].col, err = r.column(c, fp.column, member); err != nil {
				return "", err
			}
		}
	}
	if r.qc == nil || r.qc.c == nil {
		return "(1 = 1)", nil
	}
	cc := r.qc.c
	target := func(name string) *fpTarget {
		mem, err := r.model.Member(name)
		if err != nil {
			return nil
		}
		for i := range targets {
			if resolveMember(mem) == Member(targets[i].dim) {
				return &targets[i]
			}
		}
		return nil
	}
	var conds []string
	var conjuncts []Filter
	var flatten func(fs []Filter)
	flatten = func(fs []Filter) {
		for _, f := range fs {
			if len(f.And) > 0 {
				flatten(f.And)
				continue
			}
			conjuncts = append(conjuncts, f)
		}
	}
	flatten(cc.q.Filters)
	for _, f := range conjuncts {
		if len(f.Or) > 0 && tok.kind != ctxFilterGroup {
			continue
		}
		n := len(cc.args)
		s, ok, err := r.pushFilter(f, target)
		if err != nil {
			return "", err
		}
		if ok {
			conds = append(conds, s)
		} else {
			// A group pushed in part bound arguments nothing reads: an
			// unread parameter is an error on PostgreSQL and DuckDB.
			cc.args = cc.args[:n]
		}
	}
	if !cc.rollingQuery() {
		for _, td := range cc.q.TimeDimensions {
			if td.DateRange.IsZero() {
				continue
			}
			t := target(td.Dimension)
			if t == nil {
				continue
			}
			n := len(cc.args)
			s, ok, err := r.pushDateRange(td, t)
			if err != nil {
				return "", err
			}
			if ok {
				conds = append(conds, s)
			} else {
				cc.args = cc.args[:n]
			}
		}
	}
	if len(conds) == 0 {
		return "(1 = 1)", nil
	}
	return "(" + strings.Join(conds, " AND ") + ")", nil
}

// rollingQuery reports whether the query has a rolling window measure:
// its date range bounds periods, not rows (see compileRolling).
func (c *compiler) rollingQuery() bool {
	for _, col := range c.cols {
		if m, ok := resolveMember(col.Member).(*Measure); ok && m.Rolling != nil {
			return true
		}
	}
	return false
}

// pushFilter renders a filter (or an and/or group, every leaf of which
// must be on a target) on the targets' columns; ok false when it is not
// pushed.
func (r *renderer) pushFilter(f Filter, target func(string) *fpTarget) (string, bool, error) {
	if len(f.And) > 0 || len(f.Or) > 0 {
		group, sep := f.And, " AND "
		if len(f.Or) > 0 {
			group, sep = f.Or, " OR "
		}
		parts := make([]string, 0, len(group))
		for _, g := range group {
			s, ok, err := r.pushFilter(g, target)
			if err != nil || !ok {
				return "", false, err
			}
			parts = append(parts, s)
		}
		return "(" + strings.Join(parts, sep) + ")", true, nil
	}
	name := f.MemberName()
	t := target(name)
	if t == nil || f.Operator == "measureFilter" {
		return "", false, nil
	}
	cc := r.qc.c
	if t.fp.fn == nil {
		s, err := cc.condition(t.col, t.dim.Type, f.Operator, f.Values, name)
		return s, err == nil, err
	}
	// A callback receives the filter's values; only operators whose
	// values bound the rows kept are pushed through one (its SQL is the
	// model's: it cannot say "not").
	fn := t.fp.fn
	switch f.Operator {
	case "inDateRange":
		if len(f.Values) < 2 || len(fn.params) != 2 {
			return "", false, nil
		}
		lo, hi, err := cc.rangeArgs(f.Values[0], f.Values[1], name)
		if err != nil {
			return "", false, err
		}
		return fn.render(lo, hi), true, nil
	case "equals":
		if len(f.Values) == 0 || len(fn.params) != 1 {
			return "", false, nil
		}
		ps, err := cc.values(t.dim.Type, f.Values, name)
		if err != nil {
			return "", false, err
		}
		parts := make([]string, len(ps))
		for i, p := range ps {
			parts[i] = fn.render(p)
		}
		return "(" + strings.Join(parts, " OR ") + ")", true, nil
	case "gt", "gte", "lt", "lte":
		if len(f.Values) == 0 || len(fn.params) != 1 {
			return "", false, nil
		}
		ps, err := cc.values(t.dim.Type, f.Values[:1], name)
		if err != nil {
			return "", false, err
		}
		return fn.render(ps[0]), true, nil
	case "beforeDate", "beforeOrOnDate", "afterDate", "afterOrOnDate":
		if len(f.Values) == 0 || len(fn.params) != 1 {
			return "", false, nil
		}
		ts, err := parseTime(f.Values[0], false, cc.loc)
		if err != nil {
			return "", false, pgerr.New(pgerrcode.InvalidDatetimeFormat, "invalid date %q for %s", f.Values[0], name)
		}
		return fn.render(cc.arg(ts)), true, nil
	}
	return "", false, nil
}

// pushDateRange renders a time dimension's dateRange on a target.
func (r *renderer) pushDateRange(td TimeDimension, t *fpTarget) (string, bool, error) {
	cc := r.qc.c
	var lo, hi string
	if td.DateRange.Relative != "" {
		from, to, err := relativeRange(td.DateRange.Relative, cc.now, cc.loc)
		if err != nil {
			return "", false, nil // the query's own WHERE reports it
		}
		lo, hi = cc.arg(from.UTC()), cc.arg(to.UTC())
	} else {
		if len(td.DateRange.Pair) != 2 {
			return "", false, nil
		}
		var err error
		if lo, hi, err = cc.rangeArgs(td.DateRange.Pair[0], td.DateRange.Pair[1], td.Dimension); err != nil {
			return "", false, err
		}
	}
	if fn := t.fp.fn; fn != nil {
		if len(fn.params) != 2 {
			return "", false, nil
		}
		return fn.render(lo, hi), true, nil
	}
	return "(" + t.col + " >= " + lo + " AND " + t.col + " <= " + hi + ")", true, nil
}

// render substitutes the callback's parameters.
func (fn *lambda) render(args ...string) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, p := range fn.parts {
		if p.param < 0 {
			b.WriteString(p.text)
		} else {
			b.WriteString(args[p.param])
		}
	}
	b.WriteByte(')')
	return b.String()
}

// checkContextVars reports the context-variable tokens of a cube's sql
// or sql_table that do not parse or name unknown members (member SQL is
// checked by checkRefs, which renders it).
func (l *loader) checkContextVars(m *Model, c *Cube) {
	for _, sql := range []string{c.SQL, c.SQLTable} {
		if !hasContextVars(sql) {
			continue
		}
		r := &renderer{model: m, d: Postgres{}}
		if _, err := r.template(c, sql, false); err != nil {
			l.errs = append(l.errs, &ValidationError{Pos: c.Pos, Msg: fmt.Sprintf("cube %s: %v", c.Name, err)})
		}
	}
}
