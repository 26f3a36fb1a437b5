package jsmodel

import (
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// evalFiles evaluates every .js file of files.
func evalFiles(t *testing.T, files map[string]string, opts Options) ([]Doc, error) {
	t.Helper()
	m := map[string][]byte{}
	var entry []string
	for n, s := range files {
		m[n] = []byte(s)
		if strings.HasSuffix(n, ".js") {
			entry = append(entry, n)
		}
	}
	sort.Strings(entry)
	return Eval(m, entry, opts)
}

// yamlOf is the YAML text of docs, each after a "# file" line.
func yamlOf(t *testing.T, docs []Doc) string {
	t.Helper()
	var b strings.Builder
	for _, d := range docs {
		out, err := yaml.Marshal(d.Root)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("# " + d.File + "\n" + string(out))
	}
	return b.String()
}
