package planner

import (
	"strings"
	"testing"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// TestParseNesting: chains of left-associative nodes (operators, casts,
// joins, set operations) past what libpg_query's tree walks take (~22,000
// levels overflowed its stack and killed the process) are refused with
// 54001 before it sees them, however they are interleaved with brackets,
// CASE or AND; nesting through the parser's own stack (parentheses,
// ARRAY[, subqueries, CASE) is refused by the parser (42601);
// long flat statements — IN lists, AND/OR chains, CASE lists, many
// columns — parse.
func TestParseNesting(t *testing.T) {
	deep := []struct{ sql, code string }{
		{"SELECT 1" + strings.Repeat(" || 1", 100000), "54001"},
		{"SELECT 1" + strings.Repeat("::int", 100000), "54001"},
		{"SELECT 1" + strings.Repeat(" + 1", 30000), "54001"},
		{"SELECT 'a'" + strings.Repeat(" COLLATE \"C\"", 30000), "54001"},
		{"SELECT now()" + strings.Repeat("::timestamp with time zone", 30000), "54001"},
		{"SELECT 1" + strings.Repeat(" UNION SELECT 1", 30000), "54001"},
		{"SELECT 1 FROM t" + strings.Repeat(" JOIN t ON true", 30000), "54001"},
		// Interleaved with what ends a list item, or inside brackets.
		{"SELECT 1" + strings.Repeat("+CASE WHEN true THEN 1 END", 30000), "54001"},
		{"SELECT 1 FROM t" + strings.Repeat(" JOIN t ON true AND true", 30000), "54001"},
		{"SELECT 1" + strings.Repeat(" UNION SELECT 1 WHERE true AND true", 30000), "54001"},
		{"SELECT " + strings.Repeat("(", 10) + strings.Repeat("(1"+strings.Repeat(" + 1", 3000)+")", 1) +
			strings.Repeat(strings.Repeat(" + 1", 3000)+")", 10), "54001"},
		{"SELECT 1" + strings.Repeat(" OPERATOR(pg_catalog.+) 1", 30000), "54001"},
		// The parser's own stack.
		{"SELECT " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000), "42601"},
		{"SELECT " + strings.Repeat("- ", 50000) + "1", "54001"}, // prefix operators count as operators
		{"SELECT " + strings.Repeat("NOT ", 50000) + "true", "54001"},
		{"SELECT " + strings.Repeat("ARRAY[", 20000) + "1" + strings.Repeat("]", 20000), "42601"},
		{"SELECT " + strings.Repeat("(SELECT ", 20000) + "1" + strings.Repeat(")", 20000), "42601"},
		{"SELECT " + strings.Repeat("CASE WHEN true THEN ", 20000) + "1" + strings.Repeat(" END", 20000), "42601"},
	}
	for _, c := range deep {
		_, err := parse(c.sql, nil)
		if pgerr.Code(err) != c.code {
			t.Errorf("%.40s… (%d bytes): %v, want %s", c.sql, len(c.sql), err, c.code)
		}
	}
	flat := []string{
		"SELECT 1 WHERE 1 IN (" + strings.Repeat("1::int, ", 200000) + "1)",
		"SELECT true" + strings.Repeat(" AND 1 = 1", 50000),
		"SELECT true" + strings.Repeat(" OR 'a' || 'b' = 'ab'", 50000),
		"SELECT " + strings.Repeat("a + b, ", 1600) + "1 WHERE x IN (" + strings.Repeat("a + b, ", 50000) + "1)",
		"SELECT CASE" + strings.Repeat(" WHEN x = 1 THEN 2", 20000) + " END",
		"SELECT 1 " + strings.Repeat("+ 1 ", 3000),
		"SELECT x" + strings.Repeat("[1]", 50000) + " FROM t", // one flat list of subscripts
		"SELECT " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000),
		"SELECT 1" + strings.Repeat(" + (1 + 1)", 3000),
		"SELECT 1 FROM t" + strings.Repeat(" JOIN t ON true", 3000),
	}
	if _, err := parse("SELECT "+strings.Repeat("1, ", 100000)+"1", nil); pgerr.Code(err) != "54011" {
		t.Errorf("100,001 columns: %v, want 54011", err)
	}
	if _, err := parse("SELECT 1 UNION SELECT "+strings.Repeat("1, ", 2000)+"1", nil); pgerr.Code(err) != "54011" {
		t.Errorf("2,001 columns in a UNION's branch: %v, want 54011", err)
	}
	if _, err := parse("SELECT "+strings.Repeat("1, ", 1663)+"1", nil); err != nil {
		t.Errorf("1,664 columns: %v", err)
	}
	// A long statement needs its parse memory from the pool.
	pool := catalog.NewPool(100 << 20)
	long := "SELECT 1 IN (" + strings.Repeat("1, ", 1<<20) + "1)"
	if _, err := parse(long, pool); pgerr.Code(err) != "53200" {
		t.Errorf("a 3 MB statement with a 100 MiB pool: %v, want 53200", err)
	}
	if _, err := parse(long, catalog.NewPool(1<<30)); err != nil || pool.Used() != 0 {
		t.Errorf("a 3 MB statement with a 1 GiB pool: %v (%d bytes held)", err, pool.Used())
	}
	for _, sql := range flat {
		if _, err := parse(sql, nil); err != nil {
			t.Errorf("%.40s… (%d bytes): %v", sql, len(sql), err)
		}
	}
}
