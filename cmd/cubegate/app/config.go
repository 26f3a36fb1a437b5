// Package app assembles the gateway from its parts (model, warehouse,
// state store, SQL listener, HTTP listener) so that the CLI and tests start
// the same thing: Start(ctx, cfg) → ready → Close.
package app

import (
	"fmt"
	"net"
	"net/url"
	"time"
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
	DataSource DataSourceConfig `mapstructure:"data_source"`
	// DataSources are more data sources, each with its model and
	// warehouse, served beside the default one by the same listeners.
	DataSources []DataSourceSpec `mapstructure:"data_sources"`
	Log         LogConfig        `mapstructure:"log"`
	APIKeys     APIKeysConfig    `mapstructure:"api_keys"`
	REST        RESTConfig       `mapstructure:"rest"`
	Limits      LimitsConfig     `mapstructure:"limits"`
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
}

type RESTConfig struct {
	// DefaultLimit applies to a /load query without a limit, and the
	// answer says so; MaxLimit bounds an explicit limit (400 above it).
	DefaultLimit int `mapstructure:"default_limit"`
	MaxLimit     int `mapstructure:"max_limit"`
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
	TLS                      TLSConfig     `mapstructure:"tls"`
	Auth                     SQLAuthConfig `mapstructure:"auth"`
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
		case s.Name == "":
			return fmt.Errorf("data_sources[%d]: a data source needs a name (the database clients connect to)", i-1)
		case seen[s.Name]:
			return fmt.Errorf("data source %q is defined twice", s.Name)
		case i > 0 && (s.ModelDir == "" || s.WarehouseDSN == ""):
			return fmt.Errorf("data source %q needs model_dir and warehouse_dsn", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Defaults are the values of keys nobody set.
func Defaults() Config {
	return Config{
		SQL: SQLConfig{
			Listen:         "127.0.0.1:15432",
			MaxConnections: 100,
			StartupTimeout: 10 * time.Second,
			DrainTimeout:   10 * time.Second,
			MaxMessageSize: 64 << 20,
		},
		HTTP:       HTTPConfig{Listen: "127.0.0.1:4000"},
		Model:      ModelConfig{Dir: "./model", Watch: true},
		State:      StateConfig{DSN: "sqlite://./.cubegate/state.db"},
		DataSource: DataSourceConfig{Name: "db"},
		Log:        LogConfig{Level: "info", Format: "console"},
		APIKeys:    APIKeysConfig{Limit: 5},
		REST:       RESTConfig{DefaultLimit: 10000, MaxLimit: 1000000},
		Limits:     LimitsConfig{FailedLoginWindow: 5 * time.Minute, FailedLoginsSlow: 10, FailedLoginsBlock: 50},
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
