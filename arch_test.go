package cubegate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The package rules of docs/architecture.md, checked rather than hoped for:
// no package imports cmd; pgwire and cubes never import planner or httpapi;
// pgwire knows nothing of the model or the planner.
func TestPackageDependencies(t *testing.T) {
	const mod = "github.com/cubegate/cubegate/"
	rules := map[string][]string{
		"pgwire/...":    {"planner", "httpapi", "cubes", "auth", "warehouse", "cmd"},
		"cubes/...":     {"planner", "httpapi", "auth", "warehouse", "cmd"},
		"warehouse/...": {"planner", "httpapi", "cubes", "auth", "pgwire", "cmd"},
		"auth/...":      {"planner", "httpapi", "pgwire", "warehouse", "cmd"},
		"planner/...":   {"httpapi", "cmd"},
		"httpapi/...":   {"cmd"},
	}
	for pkg, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if strings.HasPrefix(dep, mod+b+"/") || dep == mod+b {
					if b == "cubes" && strings.HasPrefix(pkg, "cubes") {
						continue
					}
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
