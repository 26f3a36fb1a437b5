// Package mysqltest starts a throwaway MariaDB server from the machine's
// installed binaries (Debian's mariadb-server: mariadbd, mariadb-install-db,
// mariadb-tzinfo-to-sql, the mariadb client), for tests that need a real
// MySQL-family warehouse, and copies tables into it from another warehouse.
//
// Each Start makes a data directory in a temp dir (mariadb-install-db
// --no-defaults: no my.cnf of the machine is read), starts mariadbd on it
// listening on 127.0.0.1 on a free port and on a socket in the temp dir,
// without binary log, with small buffers, utf8mb4 and the session time zone
// '+00:00', and loads the time-zone tables, so CONVERT_TZ knows named zones
// ('America/New_York'). Authentication is real: the gateway's user,
// cubegate (User), has a random password (Server.Password) and all
// privileges on the database public (Database) — the demo model's tables
// public.orders_raw and so on are, in MySQL, tables of that database.
// Administration (Exec, CopyTable, CreateDatabase) is done as root over
// the socket.
//
// When the tests run as root, mariadbd runs as root too (--user=root), so
// no mysql OS user is needed; otherwise as the user the tests run as. The
// server is killed with the test process (Pdeathsig) and, with its temp
// dir, when the test ends.
//
// A missing MariaDB is a test failure, never a skip: install mariadb-server
// (make deps). MARIADB_BIN, when set, is the first folder searched for the
// binaries.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
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

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/internal/servertest"
)

const (
	// User is the user DSN and GoDSN connect as.
	User = "cubegate"
	// Database is the database Start creates and grants User: the demo
	// model's schema.
	Database = "public"
)

// Server is a running throwaway MariaDB.
type Server struct {
	// Dir is the temp dir: data/ (the data directory), the socket, the
	// server's log (server.log).
	Dir     string
	DataDir string
	Socket  string
	Port    int
	// Password is User's password.
	Password string

	bins   bins
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has ended
	root   *sql.DB       // root over the socket, in Database
	tb     testing.TB
}

type bins struct{ mariadbd, installDB, tzinfoToSQL, client string }

// findBins finds the MariaDB binaries: in $MARIADB_BIN, on PATH, in
// /usr/sbin and /usr/bin.
func findBins() (bins, error) {
	var b bins
	var missing []string
	find := func(name string) string {
		dirs := []string{os.Getenv("MARIADB_BIN")}
		if p, err := exec.LookPath(name); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
		for _, d := range append(dirs, "/usr/sbin", "/usr/bin") {
			if d == "" {
				continue
			}
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	b.mariadbd = find("mariadbd")
	b.installDB = find("mariadb-install-db")
	b.tzinfoToSQL = find("mariadb-tzinfo-to-sql")
	b.client = find("mariadb")
	if len(missing) > 0 {
		return b, fmt.Errorf("no MariaDB binaries %s (in $MARIADB_BIN, on PATH, /usr/sbin, /usr/bin): install mariadb-server (make deps)", strings.Join(missing, ", "))
	}
	return b, nil
}

// Start initialises and starts a server with User and Database; it is
// killed and deleted when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	b, err := findBins()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cubegate-my-")
	if err != nil {
		tb.Fatal(err)
	}
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		tb.Fatal(err)
	}
	s := &Server{Dir: dir, DataDir: filepath.Join(dir, "data"), Socket: filepath.Join(dir, "mysqld.sock"),
		Password: hex.EncodeToString(pw), bins: b, tb: tb}
	tb.Cleanup(func() {
		if s.root != nil {
			s.root.Close()
		}
		s.kill()
		os.RemoveAll(dir)
	})

	// The time-zone tables are filled in the bootstrap (--extra-file): a
	// quarter of a second there, three times that through the client.
	install := exec.Command(b.installDB, append([]string{"--no-defaults", "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve", "--datadir=" + s.DataDir, "--extra-file=" + s.timeZoneSQL()}, s.serverOptions()...)...)
	if out, err := install.CombinedOutput(); err != nil {
		tb.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		s.Port = servertest.FreePort(tb)
		err := s.start()
		if err == nil {
			break
		}
		log, _ := os.ReadFile(s.logPath())
		if attempt == 2 || !strings.Contains(string(log), "Address already in use") {
			tb.Fatalf("mariadbd: %v\n%s", err, log)
		}
	}

	root, err := sql.Open("mysql", s.rootDSN(""))
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{
		fmt.Sprintf("CREATE USER %s@'%%' IDENTIFIED BY '%s'", User, s.Password),
		"CREATE DATABASE " + Database,
		fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO %s@'%%'", Database, User),
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			tb.Fatalf("mysqltest: %s: %v", q, err)
		}
	}
	if s.root, err = sql.Open("mysql", s.rootDSN(Database)); err != nil {
		tb.Fatal(err)
	}
	return s
}

