package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// cubegateBinary builds the real binary once for the tests of this file.
func cubegateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cubegate-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "cubegate")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Dir = pkgDir // tests may change the working directory
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// pkgDir is this package's folder.
var pkgDir string

func TestMain(m *testing.M) {
	var err error
	if pkgDir, err = os.Getwd(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runBinary runs the binary in dir with env added and returns its exit
// code and combined output; a process still running after the timeout
// is killed and reported as exit code -1.
func runBinary(t *testing.T, dir string, env []string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cubegateBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, out.String()
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		t.Fatal(err)
	}
	return 0, out.String()
}

// cleanEnv is the environment without CUBEGATE_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUBEGATE_") {
			out = append(out, kv)
		}
	}
	return out
}

// listenBusy holds a TCP port and returns its address.
func listenBusy(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s", url, within)
}

// The start-up error table: each bad configuration or environment makes
// the real binary exit 1 with one clear message naming the key, its value
// and where it was set (the file, the environment variable or the flag)
// — never a panic or a goroutine dump.
func TestStartupErrors(t *testing.T) {
	root := t.TempDir()
	model, err := filepath.Abs("../../testdata/oracle/model")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bad.pem"), []byte("not a certificate\n"), 0o644)

	// Another process holds a DuckDB file: a gateway serving it.
	locked := filepath.Join(root, "held.duckdb")
	holderHTTP := "127.0.0.1:" + freePort(t)
	holder := exec.Command(cubegateBinary(t), "serve", "--model-dir", model, "--warehouse-dsn", "duckdb://"+locked,
		"--state-dsn", "sqlite://"+filepath.Join(root, "holder.db"), "--sql-listen", "127.0.0.1:"+freePort(t),
		"--http-listen", holderHTTP, "--log-level", "warn")
	holder.Env = cleanEnv()
	var holderOut bytes.Buffer
	holder.Stdout, holder.Stderr = &holderOut, &holderOut
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	waitHTTP(t, "http://"+holderHTTP+"/livez", 30*time.Second)

	busySQL, busyHTTP := listenBusy(t), listenBusy(t)
	// base is a configuration that starts; each case changes one thing.
	base := func() map[string]any {
		return map[string]any{
			"sql":       map[string]any{"listen": "127.0.0.1:" + freePort(t)},
			"http":      map[string]any{"listen": "127.0.0.1:" + freePort(t)},
			"model":     map[string]any{"dir": model},
			"warehouse": map[string]any{"dsn": "duckdb::memory:"},
			"state":     map[string]any{"dsn": "sqlite://state.db"},
		}
	}
	set := func(m map[string]any, key string, v any) map[string]any {
		parts := strings.Split(key, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
		return m
	}
	cases := []struct {
		name string
		yaml string   // the file as written, when not from base
		key  string   // base with key set to value
		val  any      // …
		env  []string // added to the environment
		args []string // added to serve's arguments
		want []string // every one in the output
	}{
		{name: "busy SQL port", key: "sql.listen", val: busySQL,
			want: []string{`sql.listen "` + busySQL + `"`, "already in use", "set in c.yaml"}},
		{name: "busy HTTP port", key: "http.listen", val: busyHTTP,
			want: []string{`http.listen "` + busyHTTP + `"`, "already in use", "set in c.yaml"}},
		{name: "busy SQL port from the environment", env: []string{"CUBEGATE_SQL_LISTEN=" + busySQL},
			want: []string{`sql.listen "` + busySQL + `"`, "already in use", "from CUBEGATE_SQL_LISTEN"}},
		{name: "busy HTTP port from a flag", args: []string{"--http-listen", busyHTTP},
			want: []string{`http.listen "` + busyHTTP + `"`, "already in use", "from --http-listen"}},
		{name: "DuckDB file locked by another process", key: "warehouse.dsn", val: "duckdb://" + locked,
			want: []string{"warehouse.dsn", locked, "lock", "set in c.yaml"}},
		{name: "missing model dir", key: "model.dir", val: "no-such-model",
			want: []string{"model.dir", "no-such-model", "does not exist", "set in c.yaml"}},
		{name: "model dir is a file", key: "model.dir", val: "bad.pem",
			want: []string{"model.dir", "is a file, not a folder"}},
		{name: "missing TLS certificate", key: "sql.tls", val: map[string]any{"cert": "none.crt", "key": "none.key"},
			want: []string{"sql.tls.cert", "none.crt", "does not exist", "set in c.yaml"}},
		{name: "unreadable TLS certificate", key: "sql.tls", val: map[string]any{"cert": "bad.pem", "key": "bad.pem"},
			want: []string{"sql.tls.cert", "bad.pem", "PEM"}},
		{name: "TLS key without certificate", key: "sql.tls", val: map[string]any{"key": "bad.pem"},
			want: []string{`sql.tls.key "bad.pem"`, "needs sql.tls.cert", "set in c.yaml"}},
		{name: "bad duration", key: "sql.startup_timeout", val: "ten seconds",
			want: []string{"c.yaml", `sql.startup_timeout: "ten seconds" is not a duration`}},
		{name: "duration without a unit", key: "sql.drain_timeout", val: 30,
			want: []string{"c.yaml", "sql.drain_timeout", "give its unit"}},
		{name: "bad duration flag", args: []string{"--sql-statement-timeout", "soon"},
			want: []string{"sql-statement-timeout", "soon"}},
		{name: "unknown log level", key: "log.level", val: "loud",
			want: []string{`log.level "loud"`, "want debug, info, warn or error", "set in c.yaml"}},
		{name: "unknown log format", key: "log.format", val: "xml",
			want: []string{`log.format "xml"`, "want console or json"}},
		{name: "bad warehouse DSN scheme", key: "warehouse.dsn", val: "oracle://u:hunter2@db/x",
			want: []string{"warehouse.dsn", "unknown scheme", "set in c.yaml"}},
		{name: "bad state DSN scheme", key: "state.dsn", val: "redis://cache",
			want: []string{`state.dsn "redis://cache"`, "want sqlite://PATH"}},
		{name: "DuckDB folder missing", key: "warehouse.dsn", val: "duckdb://no/such/folder/w.duckdb",
			want: []string{"warehouse.dsn", "does not exist"}},
		{name: "bad listen address", key: "sql.listen", val: "15432",
			want: []string{`sql.listen "15432"`, "HOST:PORT"}},
		{name: "bad memory limit", key: "limits.memory_limit", val: "lots",
			want: []string{"limits.memory_limit", `"lots" is not a size`}},
		{name: "invalid YAML", yaml: "sql:\n  listen: [unclosed\n",
			want: []string{"configuration file c.yaml is not valid YAML", "line"}},
		{name: "unknown key", key: "sql.lisen", val: "127.0.0.1:1",
			want: []string{"c.yaml", "unknown keys in sql: lisen"}},
		{name: "unknown section", key: "warehuose.dsn", val: "duckdb::memory:",
			want: []string{"c.yaml: unknown keys: warehuose"}},
		{name: "missing config file", args: []string{"--config", "nope.yaml"},
			want: []string{"configuration file nope.yaml does not exist"}},
		{name: "data source without a name", key: "data_sources", val: []any{map[string]any{"model_dir": "m", "warehouse_dsn": "duckdb::memory:"}},
			want: []string{"data_sources[0].name", "needs a name", "set in c.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a certificate\n"), 0o644)
			text := c.yaml
			if text == "" {
				m := base()
				if c.key != "" {
					set(m, c.key, c.val)
				}
				b, err := yaml.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				text = string(b)
			}
			if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"serve", "--config", "c.yaml"}, c.args...)
			code, out := runBinary(t, dir, c.env, 60*time.Second, args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", code, out)
			}
			t.Logf("exit code 1: %s", out)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "hunter2"} {
				if strings.Contains(out, bad) {
					t.Errorf("output holds %q:\n%s", bad, out)
				}
			}
			if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines > 2 {
				t.Errorf("%d lines of output, want one clear message:\n%s", lines, out)
			}
		})
	}
}

