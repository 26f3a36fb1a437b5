package catalog

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// limitedSession is benchSession under explicit limits.
type limitedSession struct {
	benchSession
	lim Limits
}

func (s limitedSession) Limits() Limits { return s.lim }

func runSQL(t testing.TB, cat *Catalog, ctx context.Context, s Session, sql string) (*Result, error) {
	t.Helper()
	tree, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil {
		t.Fatalf("%s: not a SELECT", sql)
	}
	return cat.Query(ctx, sel, s)
}

// TestBudgets: statements that would take the process's memory, or run
// for ever, fail with PostgreSQL's codes for the limit they hit, under
// the default limits; the catalog answers the next statement.
func TestBudgets(t *testing.T) {
	cat := New(benchTables())
	cases := []struct {
		sql, code string
	}{
		// Values larger than a value may be.
		{`SELECT repeat('ab', 4611686018427387904)`, "54000"},
		{`SELECT repeat('x', 2147483647)`, "54000"},
		{`SELECT repeat(repeat('x', 60000000), 2)`, "54000"},
		{`SELECT lpad('x', 2147483647)`, "54000"},
		{`SELECT rpad('x', 1000000000, 'ab')`, "54000"},
		{`SELECT replace(repeat('x', 10000), 'x', repeat('y', 10000))`, "54000"},
		{`SELECT regexp_replace(repeat('x', 100000), '', repeat('y', 1000), 'g')`, "54000"},
		{`SELECT string_agg(repeat('x', 1000000), ',') FROM generate_series(1, 100)`, "54000"},
		{`SELECT format(repeat('%1$s', 1000), repeat('x', 1000000))`, "54000"},
		{`SELECT concat(repeat('x', 40000000), repeat('x', 40000000))`, "54000"},
		{`SELECT repeat('x', 40000000) || repeat('x', 40000000)`, "54000"},
		{`SELECT string_to_array(repeat('x', 50000000), NULL)`, "54000"},
		{`SELECT count(*) FROM regexp_split_to_table(repeat('x', 60000000), '')`, "54000"},
		{`SELECT count(*) FROM string_to_table(repeat('x', 60000000), NULL)`, "54000"},
		{`SELECT array_length(('{' || repeat('1,', 30000000) || '1}')::int[], 1)`, "54000"},
		// Rows: joins and series past the statement's budget.
		{`SELECT count(*) FROM pg_attribute a, pg_attribute b, pg_attribute c`, "53200"},
		{`SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b`, "54000"},
		{`SELECT count(*) FROM generate_series(1, 9223372036854775807)`, "53200"},
		{`SELECT count(*) FROM pg_class a JOIN pg_class b ON true JOIN pg_class c ON true JOIN pg_class d ON true`, "53200"},
		{`SELECT count(*) FROM pg_attribute a CROSS JOIN pg_attribute b CROSS JOIN pg_attribute c`, "53200"},
		{`SELECT count(*) FROM (SELECT repeat('x', 10000000) FROM generate_series(1, 100)) s`, "53200"},
		{`SELECT generate_series(1, 100000000)`, "53200"},
		// Arithmetic as PostgreSQL checks it.
		{`SELECT 2147483647 + 1`, "22003"},
		{`SELECT 9223372036854775807::int8 + 1`, "22003"},
		{`SELECT (-9223372036854775807 - 1)::int8 / -1`, "22003"},
		{`SELECT 1 / 0`, "22012"},
		{`SELECT format('%0$s', 'x')`, "22023"},
		{`SELECT format('%-3$s', 'x')`, "22023"},
	}
	for _, c := range cases {
		_, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if err == nil {
			t.Errorf("%s: no error, want %s", c.sql, c.code)
			continue
		}
		var pe *pgerr.Error
		if !errors.As(err, &pe) || pe.Code != c.code {
			t.Errorf("%s: %v (%s), want %s", c.sql, err, pgerr.Code(err), c.code)
		}
		if _, err := runSQL(t, cat, context.Background(), benchSession{}, `SELECT count(*) FROM pg_class`); err != nil {
			t.Fatalf("after %s: %v", c.sql, err)
		}
	}
}

