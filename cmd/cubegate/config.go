package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
)

// Every configuration key is a leaf of app.Config: each is a file key, a
// CUBEGATE_* environment variable and a flag (dots and underscores become
// dashes: sql.tls.cert is --sql-tls-cert). Only data_sources, a list, is
// file-only.

// configKey is one configuration key.
type configKey struct {
	key  string // sql.tls.cert
	kind reflect.Type
	def  any // its default, typed
}

// keyHelp is each key's flag help (config.example.yaml says more).
var keyHelp = map[string]string{
	"sql.listen":                      "address of the PostgreSQL wire-protocol listener",
	"sql.max_connections":             "authenticated SQL sessions at most (past it, 53300)",
	"sql.startup_timeout":             "time from accept to a finished login",
	"sql.statement_timeout":           "default statement_timeout of every session (0: none)",
	"sql.idle_in_transaction_timeout": "end a session idle in a transaction block this long (0: never)",
	"sql.drain_timeout":               "on SIGTERM, how long running statements may finish",
	"sql.max_message_size":            "largest message an authenticated client may send, in bytes",
	"sql.max_statement_timeout":       "ceiling on every session's statement_timeout that SET cannot lift (0: sql.statement_timeout)",
	"sql.message_memory":              "memory all sessions' large messages may hold at once (0: a quarter of limits.memory_limit, else 256MiB)",
	"sql.max_sessions_per_credential": "SQL sessions one credential may hold (0: half of max_connections; past it, 53300)",
	"sql.max_sessions_per_tenant":     "SQL sessions one tenant may hold (0: three quarters of max_connections; past it, 53300)",
	"sql.tls.cert":                    "PEM certificate file of the SQL listener (with --sql-tls-key)",
	"sql.tls.key":                     "PEM key file of the SQL listener",
	"sql.tls.required":                "refuse SQL logins without TLS",
	"sql.auth.allow_cleartext":        "over TLS only: cleartext passwords for clients without SCRAM",
	"http.listen":                     "address of the HTTP listener",
	"http.read_timeout":               "bound on reading a whole HTTP request",
	"http.idle_timeout":               "keep-alive HTTP connections idle this long are closed",
	"http.write_timeout":              "bound on each write of an HTTP answer (progress, not length)",
	"console.enabled":                 "serve the web console at /console on the HTTP listener",
	"console.public_host":             "the SQL listener's host (or host:port) the console's connection strings name (default: the host the browser used)",
	"console.idle_timeout":            "a console session unused this long ends",
	"console.session_lifetime":        "a console session ends this long after sign-in",
	"console.trust_forwarded_proto":   "believe X-Forwarded-Proto: https from a TLS-terminating proxy (Secure cookies)",
	"model.dir":                       "folder of Cube YAML model files",
	"model.watch":                     "reload the model when a file in model.dir changes",
	"warehouse.dsn":                   "warehouse: duckdb:///file.duckdb, duckdb::memory: or postgres://…",
	"state.dsn":                       "state store: sqlite://PATH, sqlite::memory: or postgres://…",
	"audit.retention":                 "audit events older than this are deleted (0: kept forever)",
	"audit.fail_closed":               "refuse new queries (53100 for a full disk, else 58030; HTTP 503) and credential, key and tenant changes while the audit log cannot be written",
	"data_source.name":                "database name SQL clients connect to",
	"data_source.tenant":              "tenant owning the default data source",
	"log.level":                       "debug, info, warn or error",
	"log.format":                      "console or json",
	"api_keys.limit":                  "live API keys a tenant may hold",
	"rest.default_limit":              "rows of a /load query without a limit",
	"cache.enabled":                   "keep query answers in memory, each fresh for its cubes' refresh_key (default every 10 s)",
	"cache.max_bytes":                 "memory the result cache may hold, e.g. 256MiB (least recently used answers go first)",
	"preagg.enabled":                  "build the models' pre_aggregations (rollups) and answer the queries they cover from them",
	"preagg.dir":                      "folder of the rollup store (a DuckDB file); unset: beside a SQLite state store, else in memory",
	"preagg.max_bytes":                "size of the rollups kept, e.g. 4GiB (least used dropped first, rebuilt when next due)",
	"preagg.memory_limit":             "the rollup store's DuckDB memory limit, e.g. 256MiB",
	"preagg.warehouse_schema":         "the warehouse schema where rollups with external: false are built, shared by every gateway",
	"rest.max_limit":                  "largest explicit /load limit",
	"rest.max_filter_values":          "most filter values one /load query may hold",
	"rest.websocket.max_connections":  "WebSocket connections (Cube's ws-transport) open at once; 503 past it",
	"rest.websocket.max_message_size": "largest WebSocket message, e.g. 1MiB; past it the connection closes with 1009",
	"rest.websocket.max_in_flight":    "messages of one WebSocket connection run at once (the others wait)",
	"rest.websocket.idle_timeout":     "a WebSocket connection with nothing running or received for this long is closed",
	"limits.requests_per_second":      "each tenant's requests and statements per second (0: unlimited)",
	"limits.burst":                    "each tenant's burst above the rate",
	"limits.max_concurrent_queries":   "queries a tenant may run at once (0: unlimited)",
	"limits.failed_login_window":      "window of the failed-login counters",
	"limits.failed_logins_slow":       "failed logins in the window (per address, and per target user) before each attempt waits",
	"limits.failed_logins_block":      "failed logins in the window before an address is refused",
	"limits.memory_limit":             "the whole process's memory target, e.g. 2GiB (0: GOMEMLIMIT, Go's alone, or none)",
	"limits.statement_rows":           "rows one statement cubegate evaluates itself may materialize (54000 past it)",
	"limits.statement_memory":         "memory one statement cubegate evaluates itself may hold (53200 past it)",
	"limits.value_size":               "largest text or array one function may build (54000 past it)",
	"limits.statement_time":           "time one statement cubegate evaluates itself may take (57014 past it)",
	"limits.temp_memory":              "memory a session's temporary tables may hold together (53200 past it)",
	"limits.evaluator_memory":         "memory shared by all statements evaluated at once (0: half of memory_limit, else 2GiB)",
	"limits.max_prepared_statements":  "prepared statements one SQL session may hold (0: 10000; past it, 54000)",
	"limits.max_cursors":              "open portals and cursors one SQL session may hold (0: 1000; past it, 54000)",
	"limits.principal_connections":    "pooled warehouse connections one credential or API key holds at once (0: half the pool, at least 1)",
}

