package cubes

import (
	"errors"
	"testing"
)

// A load that spent its budget is errors.Is ErrBudget (it may pass
// another time); a model that is invalid is not.
func TestLoadErrBudget(t *testing.T) {
	for _, tc := range []struct {
		name, file, src string
		budget          bool
	}{
		{"javascript timeout", "m.js", "for (;;) {}\ncube(`o`, { sql_table: `o` });\n", true},
		{"jinja limit", "m.yml", "{% for i in range(100000000) %}{% endfor %}cubes:\n  - name: o\n    sql_table: o\n", true},
		{"javascript error", "m.js", "cube(`o`, { sql_table: 1, nope: true });\n", false},
		{"yaml error", "m.yml", "cubes:\n  - name: o\n    nope: 1\n", false},
	} {
		_, err := LoadFiles(map[string][]byte{tc.file: []byte(tc.src)})
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		if got := errors.Is(err, ErrBudget); got != tc.budget {
			t.Errorf("%s: errors.Is(%q, ErrBudget) = %v", tc.name, err, got)
		}
	}
}