// TestBudgetsKeepAnswers: what a statement may do within its limits is
// answered as PostgreSQL answers it.
func TestBudgetsKeepAnswers(t *testing.T) {
	cat := New(benchTables())
	cases := []struct{ sql, want string }{
		{`SELECT length(repeat('ab', 1000000))`, "2000000"},
		{`SELECT length(lpad('x', 100000, 'ab'))`, "100000"},
		{`SELECT count(*) FROM generate_series(1, 1000000)`, "1000000"},
		{`SELECT count(*) FROM generate_series(9223372036854775800, 9223372036854775807)`, "8"},
		{`SELECT count(*) FROM generate_series(-9223372036854775807, -9223372036854775800, -1)`, "0"},
		{`SELECT count(*) FROM generate_series(1, 1000) a, generate_series(1, 1000) b`, "1000000"},
		{`SELECT replace('abc', '', 'x')`, "abc"},
		{`SELECT string_to_array('abc', '')`, "{abc}"},
		{`SELECT string_to_array('abc', NULL)`, "{a,b,c}"},
		{`SELECT string_to_array('a,,b', ',', '')`, "{a,NULL,b}"},
		{`SELECT count(*) FROM string_to_table('abc', NULL)`, "3"},
		{`SELECT count(*) FROM regexp_split_to_table('a1b22c', '[0-9]+')`, "3"},
		{`SELECT 2147483646 + 1`, "2147483647"},
		{`SELECT 9223372036854775807 % -1`, "0"},
		{`SELECT 99999999999999999999 + 1`, "100000000000000000000"},
	}
	for _, c := range cases {
		res, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); got != c.want {
			t.Errorf("%s = %s, want %s", c.sql, got, c.want)
		}
	}
}

func cellText(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return "NULL"
	}
	return strings.TrimSpace(toText(v))
}