// fileOnlyKeys are keys that are not flags or environment variables.
var fileOnlyKeys = map[string]bool{"data_sources": true}

var byteSizeType = reflect.TypeOf(app.ByteSize(0))

// configKeys lists every key of app.Config with its default.
func configKeys() []configKey {
	var out []configKey
	var walk func(prefix string, t reflect.Type, v reflect.Value)
	walk = func(prefix string, t reflect.Type, v reflect.Value) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			if fileOnlyKeys[key] {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(key+".", f.Type, v.Field(i))
				continue
			}
			out = append(out, configKey{key: key, kind: f.Type, def: v.Field(i).Interface()})
		}
	}
	def := app.Defaults()
	walk("", reflect.TypeOf(def), reflect.ValueOf(def))
	return out
}

// flagName is a key's flag: sql.tls.cert → sql-tls-cert.
func flagName(key string) string { return strings.NewReplacer(".", "-", "_", "-").Replace(key) }

// envName is a key's environment variable: sql.tls.cert → CUBEGATE_SQL_TLS_CERT.
func envName(key string) string {
	return "CUBEGATE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// addConfigFlags adds a flag per configuration key.
func addConfigFlags(fs *pflag.FlagSet) {
	for _, k := range configKeys() {
		name, help := flagName(k.key), keyHelp[k.key]
		if help == "" {
			help = "see config.example.yaml"
		}
		help += " (" + k.key + ")"
		switch d := k.def.(type) {
		case string:
			fs.String(name, d, help)
		case bool:
			fs.Bool(name, d, help)
		case int:
			fs.Int(name, d, help)
		case float64:
			fs.Float64(name, d, help)
		case time.Duration:
			fs.Duration(name, d, help)
		case app.ByteSize:
			fs.String(name, d.String(), help)
		default:
			panic(fmt.Sprintf("configuration key %s: no flag for %T", k.key, k.def))
		}
	}
}

// loaded is a configuration and where it came from.
type loaded struct {
	file   string // the configuration file, "" for none
	origin map[string]string
}

// where says where a key's value came from, for error messages.
func (l *loaded) where(key string) string {
	if l == nil {
		return ""
	}
	if o, ok := l.origin[key]; ok {
		return o
	}
	if i := strings.IndexByte(key, '['); i > 0 && l.file != "" {
		return "set in " + l.file // data_sources[i].…
	}
	return ""
}

// annotate adds to a *app.SettingError where its value came from.
func (l *loaded) annotate(err error) error {
	var se *app.SettingError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	if w := l.where(se.Key); w != "" && w != "the default" {
		return fmt.Errorf("%w (%s)", err, w)
	}
	return err
}

// defaultConfigFile is the configuration read without --config: the file
// CUBEGATE_CONFIG names, else ./cubegate.yaml when there is one (the demo
// writes one into its folder, so management commands run there find the
// demo's state).
func defaultConfigFile() string {
	if f := os.Getenv("CUBEGATE_CONFIG"); f != "" {
		return f
	}
	if fi, err := os.Stat("cubegate.yaml"); err == nil && fi.Mode().IsRegular() {
		return "cubegate.yaml"
	}
	return ""
}

// loadConfig reads the file, then CUBEGATE_* variables, then flags: each
// overrides the one before. Paths set in the file — and defaults, when
// there is a file — are relative to the file's folder; paths given as
// flags or environment variables are relative to the working directory.
func loadConfig(file string, flags *pflag.FlagSet) (app.Config, error) {
	cfg, _, err := loadConfigFrom(file, flags)
	return cfg, err
}

func loadConfigFrom(file string, flags *pflag.FlagSet) (app.Config, *loaded, error) {
	v := viper.New()
	def := app.Defaults()
	keys := configKeys()
	l := &loaded{file: file, origin: map[string]string{}}
	for _, k := range keys {
		v.SetDefault(k.key, k.def)
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			var nf viper.ConfigFileNotFoundError
			switch {
			case errors.As(err, &nf), errors.Is(err, os.ErrNotExist):
				return def, l, fmt.Errorf("configuration file %s does not exist", file)
			case errors.Is(err, os.ErrPermission):
				return def, l, fmt.Errorf("configuration file %s cannot be read (permission denied)", file)
			}
			return def, l, fmt.Errorf("configuration file %s is not valid YAML: %s", file, strings.TrimPrefix(err.Error(), "While parsing config: "))
		}
	}
	v.SetEnvPrefix("CUBEGATE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	fromFlag := map[string]bool{}
	for _, k := range keys {
		switch f := flags.Lookup(flagName(k.key)); {
		case f != nil && f.Changed:
			v.Set(k.key, f.Value.String())
			l.origin[k.key] = "from --" + f.Name
			fromFlag[k.key] = true
		case os.Getenv(envName(k.key)) != "":
			l.origin[k.key] = "from " + envName(k.key)
			fromFlag[k.key] = true
		case file != "" && v.InConfig(k.key):
			l.origin[k.key] = "set in " + file
		default:
			l.origin[k.key] = "the default"
		}
	}
	var cfg app.Config
	hook := viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(durationHook, byteSizeHook, mapstructure.StringToSliceHookFunc(",")))
	if err := v.UnmarshalExact(&cfg, hook); err != nil {
		return def, l, configDecodeError(file, err)
	}
	if file != "" {
		base := filepath.Dir(file)
		rel := func(key string, p *string, resolve func(base, s string) string) {
			if !fromFlag[key] {
				*p = resolve(base, *p)
			}
		}
		rel("model.dir", &cfg.Model.Dir, joinPath)
		rel("sql.tls.cert", &cfg.SQL.TLS.Cert, joinPath)
		rel("sql.tls.key", &cfg.SQL.TLS.Key, joinPath)
		rel("warehouse.dsn", &cfg.Warehouse.DSN, joinDSN)
		rel("state.dsn", &cfg.State.DSN, joinDSN)
		rel("preagg.dir", &cfg.PreAgg.Dir, joinPath)
		for i := range cfg.DataSources {
			cfg.DataSources[i].ModelDir = joinPath(base, cfg.DataSources[i].ModelDir)
			cfg.DataSources[i].WarehouseDSN = joinDSN(base, cfg.DataSources[i].WarehouseDSN)
		}
	}
	return cfg, l, nil
}

