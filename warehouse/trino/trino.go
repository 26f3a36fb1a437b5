// Package trino is the Trino (and Presto) warehouse: trino-go-client
// behind warehouse/sqldb, the "trino" dialect. DSN:
//
//	trino://user[:password]@host:port/catalog/schema[?ssl=true]
//	presto://…  (the same)
//
// HTTPS when ssl=true or the port is 443 (a password is only sent over
// HTTPS). The session's time zone is UTC. A statement whose context ends
// is stopped on the server by the client itself: trino-go-client sends
// DELETE /v1/query/<id> when a canceled fetch closes its rows.
//
// Athena is not registered: it speaks Trino's SQL but not Trino's HTTP
// protocol (its API is AWS's StartQueryExecution with SigV4 signing and
// results in S3), so this driver cannot reach it.
package trino

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	trinoclient "github.com/trinodb/trino-go-client/trino"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/sqldb"
)

func init() { warehouse.Register(Open, "trino", "presto") }

// Config is a DSN read: the client's configuration and the address.
type Config struct {
	Client  trinoclient.Config
	Address string // host:port
}

// ParseDSN reads trino://user[:password]@host:port/catalog/schema.
// Errors never hold the password.
func ParseDSN(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("trino warehouse: invalid DSN (trino://user[:password]@host:port/catalog/schema)")
	}
	bad := func(why string) error {
		return fmt.Errorf("trino warehouse %s: %s", warehouse.Redact(dsn), why)
	}
	if u.Scheme != "trino" && u.Scheme != "presto" {
		return nil, bad("the scheme must be trino:// or presto://")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, bad("a user is required (trino://user@host:port/catalog/schema)")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, bad("a host is required")
	}
	if port == "" {
		port = "8080"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return nil, bad("invalid port")
	}
	q := u.Query()
	ssl := port == "443"
	if s := q.Get("ssl"); s != "" {
		if ssl, err = strconv.ParseBool(s); err != nil {
			return nil, bad("ssl must be true or false")
		}
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) > 2 {
		return nil, bad("the path is /catalog/schema")
	}
	c := &Config{Address: net.JoinHostPort(host, port)}
	scheme := "http"
	if ssl {
		scheme = "https"
	}
	server := &url.URL{Scheme: scheme, Host: c.Address, User: u.User}
	c.Client = trinoclient.Config{
		ServerURI: server.String(),
		Source:    "cubegate",
		TimeZone:  "UTC",
	}
	if len(parts) > 0 {
		c.Client.Catalog = parts[0]
	}
	if len(parts) > 1 {
		c.Client.Schema = parts[1]
	}
	for k, v := range q {
		switch k {
		case "ssl":
		case "catalog":
			c.Client.Catalog = v[0]
		case "schema":
			c.Client.Schema = v[0]
		case "source":
			c.Client.Source = v[0]
		case "ssl_verification":
			c.Client.SSLVerification = strings.ToUpper(v[0])
		default:
			return nil, bad("unknown parameter " + k)
		}
	}
	return c, nil
}

// Open opens a Trino warehouse and checks it answers.
func Open(ctx context.Context, dsn string, o warehouse.Options) (warehouse.Warehouse, error) {
	c, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	clientDSN, err := c.Client.FormatDSN()
	if err != nil {
		return nil, fmt.Errorf("trino warehouse %s: %s", c.Address, redactErr(err, dsn))
	}
	db, err := sql.Open("trino", clientDSN)
	if err != nil {
		return nil, &warehouse.ConnectError{Engine: "trino", Address: c.Address, Err: errors.New(redactErr(err, dsn))}
	}
	w := sqldb.New(sqldb.Config{
		Engine: "trino", Dialect: "trino", Address: c.Address, DB: db,
		Type:       func(ct *sql.ColumnType) uint32 { return TypeOID(ct.DatabaseTypeName()) },
		Value:      Value,
		Error:      Error,
		Positional: true,
	}, o)
	if err := w.Connect(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// redactErr is err's text without the DSN's password.
func redactErr(err error, dsn string) string {
	s := err.Error()
	if u, e := url.Parse(dsn); e == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "***")
			s = strings.ReplaceAll(s, url.QueryEscape(p), "***")
		}
	}
	return s
}

// TypeOID maps a Trino type name (the client's DatabaseTypeName:
// upper-case, without its parameters) to a PostgreSQL type OID.
func TypeOID(name string) uint32 {
	n := strings.ToLower(name)
	if i := strings.IndexByte(n, '('); i >= 0 {
		n = n[:i]
	}
	switch strings.TrimSpace(n) {
	case "boolean":
		return pgtype.BoolOID
	case "tinyint", "smallint":
		return pgtype.Int2OID
	case "integer", "int":
		return pgtype.Int4OID
	case "bigint":
		return pgtype.Int8OID
	case "real":
		return pgtype.Float4OID
	case "double":
		return pgtype.Float8OID
	case "decimal":
		return pgtype.NumericOID
	case "varchar", "char":
		return pgtype.TextOID
	case "varbinary":
		return pgtype.ByteaOID
	case "date":
		return pgtype.DateOID
	case "timestamp":
		return pgtype.TimestampOID
	case "timestamp with time zone":
		return pgtype.TimestamptzOID
	case "time":
		return pgtype.TimeOID
	case "interval year to month", "interval day to second":
		return pgtype.IntervalOID
	case "uuid":
		return pgtype.UUIDOID
	case "json":
		return pgtype.JSONOID
	}
	return pgtype.TextOID // arrays, maps, rows, ipaddress, …: their JSON text
}