// TestBudgetLimits: the limits a session sets are the ones applied, and
// the evaluator honours cancel and its time budget while it works.
func TestBudgetLimits(t *testing.T) {
	cat := New(benchTables())
	small := limitedSession{lim: Limits{Rows: 1000, Bytes: 1 << 20, ValueBytes: 1000}}
	for _, c := range []struct{ sql, code string }{
		{`SELECT count(*) FROM generate_series(1, 2000)`, "54000"},
		{`SELECT repeat('x', 1001)`, "54000"},
		{`SELECT count(*) FROM pg_attribute`, ""},
	} {
		_, err := runSQL(t, cat, context.Background(), small, c.sql)
		if pgerr.Code(err) != c.code && !(c.code == "" && err == nil) {
			t.Errorf("%s: %v, want %q", c.sql, err, c.code)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runSQL(t, cat, ctx, benchSession{}, `SELECT count(*) FROM generate_series(1, 5000) a, generate_series(1, 1000) b WHERE a.a = b.b + 1`)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled statement: %v", err)
	}

	slow := limitedSession{lim: Limits{Time: time.Millisecond}}
	_, err = runSQL(t, cat, context.Background(), slow,
		`SELECT count(*) FROM pg_attribute a WHERE a.attname IN (SELECT b.attname FROM pg_attribute b WHERE b.attrelid = a.attrelid + 1)`)
	if pgerr.Code(err) != "57014" {
		t.Errorf("over the time budget: %v, want 57014", err)
	}
}

// TestBudgetPool: statements share the process's pool; one that cannot
// reserve its memory fails with 53200, and what statements reserved is
// given back when they end.
func TestBudgetPool(t *testing.T) {
	cat := New(benchTables())
	pool := NewPool(256 << 20)
	s := limitedSession{lim: Limits{Pool: pool}}
	res, err := runSQL(t, cat, context.Background(), s, `SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g`)
	if err != nil {
		t.Fatal(err)
	}
	// The result (a cursor's, a portal's) holds its memory in the pool
	// until it is released.
	if pool.Used() == 0 {
		t.Fatal("a live result holds nothing in the pool")
	}
	res.Release()
	res.Release() // once only
	if pool.Used() != 0 {
		t.Fatalf("%d bytes still reserved after the result was released", pool.Used())
	}
	// Another statement holds most of the pool.
	pool.used.Add(250 << 20)
	_, err = runSQL(t, cat, context.Background(), s, `SELECT count(*) FROM generate_series(1, 1000000)`)
	if pgerr.Code(err) != "53200" {
		t.Fatalf("with the pool taken: %v, want 53200", err)
	}
	if pool.Used() != 250<<20 {
		t.Fatalf("the failed statement kept %d bytes", pool.Used()-250<<20)
	}
	pool.used.Add(-250 << 20)
	if _, err := runSQL(t, cat, context.Background(), s, `SELECT count(*) FROM generate_series(1, 1000000)`); err != nil {
		t.Fatalf("with the pool free again: %v", err)
	}
	// A result nobody released is given back when it is garbage.
	for i := 0; i < 50 && pool.Used() != 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if pool.Used() != 0 {
		t.Fatalf("%d bytes still reserved after the result became garbage", pool.Used())
	}
}

// TestEvaluatorShapes: statements whose cost grew exponentially or with
// the product of their inputs — subqueries nested 500 deep (each level
// ran twice), an IN list of 100,000 values over every column, an array
// 1,000 dimensions deep (printed by quoting itself at every level) —
// answer within the time budget, as PostgreSQL answers them.
func TestEvaluatorShapes(t *testing.T) {
	cat := New(benchTables())
	s := limitedSession{lim: Limits{Time: 30 * time.Second}}
	var in strings.Builder
	for i := range 100000 {
		in.WriteString("'t" + strings.Repeat("x", i%7) + itoa(i) + "', ")
	}
	all, err := runSQL(t, cat, context.Background(), s, `SELECT count(*) FROM information_schema.columns`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ sql, want string }{
		{`SELECT count(*) FROM pg_class WHERE oid IN ` + strings.Repeat("(SELECT oid FROM pg_class WHERE oid IN ", 500) +
			"(SELECT oid FROM pg_class WHERE relname = 'pg_type')" + strings.Repeat(")", 500), "1"},
		{`SELECT count(*) FROM information_schema.columns WHERE table_name NOT IN (` + in.String() + `'x')`, cellText(all.Rows[0][0])},
		{`SELECT count(*) FROM information_schema.columns WHERE table_name IN (` + in.String() + `'pg_class')`, "33"},
		{`SELECT count(*) FROM information_schema.columns WHERE table_name NOT IN ('pg_class', NULL)`, "0"},
		{`SELECT count(*) FROM pg_attribute WHERE attnum IN (1, 2.5)`, ""},
		{`SELECT ARRAY` + strings.Repeat("[", 1000) + "1" + strings.Repeat("]", 1000), "{" + strings.Repeat("{", 999) + "1" + strings.Repeat("}", 1000)},
	}
	for _, c := range cases {
		res, err := runSQL(t, cat, context.Background(), s, c.sql)
		if err != nil {
			t.Errorf("%.60s…: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); c.want != "" && got != c.want {
			t.Errorf("%.60s… = %.40s, want %.40s", c.sql, got, c.want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestFormat: format()'s positions, flags and widths, as PostgreSQL's;
// a width past the value size limit is 54000.
func TestFormat(t *testing.T) {
	cat := New(benchTables())
	for _, c := range []struct{ sql, want string }{
		{`SELECT format('%s|%10s|%-10s|', 'a', 'b', 'c')`, "a|         b|c         |"},
		{`SELECT format('%*s|%-*s|', 4, 'x', 3, 'y')`, "   x|y  |"},
		{`SELECT format('%*s|', -4, 'x')`, "x   |"},
		{`SELECT format('%2$s %1$s %2$I', 'a', 'b c')`, `b c a "b c"`},
		{`SELECT format('%1$*2$s|', 'x', 3)`, "  x|"},
		{`SELECT format('%L %L', 'it''s', NULL)`, "'it''s' NULL"},
		{`SELECT format('%5s', 'é')`, "    é"},
		{`SELECT format('100%%')`, "100%"},
	} {
		res, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); got != c.want {
			t.Errorf("%s = %q, want %q", c.sql, got, c.want)
		}
	}
	for _, c := range []struct{ sql, code string }{
		{`SELECT format('%2147483647s', 'x')`, "54000"},
		{`SELECT format('%-2147483647s', 'x')`, "54000"},
		{`SELECT format('%*s', 2147483647, 'x')`, "54000"},
		{`SELECT format('%99999999999s', 'x')`, "22023"},
		{`SELECT format('%s %s', 'x')`, "22023"},
		{`SELECT format('%')`, "22023"},
		{`SELECT format('%q', 1)`, "22023"},
	} {
		_, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if pgerr.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.sql, err, c.code)
		}
	}
}

// TestAnyArray: x = ANY of a constant array of 100,000 values is one
// lookup per row (the array converted once), with NULL semantics.
func TestAnyArray(t *testing.T) {
	cat := New(benchTables())
	var arr strings.Builder
	for i := range 100000 {
		arr.WriteString("a" + itoa(i) + ",")
	}
	s := limitedSession{lim: Limits{Time: 30 * time.Second}}
	for _, c := range []struct{ sql, want string }{
		{`SELECT count(*) FROM pg_class WHERE relname = ANY('{` + arr.String() + `pg_type}'::text[])`, "1"},
		{`SELECT count(*) FROM pg_class WHERE relname = ANY('{` + arr.String() + `pg_type,NULL}'::text[]) IS NULL`, "389"},
		{`SELECT count(*) FROM pg_attribute WHERE attnum = ANY(ARRAY[` + strings.Repeat("1000, ", 100) + `1])`, ""},
	} {
		res, err := runSQL(t, cat, context.Background(), s, c.sql)
		if err != nil {
			t.Errorf("%.60s…: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); c.want != "" && got != c.want {
			t.Errorf("%.60s… = %s, want %s", c.sql, got, c.want)
		}
	}
}

// Native reservations (the C parser's memory) lower Go's memory limit by
// as much while they are held, never below a quarter of it, and restore
// it when the last is released.
func TestBudgetPoolNative(t *testing.T) {
	before := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(before)
	pool := NewPool(2 << 30)
	if !pool.ReserveNative(300<<20) || !pool.ReserveNative(100<<20) {
		t.Fatal("reserve")
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30-400<<20 {
		t.Fatalf("Go's limit with 400 MiB reserved natively: %d MiB, want 624", got>>20)
	}
	if !pool.ReserveNative(600 << 20) {
		t.Fatal("reserve")
	}
	if got := debug.SetMemoryLimit(-1); got != 256<<20 {
		t.Fatalf("Go's limit with 1000 MiB reserved natively: %d MiB, want the floor 256", got>>20)
	}
	if pool.ReserveNative(1100 << 20) {
		t.Fatal("the pool gave more than it holds")
	}
	pool.ReleaseNative(600 << 20)
	pool.ReleaseNative(300 << 20)
	pool.ReleaseNative(100 << 20)
	if got := debug.SetMemoryLimit(-1); got != 1<<30 || pool.Used() != 0 {
		t.Fatalf("after release: Go's limit %d MiB (want 1024), pool %d", got>>20, pool.Used())
	}
}

// The last quarter of the pool is kept for statements holding less than a
// sixteenth of it.
func TestBudgetPoolFloor(t *testing.T) {
	pool := NewPool(1 << 30)
	if !pool.Reserve(767 << 20) {
		t.Fatal("reserve within three quarters")
	}
	if pool.Reserve(100 << 20) {
		t.Fatal("a large reservation took the last quarter")
	}
	if !pool.reserve(1<<20, 10<<20) {
		t.Fatal("a small statement could not grow into the last quarter")
	}
	if pool.reserve(1<<20, 64<<20) {
		t.Fatal("a statement holding a sixteenth grew into the last quarter")
	}
	cat := New(benchTables())
	s := limitedSession{lim: Limits{Pool: pool}}
	if _, err := runSQL(t, cat, context.Background(), s, `SELECT count(*) FROM pg_class`); err != nil {
		t.Fatalf("a catalog query with three quarters of the pool taken: %v", err)
	}
	if _, err := runSQL(t, cat, context.Background(), s, `SELECT count(*) FROM (SELECT repeat('x', 1000) FROM generate_series(1, 200000)) s`); pgerr.Code(err) != "53200" {
		t.Fatalf("a large statement with three quarters of the pool taken: %v, want 53200", err)
	}
}

// TestNumericSum: sum and avg of numeric are exact decimals, as
// PostgreSQL's (a temporary table of an extract sums its amounts); and
// other values as PostgreSQL spells them.
func TestNumericSum(t *testing.T) {
	cat := New(benchTables())
	for _, c := range []struct{ sql, want string }{
		{`SELECT sum(x) FROM (VALUES (0.1::numeric), (0.2::numeric)) v(x)`, "0.3"},
		{`SELECT sum(x) FROM (VALUES (333700.51::numeric), (1668678.96::numeric), (502350.62::numeric)) v(x)`, "2504730.09"},
		{`SELECT avg(x) FROM (VALUES (0.1::numeric), (0.2::numeric), (0.3::numeric)) v(x)`, "0.2"},
		{`SELECT sum(x) FROM (VALUES (1), (2)) v(x)`, "3"},
		// || casts a non-text side to text: a boolean is true/false there.
		{`SELECT 'a' || true || false`, "atruefalse"},
	} {
		res, err := runSQL(t, cat, context.Background(), benchSession{}, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if got := cellText(res.Rows[0][0]); got != c.want {
			t.Errorf("%s = %q, want %q", c.sql, got, c.want)
		}
	}
}
