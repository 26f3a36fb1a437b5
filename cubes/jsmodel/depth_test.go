package jsmodel

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// deepCases would each overflow the Go stack (fatal to the process, no
// recover) if what goja parses or walks natively were not measured
// first. Each runs in a subprocess (TestDeepRefusedInSubprocess) so that
// a regression fails the test rather than kill it.
var deepCases = map[string]struct {
	files map[string]string
	want  string
}{
	"eval": {map[string]string{"m.js": "const s = eval('['.repeat(1000000));\n"},
		"m.js:1: Error: models cannot use eval"},
	"Function": {map[string]string{"m.js": "\nconst f = (() => {}).constructor('return ' + '['.repeat(1000000));\n"},
		"m.js:2: Error: models cannot use the Function constructor"},
	"AsyncFunction": {map[string]string{"m.js": "\nconst f = (async () => {}).constructor('['.repeat(1000000));\n"},
		"m.js:2: Error: models cannot use the AsyncFunction constructor"},
	"GeneratorFunction": {map[string]string{"m.js": "\nconst f = (function* () {}).constructor('['.repeat(1000000));\n"},
		"m.js:2: Error: models cannot use the GeneratorFunction constructor"},
	"JSON.parse": {map[string]string{"m.js": "\n\nconst s = JSON.parse('['.repeat(5e6) + ']'.repeat(5e6));\n"},
		"m.js:3: RangeError: JSON.parse: the text nests 5000000 levels deep"},
	"a deep file": {map[string]string{"m.js": "const ok = 1;\nconst x = " + strings.Repeat("[", 4_000_000) + "\n"},
		"m.js:2: the source nests deeper than 500 levels"},
	"a deep required file": {map[string]string{"m.js": "\nrequire('./h');\n", "h.js": "\n\n" + strings.Repeat("(", 2_000_000) + "1" + strings.Repeat(")", 2_000_000) + "\n"},
		"h.js:3: the source nests deeper than 500 levels"},
	"a deep JSON file": {map[string]string{"m.js": "\nrequire('./d.json');\n", "d.json": "\n" + strings.Repeat("[", 3_000_000) + strings.Repeat("]", 3_000_000)},
		"d.json:2: JSON nests 3000000 levels deep, more than 500"},
	"a unary chain": {map[string]string{"m.js": "\nconst x = " + strings.Repeat("!", 6_000_000) + "1;\n"},
		"m.js:2: an expression or statement chain longer than 20000 tokens"},
	"a binary chain": {map[string]string{"m.js": "\nconst x = 1" + strings.Repeat("\n+1", 3_000_000) + ";\n"},
		"m.js:", // the line where the chain passes the bound
	},
	"an else-if chain": {map[string]string{"m.js": "if (0);" + strings.Repeat("\nelse if (0);", 1_000_000) + "\n"},
		"chain longer than 20000 tokens"},
	"a template literal": {map[string]string{"m.js": "\nconst x = " + strings.Repeat("`${", 1_000_000) + "1" + strings.Repeat("}`", 1_000_000) + ";\n"},
		"m.js:2: the source nests deeper than 500 levels"},
	"a regular expression literal": {map[string]string{"m.js": "\nconst r = /" + strings.Repeat("(", 3_000_000) + strings.Repeat(")", 3_000_000) + "/;\n"},
		"m.js:2: a regular expression nests groups deeper than 500 levels"},
	"new RegExp": {map[string]string{"m.js": "\nconst r = new RegExp('('.repeat(5e6) + ')'.repeat(5e6));\n"},
		"m.js:2: SyntaxError: Invalid regular expression: its groups nest 5000000 levels deep"},
	"String.prototype.match": {map[string]string{"m.js": "\n'x'.match('('.repeat(5e6) + ')'.repeat(5e6));\n"},
		"m.js:2: SyntaxError: Invalid regular expression"},
	"nested arrays to a string": {map[string]string{"m.js": "let a = [];\nfor (let i = 0; i < 2e6; i++) a = [a];\nconst s = '' + a;\n"},
		"m.js:3: RangeError: Array.prototype.join: arrays nested deeper than 500 levels"},
	"nested arrays toLocaleString": {map[string]string{"m.js": "let a = [];\nfor (let i = 0; i < 2e6; i++) a = [a];\nconst s = a.toLocaleString();\n"},
		"RangeError: Maximum call stack size exceeded"},
	"nested objects to JSON": {map[string]string{"m.js": "let a = {};\nfor (let i = 0; i < 2e6; i++) a = { a };\nconst s = JSON.stringify(a);\n"},
		"m.js:3: RangeError: JSON.stringify: the value nests deeper than 500 levels"},
	"nested objects to JSON with a key list": {map[string]string{"m.js": "let a = {};\nfor (let i = 0; i < 2e6; i++) a = { a };\nconst s = JSON.stringify(a, ['a']);\n"},
		"m.js:3: RangeError: JSON.stringify: the value nests deeper than 500 levels"},
	"flat": {map[string]string{"m.js": "let a = [];\nfor (let i = 0; i < 2e6; i++) a = [a];\nconst s = a.flat(Infinity);\n"},
		"m.js:3: RangeError: Array.prototype.flat: the value nests deeper than 500 levels"},
	"nested meta": {map[string]string{"m.js": "let a = [];\nfor (let i = 0; i < 2e6; i++) a = [a];\ncube('c', { sqlTable: 't', meta: { a } });\n"},
		"nests deeper than 64 levels"},
}

