package app

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
)

// The per-context cache: one compile per context however many ask at
// once, the least recently used context dropped past the bound, a model
// without COMPILE_CONTEXT never compiled again, and a reload dropping
// everything.
func TestModelContextsCache(t *testing.T) {
	dir := t.TempDir()
	write := func(src string) {
		if err := os.WriteFile(filepath.Join(dir, "m.yml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cubes:\n  - name: o\n    sql_table: \"{{ COMPILE_CONTEXT.securityContext.s }}.o\"\n")
	spec := DataSourceSpec{Name: "db", Tenant: "default", ModelDir: dir}
	var r modelContexts
	base, err := r.load(zerolog.Nop(), spec)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(i int) auth.SecurityContext {
		sc, err := auth.ParseSecurityContext(fmt.Sprintf(`{"s": "t%d"}`, i))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	table := func(i int) string {
		m, err := r.modelFor("db", base, "", sec(i))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := m.Cube("o")
		return c.SQLTable
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); table(0) }()
	}
	wg.Wait()
	if n := r.compiles.Load(); n != 1 {
		t.Fatalf("8 concurrent first uses of a context: %d compiles", n)
	}
	if m, _ := r.modelFor("db", base, "", auth.SecurityContext{}); m != base {
		t.Fatal("the base context is the loaded model")
	}
	for i := 0; i <= compileContextCacheSize; i++ {
		if got, want := table(i), fmt.Sprintf("t%d.o", i); got != want {
			t.Fatalf("context %d: %s", i, got)
		}
	}
	// 65 contexts seen, 64 kept: context 0 (least recently used) went.
	n := r.compiles.Load()
	table(compileContextCacheSize)
	if r.compiles.Load() != n {
		t.Fatal("the most recent context compiled again")
	}
	table(0)
	if r.compiles.Load() != n+1 {
		t.Fatal("the evicted context was not compiled again")
	}
	// A reload drops the cache; a model without COMPILE_CONTEXT has none.
	base, err = r.load(zerolog.Nop(), spec)
	if err != nil {
		t.Fatal(err)
	}
	table(compileContextCacheSize)
	if r.compiles.Load() != n+2 {
		t.Fatal("a reload kept the compiled contexts")
	}
	write("cubes:\n  - name: o\n    sql_table: o\n")
	base, err = r.load(zerolog.Nop(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if table(1) != "o" || r.compiles.Load() != n+2 || r.get("db") != nil {
		t.Fatal("a model without COMPILE_CONTEXT is compiled per context")
	}
}
