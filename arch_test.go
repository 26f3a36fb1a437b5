package cubegate_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The package rules of docs/architecture.md, checked rather than hoped for:
// no package imports cmd; pgwire and cubes never import planner or httpapi;
// pgwire knows nothing of the model or the planner; the catalog never
// imports the planner; httpapi reaches the planner through no import (its
// policy is auth's); the query service (query) sits under both APIs and
// imports neither. pgwire/pgerr (SQLSTATE errors) and postgres
// (PostgreSQL's type facts and time zones) are leaves every layer may use.
func TestPackageDependencies(t *testing.T) {
	const mod = "github.com/cubegate/cubegate/"
	rules := map[string][]string{
		"pgwire/...":    {"planner", "httpapi", "cubes", "auth", "warehouse", "query", "postgres/pgnames", "cmd"},
		"pgwire/pgerr":  {"pgwire", "planner", "httpapi", "cubes", "auth", "warehouse", "cmd"},
		"cubes/...":     {"pgwire", "planner", "httpapi", "auth", "warehouse", "query", "postgres/pgnames", "cmd"},
		"warehouse/...": {"planner", "httpapi", "cubes", "auth", "pgwire", "query", "cmd"},
		"auth/...":      {"planner", "httpapi", "pgwire", "warehouse", "query", "cmd"},
		"catalog/...":   {"planner", "httpapi", "auth", "warehouse", "query", "cmd"},
		"planner/...":   {"httpapi", "cmd"},
		// The push-down reads a session through its own interface.
		"planner/pushdown/...": {"planner", "httpapi", "pgwire", "auth", "warehouse", "query", "catalog", "cmd"},
		"httpapi/...":          {"planner", "cmd"},
		"query/...":            {"planner", "httpapi", "pgwire", "cmd"},
		// PostgreSQL's facts are leaves; pgnames reads parse trees (cgo),
		// which pgwire and the compiler never link.
		"postgres/...": {"pgwire", "planner", "httpapi", "cubes", "auth", "warehouse", "query", "catalog", "cmd"},
	}
	leaves := []string{mod + "pgwire/pgerr", mod + "postgres"}
	for pkg, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		self := mod + strings.TrimSuffix(pkg, "/...")
		for _, dep := range strings.Fields(string(out)) {
			if dep == self || strings.HasPrefix(dep, self+"/") || slices.Contains(leaves, dep) && dep != self {
				continue
			}
			for _, b := range banned {
				if strings.HasPrefix(dep, mod+b+"/") || dep == mod+b {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
