package planner

import (
	"github.com/jackc/pgerrcode"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/planner/catalog"
)

// maxNesting bounds how deeply a statement's expressions may nest.
// libpg_query builds a chain of left-associative operators (1 || 1 || …,
// x::int::int…) without limit and then walks it recursively in C: about
// 22,000 levels overflow a thread's stack and kill the process, which no
// recover catches. Below this bound every walk — libpg_query's, the
// protobuf decoder's (10,000 levels), cubegate's — is safe; PostgreSQL's
// own max_stack_depth stops such statements much earlier.
const maxNesting = 4000

// parseBytesPerByte is what parsing costs in memory per byte of text.
const parseBytesPerByte = 40

// parse is pg_query.Parse behind a guard against statements nested too
// deeply for the parser (54001, as PostgreSQL's "stack depth limit
// exceeded"). Every statement a client sends is parsed here.
func parse(sql string, pool *catalog.Pool) (*pg_query.ParseResult, error) {
	// A parse tree takes about 30 times its text in memory (a 7 MB IN
	// list: 208 MB live, 516 MB allocated while it is built): a long
	// statement reserves that from the evaluator's shared pool while it
	// is parsed, and is refused when others hold it.
	if need := int64(len(sql)) * parseBytesPerByte; len(sql) > 1<<20 {
		if !pool.Reserve(need) {
			return nil, pgerr.New(pgerrcode.OutOfMemory, "out of memory").
				WithDetail("Parsing a statement of %d bytes needs about %d MiB, more than cubegate's evaluator memory has free (limits.evaluator_memory).", len(sql), need>>20).
				WithHint("Send a shorter statement, or retry when other statements have finished.")
		}
		defer pool.Release(need)
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

// checkNesting estimates, from the statement's tokens, how deep its
// parse tree can be: one level per open parenthesis or bracket, plus one
// per operator, cast, join or set operation in a run between list
// separators (commas, AND, OR, WHEN/THEN/ELSE: their lists are flat in
// the tree). It over-estimates, never under-estimates, the depth of
// left-associative chains.
func checkNesting(sql string) error {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return syntaxError(err)
	}
	counts := []int{0} // operators in the current run, per open parenthesis
	depth := 0         // len(counts)-1 + the sum of counts
	for _, t := range res.GetTokens() {
		switch tok := t.GetToken(); {
		case tok == pg_query.Token_ASCII_40 || tok == pg_query.Token_ASCII_91: // ( [
			counts = append(counts, 0)
			depth++
		case tok == pg_query.Token_ASCII_41 || tok == pg_query.Token_ASCII_93: // ) ]
			if len(counts) > 1 {
				depth -= counts[len(counts)-1] + 1
				counts = counts[:len(counts)-1]
			}
		case listSeparator(tok):
			depth -= counts[len(counts)-1]
			counts[len(counts)-1] = 0
		case chainOperator(tok):
			counts[len(counts)-1]++
			depth++
		}
		if depth > maxNesting {
			return pgerr.New(pgerrcode.StatementTooComplex, "stack depth limit exceeded").
				WithDetail("The statement nests expressions or parentheses more than %d levels deep.", maxNesting).
				WithHint("Write long chains of operators as lists (IN (…), concat(…), AND/OR), or split the statement.").
				At(t.GetStart() + 1)
		}
	}
	return nil
}

// listSeparator is a token between the items of a list the parse tree
// keeps flat.
func listSeparator(tok pg_query.Token) bool {
	switch tok {
	case pg_query.Token_ASCII_44, pg_query.Token_ASCII_59, // , ;
		pg_query.Token_AND, pg_query.Token_OR, pg_query.Token_WHEN, pg_query.Token_THEN, pg_query.Token_ELSE:
		return true
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
		pg_query.Token_IN_P, pg_query.Token_COLLATE, pg_query.Token_AT, pg_query.Token_NOT,
		pg_query.Token_UNION, pg_query.Token_INTERSECT, pg_query.Token_EXCEPT, pg_query.Token_JOIN:
		return true
	case '+', '-', '*', '/', '%', '^', '<', '>', '=':
		return true
	}
	return false
}
