package warehouse

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// PasswordEnv is the environment variable a warehouse's password is read
// from when its DSN has none.
const PasswordEnv = "CUBEGATE_WAREHOUSE_PASSWORD"

// URLDSN is what every engine reached by a URL DSN reads alike
// (scheme://user:password@host:port/database?param=…).
type URLDSN struct {
	URL *url.URL
	// Password is the user part's, else password=, else the file of
	// password_file= (trimmed), else $CUBEGATE_WAREHOUSE_PASSWORD.
	Password string
	// Timeout is timeout= (a connect timeout), else the engine's default;
	// MaxConns max_conns=, else 10.
	Timeout  time.Duration
	MaxConns int
	// Params are the engine's own parameters (the last value of each).
	Params map[string]string
}

// ParseURLDSN reads dsn's common parts; form is the DSN's shape for the
// error when it is no URL. Errors never hold the password.
func ParseURLDSN(dsn, form string, timeout time.Duration) (*URLDSN, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		// url's own error repeats the DSN, password and all.
		return nil, DSNError(dsn, "not a URL %s", form)
	}
	d := &URLDSN{URL: u, Timeout: timeout, MaxConns: 10, Params: map[string]string{}}
	d.Password, _ = u.User.Password()
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "password_file":
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, DSNError(dsn, "password_file: %v", err)
			}
			d.Password = strings.TrimSpace(string(b))
		case "password":
			d.Password = v
		case "timeout":
			if d.Timeout, err = time.ParseDuration(v); err != nil {
				return nil, DSNError(dsn, "timeout=%s: not a duration", v)
			}
		case "max_conns":
			if d.MaxConns, err = strconv.Atoi(v); err != nil || d.MaxConns < 1 {
				return nil, DSNError(dsn, "max_conns=%s: not a positive integer", v)
			}
		default:
			d.Params[k] = v
		}
	}
	if d.Password == "" {
		d.Password = os.Getenv(PasswordEnv)
	}
	return d, nil
}

// DSNError is an error about a DSN, which it names without its password.
func DSNError(dsn, format string, a ...any) error {
	return fmt.Errorf("warehouse.dsn %s: %s", Redact(dsn), fmt.Sprintf(format, a...))
}