// serverOptions are mariadbd's options, for mariadb-install-db's
// bootstrap as for the server.
func (s *Server) serverOptions() []string {
	o := []string{
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		// Like pgtest's fsync=off: a throwaway server need not survive a
		// crash.
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
	}
	if os.Geteuid() == 0 {
		o = append(o, "--user=root")
	}
	return o
}

func (s *Server) logPath() string { return filepath.Join(s.Dir, "server.log") }

// start starts mariadbd on s.Port and waits until it answers on its
// socket.
func (s *Server) start() error {
	args := append([]string{"--no-defaults"}, s.serverOptions()...)
	args = append(args,
		"--datadir="+s.DataDir,
		"--bind-address=127.0.0.1",
		"--port="+strconv.Itoa(s.Port),
		"--socket="+s.Socket,
		"--pid-file="+filepath.Join(s.Dir, "mysqld.pid"),
		"--log-error="+s.logPath(),
		"--tmpdir="+s.Dir,
		"--skip-log-bin",
		"--skip-name-resolve",
		"--default-time-zone=+00:00",
		"--max-connections=200",
		"--performance-schema=OFF",
	)
	cmd := exec.Command(s.bins.mariadbd, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	db, err := sql.Open("mysql", s.rootDSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mariadbd ended at start: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("mariadbd did not answer within 60 s: %v", err)
		}
	}
}

// timeZoneSQL writes the statements that fill the time-zone tables from
// /usr/share/zoneinfo, without its posix/ and right/ copies (two thirds
// of the work), and returns the file's path.
func (s *Server) timeZoneSQL() string {
	s.tb.Helper()
	const zoneinfo = "/usr/share/zoneinfo"
	entries, err := os.ReadDir(zoneinfo)
	if err != nil {
		s.tb.Fatalf("mysqltest: time zones: %v (install tzdata)", err)
	}
	zi := filepath.Join(s.Dir, "zoneinfo")
	if err := os.Mkdir(zi, 0o755); err != nil {
		s.tb.Fatal(err)
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case n == "posix", n == "right", n == "posixrules", n == "localtime", n == "leapseconds", strings.Contains(n, "."):
		default:
			if err := os.Symlink(filepath.Join(zoneinfo, n), filepath.Join(zi, n)); err != nil {
				s.tb.Fatal(err)
			}
		}
	}
	var stderr strings.Builder
	cmd := exec.Command(s.bins.tzinfoToSQL, "--no-defaults", zi)
	cmd.Stderr = &stderr
	tzsql, err := cmd.Output()
	if err != nil {
		s.tb.Fatalf("mariadb-tzinfo-to-sql: %v\n%s", err, stderr.String())
	}
	path := filepath.Join(s.Dir, "timezones.sql")
	if err := os.WriteFile(path, tzsql, 0o644); err != nil {
		s.tb.Fatal(err)
	}
	return path
}

