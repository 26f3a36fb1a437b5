// Package app assembles the gateway from its parts (model, warehouse,
// state store, SQL listener, HTTP listener) so that the CLI and tests start
// the same thing: Start(ctx, cfg) → ready → Close.
package app

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/httpapi"
	"github.com/cubegate/cubegate/warehouse"
)

// Version is cubegate's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Config is the whole configuration; see config.example.yaml for every key.
type Config struct {
	SQL        SQLConfig        `mapstructure:"sql"`
	HTTP       HTTPConfig       `mapstructure:"http"`
	Model      ModelConfig      `mapstructure:"model"`
	Warehouse  WarehouseConfig  `mapstructure:"warehouse"`
	State      StateConfig      `mapstructure:"state"`
	Audit      AuditConfig      `mapstructure:"audit"`
	DataSource DataSourceConfig `mapstructure:"data_source"`
	// DataSources are more data sources, each with its model and
	// warehouse, served beside the default one by the same listeners.
	DataSources []DataSourceSpec `mapstructure:"data_sources"`
	Log         LogConfig        `mapstructure:"log"`
	APIKeys     APIKeysConfig    `mapstructure:"api_keys"`
	REST        RESTConfig       `mapstructure:"rest"`
	Limits      LimitsConfig     `mapstructure:"limits"`
	Cache       CacheConfig      `mapstructure:"cache"`
	PreAgg      PreAggConfig     `mapstructure:"preagg"`
	Console     ConsoleConfig    `mapstructure:"console"`
}

// ConsoleConfig is the web console at /console on the HTTP listener.
type ConsoleConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// PublicHost is the SQL listener's advertised host (or host:port) in
	// the console's connection strings; "": the host the browser reached
	// the console at, with the SQL listener's port.
	PublicHost string `mapstructure:"public_host"`
	// IdleTimeout ends a session unused this long; SessionLifetime ends
	// it this long after sign-in.
	IdleTimeout     time.Duration `mapstructure:"idle_timeout"`
	SessionLifetime time.Duration `mapstructure:"session_lifetime"`
	// TrustForwardedProto believes X-Forwarded-Proto: https from a proxy
	// terminating TLS (Secure cookies, the https origin).
	TrustForwardedProto bool `mapstructure:"trust_forwarded_proto"`
}

// LimitsConfig holds each tenant to a request rate and a number of
// running queries (0: unlimited), and throttles failed logins.
type LimitsConfig struct {
	RequestsPerSecond    float64       `mapstructure:"requests_per_second"`
	Burst                int           `mapstructure:"burst"`
	MaxConcurrentQueries int           `mapstructure:"max_concurrent_queries"`
	FailedLoginWindow    time.Duration `mapstructure:"failed_login_window"`
	FailedLoginsSlow     int           `mapstructure:"failed_logins_slow"`
	FailedLoginsBlock    int           `mapstructure:"failed_logins_block"`
	// MemoryLimit is the whole process's memory target (memoryGovernor): the
	// garbage collector works harder as the heap nears it. 0 leaves the
	// GOMEMLIMIT environment variable (or no limit) in force.
	MemoryLimit ByteSize `mapstructure:"memory_limit"`
	// What one statement cubegate answers itself (catalog, constants,
	// temporary tables) may do; see catalog.Limits.
	StatementRows   int           `mapstructure:"statement_rows"`
	StatementMemory ByteSize      `mapstructure:"statement_memory"`
	ValueSize       ByteSize      `mapstructure:"value_size"`
	StatementTime   time.Duration `mapstructure:"statement_time"`
	TempMemory      ByteSize      `mapstructure:"temp_memory"`
	// EvaluatorMemory is shared by every statement being evaluated at
	// once; 0: half of memory_limit when set, else 2GiB.
	EvaluatorMemory ByteSize `mapstructure:"evaluator_memory"`
	// Prepared statements and open portals/cursors one SQL session holds
	// (the protocol's and SQL's together); 0: 10,000 and 1,000.
	MaxPreparedStatements int `mapstructure:"max_prepared_statements"`
	MaxCursors            int `mapstructure:"max_cursors"`
	// A pooled warehouse's connections (PostgreSQL) one principal (a
	// credential or an API key) holds at once; 0: half the pool (at least
	// 1). A pool is one data source's, so one tenant's. See
	// warehouse.Shares.
	PrincipalConnections int `mapstructure:"principal_connections"`
}

