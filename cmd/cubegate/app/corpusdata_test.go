package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusData replays the corpus kit's data queries (not those over
// cubes of other fixtures) through the gateway on PostgreSQL.
func TestCorpusData(t *testing.T) {
	env := startCorpus(t)
	cmd := exec.Command("bash", filepath.Join(corpusDir, "cube-tests", "run.sh"), env.gateway,
		filepath.Join(corpusDir, "cube-tests", "queries.jsonl"), "--kind", "data", "--skip-tag", "outside-model", "--jobs", "2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, stderr.String())
	}
	if p := os.Getenv("CORPUS_OUT"); p != "" {
		os.WriteFile(p, out, 0o644)
	}
	t.Log("\n" + stderr.String())
}
