// Package redshift is the Amazon Redshift warehouse: PostgreSQL's
// protocol through pgx (warehouse.OpenPostgresAs), the "redshift"
// dialect. DSN:
//
//	redshift://user:password@host:5439/database[?sslmode=…]
//
// sslmode defaults to require; the port to 5439. Cancel is PostgreSQL's
// protocol cancel, which Redshift honours.
package redshift

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"

	"github.com/cubegate/cubegate/warehouse"
)

func init() { warehouse.Register(Open, "redshift") }

// PostgresDSN maps a redshift:// DSN to the postgres:// DSN pgx reads.
// Errors never hold the password.
func PostgresDSN(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("redshift warehouse: invalid DSN (redshift://user:password@host:5439/database)")
	}
	bad := func(why string) error { return errors.New("redshift warehouse " + warehouse.Redact(dsn) + ": " + why) }
	if u.Scheme != "redshift" {
		return "", bad("the scheme must be redshift://")
	}
	if u.User == nil || u.User.Username() == "" {
		return "", bad("a user is required")
	}
	if u.Hostname() == "" {
		return "", bad("a host is required")
	}
	port := u.Port()
	if port == "" {
		port = "5439"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", bad("invalid port")
	}
	if u.Path == "" || u.Path == "/" {
		return "", bad("a database is required (redshift://user:password@host:5439/database)")
	}
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "require")
	}
	pg := &url.URL{Scheme: "postgres", User: u.User, Host: net.JoinHostPort(u.Hostname(), port), Path: u.Path, RawQuery: q.Encode()}
	return pg.String(), nil
}

// Open connects to Redshift.
func Open(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
	pg, err := PostgresDSN(dsn)
	if err != nil {
		return nil, err
	}
	w, err := warehouse.OpenPostgresAs(ctx, pg, o, "redshift")
	if err != nil {
		var ce *warehouse.ConnectError
		if errors.As(err, &ce) {
			ce.Engine = "redshift"
		}
		return nil, err
	}
	return w, nil
}