// Warehouse is how warehouses are opened under these limits.
func (l LimitsConfig) Warehouse() warehouse.Options {
	return warehouse.Options{PrincipalConnections: l.PrincipalConnections}
}

// Evaluator is the planner's evaluator limits, with the process-wide
// pool they share.
func (l LimitsConfig) Evaluator() catalog.Limits {
	pool := int64(l.EvaluatorMemory)
	if pool <= 0 {
		pool = 2 << 30
		if l.MemoryLimit > 0 {
			pool = int64(l.MemoryLimit) / 2
		} else if goLimit := debug.SetMemoryLimit(-1); goLimit < math.MaxInt64 {
			pool = min(pool, goLimit/2) // GOMEMLIMIT
		}
	}
	return catalog.Limits{Rows: int64(l.StatementRows), Bytes: int64(l.StatementMemory), ValueBytes: int64(l.ValueSize),
		Time: l.StatementTime, TempBytes: int64(l.TempMemory), Pool: catalog.NewPool(pool)}
}

// CacheConfig is the result cache: answers kept in memory, each fresh
// for its cubes' refresh_key (Cube's default: 10 seconds).
type CacheConfig struct {
	Enabled  bool     `mapstructure:"enabled"`
	MaxBytes ByteSize `mapstructure:"max_bytes"`
}

// PreAggConfig is where pre-aggregations (rollups) are built and kept:
// an embedded DuckDB store in Dir (beside a SQLite state store when
// unset), at most MaxBytes of rollups (least used dropped, rebuilt when
// next due), its DuckDB held to MemoryLimit.
type PreAggConfig struct {
	Enabled     bool     `mapstructure:"enabled"`
	Dir         string   `mapstructure:"dir"`
	MaxBytes    ByteSize `mapstructure:"max_bytes"`
	MemoryLimit ByteSize `mapstructure:"memory_limit"`
	// WarehouseSchema holds the rollups with external: false, built in
	// the warehouse itself and shared by every gateway on it.
	WarehouseSchema string `mapstructure:"warehouse_schema"`
}

type RESTConfig struct {
	// DefaultLimit applies to a /load query without a limit, and the
	// answer says so; MaxLimit bounds an explicit limit (400 above it).
	DefaultLimit int `mapstructure:"default_limit"`
	MaxLimit     int `mapstructure:"max_limit"`
	// MaxFilterValues bounds the filter values of one query (400 past it).
	MaxFilterValues int `mapstructure:"max_filter_values"`
	// WebSocket bounds Cube's WebSocket transport (httpapi.WSLimits).
	WebSocket WebSocketConfig `mapstructure:"websocket"`
}

// WebSocketConfig bounds the WebSocket transport; 0 takes the default.
type WebSocketConfig struct {
	MaxConnections int           `mapstructure:"max_connections"`
	MaxMessageSize ByteSize      `mapstructure:"max_message_size"`
	MaxInFlight    int           `mapstructure:"max_in_flight"`
	IdleTimeout    time.Duration `mapstructure:"idle_timeout"`
}

type APIKeysConfig struct {
	// Limit is how many live keys a tenant may hold.
	Limit int `mapstructure:"limit"`
}