const deepEnv = "JSMODEL_DEEP_CASE"

func TestDeepRefusedInSubprocess(t *testing.T) {
	if name := os.Getenv(deepEnv); name != "" {
		c := deepCases[name]
		_, err := evalFiles(t, c.files, Options{Timeout: 20e9, MaxHeapGrowth: 4 << 30, MaxAlloc: 32 << 20})
		if err == nil {
			os.Stdout.WriteString("REFUSED: <nil>\n")
			return
		}
		os.Stdout.WriteString("REFUSED: " + err.Error() + "\n")
		return
	}
	for name, c := range deepCases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeepRefusedInSubprocess$")
			cmd.Env = append(os.Environ(), deepEnv+"="+name)
			out, err := cmd.CombinedOutput()
			s := string(out)
			if err != nil || !strings.Contains(s, "REFUSED: ") {
				if len(s) > 2000 {
					s = s[:2000]
				}
				t.Fatalf("the subprocess failed (%v):\n%s", err, s)
			}
			msg := s[strings.Index(s, "REFUSED: ")+len("REFUSED: "):]
			msg = msg[:strings.IndexByte(msg, '\n')]
			t.Log(msg)
			if msg == "<nil>" || !strings.Contains(msg, c.want) {
				t.Errorf("refusal %q lacks %q", msg, c.want)
			}
		})
	}
}

// Ordinary code passes the scan; nesting and chains beyond the bounds
// are refused with their line.
func TestScanSource(t *testing.T) {
	ok := []string{
		"const a = 1\nconst b = 2\n" + strings.Repeat("cube(`x`, { sql: `${CUBE}.a + ${b}`, dimensions: { id: { sql: `id`, type: 'number' } } })\n", 3000),
		strings.Repeat("x = a + b\n", 30000),
		"if (a) x()\n" + strings.Repeat("else if (b) y()\n", 400),
		"const r = /[(]+\\)/g; const s = '((((' + \"[[[[\" + `{{{{`;\n// ((((((\n/* [[[[[ */\n",
		"function f() { return /(a)/.test(x) }\nif (x) /(b)/.test(y)\n",
		"const s = `a ${ `b ${ `c ${d}` }` }`\n",
		strings.Repeat("(", 400) + "1" + strings.Repeat(")", 400),
		"const o = { a: 1, " + strings.Repeat("b: x + y + z, ", 20000) + "}\n",
	}
	for i, src := range ok {
		if err := scanSource(src); err != nil {
			t.Errorf("source %d refused: line %d: %s", i, err.line, err.msg)
		}
	}
	bad := []struct {
		src  string
		line int
		msg  string
	}{
		{"\n\nx = " + strings.Repeat("[", 501) + strings.Repeat("]", 501), 3, "nests deeper than 500"},
		{"\nx = 1" + strings.Repeat(" + 1", 10001), 2, "chain longer than 20000"},
		{"\n" + strings.Repeat("if (x)\n", 12000), 0, "chain longer than 20000"},
		// a string or comment does not hide what follows it
		{"'a' + \"b\" + `c` /* ' */ // `\nx = " + strings.Repeat("{a:", 600), 2, "nests deeper than 500"},
		{"x = /'/; y = " + strings.Repeat("[", 600), 1, "nests deeper than 500"},
	}
	for i, c := range bad {
		err := scanSource(c.src)
		if err == nil || !strings.Contains(err.msg, c.msg) || (c.line > 0 && err.line != c.line) {
			t.Errorf("source %d: %v", i, err)
		}
	}
}