// Client runs the mariadb client as root over the socket on database
// with args (for example -e "source FILE", --table) and returns its
// output; it fails the test on an error.
func (s *Server) Client(tb testing.TB, database string, args ...string) string {
	tb.Helper()
	all := append([]string{"--no-defaults", "--user=root", "--socket=" + s.Socket, "--batch"}, args...)
	out, err := exec.Command(s.bins.client, append(all, database)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("mariadb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// DSN is database's DSN for the gateway (mysql://cubegate:PASSWORD@127.0.0.1:PORT/DATABASE).
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(User, s.Password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), Path: "/" + database}
	return u.String()
}

// GoDSN is database's DSN for github.com/go-sql-driver/mysql, as User,
// with parseTime (DATETIME and DATE as time.Time, in UTC).
func (s *Server) GoDSN(database string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd = User, s.Password
	c.Net, c.Addr = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	c.DBName = database
	c.ParseTime = true
	return c.FormatDSN()
}

func (s *Server) rootDSN(database string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net, c.Addr = "unix", s.Socket
	c.DBName = database
	c.ParseTime = true
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

// DB opens database as User (GoDSN); it is closed when the test ends.
func (s *Server) DB(tb testing.TB, database string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("mysql", s.GoDSN(database))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Root is a pool connected as root over the socket, in Database.
func (s *Server) Root() *sql.DB { return s.root }

// Exec runs each statement as root, in Database, and fails the test on
// an error.
func (s *Server) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, q := range stmts {
		if _, err := s.root.ExecContext(ctx, q); err != nil {
			tb.Fatalf("mysqltest: %s: %v", q, err)
		}
	}
}

// CreateDatabase creates a database, grants it User and returns its DSN.
func (s *Server) CreateDatabase(tb testing.TB, name string) string {
	tb.Helper()
	s.Exec(tb, "CREATE DATABASE "+quoteIdent(name), fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO %s@'%%'", quoteIdent(name), User))
	return s.DSN(name)
}

// Stop stops the server (shutdown: sessions are ended), as an outage
// would; Restart starts it again on the same port.
func (s *Server) Stop() {
	s.tb.Helper()
	if s.cmd == nil {
		return
	}
	// root's idle connections are closed first, not found broken later.
	s.root.SetMaxIdleConns(0)
	defer s.root.SetMaxIdleConns(2)
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		s.kill()
		s.tb.Fatal("mysqltest: mariadbd did not stop within 60 s of SIGTERM")
	}
	s.cmd = nil
}

// Restart starts a stopped server on its port.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		log, _ := os.ReadFile(s.logPath())
		s.tb.Fatalf("mariadbd: %v\n%s", err, log)
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

// quoteIdent quotes a MySQL identifier; a qualified name (db.table) is
// quoted part by part.
func quoteIdent(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = "`" + strings.ReplaceAll(p, "`", "``") + "`"
	}
	return strings.Join(parts, ".")
}

// CopyTable copies srcTable of src into a new table dstTable of the
// server (a name database.table, or a table of Database), as root; it
// fails the test on an error.
func (s *Server) CopyTable(tb testing.TB, src warehouse.Warehouse, srcTable, dstTable string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := CopyTable(ctx, s.root, src, srcTable, dstTable); err != nil {
		tb.Fatal(err)
	}
}

// CopyTable creates dstTable in dst (a name database.table, or a table
// of dst's database) with the columns of srcTable of src, types mapped
// from the PostgreSQL types src reports — int2/int4/int8 SMALLINT/INT/
// BIGINT, numeric DECIMAL(p,s) as src's information_schema declares it
// (DECIMAL(38,10) when it does not say), float4/float8 FLOAT/DOUBLE, bool
// BOOLEAN, text VARCHAR(255) (LONGTEXT once a longer value comes), date
// DATE, time TIME(6), timestamp and timestamptz DATETIME(6) (in UTC),
// uuid CHAR(36), bytea LONGBLOB, json/jsonb JSON — with a primary key on
// a column named id, and fills it with all of srcTable's rows in
// multi-row INSERTs.
func CopyTable(ctx context.Context, dst *sql.DB, src warehouse.Warehouse, srcTable, dstTable string) error {
	fail := func(err error) error { return fmt.Errorf("mysqltest: copy %s to %s: %w", srcTable, dstTable, err) }
	decimals := servertest.DeclaredDecimals(ctx, src, srcTable)
	rows, err := src.Query(ctx, "SELECT * FROM "+srcTable)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	cols, types := rows.Columns(), rows.Types()
	defs := make([]string, len(cols))
	kinds := make([]string, len(cols))
	id := -1
	for i, c := range cols {
		t, err := mysqlType(types[i], decimals[c])
		if err != nil {
			return fail(fmt.Errorf("column %s: %w", c, err))
		}
		kinds[i] = t
		defs[i] = quoteIdent(c) + " " + t
		if strings.EqualFold(c, "id") && id < 0 {
			id = i
		}
	}
	if id >= 0 {
		defs = append(defs, "PRIMARY KEY ("+quoteIdent(cols[id])+")")
	}
	if _, err := dst.ExecContext(ctx, "CREATE TABLE "+quoteIdent(dstTable)+" (\n  "+strings.Join(defs, ",\n  ")+"\n)"); err != nil {
		return fail(err)
	}

	// A batch has at most 1000 rows and 60000 placeholders (the protocol's
	// limit is 65535).
	per := max(min(1000, 60000/max(len(cols), 1)), 1)
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	insert := func(n int) string {
		return "INSERT INTO " + quoteIdent(dstTable) + " (" + strings.Join(quoted, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+",", n), ",")
	}
	widened := make([]bool, len(cols))
	batch := make([]any, 0, per*len(cols))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := dst.ExecContext(ctx, insert(len(batch)/len(cols)), batch...); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fail(err)
		}
		for i, v := range vals {
			a, err := mysqlValue(v)
			switch x := a.(type) {
			case time.Time:
				if kinds[i] == "TIME(6)" {
					a = x.Format("15:04:05.999999")
				}
			case []byte:
				if kinds[i] == "CHAR(36)" && len(x) == 16 { // DuckDB's uuid
					a = uuid.UUID(x).String()
				}
			}
			if err != nil {
				return fail(fmt.Errorf("column %s: %w", cols[i], err))
			}
			if str, ok := a.(string); ok && kinds[i] == "VARCHAR(255)" && !widened[i] && len([]rune(str)) > 255 {
				if _, err := dst.ExecContext(ctx, "ALTER TABLE "+quoteIdent(dstTable)+" MODIFY "+quoteIdent(cols[i])+" LONGTEXT"); err != nil {
					return fail(err)
				}
				widened[i] = true
			}
			batch = append(batch, a)
		}
		if len(batch) == per*len(cols) {
			if err := flush(); err != nil {
				return fail(err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	return nil
}

// mysqlType is the MariaDB column type of a PostgreSQL type OID.
func mysqlType(oid uint32, decimal [2]int) (string, error) {
	switch oid {
	case pgtype.Int2OID:
		return "SMALLINT", nil
	case pgtype.Int4OID:
		return "INT", nil
	case pgtype.Int8OID:
		return "BIGINT", nil
	case pgtype.NumericOID:
		p, sc := decimal[0], decimal[1]
		if p == 0 {
			p, sc = 38, 10
		}
		// MariaDB's limits: 65 digits, 38 after the point.
		return fmt.Sprintf("DECIMAL(%d,%d)", min(p, 65), min(sc, 38, p)), nil
	case pgtype.Float4OID:
		return "FLOAT", nil
	case pgtype.Float8OID:
		return "DOUBLE", nil
	case pgtype.BoolOID:
		return "BOOLEAN", nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return "VARCHAR(255)", nil
	case pgtype.DateOID:
		return "DATE", nil
	case pgtype.TimeOID:
		return "TIME(6)", nil
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return "DATETIME(6)", nil
	case pgtype.UUIDOID:
		return "CHAR(36)", nil
	case pgtype.ByteaOID:
		return "LONGBLOB", nil
	case pgtype.JSONOID, pgtype.JSONBOID:
		return "JSON", nil
	}
	return "", fmt.Errorf("no MariaDB type for PostgreSQL type OID %d", oid)
}

// mysqlValue is what the driver is given for a value of warehouse.Rows.
func mysqlValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return x, nil
	case time.Time:
		return x.UTC(), nil
	case pgtype.Numeric:
		if !x.Valid {
			return nil, nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("%v has no DECIMAL", x)
		}
		b, err := x.MarshalJSON()
		return string(b), err
	case [16]byte:
		return uuid.UUID(x).String(), nil
	}
	return nil, fmt.Errorf("no MariaDB value for %T", v)
}