type SQLConfig struct {
	Listen                   string        `mapstructure:"listen"`
	MaxConnections           int           `mapstructure:"max_connections"`
	StartupTimeout           time.Duration `mapstructure:"startup_timeout"`
	StatementTimeout         time.Duration `mapstructure:"statement_timeout"`
	IdleInTransactionTimeout time.Duration `mapstructure:"idle_in_transaction_timeout"`
	DrainTimeout             time.Duration `mapstructure:"drain_timeout"`
	MaxMessageSize           int           `mapstructure:"max_message_size"`
	// MaxStatementTimeout is a ceiling on every session's
	// statement_timeout that SET cannot lift; 0: StatementTimeout, the
	// server's default, is the ceiling too (none when both are 0).
	MaxStatementTimeout time.Duration `mapstructure:"max_statement_timeout"`
	// MessageMemory is the budget of large messages all sessions hold at
	// once; 0: a quarter of limits.memory_limit when set, else 256MiB.
	MessageMemory ByteSize `mapstructure:"message_memory"`
	// Sessions one credential and one tenant may hold; 0: half and three
	// quarters of max_connections.
	MaxSessionsPerCredential int           `mapstructure:"max_sessions_per_credential"`
	MaxSessionsPerTenant     int           `mapstructure:"max_sessions_per_tenant"`
	TLS                      TLSConfig     `mapstructure:"tls"`
	Auth                     SQLAuthConfig `mapstructure:"auth"`
}

// statementCeiling is the statement_timeout no session can lift.
func (c SQLConfig) statementCeiling() time.Duration {
	if c.MaxStatementTimeout > 0 {
		return c.MaxStatementTimeout
	}
	return c.StatementTimeout
}

type TLSConfig struct {
	Cert     string `mapstructure:"cert"`
	Key      string `mapstructure:"key"`
	Required bool   `mapstructure:"required"`
}

type SQLAuthConfig struct {
	AllowCleartext bool `mapstructure:"allow_cleartext"`
}

type HTTPConfig struct {
	Listen string `mapstructure:"listen"`
	// ReadTimeout bounds reading a whole request, body included; a request
	// still arriving after it is cut.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// IdleTimeout closes a keep-alive connection no request uses for it.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// WriteTimeout bounds each write of an answer: a client that stops
	// reading a streamed result is cut after it (the answer's length
	// is not bounded, only the progress).
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
}

type ModelConfig struct {
	Dir string `mapstructure:"dir"`
	// Watch reloads the model when a file in Dir changes.
	Watch bool `mapstructure:"watch"`
}

type WarehouseConfig struct {
	DSN string `mapstructure:"dsn"`
}

type StateConfig struct {
	DSN string `mapstructure:"dsn"`
}

// AuditConfig is how the audit log is kept: events older than Retention
// are deleted (0: kept forever); FailClosed refuses new queries (53100
// for a full disk, else 58030; HTTP 503) and credential, key and tenant
// changes (503 AUDIT_UNAVAILABLE) while the log cannot be written.
type AuditConfig struct {
	Retention  time.Duration `mapstructure:"retention"`
	FailClosed bool          `mapstructure:"fail_closed"`
}

// DataSourceConfig names the default data source (model.dir +
// warehouse.dsn) and the tenant owning it.
type DataSourceConfig struct {
	Name   string `mapstructure:"name"`
	Tenant string `mapstructure:"tenant"`
}

// DataSourceSpec is a data source: a model and a warehouse, owned by a
// tenant; SQL clients reach it by naming it as their database.
type DataSourceSpec struct {
	Name         string `mapstructure:"name" json:"name"`
	Tenant       string `mapstructure:"tenant" json:"tenant"`
	ModelDir     string `mapstructure:"model_dir" json:"model_dir"`
	WarehouseDSN string `mapstructure:"warehouse_dsn" json:"-"`
}

// Sources lists every data source: the default one first.
func (c Config) Sources() []DataSourceSpec {
	def := DataSourceSpec{Name: c.DataSource.Name, Tenant: c.DataSource.Tenant, ModelDir: c.Model.Dir, WarehouseDSN: c.Warehouse.DSN}
	if def.Name == "" {
		def.Name = Defaults().DataSource.Name
	}
	out := append([]DataSourceSpec{def}, c.DataSources...)
	for i := range out {
		if out[i].Tenant == "" {
			out[i].Tenant = "default"
		}
	}
	return out
}

// LookupSource finds a data source by name.
func (c Config) LookupSource(name string) (DataSourceSpec, bool) {
	for _, s := range c.Sources() {
		if s.Name == name {
			return s, true
		}
	}
	return DataSourceSpec{}, false
}

