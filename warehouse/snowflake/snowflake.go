// Package snowflake is the Snowflake warehouse: gosnowflake behind
// warehouse/sqldb, the "snowflake" dialect. DSN:
//
//	snowflake://user[:password]@account/database/schema?warehouse=…&role=…[&private_key_file=/path/key.p8]
//
// Key-pair authentication (private_key_file: an unencrypted PKCS#8 PEM
// RSA key) or a password. The session's TIMEZONE is UTC and WEEK_START 0
// (ISO weeks from Monday), which the dialect's SQL relies on. A
// statement whose context ends is stopped on the server by gosnowflake
// itself: a canceled or timed-out query request is followed by an
// abort-request (postRestfulQuery → cancelQuery).
package snowflake

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	sf "github.com/snowflakedb/gosnowflake"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/sqldb"
)

func init() { warehouse.Register(Open, "snowflake") }

// ParseDSN reads a snowflake:// DSN into gosnowflake's Config; the
// private key file is read here. Errors never hold the password or the
// key.
func ParseDSN(dsn string) (*sf.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("snowflake warehouse: invalid DSN (snowflake://user[:password]@account/database/schema?warehouse=…)")
	}
	bad := func(why string) error { return errors.New("snowflake warehouse " + warehouse.Redact(dsn) + ": " + why) }
	if u.Scheme != "snowflake" {
		return nil, bad("the scheme must be snowflake://")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, bad("a user is required")
	}
	if u.Host == "" {
		return nil, bad("an account is required (snowflake://user@account/…)")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) > 2 {
		return nil, bad("the path is /database/schema")
	}
	utc, week := "UTC", "0"
	c := &sf.Config{
		Account:     u.Host,
		User:        u.User.Username(),
		Application: "cubegate",
		Params:      map[string]*string{"TIMEZONE": &utc, "WEEK_START": &week},
	}
	if p, ok := u.User.Password(); ok {
		c.Password = p
	}
	if parts[0] != "" {
		c.Database = parts[0]
	}
	if len(parts) > 1 {
		c.Schema = parts[1]
	}
	for k, v := range u.Query() {
		switch k {
		case "warehouse":
			c.Warehouse = v[0]
		case "role":
			c.Role = v[0]
		case "private_key_file":
			key, err := readKey(v[0])
			if err != nil {
				return nil, bad(err.Error())
			}
			c.PrivateKey, c.Authenticator = key, sf.AuthTypeJwt
		default:
			return nil, bad("unknown parameter " + k)
		}
	}
	if c.PrivateKey == nil && c.Password == "" {
		return nil, bad("a password or private_key_file is required")
	}
	if c.PrivateKey != nil && c.Password != "" {
		return nil, bad("a password and a private_key_file: give one")
	}
	return c, nil
}

// readKey reads an unencrypted PKCS#8 PEM RSA private key; its errors
// name the file, never its content.
func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private_key_file %s: cannot be read", path)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("private_key_file %s: not an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private_key_file %s: not a PKCS#8 key", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private_key_file %s: not an RSA key", path)
	}
	return rk, nil
}

// Open opens a Snowflake warehouse and checks it answers.
func Open(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
	c, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(sf.NewConnector(sf.SnowflakeDriver{}, *c))
	w := sqldb.New(sqldb.Config{
		Engine: "snowflake", Dialect: "snowflake", Address: c.Account, DB: db,
		Type: func(ct *sql.ColumnType) uint32 {
			p, s, _ := ct.DecimalSize()
			return TypeOID(ct.DatabaseTypeName(), p, s)
		},
		Value: Value,
		Error: Error,
	}, o)
	if err := w.Connect(ctx); err != nil {
		w.Close()
		return nil, connectError(err, c)
	}
	return w, nil
}

// connectError keeps the password out of a connect failure.
func connectError(err error, c *sf.Config) error {
	var ce *warehouse.ConnectError
	if errors.As(err, &ce) && c.Password != "" && strings.Contains(ce.Err.Error(), c.Password) {
		ce.Err = errors.New(strings.ReplaceAll(ce.Err.Error(), c.Password, "***"))
	}
	return err
}

// TypeOID maps a Snowflake column type (gosnowflake's
// DatabaseTypeName, and NUMBER's precision and scale) to a PostgreSQL
// type OID.
func TypeOID(name string, precision, scale int64) uint32 {
	switch strings.ToUpper(name) {
	case "FIXED":
		if scale == 0 && precision > 0 && precision <= 18 {
			return pgtype.Int8OID
		}
		return pgtype.NumericOID
	case "DECFLOAT":
		return pgtype.NumericOID
	case "REAL":
		return pgtype.Float8OID
	case "TEXT":
		return pgtype.TextOID
	case "BOOLEAN":
		return pgtype.BoolOID
	case "DATE":
		return pgtype.DateOID
	case "TIME":
		return pgtype.TimeOID
	case "TIMESTAMP_NTZ":
		return pgtype.TimestampOID
	case "TIMESTAMP_LTZ", "TIMESTAMP_TZ":
		return pgtype.TimestamptzOID
	case "BINARY":
		return pgtype.ByteaOID
	}
	return pgtype.TextOID // VARIANT, OBJECT, ARRAY: their JSON text
}

// Value turns a scanned value into the Go type the warehouse promises.
func Value(v any, oid uint32) (any, error) {
	switch oid {
	case pgtype.NumericOID:
		switch x := v.(type) {
		case string:
			return numeric(x)
		case float64:
			return numeric(strconv.FormatFloat(x, 'f', -1, 64))
		case *big.Float:
			return numeric(x.Text('f', -1))
		case *big.Int:
			return pgtype.Numeric{Int: x, Valid: true}, nil
		case int64:
			return pgtype.Numeric{Int: big.NewInt(x), Valid: true}, nil
		}
	case pgtype.Int8OID:
		if s, ok := v.(string); ok {
			return strconv.ParseInt(s, 10, 64)
		}
	}
	return warehouse.Normalize(v), nil
}

func numeric(s string) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		return pgtype.Numeric{}, fmt.Errorf("snowflake: invalid number %q", s)
	}
	return n, nil
}

// sqlStates are Snowflake's SQLSTATEs PostgreSQL reads otherwise (most
// are the ANSI ones PostgreSQL has).
var sqlStates = map[string]string{"42000": "42601", "22000": "22023"}

// Error gives a Snowflake failure its SQLSTATE.
func Error(err error) error {
	var se *sf.SnowflakeError
	if errors.As(err, &se) && se.SQLState != "" {
		code := se.SQLState
		if c, ok := sqlStates[code]; ok {
			code = c
		}
		if se.Number == 2003 { // object does not exist or not authorized
			code = "42P01"
		}
		return &warehouse.Error{Code: code, Message: "snowflake: " + se.Message}
	}
	return err
}