// joinPath makes a relative path relative to base.
func joinPath(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// joinDSN resolves the file path of a duckdb:// or sqlite:// DSN against
// base (duckdb:///abs/file.duckdb is absolute, duckdb://data/w.duckdb
// relative).
func joinDSN(base, dsn string) string {
	for _, scheme := range []string{"duckdb://", "sqlite://"} {
		if path, ok := strings.CutPrefix(dsn, scheme); ok && path != "" && !filepath.IsAbs(path) {
			return scheme + filepath.Join(base, path)
		}
	}
	return dsn
}

// durationHook reads durations, saying which forms are accepted.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		if strings.TrimSpace(d) == "0" {
			return time.Duration(0), nil
		}
		t, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (write it as 10s, 500ms, 5m or 1h30m)", d)
		}
		return t, nil
	case int, int64:
		if reflect.ValueOf(d).Int() == 0 {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is not a duration: give its unit (10s, 500ms, 5m)", d)
	case float64:
		if d == 0 {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is not a duration: give its unit (10s, 500ms, 5m)", d)
	}
	return data, nil
}

// byteSizeHook reads sizes: "2GiB", "512MiB" or a number of bytes.
func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return app.ParseByteSize(d)
	case int:
		return app.ByteSize(d), nil
	case int64:
		return app.ByteSize(d), nil
	case float64:
		return app.ByteSize(d), nil
	}
	return data, nil
}