// checkSources validates the data sources: names unique, model and
// warehouse set.
func (c Config) checkSources() error {
	seen := map[string]bool{}
	for i, s := range c.Sources() {
		switch {
		case s.Name == "" && i == 0:
			return settingErr("data_source.name", "", "the default data source needs a name (the database clients connect to)")
		case s.Name == "":
			return settingErr(fmt.Sprintf("data_sources[%d].name", i-1), "", "a data source needs a name (the database clients connect to)")
		case seen[s.Name]:
			return settingErr(fmt.Sprintf("data_sources[%d].name", i-1), s.Name, "the data source is defined twice")
		case i > 0 && (s.ModelDir == "" || s.WarehouseDSN == ""):
			return settingErr(fmt.Sprintf("data_sources[%d]", i-1), s.Name, "a data source needs model_dir and warehouse_dsn")
		}
		seen[s.Name] = true
	}
	return nil
}

type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// ByteSize is a size in bytes, written in configuration as a number of
// bytes or with a unit: 512MiB, 2GiB, 1.5GB, 64KiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseByteSize reads "2GiB", "512MiB", "1.5GB" or a plain number of bytes.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*mult > float64(1<<62) {
		return 0, fmt.Errorf("%q is not a size (write it as 2GiB, 512MiB or a number of bytes)", s)
	}
	return ByteSize(f * mult), nil
}

func (b ByteSize) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= ByteSize(u.mult) && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// SettingError is a configuration value that cannot be used: it names
// the key, its value and why (the CLI adds where the value came from).
type SettingError struct {
	Key   string
	Value string
	Err   error
}

func (e *SettingError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("%s %q: %v", e.Key, e.Value, e.Err)
}

func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(key, value string, format string, args ...any) *SettingError {
	return &SettingError{Key: key, Value: value, Err: fmt.Errorf(format, args...)}
}

