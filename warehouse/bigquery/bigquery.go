// Package bigquery puts Google BigQuery behind warehouse.Warehouse with
// cloud.google.com/go/bigquery (BigQuery is not a database/sql engine).
//
// DSN: bigquery://project[/dataset]?credentials_file=/path/sa.json&location=EU
//
//   - project: the project jobs run (and are billed) in;
//   - dataset: the default dataset of unqualified table names;
//   - credentials_file: a service-account JSON key file; without it the
//     Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the
//     metadata server) are used. The key's content is never logged;
//   - location: the location jobs run in (US, EU, europe-west1, …);
//   - storage_read=false turns off the Storage Read API, which otherwise
//     downloads large results (BigQuery decides when) in parallel streams;
//   - endpoint: another API endpoint (an emulator), unauthenticated.
//
// Statements are written by the "bigquery" dialect with named parameters
// (@p1, @p2, …). Rows stream from the job's RowIterator; a context that
// ends first cancels the job on the server (jobs.cancel).
package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/cubegate/cubegate/warehouse"
)

func init() { warehouse.Register(Open, "bigquery") }

// Config is a parsed DSN.
type Config struct {
	Project, Dataset string
	CredentialsFile  string
	Location         string
	StorageRead      bool
	Endpoint         string
}

// ParseDSN reads a bigquery:// DSN. Its errors name no secret (the DSN
// holds none: the key is in a file).
func ParseDSN(dsn string) (Config, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "bigquery" {
		return Config{}, fmt.Errorf("bigquery: the DSN is bigquery://project[/dataset]?credentials_file=…")
	}
	c := Config{Project: u.Host, StorageRead: true}
	if c.Project == "" {
		return Config{}, fmt.Errorf("bigquery: the DSN names no project (bigquery://project[/dataset])")
	}
	if u.User != nil {
		return Config{}, fmt.Errorf("bigquery: the DSN takes no user or password: give credentials_file")
	}
	c.Dataset = strings.Trim(u.Path, "/")
	if strings.Contains(c.Dataset, "/") {
		return Config{}, fmt.Errorf("bigquery: the DSN's path is one dataset, not %q", c.Dataset)
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "credentials_file":
			c.CredentialsFile = v
		case "location":
			c.Location = v
		case "endpoint":
			c.Endpoint = v
		case "storage_read":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("bigquery: storage_read=%q is not a boolean", v)
			}
			c.StorageRead = b
		default:
			return Config{}, fmt.Errorf("bigquery: unknown DSN parameter %q (want credentials_file, location, storage_read, endpoint)", k)
		}
	}
	return c, nil
}

// Warehouse is a BigQuery project.
type Warehouse struct {
	cfg    Config
	client *bigquery.Client
}

// Open connects to BigQuery (no query runs: credentials are checked by
// the first statement or Ping).
func Open(ctx context.Context, dsn string, _ warehouse.Options) (warehouse.Warehouse, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	switch {
	case cfg.Endpoint != "":
		opts = append(opts, option.WithEndpoint(cfg.Endpoint), option.WithoutAuthentication())
	case cfg.CredentialsFile != "":
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, cfg.CredentialsFile))
	}
	client, err := bigquery.NewClient(ctx, cfg.Project, opts...)
	if err != nil {
		return nil, &warehouse.ConnectError{Engine: "bigquery", Address: cfg.Project, Err: err}
	}
	client.Location = cfg.Location
	if cfg.StorageRead && cfg.Endpoint == "" {
		if err := client.EnableStorageReadClient(ctx, opts...); err != nil {
			client.Close()
			return nil, &warehouse.ConnectError{Engine: "bigquery", Address: cfg.Project, Err: err}
		}
	}
	return &Warehouse{cfg: cfg, client: client}, nil
}

func (w *Warehouse) Dialect() string { return "bigquery" }

// Address is the project, for the log.
func (w *Warehouse) Address() string { return w.cfg.Project }
func (w *Warehouse) Close() error    { return w.client.Close() }

func (w *Warehouse) Ping(ctx context.Context) error {
	rows, err := w.Query(ctx, "SELECT 1")
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

// Params binds args as the dialect's @p1, @p2, …: times as STRING
// (BigQuery coerces a STRING parameter to the TIMESTAMP, DATETIME or
// DATE it is compared with; a TIMESTAMP parameter compares with no
// DATETIME), NULL as a NULL STRING.
func Params(args []any) []bigquery.QueryParameter {
	ps := make([]bigquery.QueryParameter, len(args))
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case nil:
			v = bigquery.NullString{}
		case time.Time:
			v = x.UTC().Format("2006-01-02 15:04:05.999999")
		case int:
			v = int64(x)
		case int32:
			v = int64(x)
		default:
			v = a
		}
		ps[i] = bigquery.QueryParameter{Name: "p" + strconv.Itoa(i+1), Value: v}
	}
	return ps
}

