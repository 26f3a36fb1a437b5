package planner

import (
	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// maxNesting bounds the chains of left-associative nodes a statement's
// tree may hold (see checkNesting).
// libpg_query builds a chain of left-associative operators (1 || 1 || …,
// x::int::int…) without limit and then walks it recursively in C: about
// 22,000 levels overflow a thread's stack and kill the process, which no
// recover catches. Below this bound every walk — libpg_query's, the
// protobuf decoder's (10,000 levels), cubegate's — is safe; PostgreSQL's
// own max_stack_depth stops such statements much earlier.
const maxNesting = 4000

// parseBytesPerByte is what parsing costs in memory per byte of text,
// measured with four 2 MB IN lists parsed at once: the nesting check's
// scan and the parse, libpg_query's C allocations (its tree and the
// protobuf it serializes) and Go's decoded tree (about 34 times the text
// alone) peak at about 70 times the text.
const parseBytesPerByte = 75

// parseReserveOver is the text length from which parsing reserves its
// memory (parseBytesPerByte) from the evaluator's shared pool.
const parseReserveOver = 64 << 10

// parse is pg_query.Parse behind a guard against statements nested too
// deeply for the parser (54001, as PostgreSQL's "stack depth limit
// exceeded"). Every statement a client sends is parsed here.
func parse(sql string, pool *catalog.Pool) (*pg_query.ParseResult, error) {
	// A long statement reserves what parsing it costs from the
	// evaluator's shared pool while it is parsed (as native memory: most
	// of it is C's, outside Go's heap), and is refused when others hold
	// the pool.
	if need := int64(len(sql)) * parseBytesPerByte; len(sql) > parseReserveOver {
		if !pool.ReserveNative(need) {
			return nil, pgerr.New(pgerrcode.OutOfMemory, "out of memory").
				WithDetail("Parsing a statement of %d bytes needs about %d MiB, more than cubegate's evaluator memory has free (limits.evaluator_memory).", len(sql), need>>20).
				WithHint("Send a shorter statement, or retry when other statements have finished.")
		}
		defer pool.ReleaseNative(need)
	}
	// Each level of nesting takes at least one character: a shorter
	// statement cannot be too deep, and is not scanned twice.
	if len(sql) > maxNesting {
		if err := checkNesting(sql); err != nil {
			return nil, err
		}
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, syntaxError(err)
	}
	for _, raw := range tree.GetStmts() {
		if err := checkTargets(raw.GetStmt().GetSelectStmt()); err != nil {
			return nil, err
		}
	}
	return tree, nil
}

// maxTargets is PostgreSQL's MaxTupleAttributeNumber: a row has at most
// that many columns (a RowDescription could not even count more than
// 65,535).
const maxTargets = 1664

// checkTargets refuses a SELECT (or a branch of a set operation) with
// more columns than a row may have, with PostgreSQL's 54011.
func checkTargets(sel *pg_query.SelectStmt) error {
	if sel == nil {
		return nil
	}
	if n := len(sel.GetTargetList()); n > maxTargets {
		return pgerr.New(pgerrcode.TooManyColumns, "target lists can have at most %d entries", maxTargets).
			At(sel.GetTargetList()[maxTargets].GetResTarget().GetLocation() + 1)
	}
	if err := checkTargets(sel.GetLarg()); err != nil {
		return err
	}
	return checkTargets(sel.GetRarg())
}

// checkNesting bounds, from the statement's tokens, how deep a chain of
// left-associative nodes its parse tree can hold. Such chains — operators
// (1 || 1 || …), casts, joins, set operations — are built without using
// the parser's stack, so nothing but this bounds them; everything that
// nests through brackets, CASE or prefix operators uses the parser's
// stack and is refused by the parser itself past 10,000 levels (42601),
// below what the tree walks can take. Per bracket level (parentheses,
// brackets, CASE … END), it counts the operators of the current item of
// a flat list (items end at commas; operators also at AND, OR, WHEN, THEN
// and ELSE, whose lists are flat in the tree, while joins and set
// operations go on across them); a closed level's deepest item carries
// into the item that contains it. The sum over the open levels
// over-estimates, never under-estimates, the chain units on the current
// path.
func checkNesting(sql string) error {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return syntaxError(err)
	}
	type level struct {
		open  pg_query.Token // what opened it (0: the statement)
		expr  int            // operators in the current item
		rel   int            // joins and set operations in the current item
		child int            // the deepest level closed inside the current item
		max   int            // the deepest item so far
	}
	item := func(l *level) int { return l.expr + l.rel + l.child }
	stack := []level{{}}
	sum := 0 // item() summed over the stack
	for _, t := range res.GetTokens() {
		top := &stack[len(stack)-1]
		before := item(top)
		switch tok := t.GetToken(); {
		case tok == pg_query.Token_ASCII_40 || tok == pg_query.Token_ASCII_91 || tok == pg_query.Token_CASE: // ( [ CASE
			stack = append(stack, level{open: tok})
			continue
		case closes(tok, top.open) && len(stack) > 1:
			d := max(top.max, before)
			stack = stack[:len(stack)-1]
			sum -= before
			parent := &stack[len(stack)-1]
			was := item(parent)
			parent.child = max(parent.child, d)
			sum += item(parent) - was
		case tok == pg_query.Token_ASCII_44 || tok == pg_query.Token_ASCII_59: // , ;
			top.max = max(top.max, before)
			top.expr, top.rel, top.child = 0, 0, 0
			sum -= before
		case tok == pg_query.Token_AND || tok == pg_query.Token_OR || tok == pg_query.Token_WHEN ||
			tok == pg_query.Token_THEN || tok == pg_query.Token_ELSE:
			top.max = max(top.max, before)
			top.expr, top.child = 0, 0
			sum += item(top) - before
		case tok == pg_query.Token_JOIN || tok == pg_query.Token_UNION || tok == pg_query.Token_INTERSECT || tok == pg_query.Token_EXCEPT:
			top.rel++
			sum++
		case chainOperator(tok):
			top.expr++
			sum++
		}
		if sum > maxNesting {
			return pgerr.New(pgerrcode.StatementTooComplex, "stack depth limit exceeded").
				WithDetail("The statement chains more than %d operators, casts, joins or set operations into one expression.", maxNesting).
				WithHint("Write long chains of operators as lists (IN (…), concat(…), AND/OR), or split the statement.").
				At(t.GetStart() + 1)
		}
	}
	return nil
}

