// Package chtest starts a throwaway ClickHouse server from the machine's
// installed binary (Debian's clickhouse-server, 18.16), for tests that need
// a real ClickHouse warehouse, and copies tables into it from another
// warehouse.
//
// Each Start writes its own config.xml and users.xml into a temp dir (no
// file of the machine's /etc/clickhouse-server is read): the server listens
// on 127.0.0.1 only, on free ports for the native protocol (Port) and HTTP
// (HTTPPort); its data, tmp and user_files folders are in the temp dir, its
// log in server.log there, its time zone UTC. Authentication is real: the
// default user (the administrator: Exec, CopyTable) and the gateway's user,
// cubegate (User), each have a random password. The database public
// (Database) is made at start: the demo model's tables public.orders_raw and
// so on are tables of that database.
//
// ClickHouse 18.16 speaks the native protocol at revision 54412; the
// current github.com/ClickHouse/clickhouse-go/v2 downgrades to it, with one
// thing to know: a batch INSERT must name its columns
// (INSERT INTO t (a, b)), since 18.16 answers INSERT INTO t FORMAT Native
// with an empty header. CopyTable does.
//
// The server is killed with the test process (Pdeathsig) and, with its
// temp dir, when the test ends. It starts in well under a second.
//
// A missing ClickHouse is a test failure, never a skip: install
// clickhouse-server (make deps). CLICKHOUSE_BIN, when set, is the first
// folder searched for clickhouse-server (and clickhouse-client).
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/internal/servertest"
)

const (
	// User is the user DSN connects as.
	User = "cubegate"
	// Database is the database Start creates: the demo model's schema.
	Database = "public"
	// Admin is the administrator's user (Exec, CopyTable).
	Admin = "default"
)

// Server is a running throwaway ClickHouse.
type Server struct {
	// Dir is the temp dir: config.xml, users.xml, data/, tmp/,
	// user_files/, the server's log (server.log, server.err.log).
	Dir      string
	Port     int // native protocol
	HTTPPort int
	// Password is User's password; AdminPassword the default user's.
	Password      string
	AdminPassword string

	bin    string // clickhouse-server
	client string // clickhouse-client, when installed
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has ended
	admin  driver.Conn   // as Admin, in Database
	tb     testing.TB
}