// Validate checks what can be checked before anything starts: addresses,
// durations, folders and files, DSN schemes. Each error names its key.
func (c Config) Validate() error {
	for key, addr := range map[string]string{"sql.listen": c.SQL.Listen, "http.listen": c.HTTP.Listen} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			return settingErr(key, addr, "want HOST:PORT (127.0.0.1:15432, :4000)")
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return settingErr(key, addr, "the port is not a number from 0 to 65535")
		}
	}
	for key, d := range map[string]time.Duration{
		"sql.startup_timeout": c.SQL.StartupTimeout, "sql.statement_timeout": c.SQL.StatementTimeout,
		"sql.idle_in_transaction_timeout": c.SQL.IdleInTransactionTimeout, "sql.drain_timeout": c.SQL.DrainTimeout,
		"limits.failed_login_window": c.Limits.FailedLoginWindow,
		"audit.retention":            c.Audit.Retention,
		"http.read_timeout":          c.HTTP.ReadTimeout, "http.idle_timeout": c.HTTP.IdleTimeout, "http.write_timeout": c.HTTP.WriteTimeout,
		"console.idle_timeout": c.Console.IdleTimeout, "console.session_lifetime": c.Console.SessionLifetime,
	} {
		if d < 0 {
			return settingErr(key, d.String(), "a duration cannot be negative")
		}
	}
	for key, v := range map[string]int64{"limits.statement_rows": int64(c.Limits.StatementRows), "limits.statement_memory": int64(c.Limits.StatementMemory),
		"limits.value_size": int64(c.Limits.ValueSize), "limits.temp_memory": int64(c.Limits.TempMemory),
		"limits.evaluator_memory": int64(c.Limits.EvaluatorMemory), "limits.statement_time": int64(c.Limits.StatementTime),
		"sql.max_statement_timeout": int64(c.SQL.MaxStatementTimeout), "sql.message_memory": int64(c.SQL.MessageMemory),
		"sql.max_sessions_per_credential": int64(c.SQL.MaxSessionsPerCredential), "sql.max_sessions_per_tenant": int64(c.SQL.MaxSessionsPerTenant),
		"limits.max_prepared_statements": int64(c.Limits.MaxPreparedStatements), "limits.max_cursors": int64(c.Limits.MaxCursors),
		"limits.principal_connections": int64(c.Limits.PrincipalConnections)} {
		if v < 0 {
			return settingErr(key, strconv.FormatInt(v, 10), "cannot be negative")
		}
	}
	for key, v := range map[string]int64{"rest.websocket.max_connections": int64(c.REST.WebSocket.MaxConnections),
		"rest.websocket.max_message_size": int64(c.REST.WebSocket.MaxMessageSize), "rest.websocket.max_in_flight": int64(c.REST.WebSocket.MaxInFlight),
		"rest.websocket.idle_timeout": int64(c.REST.WebSocket.IdleTimeout)} {
		if v < 0 {
			return settingErr(key, strconv.FormatInt(v, 10), "cannot be negative")
		}
	}
	if h := c.Console.PublicHost; h != "" && (strings.ContainsAny(h, "/?#@ ") || strings.Contains(h, "://")) {
		return settingErr("console.public_host", h, "want a host name or address, optionally with :PORT (db.example.com, db.example.com:5432)")
	}
	if c.Limits.MemoryLimit < 0 {
		return settingErr("limits.memory_limit", c.Limits.MemoryLimit.String(), "a size cannot be negative")
	}
	if c.PreAgg.Enabled && c.PreAgg.WarehouseSchema == "" {
		return settingErr("preagg.warehouse_schema", "", "a schema name is needed for the rollups built in the warehouse (external: false)")
	}
	if c.Cache.MaxBytes < 0 || c.PreAgg.MaxBytes < 0 || c.PreAgg.MemoryLimit < 0 {
		return settingErr("cache.max_bytes, preagg.max_bytes, preagg.memory_limit", "", "a size cannot be negative")
	}
	if err := c.checkMessageMemory(); err != nil {
		return err
	}
	if err := checkDir("model.dir", c.Model.Dir); err != nil {
		return err
	}
	if err := checkWarehouseDSN("warehouse.dsn", c.Warehouse.DSN); err != nil {
		return err
	}
	if err := checkStateDSN(c.State.DSN); err != nil {
		return err
	}
	for i, s := range c.DataSources {
		if s.WarehouseDSN != "" {
			if err := checkWarehouseDSN(fmt.Sprintf("data_sources[%d].warehouse_dsn", i), s.WarehouseDSN); err != nil {
				return err
			}
		}
	}
	switch {
	case c.SQL.TLS.Cert != "" && c.SQL.TLS.Key == "":
		return settingErr("sql.tls.cert", c.SQL.TLS.Cert, "needs sql.tls.key (the key file) too")
	case c.SQL.TLS.Key != "" && c.SQL.TLS.Cert == "":
		return settingErr("sql.tls.key", c.SQL.TLS.Key, "needs sql.tls.cert (the certificate file) too")
	case c.SQL.TLS.Cert != "":
		for _, kf := range [][2]string{{"sql.tls.cert", c.SQL.TLS.Cert}, {"sql.tls.key", c.SQL.TLS.Key}} {
			if _, err := os.ReadFile(kf[1]); err != nil {
				return &SettingError{Key: kf[0], Value: kf[1], Err: fileProblem(err)}
			}
		}
		if _, err := tls.LoadX509KeyPair(c.SQL.TLS.Cert, c.SQL.TLS.Key); err != nil {
			return settingErr("sql.tls.cert", c.SQL.TLS.Cert, "with sql.tls.key %q: %v", c.SQL.TLS.Key, err)
		}
	case c.SQL.TLS.Required:
		return settingErr("sql.tls.required", "true", "needs sql.tls.cert and sql.tls.key")
	}
	return nil
}

// fileProblem says what is wrong with a file or folder in words.
func fileProblem(err error) error {
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("does not exist")
	case os.IsPermission(err):
		return fmt.Errorf("cannot be read (permission denied)")
	}
	return err
}