// config.example.yaml runs as shipped from the repository root (only the
// ports and the state file moved aside, so that a running demo does not
// collide with the test).
func TestExampleConfigRuns(t *testing.T) {
	rootDir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(cubegateBinary(t), "serve", "--config", "config.example.yaml")
	cmd.Dir = rootDir
	cmd.Env = append(cleanEnv(), "CUBEGATE_SQL_LISTEN=127.0.0.1:"+freePort(t), "CUBEGATE_HTTP_LISTEN="+httpAddr,
		"CUBEGATE_STATE_DSN=sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("exited: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("not ready:\n%s", out.String())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "cubegate is ready") || !strings.Contains(out.String(), "cubes=4") {
		t.Fatalf("output:\n%s", out.String())
	}
	// Durations carry their unit.
	if !regexp.MustCompile(`startup=[0-9.]+(µs|ms|s)\b`).MatchString(out.String()) {
		t.Fatalf("the start-up duration has no unit:\n%s", out.String())
	}
	// The log is not coloured: stderr is not a terminal.
	if strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("ANSI colours in a log that is not a terminal:\n%q", out.String())
	}
}

// Paths in a configuration file — model.dir, duckdb:// and sqlite://
// files, TLS files, data_sources' model_dir and warehouse_dsn, and the
// defaults — resolve against the file's folder; the same keys given as
// environment variables or flags resolve against the working directory.
func TestConfigPathsRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	os.MkdirAll(sub, 0o755)
	writeCert(t, sub, "paths")
	copyModel(t, filepath.Join(sub, "model"))
	copyModel(t, filepath.Join(sub, "models", "acme"))
	sqlPort, httpPort := freePort(t), freePort(t)
	common := `sql:
  listen: 127.0.0.1:` + sqlPort + `
  tls: {cert: c.crt, key: ./c.key}
http:
  listen: 127.0.0.1:` + httpPort + `
warehouse:
  dsn: duckdb://w.duckdb
state:
  dsn: sqlite://state/s.db
data_sources:
  - name: acme
    tenant: default
    model_dir: models/acme
    warehouse_dsn: duckdb://acme.duckdb
`
	os.WriteFile(filepath.Join(sub, "serve.yaml"), []byte(common), 0o644)
	file := filepath.Join(sub, "c.yaml")
	os.WriteFile(file, []byte(common+`  - name: pg
    tenant: default
    model_dir: /abs/models
    warehouse_dsn: postgres://u@h/db
`), 0o644)
	// Loaded from another working directory, with a relative --config.
	t.Chdir(dir)
	cfg, err := loadConfig("etc/c.yaml", pflag.NewFlagSet("x", pflag.ContinueOnError))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"model.dir (default ./model)":  filepath.Join("etc", "model"),
		"sql.tls.cert":                 filepath.Join("etc", "c.crt"),
		"sql.tls.key":                  filepath.Join("etc", "c.key"),
		"warehouse.dsn":                "duckdb://" + filepath.Join("etc", "w.duckdb"),
		"state.dsn":                    "sqlite://" + filepath.Join("etc", "state", "s.db"),
		"data_sources[0].model_dir":    filepath.Join("etc", "models", "acme"),
		"data_sources[0].warehouse":    "duckdb://" + filepath.Join("etc", "acme.duckdb"),
		"data_sources[1].model_dir":    "/abs/models",
		"data_sources[1].warehouse":    "postgres://u@h/db",
		"state.dsn default, elsewhere": "",
	}
	got := map[string]string{
		"model.dir (default ./model)":  cfg.Model.Dir,
		"sql.tls.cert":                 cfg.SQL.TLS.Cert,
		"sql.tls.key":                  cfg.SQL.TLS.Key,
		"warehouse.dsn":                cfg.Warehouse.DSN,
		"state.dsn":                    cfg.State.DSN,
		"data_sources[0].model_dir":    cfg.DataSources[0].ModelDir,
		"data_sources[0].warehouse":    cfg.DataSources[0].WarehouseDSN,
		"data_sources[1].model_dir":    cfg.DataSources[1].ModelDir,
		"data_sources[1].warehouse":    cfg.DataSources[1].WarehouseDSN,
		"state.dsn default, elsewhere": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	// The defaults are relative to the file too.
	os.WriteFile(filepath.Join(sub, "d.yaml"), []byte("log:\n  level: warn\n"), 0o644)
	cfg, err = loadConfig("etc/d.yaml", pflag.NewFlagSet("x", pflag.ContinueOnError))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.DSN != "sqlite://"+filepath.Join("etc", ".cubegate", "state.db") || cfg.Model.Dir != filepath.Join("etc", "model") {
		t.Fatalf("defaults: state %s, model %s", cfg.State.DSN, cfg.Model.Dir)
	}
	// Environment variables and flags are relative to the working directory.
	t.Setenv("CUBEGATE_STATE_DSN", "sqlite://here.db")
	flags := pflag.NewFlagSet("x", pflag.ContinueOnError)
	addConfigFlags(flags)
	flags.Parse([]string{"--model-dir", "mine", "--warehouse-dsn", "duckdb://mine.duckdb"})
	cfg, err = loadConfig("etc/c.yaml", flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.DSN != "sqlite://here.db" || cfg.Model.Dir != "mine" || cfg.Warehouse.DSN != "duckdb://mine.duckdb" || cfg.SQL.TLS.Cert != filepath.Join("etc", "c.crt") {
		t.Fatalf("env and flags: %+v", cfg)
	}

	// The real binary, run from the temporary folder: the DuckDB files and
	// the state store are created beside the configuration file.
	os.Unsetenv("CUBEGATE_STATE_DSN")
	cmd := exec.Command(cubegateBinary(t), "serve", "--config", "etc/serve.yaml", "--log-level", "warn")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for _, f := range []string{"w.duckdb", "state/s.db", "acme.duckdb"} {
		for {
			if _, err := os.Stat(filepath.Join(sub, f)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not created beside the configuration file:\n%s", f, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// copyModel copies the oracle's model files into dir.
func copyModel(t *testing.T, dir string) {
	t.Helper()
	src := "../../testdata/oracle/model"
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every configuration key is a flag of serve and an environment variable,
// and config.example.yaml documents every key there is (and no other).
func TestEveryKeyIsAFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	var flatten func(prefix string, m map[string]any)
	flatten = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				flatten(prefix+k+".", sub)
				continue
			}
			documented = append(documented, prefix+k)
		}
	}
	flatten("", doc)
	var keys []string
	for _, k := range configKeys() {
		keys = append(keys, k.key)
		if !strings.Contains(help, "--"+flagName(k.key)+" ") {
			t.Errorf("serve --help lacks --%s", flagName(k.key))
		}
		if keyHelp[k.key] == "" {
			t.Errorf("%s has no flag help", k.key)
		}
	}
	keys = append(keys, "data_sources") // file-only
	sort.Strings(keys)
	sort.Strings(documented)
	if !reflect.DeepEqual(keys, documented) {
		t.Fatalf("config.example.yaml documents\n  %v\nthe keys are\n  %v", documented, keys)
	}
	// Each key as an environment variable.
	for _, k := range configKeys() {
		if k.key == "sql.listen" {
			t.Setenv(envName(k.key), "127.0.0.1:7")
		}
	}
	cfg, err := loadConfig("", pflag.NewFlagSet("x", pflag.ContinueOnError))
	if err != nil || cfg.SQL.Listen != "127.0.0.1:7" {
		t.Fatalf("%v %v", cfg.SQL.Listen, err)
	}
	t.Setenv("CUBEGATE_LIMITS_MEMORY_LIMIT", "2GiB")
	t.Setenv("CUBEGATE_SQL_TLS_REQUIRED", "true")
	t.Setenv("CUBEGATE_LIMITS_FAILED_LOGIN_WINDOW", "90s")
	cfg, err = loadConfig("", pflag.NewFlagSet("x", pflag.ContinueOnError))
	if err != nil || cfg.Limits.MemoryLimit != 2<<30 || !cfg.SQL.TLS.Required || cfg.Limits.FailedLoginWindow != 90*time.Second {
		t.Fatalf("%+v %v", cfg.Limits, err)
	}
}

// cubegate --version and cubegate version print the same version.
func TestVersionFlag(t *testing.T) {
	code, flagOut := runBinary(t, t.TempDir(), nil, 30*time.Second, "--version")
	code2, cmdOut := runBinary(t, t.TempDir(), nil, 30*time.Second, "version")
	if code != 0 || code2 != 0 || flagOut != cmdOut || !strings.HasPrefix(flagOut, "cubegate ") || !strings.Contains(flagOut, "go1.") {
		t.Fatalf("--version (%d) %q, version (%d) %q", code, flagOut, code2, cmdOut)
	}
}