// findBin finds name in $CLICKHOUSE_BIN, on PATH, in /usr/sbin and
// /usr/bin.
func findBin(name string) (string, error) {
	dirs := []string{os.Getenv("CLICKHOUSE_BIN")}
	if p, err := exec.LookPath(name); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range append(dirs, "/usr/sbin", "/usr/bin") {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s (in $CLICKHOUSE_BIN, on PATH, /usr/sbin, /usr/bin): install clickhouse-server (make deps)", name)
}

// Start starts a server with User, Admin and Database; it is killed and
// deleted when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := findBin("clickhouse-server")
	if err != nil {
		tb.Fatal(err)
	}
	client, _ := findBin("clickhouse-client")
	dir, err := os.MkdirTemp("", "cubegate-ch-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Dir: dir, Password: randomPassword(tb), AdminPassword: randomPassword(tb), bin: bin, client: client, tb: tb}
	tb.Cleanup(func() {
		if s.admin != nil {
			s.admin.Close()
		}
		s.kill()
		os.RemoveAll(dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(s.usersXML()), 0o600); err != nil {
		tb.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		s.Port, s.HTTPPort = servertest.FreePort(tb), servertest.FreePort(tb)
		if err := os.WriteFile(s.configPath(), []byte(s.configXML()), 0o600); err != nil {
			tb.Fatal(err)
		}
		err := s.start()
		if err == nil {
			break
		}
		log := s.log()
		if attempt == 2 || !strings.Contains(log, "Address already in use") {
			tb.Fatalf("clickhouse-server: %v\n%s", err, log)
		}
	}
	return s
}

func randomPassword(tb testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (s *Server) configPath() string { return filepath.Join(s.Dir, "config.xml") }

// configXML is the server's config: what the server needs and nothing of
// the packaged config's clusters, graphite or interserver port.
func (s *Server) configXML() string {
	d := s.Dir
	return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>` + filepath.Join(d, "server.log") + `</log>
    <errorlog>` + filepath.Join(d, "server.err.log") + `</errorlog>
    <size>100M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>` + strconv.Itoa(s.Port) + `</tcp_port>
  <http_port>` + strconv.Itoa(s.HTTPPort) + `</http_port>
  <path>` + filepath.Join(d, "data") + `/</path>
  <tmp_path>` + filepath.Join(d, "tmp") + `/</tmp_path>
  <user_files_path>` + filepath.Join(d, "user_files") + `/</user_files_path>
  <format_schema_path>` + filepath.Join(d, "format_schemas") + `/</format_schema_path>
  <users_config>` + filepath.Join(d, "users.xml") + `</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <max_connections>1024</max_connections>
  <max_concurrent_queries>200</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds>
  </query_log>
</yandex>
`
}

// usersXML: Admin and User with their passwords, from the loopback only;
// queries are logged to system.query_log.
func (s *Server) usersXML() string {
	user := func(name, password string) string {
		return `    <` + name + `>
      <password>` + password + `</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </` + name + `>
`
	}
	return `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <log_queries>1</log_queries>
      <!-- A connection's handler sees a shutdown (Stop) when its wait for
           the client's next packet ends: within 1 s, not the default 10. -->
      <poll_interval>1</poll_interval>
    </default>
  </profiles>
  <users>
` + user(Admin, s.AdminPassword) + user(User, s.Password) + `  </users>
  <quotas><default></default></quotas>
</yandex>
`
}

func (s *Server) log() string {
	out, _ := os.ReadFile(filepath.Join(s.Dir, "server.err.log"))
	if len(out) > 8000 {
		out = out[len(out)-8000:]
	}
	return string(out)
}

// start starts clickhouse-server, waits until it answers Admin on the
// native port and makes Database if it is not there.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, "--config-file="+s.configPath())
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	admin, err := s.open(Admin, s.AdminPassword, "default")
	if err != nil {
		s.kill()
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := admin.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			admin.Close()
			return fmt.Errorf("clickhouse-server ended at start: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			admin.Close()
			s.kill()
			return fmt.Errorf("clickhouse-server did not answer within 60 s: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(Database))
	admin.Close()
	if err != nil {
		s.kill()
		return err
	}
	// The administrator's pool works in Database: unqualified names are
	// its tables.
	s.admin, err = s.open(Admin, s.AdminPassword, Database)
	return err
}

func (s *Server) open(user, password, database string) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        []string{s.Addr()},
		Auth:        clickhouse.Auth{Database: database, Username: user, Password: password},
		Protocol:    clickhouse.Native,
		DialTimeout: 2 * time.Second,
		ReadTimeout: 5 * time.Minute,
	})
}

// Addr is the native protocol's address, 127.0.0.1:Port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// HTTPAddr is the HTTP interface's address, 127.0.0.1:HTTPPort.
func (s *Server) HTTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.HTTPPort)) }

// DSN is database's DSN for the gateway, as User:
// clickhouse://cubegate:PASSWORD@127.0.0.1:PORT/DATABASE (the native port;
// clickhouse-go's own DSN parser reads it as is).
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "clickhouse", User: url.UserPassword(User, s.Password), Host: s.Addr(), Path: "/" + database}
	return u.String()
}

// Conn opens database as User over the native protocol; it is closed
// when the test ends.
func (s *Server) Conn(tb testing.TB, database string) driver.Conn {
	tb.Helper()
	c, err := s.open(User, s.Password, database)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// AdminConn is a pool connected as Admin, in Database (nil while the
// server is stopped).
func (s *Server) AdminConn() driver.Conn { return s.admin }

// Exec runs each statement as Admin, in Database, and fails the test on
// an error.
func (s *Server) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, q := range stmts {
		if err := s.admin.Exec(ctx, q); err != nil {
			tb.Fatalf("chtest: %s: %v", q, err)
		}
	}
}

// Client runs clickhouse-client as Admin on database with args (for
// example --query "SELECT …", --format PrettyCompact) and returns its
// output; it fails the test on an error.
func (s *Server) Client(tb testing.TB, database string, args ...string) string {
	tb.Helper()
	if s.client == "" {
		tb.Fatal("chtest: no clickhouse-client: install clickhouse-client (make deps)")
	}
	all := append([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--user", Admin,
		"--password", s.AdminPassword, "--database", database}, args...)
	out, err := exec.Command(s.client, all...).CombinedOutput()
	if err != nil {
		tb.Fatalf("clickhouse-client %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// CreateDatabase creates a database and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Exec(tb, "CREATE DATABASE "+quoteIdent(name))
	return s.DSN(name)
}

// Stop stops the server (SIGTERM: sessions are ended), as an outage
// would; Restart starts it again on the same ports, with the same data.
func (s *Server) Stop() {
	s.tb.Helper()
	if s.cmd == nil {
		return
	}
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.kill()
		s.tb.Fatal("chtest: clickhouse-server did not stop within 60 s of SIGTERM")
	}
	s.cmd = nil
}

// Restart starts a stopped server on its ports.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("clickhouse-server: %v\n%s", err, s.log())
	}
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// quoteIdent quotes a ClickHouse identifier; a qualified name
// (database.table) is quoted part by part.
func quoteIdent(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(p) + "`"
	}
	return strings.Join(parts, ".")
}

// CopyTable copies srcTable of src into a new table dstTable of the
// server (a name database.table, or a table of Database), as Admin; it
// fails the test on an error.
func (s *Server) CopyTable(tb testing.TB, src warehouse.Warehouse, srcTable, dstTable string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if !strings.Contains(dstTable, ".") {
		dstTable = Database + "." + dstTable
	}
	if err := CopyTable(ctx, s.admin, src, srcTable, dstTable); err != nil {
		tb.Fatal(err)
	}
}

// copyBatch is the number of rows CopyTable sends in one INSERT block.
const copyBatch = 10000

// CopyTable creates dstTable in dst (a name database.table, or a table of
// dst's database) with the columns of srcTable of src, and fills it with
// all of srcTable's rows through the driver's batch API.
//
// Types are mapped from the PostgreSQL types src reports, as ClickHouse
// 18.16 has them: int2/int4/int8 Int16/Int32/Int64, numeric Decimal(p,s)
// as src's information_schema declares it (Decimal(38,10) when it does not
// say; 38 digits at most), float4/float8 Float32/Float64, bool UInt8 (18.16
// has no Bool), text/varchar String, bytea/json/jsonb String, date Date,
// timestamp and timestamptz DateTime (18.16 has no DateTime64: whole
// seconds, in UTC, 1970 to 2105 — a value with a fraction of a second or
// out of that range is an error, not silently changed), uuid UUID.
//
// The table is ENGINE = MergeTree ORDER BY id, with a column named id
// as its key (not Nullable: a sorting key cannot be), or ORDER BY tuple()
// without one; every other column is Nullable.
func CopyTable(ctx context.Context, dst driver.Conn, src warehouse.Warehouse, srcTable, dstTable string) error {
	fail := func(err error) error { return fmt.Errorf("chtest: copy %s to %s: %w", srcTable, dstTable, err) }
	decimals := servertest.DeclaredDecimals(ctx, src, srcTable)
	rows, err := src.Query(ctx, "SELECT * FROM "+srcTable)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	cols, oids := rows.Columns(), rows.Types()
	kinds := make([]kind, len(cols))
	defs := make([]string, len(cols))
	quoted := make([]string, len(cols))
	id := -1
	for i, c := range cols {
		if strings.EqualFold(c, "id") && id < 0 {
			id = i
		}
	}
	for i, c := range cols {
		k, err := kindOf(oids[i], decimals[c])
		if err != nil {
			return fail(fmt.Errorf("column %s: %w", c, err))
		}
		kinds[i] = k
		quoted[i] = quoteIdent(c)
		if i == id {
			defs[i] = quoted[i] + " " + k.typ
		} else {
			defs[i] = quoted[i] + " Nullable(" + k.typ + ")"
		}
	}
	key := "tuple()"
	if id >= 0 {
		key = quoted[id]
	}
	create := "CREATE TABLE " + quoteIdent(dstTable) + " (\n  " + strings.Join(defs, ",\n  ") + "\n) ENGINE = MergeTree ORDER BY " + key
	if err := dst.Exec(ctx, create); err != nil {
		return fail(err)
	}

	// 18.16 needs the columns named (see the package comment).
	insert := "INSERT INTO " + quoteIdent(dstTable) + " (" + strings.Join(quoted, ", ") + ")"
	var batch driver.Batch
	n := 0
	send := func() error {
		if batch == nil {
			return nil
		}
		b := batch
		batch, n = nil, 0
		return b.Send()
	}
	defer func() {
		if batch != nil {
			batch.Abort()
		}
	}()
	row := make([]any, len(cols))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fail(err)
		}
		for i, v := range vals {
			if v == nil && i == id {
				return fail(fmt.Errorf("column %s: NULL in the table's key", cols[i]))
			}
			if row[i], err = kinds[i].value(v); err != nil {
				return fail(fmt.Errorf("column %s: %w", cols[i], err))
			}
		}
		if batch == nil {
			if batch, err = dst.PrepareBatch(ctx, insert); err != nil {
				return fail(err)
			}
		}
		if err := batch.Append(row...); err != nil {
			return fail(err)
		}
		if n++; n == copyBatch {
			if err := send(); err != nil {
				return fail(err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if err := send(); err != nil {
		return fail(err)
	}
	return nil
}

// kind is a column's ClickHouse type and the conversion of warehouse.Rows
// values to what the driver appends to it.
type kind struct {
	typ   string
	value func(v any) (any, error)
}

// kindOf is the ClickHouse type of a PostgreSQL type OID.
func kindOf(oid uint32, dec [2]int) (kind, error) {
	switch oid {
	case pgtype.Int2OID:
		return kind{"Int16", integer(math.MinInt16, math.MaxInt16, func(n int64) any { return int16(n) })}, nil
	case pgtype.Int4OID:
		return kind{"Int32", integer(math.MinInt32, math.MaxInt32, func(n int64) any { return int32(n) })}, nil
	case pgtype.Int8OID:
		return kind{"Int64", integer(math.MinInt64, math.MaxInt64, func(n int64) any { return n })}, nil
	case pgtype.NumericOID:
		p, sc := dec[0], dec[1]
		if p == 0 {
			p, sc = 38, 10
		}
		p = min(p, 38)
		return kind{fmt.Sprintf("Decimal(%d,%d)", p, min(sc, p)), decimalValue}, nil
	case pgtype.Float4OID:
		return kind{"Float32", func(v any) (any, error) {
			f, ok := v.(float64)
			if !ok {
				return typed[float32](v)
			}
			return float32(f), nil
		}}, nil
	case pgtype.Float8OID:
		return kind{"Float64", typed[float64]}, nil
	case pgtype.BoolOID:
		return kind{"UInt8", func(v any) (any, error) {
			b, ok := v.(bool)
			if !ok {
				return typed[uint8](v)
			}
			if b {
				return uint8(1), nil
			}
			return uint8(0), nil
		}}, nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
		return kind{"String", func(v any) (any, error) {
			if b, ok := v.([]byte); ok {
				return string(b), nil
			}
			return typed[string](v)
		}}, nil
	case pgtype.DateOID:
		return kind{"Date", func(v any) (any, error) {
			t, ok := v.(time.Time)
			if !ok {
				return typed[time.Time](v)
			}
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			// Date is a UInt16 of days since 1970-01-01.
			if days := t.Unix() / 86400; days < 0 || days > math.MaxUint16 {
				return nil, fmt.Errorf("%s is outside ClickHouse's Date (1970-01-01 to 2149-06-06)", t.Format(time.DateOnly))
			}
			return t, nil
		}}, nil
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return kind{"DateTime", func(v any) (any, error) {
			t, ok := v.(time.Time)
			if !ok {
				return typed[time.Time](v)
			}
			t = t.UTC()
			if t.Nanosecond() != 0 {
				return nil, fmt.Errorf("%s has a fraction of a second: ClickHouse 18.16's DateTime holds whole seconds", t.Format(time.RFC3339Nano))
			}
			if u := t.Unix(); u < 0 || u > math.MaxUint32 {
				return nil, fmt.Errorf("%s is outside ClickHouse's DateTime (1970 to 2106)", t.Format(time.RFC3339))
			}
			return t, nil
		}}, nil
	case pgtype.UUIDOID:
		return kind{"UUID", func(v any) (any, error) {
			switch x := v.(type) {
			case [16]byte:
				return uuid.UUID(x), nil
			case []byte:
				if len(x) == 16 { // DuckDB's uuid
					return uuid.UUID(x), nil
				}
			case string:
				return uuid.Parse(x)
			}
			return typed[uuid.UUID](v)
		}}, nil
	}
	return kind{}, fmt.Errorf("no ClickHouse 18.16 type for PostgreSQL type OID %d", oid)
}

// typed passes nil and a T through; anything else is an error.
func typed[T any](v any) (any, error) {
	switch v.(type) {
	case nil, T:
		return v, nil
	}
	var zero T
	return nil, fmt.Errorf("a %T value where %T was expected", v, zero)
}

func integer(lo, hi int64, conv func(int64) any) func(v any) (any, error) {
	return func(v any) (any, error) {
		n, ok := v.(int64)
		if !ok {
			return typed[int64](v)
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is out of range", n)
		}
		return conv(n), nil
	}
}

func decimalValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case pgtype.Numeric:
		if !x.Valid {
			return nil, nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("%v has no Decimal", x)
		}
		return decimal.NewFromBigInt(x.Int, x.Exp), nil
	case int64:
		return decimal.NewFromInt(x), nil
	case float64:
		return decimal.NewFromFloat(x), nil
	case string:
		return decimal.NewFromString(x)
	}
	return nil, fmt.Errorf("a %T value where a numeric was expected", v)
}
