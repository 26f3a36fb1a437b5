package catalog

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// FuzzCatalog runs statements generated from a grammar of the catalog's
// own relations, functions and operators — the fuzzer's bytes choose the
// productions — under small limits. Every statement must end with rows
// or with an error carrying a SQLSTATE other than XX000; none may panic,
// hang or outgrow its limits.
func FuzzCatalog(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0}, {1, 2, 3, 4, 5, 6, 7, 8}, []byte("repeat lpad generate_series"),
		{255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244},
		{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4},
	} {
		f.Add(seed)
	}
	cat := New(benchTables())
	s := limitedSession{lim: Limits{Rows: 20_000, Bytes: 16 << 20, ValueBytes: 1 << 20, Time: 2 * time.Second}}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &grammar{data: data}
		sql := g.statement()
		tree, err := pg_query.Parse(sql)
		if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil {
			return // the grammar wrote something PostgreSQL would not parse either
		}
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s: panic: %v\n%s", sql, r, debug.Stack())
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = cat.Query(ctx, tree.Stmts[0].Stmt.GetSelectStmt(), s)
		if err == nil {
			return
		}
		var pe *pgerr.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("%s: ran past 10 s (its time budget is 2 s)", sql)
		case !errors.As(err, &pe):
			t.Fatalf("%s: an error without a SQLSTATE: %v", sql, err)
		case pe.Code == "XX000":
			t.Fatalf("%s: internal error: %v", sql, err)
		}
	})
}

// grammar writes SELECT statements over the catalog; each choice reads
// one byte of the fuzzer's input (zeros once it is used up).
type grammar struct {
	data  []byte
	pos   int
	depth int
}

func (g *grammar) pick(n int) int {
	if g.pos >= len(g.data) || n <= 1 {
		g.pos++
		return 0
	}
	b := int(g.data[g.pos])
	g.pos++
	return b % n
}

func (g *grammar) one(options ...string) string { return options[g.pick(len(options))] }

var fuzzRelations = []string{
	"pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_type", "pg_catalog.pg_namespace",
	"pg_catalog.pg_proc", "pg_catalog.pg_index", "pg_catalog.pg_constraint", "pg_catalog.pg_description",
	"pg_catalog.pg_settings", "pg_catalog.pg_database", "pg_catalog.pg_roles", "information_schema.columns",
	"information_schema.tables", "pg_catalog.pg_tables", "generate_series(1, 100)", "generate_series(-5, 5, 2)",
	"unnest(ARRAY[1, 2, NULL])", "(VALUES (1, 'a'), (2, NULL))", "pg_catalog.pg_get_keywords()",
}

var fuzzLiterals = []string{
	"0", "1", "-1", "2147483647", "-2147483648", "9223372036854775807", "(-9223372036854775807 - 1)",
	"99999999999999999999", "1e308", "0.5", "'NaN'::float8", "NULL", "''", "'a'", "'%'", "'%1$s'", "'\\'",
	"E'\\n'", "'é'", "'𝔘'", "'x̧'", "repeat('ab', 1000)", "ARRAY[1, 2, 3]", "ARRAY[]::int[]", "'{a,b}'::text[]",
	"true", "false", "'pg_class'::regclass", "'int4'::regtype", "16400", "'[a-z]+'", "'(a*)*b'", "' '",
	"current_user", "1::int2", "100000", "1000000000", "(SELECT 1)", "$$quoted$$", "'2024-01-01'::date",
}

var fuzzColumns = []string{"oid", "relname", "attname", "attnum", "typname", "nspname", "proname", "name", "setting", "column_name", "table_name"}

var fuzzOperators = []string{"+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "~", "~*", "LIKE", "ILIKE", "IS DISTINCT FROM", "AND", "OR"}

func (g *grammar) expr() string {
	g.depth++
	defer func() { g.depth-- }()
	if g.depth > 6 {
		return g.one(fuzzLiterals...)
	}
	switch g.pick(9) {
	case 0, 1:
		return g.one(fuzzLiterals...)
	case 2:
		return g.one(fuzzColumns...)
	case 3, 4:
		return g.call()
	case 5:
		return "(" + g.expr() + " " + g.one(fuzzOperators...) + " " + g.expr() + ")"
	case 6:
		return "CASE WHEN " + g.expr() + " THEN " + g.expr() + " ELSE " + g.expr() + " END"
	case 7:
		return "(SELECT " + g.expr() + " FROM " + g.one(fuzzRelations...) + " LIMIT 1)"
	}
	return g.expr() + "::" + g.one("int", "int8", "text", "oid", "regclass", "bool", "numeric", "name", "text[]")
}

// fuzzFuncs is every function the catalog evaluates, set-returning and
// aggregate ones included.
var fuzzFuncs = func() []string {
	var names []string
	for name := range funcs {
		names = append(names, name)
	}
	for name := range srfFuncs {
		names = append(names, name)
	}
	for name := range aggregates {
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}()

func (g *grammar) call() string {
	name := fuzzFuncs[g.pick(len(fuzzFuncs))]
	if name == "pg_sleep" {
		return "pg_sleep(0)"
	}
	args := make([]string, g.pick(4))
	for i := range args {
		args[i] = g.expr()
	}
	return fmt.Sprintf("%s(%s)", name, strings.Join(args, ", "))
}

func (g *grammar) statement() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if g.pick(4) == 0 {
		b.WriteString("DISTINCT ")
	}
	n := 1 + g.pick(3)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(g.expr())
	}
	if g.pick(5) > 0 {
		b.WriteString(" FROM " + g.one(fuzzRelations...) + " AS a")
		switch g.pick(4) {
		case 1:
			b.WriteString(", " + g.one(fuzzRelations...) + " AS b")
		case 2:
			b.WriteString(" JOIN " + g.one(fuzzRelations...) + " AS b ON " + g.expr())
		case 3:
			b.WriteString(" LEFT JOIN " + g.one(fuzzRelations...) + " AS b ON true CROSS JOIN " + g.one(fuzzRelations...) + " AS c")
		}
		if g.pick(2) == 1 {
			b.WriteString(" WHERE " + g.expr())
		}
		if g.pick(3) == 1 {
			b.WriteString(" GROUP BY 1")
		}
	}
	switch g.pick(4) {
	case 1:
		b.WriteString(" ORDER BY 1")
	case 2:
		b.WriteString(" UNION ALL SELECT " + strings.Repeat("NULL, ", n-1) + "NULL")
	case 3:
		b.WriteString(" LIMIT " + g.one(fuzzLiterals...))
	}
	return b.String()
}