func (w *Warehouse) Query(ctx context.Context, sql string, args ...any) (warehouse.Rows, error) {
	q := w.client.Query(sql)
	q.Parameters = Params(args)
	if w.cfg.Dataset != "" {
		q.DefaultProjectID, q.DefaultDatasetID = w.cfg.Project, w.cfg.Dataset
	}
	job, err := q.Run(ctx)
	if err != nil {
		return nil, w.err(ctx, err)
	}
	r := &rows{job: job, done: make(chan struct{})}
	// The job runs on the server whatever happens to ctx: cancel it when
	// ctx ends before the rows are read to their end or closed.
	go r.watch(ctx)
	it, err := job.Read(ctx)
	if err != nil {
		r.Close()
		return nil, w.err(ctx, err)
	}
	r.it = it
	// The schema is known once the first page is read.
	if err := it.Next(&r.row); err == iterator.Done {
		r.eof = true
	} else if err != nil {
		r.Close()
		return nil, w.err(ctx, err)
	} else {
		r.peeked = true
	}
	r.schema = it.Schema
	r.cols = make([]string, len(r.schema))
	r.types = make([]uint32, len(r.schema))
	for i, f := range r.schema {
		r.cols[i], r.types[i] = f.Name, OID(f)
	}
	return r, nil
}

// err turns a BigQuery error into the gateway's: the context's own end
// as is, an API error with the SQLSTATE PostgreSQL gives its kind.
func (w *Warehouse) err(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		reason := ""
		if len(ge.Errors) > 0 {
			reason = ge.Errors[0].Reason
		}
		msg := ge.Message
		if msg == "" && len(ge.Errors) > 0 {
			msg = ge.Errors[0].Message
		}
		code := map[string]string{
			"invalidQuery": "42601", "invalid": "22023", "notFound": "42P01", "duplicate": "42P07",
			"accessDenied": "42501", "quotaExceeded": "53400", "rateLimitExceeded": "53400",
			"resourcesExceeded": "53000", "responseTooLarge": "54000", "stopped": "57014",
		}[reason]
		switch {
		case code == "" && (ge.Code == 401 || ge.Code == 403):
			code = "28000"
		case code == "" && ge.Code >= 500:
			return &warehouse.UnavailableError{Engine: "bigquery", Address: w.cfg.Project, Reason: warehouse.Reason(err)}
		case code == "":
			code = "XX000"
		}
		return &warehouse.Error{Code: code, Message: "bigquery: " + msg}
	}
	return err
}

type rows struct {
	job    *bigquery.Job
	it     *bigquery.RowIterator
	schema bigquery.Schema
	cols   []string
	types  []uint32
	row    []bigquery.Value
	vals   []any
	peeked bool
	eof    bool
	err    error

	once sync.Once
	done chan struct{}
}

func (r *rows) watch(ctx context.Context) {
	select {
	case <-r.done:
	case <-ctx.Done():
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.job.Cancel(cctx) // best effort: the job may have ended already
	}
}

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Types() []uint32   { return r.types }

func (r *rows) Next() bool {
	if r.eof || r.err != nil {
		return false
	}
	if r.peeked {
		r.peeked = false
		return true
	}
	switch err := r.it.Next(&r.row); {
	case err == iterator.Done:
		r.eof = true
		r.Close()
		return false
	case err != nil:
		r.err = err
		return false
	}
	return true
}

func (r *rows) Values() ([]any, error) {
	if cap(r.vals) < len(r.row) {
		r.vals = make([]any, len(r.row))
	}
	r.vals = r.vals[:len(r.row)]
	for i, v := range r.row {
		var f *bigquery.FieldSchema
		if i < len(r.schema) {
			f = r.schema[i]
		}
		x, err := Value(f, v)
		if err != nil {
			return nil, err
		}
		r.vals[i] = x
	}
	return r.vals, nil
}

func (r *rows) Err() error { return r.err }

func (r *rows) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// PostgreSQL type OIDs.
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidText        = 25
	oidJSON        = 114
	oidFloat8      = 701
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidInterval    = 1186
	oidNumeric     = 1700
	oidTimestamptz = 1184
)

