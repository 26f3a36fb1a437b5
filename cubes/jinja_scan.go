package cubes

import (
	"fmt"
	"regexp"
	"strings"
)

// rawEndRe is where gonja's lexer ends a {% raw %}.
var rawEndRe = regexp.MustCompile(`\{%[-+]?\s*endraw`)

// A template's nesting is bounded before gonja parses it: gonja's parser
// and evaluator recurse once per bracket, unary operator, chained binary
// operator and nested block tag, and a Go stack overflow is fatal (it
// ends the process; recover cannot catch it). A 3 MB file of '(' would
// otherwise take the gateway down.
const (
	// jinjaMaxBrackets bounds ( [ { nesting inside one {{ }} or {% %}.
	jinjaMaxBrackets = 200
	// jinjaMaxExprDepth bounds an expression's depth as a cheap lexical
	// estimate: the operators chained at each open bracket level (reset
	// at each , and :) plus one per level. a+b+c+… is a tree as deep as
	// it is long.
	jinjaMaxExprDepth = 1000
)

// jinjaBlockTags open a block closed by an end tag ({% set %} only
// without '=').
var jinjaBlockTags = map[string]bool{"for": true, "if": true, "macro": true, "call": true, "filter": true,
	"with": true, "block": true, "autoescape": true, "trans": true, "set": true}

var jinjaOpWords = map[string]bool{"and": true, "or": true, "not": true, "in": true, "is": true, "if": true, "else": true}

// scanJinjaNesting finds, without parsing, where src nests deeper than
// gonja can parse and evaluate safely: the 1-based line and why, or 0.
func scanJinjaNesting(src string, maxTags int) (int, string) {
	line, tags := 1, 0
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		if c == '\n' {
			line++
			i++
			continue
		}
		if c != '{' || i+1 >= n || (src[i+1] != '{' && src[i+1] != '%' && src[i+1] != '#') {
			i++
			continue
		}
		kind := src[i+1]
		startLine := line
		i += 2
		if kind == '#' {
			for i < n && !(src[i] == '#' && i+1 < n && src[i+1] == '}') {
				if src[i] == '\n' {
					line++
				}
				i++
			}
			i += 2
			continue
		}
		// The tag's name, as gonja's lexer reads it to find {% raw %}:
		// one whitespace control, spaces and tabs, an identifier.
		raw := false
		if kind == '%' {
			j := i
			if j < n && (src[j] == '-' || src[j] == '+') {
				j++
			}
			for j < n && (src[j] == ' ' || src[j] == '\t') {
				j++
			}
			raw = strings.HasPrefix(src[j:], "raw") && (j+3 >= n || !jinjaIdentByte(src[j+3]))
		}
		// The tag's first word, for block nesting (gonja's parser skips
		// any whitespace).
		j := i
		for j < n && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r' || src[j] == '-' || src[j] == '+') {
			j++
		}
		k := j
		for k < n && jinjaIdentByte(src[k]) {
			k++
		}
		word := src[j:k]
		end, l, msg, hasAssign := scanJinjaCode(src, i, kind, line)
		if msg != "" {
			return l, msg
		}
		line = l
		i = end
		if kind != '%' {
			continue
		}
		switch {
		case raw:
			// {% raw %}…{% endraw %}: text, not code, to where gonja's
			// lexer ends it.
			loc := rawEndRe.FindStringIndex(src[i:])
			if loc == nil {
				return 0, ""
			}
			line += strings.Count(src[i:i+loc[0]], "\n")
			i += loc[0]
		case jinjaBlockTags[word] && !(word == "set" && hasAssign):
			tags++
			if tags > maxTags {
				return startLine, fmt.Sprintf("block tags ({%% %s %%} …) nest more than %d deep: refused", word, maxTags)
			}
		case len(word) > 3 && word[:3] == "end":
			if tags > 0 {
				tags--
			}
		}
	}
	return 0, ""
}

// scanJinjaCode reads the code of a {{ }} (kind '{') or {% %} (kind '%')
// from i to past its closing delimiter: where it ends, the line reached
// and, if it nests too deep, a message; hasAssign is an '=' outside
// brackets (a {% set x = … %}).
func scanJinjaCode(src string, i int, kind byte, line int) (end, l int, msg string, hasAssign bool) {
	n := len(src)
	ops := []int{0} // operators chained at each open bracket level
	depth := 1      // levels plus the operators chained at each
	var open []byte
	for i < n {
		c := src[i]
		switch {
		case c == '\n':
			line++
		case c == '\'' || c == '"':
			// As gonja's lexer reads a string: it ends at the first
			// quote not right after a backslash (so "a\\" goes on).
			i++
			for i < n && (src[i] != c || src[i-1] == '\\') {
				if src[i] == '\n' {
					line++
				}
				i++
			}
		case len(open) == 0 && kind == '{' && c == '}' && i+1 < n && src[i+1] == '}':
			return i + 2, line, "", hasAssign
		case len(open) == 0 && kind == '%' && c == '%' && i+1 < n && src[i+1] == '}':
			return i + 2, line, "", hasAssign
		case c == '(' || c == '[' || c == '{':
			open = append(open, c)
			ops = append(ops, 0)
			depth++
			if len(open) > jinjaMaxBrackets {
				return i, line, fmt.Sprintf("brackets nest more than %d deep in one expression: refused", jinjaMaxBrackets), false
			}
		case c == ')' || c == ']' || c == '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
				depth -= ops[len(ops)-1] + 1
				ops = ops[:len(ops)-1]
			}
		case c == ',' || c == ':':
			depth -= ops[len(ops)-1]
			ops[len(ops)-1] = 0
		case c == '=' && len(open) == 0 && !(i+1 < n && src[i+1] == '=') && !(i > 0 && (src[i-1] == '=' || src[i-1] == '!' || src[i-1] == '<' || src[i-1] == '>')):
			hasAssign = true
			depth -= ops[len(ops)-1]
			ops[len(ops)-1] = 0
		case c == '+' || c == '-' || c == '*' || c == '/' || c == '%' || c == '~' || c == '|' || c == '.' || c == '<' || c == '>' || c == '!' || c == '=':
			ops[len(ops)-1]++
			depth++
		case jinjaIdentByte(c):
			j := i
			for j < n && jinjaIdentByte(src[j]) {
				j++
			}
			if jinjaOpWords[src[i:j]] {
				ops[len(ops)-1]++
				depth++
			}
			i = j - 1
		}
		i++
		if depth > jinjaMaxExprDepth {
			return i, line, fmt.Sprintf("an expression nests more than %d operators deep (a long chain of operators, filters or attributes): refused", jinjaMaxExprDepth), false
		}
	}
	return n, line, "", hasAssign
}

func jinjaIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