func checkDir(key, dir string) error {
	if dir == "" {
		return settingErr(key, "", "is not set")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return &SettingError{Key: key, Value: dir, Err: fmt.Errorf("the folder %w", fileProblem(err))}
	}
	if !fi.IsDir() {
		return settingErr(key, dir, "is a file, not a folder of model files")
	}
	return nil
}

func checkWarehouseDSN(key, dsn string) error {
	switch {
	case dsn == "":
		return settingErr(key, "", "is not set (duckdb:///path/file.duckdb, duckdb::memory: or postgres://…)")
	case dsn == "duckdb::memory:":
	case strings.HasPrefix(dsn, "duckdb://"):
		path := strings.TrimPrefix(dsn, "duckdb://")
		if path == "" {
			return settingErr(key, dsn, "missing a file path")
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return settingErr(key, dsn, "the folder %s does not exist (DuckDB creates the file, not its folder)", filepath.Dir(path))
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
	case warehouse.Registered(dsn):
	default:
		return settingErr(key, warehouse.Redact(dsn), "unknown scheme (want %s)", strings.Join(warehouse.Schemes(), ", "))
	}
	return nil
}

func checkStateDSN(dsn string) error {
	switch {
	case dsn == "sqlite::memory:", strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
	case strings.HasPrefix(dsn, "sqlite://") && len(dsn) > len("sqlite://"):
	default:
		return settingErr("state.dsn", warehouse.Redact(dsn), "want sqlite://PATH, sqlite::memory: or postgres://…")
	}
	return nil
}

// Defaults are the values of keys nobody set.
func Defaults() Config {
	evaluator := catalog.DefaultLimits()
	return Config{
		SQL: SQLConfig{
			Listen:         "127.0.0.1:15432",
			MaxConnections: 100,
			StartupTimeout: 10 * time.Second,
			DrainTimeout:   10 * time.Second,
			MaxMessageSize: 64 << 20,
		},
		HTTP:       HTTPConfig{Listen: "127.0.0.1:4000", ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, WriteTimeout: time.Minute},
		Model:      ModelConfig{Dir: "./model", Watch: true},
		State:      StateConfig{DSN: "sqlite://./.cubegate/state.db"},
		DataSource: DataSourceConfig{Name: "db"},
		Log:        LogConfig{Level: "info", Format: "console"},
		APIKeys:    APIKeysConfig{Limit: 5},
		REST: RESTConfig{DefaultLimit: 10000, MaxLimit: 1000000, MaxFilterValues: httpapi.DefaultMaxFilterValues,
			WebSocket: WebSocketConfig{MaxConnections: httpapi.DefaultWSMaxConnections, MaxMessageSize: httpapi.DefaultWSMaxMessageBytes,
				MaxInFlight: httpapi.DefaultWSMaxInFlight, IdleTimeout: httpapi.DefaultWSIdleTimeout}},
		Audit:  AuditConfig{Retention: 90 * 24 * time.Hour},
		Cache:  CacheConfig{Enabled: true, MaxBytes: 256 << 20},
		PreAgg: PreAggConfig{Enabled: true, MaxBytes: 4 << 30, MemoryLimit: 256 << 20, WarehouseSchema: "cubegate_preagg"},
		Limits: LimitsConfig{FailedLoginWindow: 5 * time.Minute, FailedLoginsSlow: 10, FailedLoginsBlock: 50,
			StatementRows: int(evaluator.Rows), StatementMemory: ByteSize(evaluator.Bytes), ValueSize: ByteSize(evaluator.ValueBytes),
			StatementTime: evaluator.Time, TempMemory: ByteSize(evaluator.TempBytes)},
		Console: ConsoleConfig{Enabled: true, IdleTimeout: 30 * time.Minute, SessionLifetime: 12 * time.Hour},
	}
}

// ClientHost returns the host clients should dial for a listen address.
func ClientHost(listen string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(listen)
	if err != nil {
		return "", "", fmt.Errorf("sql.listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// ConnectionString renders a postgresql:// URL.
func ConnectionString(user, password, host, port, database string) string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(user, password), Host: net.JoinHostPort(host, port), Path: "/" + database}
	return u.String()
}
