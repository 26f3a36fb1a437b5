package sqldb

import (
	"fmt"
	"strings"
)

// Positional rewrites the numbered placeholders the compiler and the
// push-down write ($1, $2, … — the dialect's Param) into the positional
// ? of drivers that have no other, repeating each argument as often as
// its placeholder appears: a statement may read $1 in two subqueries.
// Quoted text, quoted identifiers and comments are left alone.
func Positional(sql string, args []any) (string, []any, error) {
	if !strings.Contains(sql, "$") {
		return sql, args, nil
	}
	var b strings.Builder
	out := make([]any, 0, len(args))
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // doubled: one quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString(sql[i:min(j+1, len(sql))])
			i = j
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i - 1
			}
			b.WriteString(sql[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			end := len(sql)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(sql[i:end])
			i = end - 1
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			n := 0
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				n = n*10 + int(sql[j]-'0')
				j++
			}
			if n < 1 || n > len(args) {
				return "", nil, fmt.Errorf("placeholder $%d: the statement has %d arguments", n, len(args))
			}
			b.WriteByte('?')
			out = append(out, args[n-1])
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), out, nil
}
