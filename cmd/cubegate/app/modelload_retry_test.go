package app

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
)

// A compile that failed for its budget (a JavaScript model's timeout
// here; under load, another goroutine's allocations) is not the model's
// last word for the context: past a backoff, the context's next request
// compiles again, and a context the model is invalid for stays refused
// without compiling again.
func TestModelContextsRetryBudgetFailure(t *testing.T) {
	old := contextRetryBackoff
	contextRetryBackoff = 300 * time.Millisecond
	defer func() { contextRetryBackoff = old }()
	dir := t.TempDir()
	const model = "const s = COMPILE_CONTEXT.securityContext.s;\n" +
		"if (s === 'slow' && SLOW) { for (;;) {} }\n" +
		"if (s === 'bad') { cube(`o`, { sql_table: 1, nope: true }); } else { cube(`o`, { sql_table: `${s}.o` }); }\n"
	write := func(slow bool) {
		src := "const SLOW = false;\n" + model
		if slow {
			src = "const SLOW = true;\n" + model
		}
		if err := os.WriteFile(filepath.Join(dir, "m.js"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(true)
	var r modelContexts
	base, err := r.load(zerolog.Nop(), DataSourceSpec{Name: "db", Tenant: "default", ModelDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sec := func(s string) auth.SecurityContext {
		sc, err := auth.ParseSecurityContext(`{"s": "` + s + `"}`)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	get := func(s string) (*cubes.Model, error) { return r.modelFor("db", base, "", sec(s)) }

	_, err = get("slow")
	if !errors.Is(err, cubes.ErrBudget) {
		t.Fatalf("an endless loop: %v, want a budget failure", err)
	}
	_, err = get("bad")
	if err == nil || errors.Is(err, cubes.ErrBudget) {
		t.Fatalf("an invalid cube: %v, want a validation error", err)
	}
	if n := r.compiles.Load(); n != 2 {
		t.Fatalf("%d compiles", n)
	}
	// What made the compile fail is gone (here: the files the contexts
	// compile from no longer loop; under load: the other allocations).
	write(false)
	files, err := cubes.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.get("db").files = files
	// Within the backoff: the failure stands, nothing is compiled.
	if _, err := get("slow"); !errors.Is(err, cubes.ErrBudget) || r.compiles.Load() != 2 {
		t.Fatalf("within the backoff: %v, %d compiles", err, r.compiles.Load())
	}
	time.Sleep(contextRetryBackoff + 50*time.Millisecond)
	m, err := get("slow")
	if err != nil {
		t.Fatalf("past the backoff: %v", err)
	}
	if c, _ := m.Cube("o"); c == nil || c.SQLTable != "slow.o" {
		t.Fatalf("past the backoff: %v", c)
	}
	if r.compiles.Load() != 3 {
		t.Fatalf("past the backoff: %d compiles, want 3", r.compiles.Load())
	}
	// The compiled model is kept; the invalid context is not compiled again.
	get("slow")
	if _, err := get("bad"); err == nil || r.compiles.Load() != 3 {
		t.Fatalf("invalid context: %v, %d compiles", err, r.compiles.Load())
	}
}