// configDecodeError rewrites mapstructure's errors: one line per problem,
// each naming its key and the file.
func configDecodeError(file string, err error) error {
	where := "the configuration"
	if file != "" {
		where = "configuration file " + file
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):")
	var lines []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		line = strings.TrimPrefix(line, "* ")
		line = strings.Replace(line, "error decoding ", "", 1)
		// 'sql.startup_timeout' "ten" is … → sql.startup_timeout: "ten" is …
		if rest, ok := strings.CutPrefix(line, "'"); ok {
			if name, tail, ok := strings.Cut(rest, "'"); ok {
				if keys, ok := strings.CutPrefix(tail, " has invalid keys: "); ok {
					if name == "" || strings.HasPrefix(name, "app.") {
						line = "unknown keys: " + keys
					} else {
						line = "unknown keys in " + name + ": " + keys
					}
					line += " (config.example.yaml lists every key)"
				} else {
					line = name + ":" + tail
				}
			}
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return fmt.Errorf("%s: %s", where, strings.Join(lines, "; "))
}

// versionString is the version set at build time (-ldflags -X
// …/app.Version=…) or the module's, with the commit it was built from.
func versionString() string {
	v := app.Version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v == "0.1.0-dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		return fmt.Sprintf("%s (commit %s%s, %s)", v, rev, modified, bi.GoVersion)
	}
	return fmt.Sprintf("%s (%s)", v, bi.GoVersion)
}
