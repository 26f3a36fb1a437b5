package query

import (
	"testing"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cubes"
)

// Two principals whose contexts differ only by a claim never share a
// cached answer, even for the same SQL and arguments (a claim a cube's
// SQL reads is a bound argument too, so the arguments differ as well).
func TestCacheKeyClaims(t *testing.T) {
	st := Statement{SQL: "SELECT 1", Cache: &Cacheable{Source: "s", Model: &cubes.Model{}}}
	a, _ := auth.ParseSecurityContext(`{"customer_id": 3}`)
	b, _ := auth.ParseSecurityContext(`{"customer_id": 4}`)
	if cacheKey(Principal{Security: a}, st) == cacheKey(Principal{Security: b}, st) {
		t.Error("claims 3 and 4 share a cache key")
	}
}

// The query service hands the principal's claims to the compiler.
func TestCompilePassesClaims(t *testing.T) {
	m, err := cubes.LoadFiles(map[string][]byte{"m.yml": []byte(`cubes:
  - name: orders
    sql: SELECT * FROM t WHERE {SECURITY_CONTEXT.customer_id.filter('customer_id')}
    measures:
      - name: count
        type: count
`)})
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := auth.ParseSecurityContext(`{"customer_id": 3}`)
	s := &Service{}
	q := &cubes.Query{Measures: []string{"orders.count"}}
	c, err := s.Compile(Principal{Security: sec}, m, cubes.Postgres{}, q, cubes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Args) != 1 || c.Args[0] != int64(3) {
		t.Errorf("Compile: %s %v", c.SQL, c.Args)
	}
	pl, err := s.Plan(Principal{Security: sec}, "default", m, cubes.Postgres{}, q, cubes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Compiled.Args) != 1 || pl.Compiled.Args[0] != int64(3) {
		t.Errorf("Plan: %s %v", pl.Compiled.SQL, pl.Compiled.Args)
	}
}
