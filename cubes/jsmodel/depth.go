package jsmodel

import (
	"fmt"
	"strings"
)

// goja's parser and compiler, its JSON.parse and its regular expression
// parsers recurse in Go without a depth limit, and a Go stack overflow
// is fatal to the process (no recover, whatever goroutine it happens
// on; Eval's time budget does not help). The measured cost is up to
// about 4 KiB of Go stack per nesting level ([, (, `${`, arrows) and up
// to about 1 KiB per link of a chain (!!!!x, a+a+…, a.b.b…, f()()…,
// x?y:x?y:…, a=a=…, if (x) if (x) …, else if …), so a few hundred
// thousand levels crash at Go's 1 GB maximum stack — a few megabytes of
// source, or a short eval('['.repeat(1e6)). So every source text is
// scanned before goja's parser sees it (scanSource: model files and
// required files; eval and the Function constructors are not available
// at all) and JSON.parse's and RegExp's inputs are measured first
// (jsonDepth, regexpDepth).
const (
	// maxNesting bounds brackets, braces, parentheses, template
	// literals and their ${…}, and a regular expression's groups.
	maxNesting = 500
	// maxChain bounds the tokens of one expression or statement chain
	// (with the nesting around it): what recursion the brackets do not
	// show. Operators count one per character.
	maxChain = 20000
)

// nestFrame is one open bracket of the scan.
type nestFrame struct {
	kind    byte // ( [ { ` (template text) $ (a template's ${)
	head    bool // a ( after if, for, while, with: a statement follows
	block   bool // a { that opens a block (else an object literal)
	run     int  // tokens of the current chain at this level
	lastRun int  // the chain before the last ; (else continues it)
}

// token classes of the scan: what came before decides whether / is a
// division or a regular expression, and whether a line break ends a
// chain.
const (
	tStart    = iota
	tOp       // an operator or punctuator: an expression may follow
	tKeyword  // a keyword after which an expression may follow
	tValue    // an identifier, a literal, this, ) ] or an object's }
	tHead     // the ) of if (…), for (…), while (…), with (…)
	tBlockEnd // the } of a block
)

// exprKeywords are keywords an expression may follow.
var exprKeywords = map[string]bool{"return": true, "typeof": true, "instanceof": true, "in": true, "of": true,
	"new": true, "delete": true, "void": true, "throw": true, "case": true, "do": true, "else": true,
	"yield": true, "await": true, "extends": true}

// valueKeywords are keywords that are values.
var valueKeywords = map[string]bool{"this": true, "null": true, "true": true, "false": true, "super": true}

// continuing are words that continue a statement on the next line
// (a line break before them does not end a chain).
var continuing = map[string]bool{"else": true, "in": true, "instanceof": true, "of": true, "catch": true,
	"finally": true, "while": true}

// nestError is a source that nests or chains too deep.
type nestError struct {
	line int
	msg  string
}

func (n *nestError) Error() string { return n.msg }

// scanSource checks that src nests at most maxNesting levels deep and
// chains at most maxChain tokens, before a parser recursing in Go sees
// it. It is a lexical scan: strings, comments, template literals and
// regular expressions are recognized (a / after a value is a division),
// and it errs on the side of counting more. nil: src may be parsed.
func scanSource(src string) *nestError {
	s := &scanner{src: src, line: 1, prev: tStart}
	s.frames = append(s.frames, nestFrame{kind: '{', block: true})
	return s.run()
}

type scanner struct {
	src     string
	i       int
	line    int
	frames  []nestFrame
	total   int // the sum of runs
	prev    int
	prevTok string // the previous word or operator run
	newline bool   // a line break since the previous token
}

func (s *scanner) top() *nestFrame { return &s.frames[len(s.frames)-1] }

// token counts n tokens of the current chain.
func (s *scanner) token(n int) *nestError {
	t := s.top()
	t.run += n
	s.total += n
	if s.total+len(s.frames) > maxChain {
		return &nestError{s.line, fmt.Sprintf("an expression or statement chain longer than %d tokens (with its nesting): a parser would recurse too deep; split it (end statements with ;)", maxChain)}
	}
	return nil
}

// reset ends the current chain (at ; or ,).
func (s *scanner) reset() {
	t := s.top()
	s.total -= t.run
	t.run = 0
}

