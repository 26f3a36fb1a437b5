package cubes

import (
	"strings"
	"testing"
)

// The model's client-facing fields are validated like the rest: each
// mistake named at its file and line.
func TestMetaFieldValidation(t *testing.T) {
	const head = "cubes:\n  - name: a\n    sql_table: t\n"
	cases := []struct{ name, src, want string }{
		{"measure format", head + "    measures:\n      - name: x\n        type: count\n        format: money\n", "m.yml:7: measure format: want percent, currency or number"},
		{"dimension format", head + "    dimensions:\n      - name: x\n        type: string\n        sql: x\n        format: url\n", "m.yml:8: dimension format \"url\""},
		{"format object", head + "    dimensions:\n      - name: x\n        type: string\n        sql: x\n        format:\n          type: image\n", "m.yml:9: dimension format: an object format must be {type: link"},
		{"meta not a map", head + "    meta: [1, 2]\n", "m.yml:4: meta must be a mapping"},
		{"drill member", head + "    measures:\n      - name: x\n        type: count\n        drill_members: [id, nope]\n    dimensions:\n      - name: id\n        type: number\n        sql: id\n", "m.yml:7: drill member \"nope\" of a.x"},
		{"drill segment", head + "    measures:\n      - name: x\n        type: count\n        drill_members: [s]\n    segments:\n      - name: s\n        sql: \"1=1\"\n", "a.s is a segment"},
		{"suggest", head + "    dimensions:\n      - name: x\n        type: string\n        sql: x\n        suggest_filter_values: maybe\n", "m.yml:8: expected true or false"},
		{"hierarchy level", head + "    dimensions:\n      - name: x\n        type: string\n        sql: x\n    hierarchies:\n      - name: h\n        levels: [x, y]\n", "m.yml:9: hierarchy a.h: level \"y\" is not a dimension of the cube"},
		{"folder member", head + "    measures:\n      - name: c\n        type: count\nviews:\n  - name: v\n    cubes:\n      - join_path: a\n        includes: [c]\n    folders:\n      - name: F\n        includes: [c, d]\n", "m.yml:14: view \"v\": folder \"F\" includes \"d\", which is not a member of the view"},
		{"include format", head + "    measures:\n      - name: c\n        type: count\nviews:\n  - name: v\n    cubes:\n      - join_path: a\n        includes:\n          - name: c\n            format: money\n", "m.yml:13: measure format: want percent, currency or number"},
	}
	for _, c := range cases {
		_, err := LoadFiles(map[string][]byte{"m.yml": []byte(c.src)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// public wins over shown, shown over the default (a primary key hidden
// unless public), as Cube's CubeToMetaTransformer reads them.
func TestVisibilityAsCube(t *testing.T) {
	m, err := LoadFiles(map[string][]byte{"m.yml": []byte(`cubes:
  - name: a
    sql_table: t
    shown: false
    public: true
    measures:
      - {name: p, type: count, public: true, shown: false}
      - {name: s, type: count, shown: false}
    dimensions:
      - {name: id, type: number, sql: id, primary_key: true}
      - {name: pid, type: number, sql: id, primary_key: true, shown: true}
    segments:
      - {name: g, sql: "1=1", shown: false}
`)})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Cube("a")
	got := []bool{a.Public, a.Measures[0].Public, a.Measures[1].Public, a.Dimensions[0].Public, a.Dimensions[1].Public, a.Segments[0].Public}
	want := []bool{true, true, false, false, true, false}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("visibility %v, want %v", got, want)
		}
	}
}