// Value turns a scanned value into the Go type the warehouse promises
// for the column's OID.
func Value(v any, oid uint32) (any, error) {
	switch oid {
	case pgtype.NumericOID:
		if s, ok := v.(string); ok {
			return numeric(s)
		}
	case pgtype.UUIDOID:
		if s, ok := v.(string); ok {
			u, err := uuid.Parse(s)
			if err != nil {
				return nil, err
			}
			return [16]byte(u), nil
		}
	case pgtype.IntervalOID:
		if s, ok := v.(string); ok {
			return interval(s)
		}
	case pgtype.TextOID:
		switch v.(type) {
		case string, []byte:
		case bool, int, int8, int16, int32, int64, float32, float64:
			return fmt.Sprint(v), nil
		default:
			b, err := json.Marshal(v)
			return string(b), err
		}
	}
	return warehouse.Normalize(v), nil
}

// numeric reads a decimal's text exactly.
func numeric(s string) (pgtype.Numeric, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	ip, frac, _ := strings.Cut(s, ".")
	i, ok := new(big.Int).SetString(ip+frac, 10)
	if !ok {
		return pgtype.Numeric{}, fmt.Errorf("trino: invalid decimal %q", s)
	}
	if neg {
		i.Neg(i)
	}
	return pgtype.Numeric{Int: i, Exp: -int32(len(frac)), Valid: true}, nil
}

// interval reads Trino's interval text: "Y-M" (year to month) or
// "D HH:MM:SS.fff" (day to second), either signed.
func interval(s string) (pgtype.Interval, error) {
	bad := fmt.Errorf("trino: invalid interval %q", s)
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimLeft(s, "+-")
	sign := int64(1)
	if neg {
		sign = -1
	}
	if y, m, ok := strings.Cut(t, "-"); ok && !strings.Contains(t, ":") {
		yy, err1 := strconv.ParseInt(y, 10, 32)
		mm, err2 := strconv.ParseInt(m, 10, 32)
		if err1 != nil || err2 != nil {
			return pgtype.Interval{}, bad
		}
		return pgtype.Interval{Months: int32(sign * (yy*12 + mm)), Valid: true}, nil
	}
	d, hms, ok := strings.Cut(t, " ")
	if !ok {
		return pgtype.Interval{}, bad
	}
	days, err := strconv.ParseInt(d, 10, 32)
	f := strings.Split(hms, ":")
	if err != nil || len(f) != 3 {
		return pgtype.Interval{}, bad
	}
	h, err1 := strconv.ParseInt(f[0], 10, 64)
	mi, err2 := strconv.ParseInt(f[1], 10, 64)
	sec, err3 := strconv.ParseFloat(f[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return pgtype.Interval{}, bad
	}
	us := (h*3600+mi*60)*1_000_000 + int64(sec*1_000_000+0.5)
	return pgtype.Interval{Days: int32(sign * days), Microseconds: sign * us, Valid: true}, nil
}

// sqlStates are the SQLSTATEs of Trino's error names PostgreSQL has a
// counterpart of.
var sqlStates = map[string]string{
	"DIVISION_BY_ZERO":           "22012",
	"NUMERIC_VALUE_OUT_OF_RANGE": "22003",
	"INVALID_CAST_ARGUMENT":      "22P02",
	"INVALID_FUNCTION_ARGUMENT":  "22023",
	"SYNTAX_ERROR":               "42601",
	"TABLE_NOT_FOUND":            "42P01",
	"COLUMN_NOT_FOUND":           "42703",
	"FUNCTION_NOT_FOUND":         "42883",
	"TYPE_MISMATCH":              "42804",
	"PERMISSION_DENIED":          "42501",
	"USER_CANCELED":              "57014",
	"EXCEEDED_TIME_LIMIT":        "57014",
	"NOT_SUPPORTED":              "0A000",
	"CATALOG_NOT_FOUND":          "3D000",
	"SCHEMA_NOT_FOUND":           "3F000",
}

// Error gives a Trino failure PostgreSQL's SQLSTATE.
func Error(err error) error {
	var te *trinoclient.ErrTrino
	if errors.As(err, &te) {
		code := sqlStates[te.ErrorName]
		if code == "" {
			code = "XX000"
			if te.ErrorType == "USER_ERROR" {
				code = "42000"
			}
		}
		return &warehouse.Error{Code: code, Message: "trino: " + te.Message}
	}
	return err
}
