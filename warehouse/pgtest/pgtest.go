// Package pgtest starts a throwaway PostgreSQL cluster from the machine's
// installed server binaries, for tests that need a real Postgres: a data
// directory in a temp dir, a free port on 127.0.0.1, trust auth, and, when
// the tests run as root, the server run as the postgres OS user.
//
// A missing PostgreSQL is a test failure, never a skip.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway PostgreSQL.
type Cluster struct {
	BinDir  string
	DataDir string
	Port    int
	// DSN reaches the postgres database as the postgres superuser.
	DSN string
	tb  testing.TB
}

// BinDir finds the newest installed PostgreSQL server binaries.
func BinDir() (string, error) {
	if d := os.Getenv("PGBIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) < versionOf(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin: install postgresql (make deps)")
}

func versionOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start initialises and starts a cluster; it stops and is deleted when the
// test ends.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cubegate-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{BinDir: bin, DataDir: filepath.Join(dir, "data"), tb: tb}
	tb.Cleanup(func() {
		_ = c.asPostgres(filepath.Join(bin, "pg_ctl"), "-D", c.DataDir, "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(dir)
	})
	if err := c.chownToPostgres(dir); err != nil {
		tb.Fatal(err)
	}
	initdb := c.asPostgres(filepath.Join(bin, "initdb"), "-D", c.DataDir, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		c.Port = freePort(tb)
		out, err := c.start().CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	return c
}

func (c *Cluster) start() *exec.Cmd {
	dir := filepath.Dir(c.DataDir)
	return c.asPostgres(filepath.Join(c.BinDir, "pg_ctl"), "-D", c.DataDir, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c timezone=UTC -c max_connections=200", c.Port, dir),
		"start")
}

// Stop stops the server (fast: sessions are ended), as an outage would;
// Restart starts it again on the same port.
func (c *Cluster) Stop() {
	c.tb.Helper()
	if out, err := c.asPostgres(filepath.Join(c.BinDir, "pg_ctl"), "-D", c.DataDir, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		c.tb.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Restart starts a stopped server on its port.
func (c *Cluster) Restart() {
	c.tb.Helper()
	if out, err := c.start().CombinedOutput(); err != nil {
		c.tb.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// CreateDatabase creates a database and returns its DSN.
func (c *Cluster) CreateDatabase(name string) string {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.tb.Fatal(err)
	}
	return c.DatabaseDSN(name)
}

// DatabaseDSN is the DSN of database name in the cluster.
func (c *Cluster) DatabaseDSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// Psql runs the cluster's psql on database with args (for example -f
// FILE, -v name=value) and fails the test on error.
func (c *Cluster) Psql(database string, args ...string) string {
	c.tb.Helper()
	all := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", database}, args...)
	out, err := exec.Command(filepath.Join(c.BinDir, "psql"), all...).CombinedOutput()
	if err != nil {
		c.tb.Fatalf("psql %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (c *Cluster) asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (c *Cluster) chownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
