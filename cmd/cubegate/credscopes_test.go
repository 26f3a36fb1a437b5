package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A credential's scopes over the CLI: create --scope (repeatable),
// update --scope replaces them, --scope= removes them; an unknown scope
// is refused and names the ones there are.
func TestCredentialsCLIScopes(t *testing.T) {
	dir := t.TempDir()
	state := "sqlite://" + filepath.Join(dir, "state.db")
	cli := func(args ...string) (map[string]any, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(append([]string{"credentials"}, args...), "--json", "--state-dsn", state,
			"--data-source-name", "sales"), &out, &errOut)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		return v, nil
	}
	scopes := func(v map[string]any) []string {
		var out []string
		if l, ok := v["scopes"].([]any); ok {
			for _, s := range l {
				out = append(out, s.(string))
			}
		}
		return out
	}
	created, err := cli("create", "--scope", "sql", "--scope", "audit:read")
	if err != nil {
		t.Fatal(err)
	}
	if got := scopes(created); !slices.Equal(got, []string{"audit:read", "sql"}) {
		t.Fatalf("created with scopes %v", got)
	}
	id := created["id"].(string)
	updated, err := cli("update", id, "--scope", "sql")
	if err != nil || !slices.Equal(scopes(updated), []string{"sql"}) {
		t.Fatalf("update --scope sql: %v %v", scopes(updated), err)
	}
	shown, err := cli("show", id)
	if err != nil || !slices.Equal(scopes(shown), []string{"sql"}) {
		t.Fatalf("show: %v %v", scopes(shown), err)
	}
	updated, err = cli("update", id, "--scope=")
	if err != nil || len(scopes(updated)) != 0 {
		t.Fatalf("update --scope=: %v %v", scopes(updated), err)
	}
	if _, err := cli("create", "--scope", "admin"); err == nil || !strings.Contains(err.Error(), "audit:read, sql") {
		t.Fatalf("create --scope admin: %v", err)
	}
}