// OID is the PostgreSQL type of a BigQuery column: a TIMESTAMP is a UTC
// instant read as PostgreSQL's timestamp (without time zone, as the
// dialect's time dimensions are), a DATETIME the same; arrays and
// records are JSON text.
func OID(f *bigquery.FieldSchema) uint32 {
	if f.Repeated {
		return oidJSON
	}
	switch f.Type {
	case bigquery.StringFieldType, bigquery.GeographyFieldType, bigquery.RangeFieldType:
		return oidText
	case bigquery.BytesFieldType:
		return oidBytea
	case bigquery.IntegerFieldType:
		return oidInt8
	case bigquery.FloatFieldType:
		return oidFloat8
	case bigquery.BooleanFieldType:
		return oidBool
	case bigquery.TimestampFieldType, bigquery.DateTimeFieldType:
		return oidTimestamp
	case bigquery.DateFieldType:
		return oidDate
	case bigquery.TimeFieldType:
		return oidTime
	case bigquery.NumericFieldType, bigquery.BigNumericFieldType:
		return oidNumeric
	case bigquery.IntervalFieldType:
		return oidInterval
	case bigquery.JSONFieldType, bigquery.RecordFieldType:
		return oidJSON
	}
	return oidText
}

// Value normalizes a BigQuery value to the Go types the PostgreSQL
// warehouse gives (see warehouse.Rows).
func Value(f *bigquery.FieldSchema, v bigquery.Value) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC(), nil
	case civil.DateTime:
		return x.In(time.UTC), nil
	case civil.Date:
		return x.In(time.UTC), nil
	case civil.Time:
		return time.Date(1970, 1, 1, x.Hour, x.Minute, x.Second, x.Nanosecond, time.UTC), nil
	case *big.Rat:
		if x == nil {
			return nil, nil
		}
		scale := 9
		if f != nil && f.Type == bigquery.BigNumericFieldType {
			scale = 38
		}
		return Numeric(x, scale)
	case *bigquery.IntervalValue:
		if x == nil {
			return nil, nil
		}
		return pgtype.Interval{
			Months:       x.Years*12 + x.Months,
			Days:         x.Days,
			Microseconds: (int64(x.Hours)*3600+int64(x.Minutes)*60+int64(x.Seconds))*1e6 + int64(x.SubSecondNanos)/1e3,
			Valid:        true,
		}, nil
	case []bigquery.Value, map[string]bigquery.Value:
		return jsonText(f, v), nil
	}
	return warehouse.Normalize(v), nil
}

// Numeric is x, exact to scale decimals (NUMERIC's 9, BIGNUMERIC's 38),
// as a pgtype.Numeric without trailing zeros.
func Numeric(x *big.Rat, scale int) (pgtype.Numeric, error) {
	s := x.FloatString(scale)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		return pgtype.Numeric{}, fmt.Errorf("bigquery: numeric %s: %w", s, err)
	}
	return n, nil
}

// jsonText renders an ARRAY or STRUCT value as JSON text.
func jsonText(f *bigquery.FieldSchema, v bigquery.Value) string {
	var b strings.Builder
	writeJSON(&b, f, v, f != nil && f.Repeated)
	return b.String()
}

func writeJSON(b *strings.Builder, f *bigquery.FieldSchema, v bigquery.Value, repeated bool) {
	if v == nil {
		b.WriteString("null")
		return
	}
	if repeated {
		xs, _ := v.([]bigquery.Value)
		b.WriteByte('[')
		for i, x := range xs {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, f, x, false)
		}
		b.WriteByte(']')
		return
	}
	if f != nil && f.Type == bigquery.RecordFieldType {
		xs, _ := v.([]bigquery.Value)
		b.WriteByte('{')
		for i, sub := range f.Schema {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(sub.Name) + ":")
			var x bigquery.Value
			if i < len(xs) {
				x = xs[i]
			}
			writeJSON(b, sub, x, sub.Repeated)
		}
		b.WriteByte('}')
		return
	}
	n, _ := Value(f, v)
	switch x := n.(type) {
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case pgtype.Numeric:
		t, _ := x.Value()
		fmt.Fprint(b, t)
	case time.Time:
		b.WriteString(jsonString(x.Format(time.RFC3339Nano)))
	case string:
		if f != nil && f.Type == bigquery.JSONFieldType {
			b.WriteString(x)
		} else {
			b.WriteString(jsonString(x))
		}
	default:
		b.WriteString(jsonString(fmt.Sprint(x)))
	}
}

func jsonString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}