func (s *scanner) push(f nestFrame) *nestError {
	s.frames = append(s.frames, f)
	if len(s.frames)-1 > maxNesting {
		return &nestError{s.line, fmt.Sprintf("the source nests deeper than %d levels of brackets, braces, parentheses or template literals: a parser would recurse too deep", maxNesting)}
	}
	return s.token(0)
}

func (s *scanner) pop() nestFrame {
	f := *s.top()
	if len(s.frames) > 1 {
		s.total -= f.run
		s.frames = s.frames[:len(s.frames)-1]
	}
	return f
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c == '\\' || c == '#' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// regexAllowed: a / here starts a regular expression.
func (s *scanner) regexAllowed() bool {
	switch s.prev {
	case tValue:
		return false
	}
	return true
}

// startToken is called before each token: a line break between a value
// and a word that cannot continue it ends the chain (automatic
// semicolon insertion), as ; does.
func (s *scanner) startToken(word string) {
	if s.newline && (s.prev == tValue || s.prev == tBlockEnd) && word != "" && !continuing[word] {
		t := s.top()
		t.lastRun = t.run
		s.reset()
	}
	s.newline = false
}

func (s *scanner) run() *nestError {
	src := s.src
	for s.i < len(src) {
		c := src[s.i]
		switch {
		case c == '\n':
			s.line++
			s.newline = true
			s.i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			s.i++
		case c == '/' && s.i+1 < len(src) && src[s.i+1] == '/':
			for s.i < len(src) && src[s.i] != '\n' {
				s.i++
			}
		case c == '/' && s.i+1 < len(src) && src[s.i+1] == '*':
			end := strings.Index(src[s.i+2:], "*/")
			if end < 0 {
				end = len(src) - s.i - 2
			}
			s.line += strings.Count(src[s.i:s.i+2+end], "\n")
			s.i += end + 4
		case c == '\'' || c == '"':
			s.startToken("'")
			s.quoted(c)
			if err := s.token(1); err != nil {
				return err
			}
			s.prev = tValue
		case c == '`':
			s.startToken("")
			s.i++
			if err := s.push(nestFrame{kind: '`'}); err != nil {
				return err
			}
			if err := s.template(); err != nil {
				return err
			}
		case c == '/' && s.regexAllowed():
			s.startToken("")
			if err := s.regexp(); err != nil {
				return err
			}
			if err := s.token(1); err != nil {
				return err
			}
			s.prev = tValue
		case c >= '0' && c <= '9' || c == '.' && s.i+1 < len(src) && src[s.i+1] >= '0' && src[s.i+1] <= '9':
			s.startToken("0")
			for s.i < len(src) && (isIdentPart(src[s.i]) || src[s.i] == '.') {
				s.i++
			}
			if err := s.token(1); err != nil {
				return err
			}
			s.prev = tValue
		case isIdentStart(c):
			start := s.i
			for s.i < len(src) && isIdentPart(src[s.i]) {
				if src[s.i] == '\\' { // \u escape
					s.i++
				}
				s.i++
			}
			word := src[start:min(s.i, len(src))]
			if word == "else" && s.top().run == 0 {
				// else continues the if's chain ended by ;
				t := s.top()
				t.run = t.lastRun
				s.total += t.run
			}
			s.startToken(word)
			if err := s.token(1); err != nil {
				return err
			}
			switch {
			case exprKeywords[word]:
				s.prev = tKeyword
			case valueKeywords[word]:
				s.prev = tValue
			case word == "if" || word == "for" || word == "while" || word == "with" || word == "switch" || word == "catch" || word == "function" || word == "class":
				s.prev = tKeyword
			default:
				s.prev = tValue
			}
			s.prevTok = word
		case c == '(' || c == '[' || c == '{':
			s.startToken("")
			f := nestFrame{kind: c}
			switch c {
			case '(':
				f.head = s.prev == tKeyword && (s.prevTok == "if" || s.prevTok == "for" || s.prevTok == "while" || s.prevTok == "with")
			case '{':
				f.block = s.blockStarts()
			}
			if err := s.token(1); err != nil {
				return err
			}
			s.i++
			if err := s.push(f); err != nil {
				return err
			}
			s.prev, s.prevTok = tOp, string(c)
		case c == ')' || c == ']' || c == '}':
			s.startToken("")
			s.i++
			f := s.pop()
			switch {
			case f.kind == '$':
				// the end of a template's ${…}: back to its text
				if err := s.template(); err != nil {
					return err
				}
				continue
			case f.head:
				s.prev = tHead
			case f.kind == '{' && f.block:
				s.prev = tBlockEnd
			default:
				s.prev = tValue
			}
			s.prevTok = string(c)
		case c == ';' || c == ',':
			s.startToken("")
			s.i++
			t := s.top()
			if c == ';' {
				t.lastRun = t.run
			} else {
				t.lastRun = 0
			}
			s.reset()
			s.prev, s.prevTok = tOp, string(c)
		default: // operators, one token a character
			s.startToken("")
			start := s.i
			for s.i < len(src) && strings.IndexByte("!%&*+-<=>?^|~:.@", src[s.i]) >= 0 {
				s.i++
			}
			if s.i == start {
				s.i++ // anything else (a stray byte): the parser will say
			}
			if err := s.token(s.i - start); err != nil {
				return err
			}
			s.prev, s.prevTok = tOp, src[start:s.i]
		}
	}
	return nil
}

// blockStarts tells whether a { here opens a block rather than an
// object literal.
func (s *scanner) blockStarts() bool {
	switch s.prev {
	case tStart, tHead, tBlockEnd:
		return true
	case tValue:
		// function f() {, class A {, try {, finally {
		return s.prevTok == ")" || s.prevTok != "" && isIdentStart(s.prevTok[0])
	case tKeyword:
		return s.prevTok == "else" || s.prevTok == "do" || s.prevTok == "try" || s.prevTok == "finally" || s.prevTok == "class" || s.prevTok == "function"
	case tOp:
		return s.prevTok == ";" || s.prevTok == "{" || strings.HasSuffix(s.prevTok, "=>")
	}
	return false
}

// quoted skips a string literal.
func (s *scanner) quoted(q byte) {
	src := s.src
	s.i++
	for s.i < len(src) {
		switch src[s.i] {
		case '\\':
			if s.i+1 < len(src) && src[s.i+1] == '\n' {
				s.line++
			}
			s.i += 2
			continue
		case q:
			s.i++
			return
		case '\n': // unterminated: the parser will say
			return
		}
		s.i++
	}
}

// template scans a template literal's text up to its end (the frame is
// popped) or a ${ (a frame is pushed and code follows).
func (s *scanner) template() *nestError {
	src := s.src
	for s.i < len(src) {
		switch c := src[s.i]; {
		case c == '\\':
			if s.i+1 < len(src) && src[s.i+1] == '\n' {
				s.line++
			}
			s.i += 2
		case c == '\n':
			s.line++
			s.i++
		case c == '`':
			s.i++
			s.pop()
			s.prev, s.prevTok = tValue, "`"
			return s.token(1)
		case c == '$' && s.i+1 < len(src) && src[s.i+1] == '{':
			s.i += 2
			s.prev, s.prevTok = tOp, "${"
			return s.push(nestFrame{kind: '$'})
		default:
			s.i++
		}
	}
	return nil
}

// regexp skips a regular expression literal, its groups counted.
func (s *scanner) regexp() *nestError {
	src := s.src
	start := s.i
	s.i++
	class := false
	for s.i < len(src) && src[s.i] != '\n' {
		c := src[s.i]
		s.i++
		switch {
		case c == '\\':
			s.i++
		case c == '[':
			class = true
		case c == ']':
			class = false
		case c == '/' && !class:
			for s.i < len(src) && isIdentPart(src[s.i]) {
				s.i++
			}
			if d := regexpDepth(src[start+1 : s.i]); d > maxNesting {
				return &nestError{s.line, fmt.Sprintf("a regular expression nests groups deeper than %d levels", maxNesting)}
			}
			return nil
		}
	}
	if d := regexpDepth(src[start+1 : min(s.i, len(src))]); d > maxNesting {
		return &nestError{s.line, fmt.Sprintf("a regular expression nests groups deeper than %d levels", maxNesting)}
	}
	return nil
}

// regexpDepth is how deep a regular expression's groups (and classes)
// nest, counted generously: every unescaped ( and [ opens, every ) and
// ] closes.
func regexpDepth(p string) int {
	depth, most := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '(', '[', '{':
			depth++
			most = max(most, depth)
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return most
}

// jsonDepth is how deep JSON text nests ([ and { outside strings) and
// the line where it first nests deeper than maxNesting (0: it does not).
func jsonDepth(s string) (depth, line int) {
	d, ln := 0, 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			ln++
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			d++
			if d > depth {
				depth = d
				if d > maxNesting && line == 0 {
					line = ln
				}
			}
		case ']', '}':
			if d > 0 {
				d--
			}
		}
	}
	return depth, line
}