// closes tells whether tok closes a level opened by open.
func closes(tok, open pg_query.Token) bool {
	switch tok {
	case pg_query.Token_ASCII_41: // )
		return open == pg_query.Token_ASCII_40
	case pg_query.Token_ASCII_93: // ]
		return open == pg_query.Token_ASCII_91
	case pg_query.Token_END_P:
		return open == pg_query.Token_CASE
	}
	return false
}

// chainOperator is a token that can extend a left-associative chain in
// the parse tree: binary and postfix operators, casts, and the keywords
// that act as operators.
func chainOperator(tok pg_query.Token) bool {
	switch tok {
	case pg_query.Token_Op, pg_query.Token_TYPECAST, pg_query.Token_LESS_EQUALS, pg_query.Token_GREATER_EQUALS,
		pg_query.Token_NOT_EQUALS, pg_query.Token_IS, pg_query.Token_ISNULL, pg_query.Token_NOTNULL,
		pg_query.Token_LIKE, pg_query.Token_ILIKE, pg_query.Token_SIMILAR, pg_query.Token_BETWEEN,
		pg_query.Token_IN_P, pg_query.Token_COLLATE, pg_query.Token_AT, pg_query.Token_NOT, pg_query.Token_OPERATOR:
		return true
	case '+', '-', '*', '/', '%', '^', '<', '>', '=':
		return true
	}
	return false
}
