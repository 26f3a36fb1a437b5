package jsmodel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hangGuard bounds how long a refusal may take: not a timing test, a
// guard against a hang (the budgets are 1 s).
const hangGuard = 5 * time.Second

// Each attempt to leave the sandbox or to exhaust the machine is refused
// with an error naming the file and line and why, quickly.
func TestSandbox(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"infinite loop", "\nlet i = 0;\nwhile (true) { i++; }\n", []string{"m.js:3: ", "longer than 1s, the time budget of a model load"}},
		{"infinite loop in a sql function", "cube('a', {\n  sql: () => { for (;;) {} },\n});\n", []string{"m.js:2: ", "time budget"}},
		{"infinite recursion", "\nfunction f() { return f() + 1; }\nf();\n", []string{"m.js:2: ", "RangeError: Maximum call stack size exceeded"}},
		// The heap or the time budget, whichever a busy machine spends
		// first (TestBudgetOptions checks the heap's alone).
		{"unbounded allocation", "const a = [];\nwhile (true) a.push(new Array(1e6).fill(1));\n", []string{"m.js", "budget"}},
		{"giant repeat", "\nconst s = 'x'.repeat(1e10);\n", []string{"m.js:2: RangeError: String.prototype.repeat: ", "more than a model may allocate at once (4194304)"}},
		{"giant padStart", "\n'x'.padStart(2e9, 'y');\n", []string{"m.js:2: RangeError: String.prototype.padStart"}},
		{"giant padEnd", "\n'x'.padEnd(2e9);\n", []string{"m.js:2: RangeError: String.prototype.padEnd"}},
		{"giant concat", "\nlet s = 'x'.repeat(3e6);\ns.concat(s, s);\n", []string{"m.js:3: RangeError: String.prototype.concat: 9000000 is more than a model may allocate at once"}},
		{"giant array", "\nnew Array(4e9 - 1);\n", []string{"m.js:2: RangeError: Array: "}},
		{"giant array without new", "\nArray(3e9);\n", []string{"m.js:2: RangeError: Array: "}},
		{"giant fill", "const a = [];\na.length = 4e9;\na.fill(0);\n", []string{"m.js:3: RangeError: Array.prototype.fill"}},
		{"giant Array.from", "\nArray.from({ length: 1e10 });\n", []string{"m.js:2: RangeError: Array.from"}},
		{"giant join", "\nlet s = ['x'.repeat(1e5)];\nfor (let i = 0; i < 40; i++) s = [s, s];\nString(s);\n", []string{"m.js:", "RangeError: Array.prototype.join"}},
		{"giant JSON", "\nlet s = ['x'.repeat(1e5)];\nfor (let i = 0; i < 40; i++) s = [s, s];\nJSON.stringify(s);\n", []string{"m.js:", "RangeError: JSON.stringify"}},
		{"typed arrays", "\nnew Uint8Array(1e10);\n", []string{"m.js:2: Error: models cannot use Uint8Array"}},
		{"require out of the folder", "\nrequire('../../etc/passwd');\n", []string{"m.js:2: Error: require('../../etc/passwd'): the path leads out of the model folder"}},
		{"require an absolute path", "\nrequire('/etc/passwd');\n", []string{"m.js:2: Error: require('/etc/passwd'): an absolute path"}},
		{"require http", "\nconst http = require('http');\n", []string{"m.js:2: Error: require('http'): Node modules are not available to models"}},
		{"require fs", "\nrequire('fs').readFileSync('/etc/passwd');\n", []string{"m.js:2: Error: require('fs'): Node modules"}},
		{"require child_process", "\nrequire('child_process').execSync('id');\n", []string{"m.js:2: Error: require('child_process'): Node modules"}},
		{"require a package", "\nconst axios = require('axios');\n", []string{"m.js:2: Error: require('axios'): packages are not available to models"}},
		{"require node:", "\nrequire('node:fs');\n", []string{"m.js:2: Error: require('node:fs'): Node modules"}},
		{"fetch", "\nfetch('https://example.com/secrets');\n", []string{"m.js:2: Error: models cannot use fetch (network/process access is not available to models)"}},
		{"XMLHttpRequest", "\nnew XMLHttpRequest();\n", []string{"m.js:2: Error: models cannot use XMLHttpRequest"}},
		{"process", "\nconst env = process.env;\n", []string{"m.js:2: Error: models cannot read process"}},
		{"setTimeout", "\nsetTimeout(() => {}, 10);\n", []string{"m.js:2: Error: models cannot use setTimeout"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			// 4 MiB per allocation keeps the refusals of join and
			// JSON.stringify (which write up to the limit first) quick.
			_, err := evalFiles(t, map[string]string{"m.js": c.src, "data.json": "{}"}, Options{MaxAlloc: 4 << 20})
			if d := time.Since(start); d > hangGuard {
				t.Errorf("took %v", d)
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Source maps are never read from disk: goja would follow a
// sourceMappingURL comment to a file, in a model file (eval, which
// could carry one too, is not available).
func TestNoSourceMapFileAccess(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.map")
	if err := os.WriteFile(secret, []byte(`{"version":3,"sources":["SECRET"],"mappings":"AAAA"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "cube('a', { sqlTable: 't' });\n//# sourceMappingURL=" + secret + "\n"
	docs, err := evalFiles(t, map[string]string{"m.js": src}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("docs %v", docs)
	}
	// Reading the map would make an error's stack name SECRET.
	_, err = evalFiles(t, map[string]string{"m.js": "\n\nnull.x;\n//# sourceMappingURL=" + secret + "\n"}, Options{})
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "m.js:3") {
		t.Fatalf("error %v", err)
	}
}

// A built-in that loops natively does not see the interrupt: Eval gives
// up on it after a grace period rather than hang.
func TestNativeLoopGivesUp(t *testing.T) {
	start := time.Now()
	_, err := evalFiles(t, map[string]string{"m.js": "\nArray.prototype.indexOf.call({ length: 6e7 }, 1);\nwhile (true) {}\n"},
		Options{Timeout: 50 * time.Millisecond})
	if d := time.Since(start); d > hangGuard {
		t.Errorf("took %v", d)
	}
	if err == nil || !strings.Contains(err.Error(), "m.js") || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("error %v", err)
	}
	t.Log(err)
}

// The budgets are options.
func TestBudgetOptions(t *testing.T) {
	_, err := evalFiles(t, map[string]string{"m.js": "\n'x'.repeat(2000);\n"}, Options{MaxAlloc: 1000})
	if err == nil || !strings.Contains(err.Error(), "(1000)") {
		t.Fatalf("MaxAlloc: %v", err)
	}
	start := time.Now()
	_, err = evalFiles(t, map[string]string{"m.js": "for (;;) {}\n"}, Options{Timeout: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "longer than 20ms") || time.Since(start) > hangGuard {
		t.Fatalf("Timeout: %v", err)
	}
	// The heap watchdog (with the default 1 s budget a busy machine may
	// spend the time first; either is a clear refusal).
	for _, src := range []string{
		"const a = [];\nfor (;;) a.push('y'.repeat(1000) + a.length);\n",
		"const a = [];\nwhile (true) a.push(new Array(1e6).fill(1));\n",
	} {
		_, err = evalFiles(t, map[string]string{"m.js": src}, Options{MaxHeapGrowth: 32 << 20, Timeout: 20 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "m.js:2: evaluation grew the heap by more than 32 MiB, the memory budget of a model load") {
			t.Fatalf("MaxHeapGrowth: %v", err)
		}
	}
}

// The size-checked concat is still concat.
func TestConcatStillWorks(t *testing.T) {
	docs, err := evalFiles(t, map[string]string{"m.js": "cube('a', { sqlTable: 'pub'.concat('lic.', 't', 1, ['x', 'y']) });\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if y := yamlOf(t, docs); !strings.Contains(y, "sql_table: public.t1x,y") {
		t.Fatalf("yaml:\n%s", y)
	}
}
