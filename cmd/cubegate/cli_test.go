package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestCredentialsCreateJSON(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"credentials", "create", "--json", "--label", "bi",
		"--state-dsn", "sqlite://" + filepath.Join(dir, "state.db"), "--sql-listen", "0.0.0.0:25432", "--data-source-name", "sales", "--database", "sales"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	got := map[string]string{}
	for k, v := range raw {
		got[k], _ = v.(string)
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"id", "username", "password", "host", "port", "database", "connection_string"} {
		if got[k] == "" {
			t.Errorf("missing %q in %s", k, out.String())
		}
	}
	if got["host"] != "127.0.0.1" || got["port"] != "25432" || got["database"] != "sales" ||
		got["connection_string"] != "postgresql://"+got["username"]+":"+got["password"]+"@127.0.0.1:25432/sales" {
		t.Fatalf("got %v", got)
	}
	// The state store holds no password.
	b, _ := os.ReadFile(filepath.Join(dir, "state.db"))
	if bytes.Contains(b, []byte(got["password"])) {
		t.Fatal("the password is in the state store")
	}
}

// Precedence: file < CUBEGATE_* environment < flags.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("sql:\n  listen: 127.0.0.1:1111\nhttp:\n  listen: 127.0.0.1:2222\nlog:\n  level: debug\nmodel:\n  dir: m\n"), 0o644)
	t.Setenv("CUBEGATE_HTTP_LISTEN", "127.0.0.1:3333")
	t.Setenv("CUBEGATE_LOG_LEVEL", "warn")
	flags := pflag.NewFlagSet("x", pflag.ContinueOnError)
	flags.String("log-level", "info", "")
	flags.String("model-dir", "", "")
	if err := flags.Parse([]string{"--log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file, flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SQL.Listen != "127.0.0.1:1111" || cfg.HTTP.Listen != "127.0.0.1:3333" || cfg.Log.Level != "error" {
		t.Fatalf("got %+v", cfg)
	}
	if cfg.Model.Dir != filepath.Join(dir, "m") {
		t.Fatalf("model.dir %q is not relative to the config file", cfg.Model.Dir)
	}
	// Defaults are relative to the configuration file too.
	if cfg.State.DSN != "sqlite://"+filepath.Join(dir, ".cubegate", "state.db") || cfg.DataSource.Name != "db" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestVersionAndModelValidate(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "cubegate ") {
		t.Fatalf("%v %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"model", "validate", "../../testdata/oracle/model"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "4 cubes and views") {
		t.Fatalf("%v %q", err, out.String())
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("cubes:\n  - name: a\n    sql_table: t\n    measures:\n      - name: x\n        type: nope\n"), 0o644)
	err := run(context.Background(), []string{"model", "validate", dir}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "bad.yml:5") {
		t.Fatalf("err = %v", err)
	}
}
