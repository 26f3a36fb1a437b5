package app_test

// Fair sharing and isolation of the SQL listener under hostile load
// (issue #21): the accept loop out of file descriptors, the message
// memory budget, the statement_timeout ceiling, the per-session caps on
// prepared statements and cursors, connection slots per credential and
// per tenant, and 57P01 past the drain timeout. Attacks are bounded and
// on loopback; where a bystander session's latency is measured, its
// bound is generous (two slow cores, other tests running beside).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// fairBystanderBound is how long a bystander's statement may take while
// an attack runs.
const fairBystanderBound = 5 * time.Second

// binGateway is the real binary running as its own process (so that its
// file descriptors and memory are its own), on apptest's warehouse,
// model and state store.
type binGateway struct {
	t        *testing.T
	bin      string
	env      []string
	cmd      *exec.Cmd
	stderr   string
	sqlAddr  string
	connStr  string
	exited   chan struct{}
	exitErr  error
	hwm, rss atomic.Int64
}

// startBinGateway builds cubegate, mints a credential with its CLI and
// runs `cubegate serve` with the extra environment variables env; adjust
// (if set) runs on the process once started (prlimit).
func startBinGateway(t *testing.T, orders int, env []string, adjust func(pid int) error) *binGateway {
	t.Helper()
	dir := t.TempDir()
	g := &binGateway{t: t, bin: filepath.Join(dir, "cubegate"), stderr: filepath.Join(dir, "stderr.log"), exited: make(chan struct{}),
		sqlAddr: hostilePort(t)}
	if out, err := exec.Command("go", "build", "-o", g.bin, "github.com/cubegate/cubegate/cmd/cubegate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := apptest.Prepare(t, apptest.Options{DuckDB: apptest.Demo(orders)}).Config
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUBEGATE_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			g.env = append(g.env, kv)
		}
	}
	g.env = append(g.env, "CUBEGATE_SQL_LISTEN="+g.sqlAddr, "CUBEGATE_HTTP_LISTEN="+hostilePort(t),
		"CUBEGATE_MODEL_DIR="+cfg.Model.Dir, "CUBEGATE_MODEL_WATCH=false", "CUBEGATE_WAREHOUSE_DSN="+cfg.Warehouse.DSN,
		"CUBEGATE_STATE_DSN="+cfg.State.DSN, "CUBEGATE_DATA_SOURCE_NAME="+cfg.DataSource.Name, "CUBEGATE_LOG_LEVEL=info")
	g.env = append(g.env, env...)
	c := exec.Command(g.bin, "credentials", "create", "--label", "fair", "--json")
	c.Env = g.env
	var errOut bytes.Buffer
	c.Stderr = &errOut
	out, err := c.Output()
	if err != nil {
		t.Fatalf("credentials create: %v\n%s", err, errOut.String())
	}
	var cred struct {
		ConnectionString string `json:"connection_string"`
	}
	if err := json.Unmarshal(out, &cred); err != nil || cred.ConnectionString == "" {
		t.Fatalf("credentials create: %v %s", err, out)
	}
	g.connStr = cred.ConnectionString + "?sslmode=disable"
	f, err := os.Create(g.stderr)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(g.bin, "serve")
	g.cmd.Env, g.cmd.Stdout, g.cmd.Stderr = g.env, f, f
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.exitErr = g.cmd.Wait()
		f.Close()
		close(g.exited)
	}()
	t.Cleanup(g.stop)
	if adjust != nil {
		if err := adjust(g.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	go g.sample()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !g.alive() {
			t.Fatalf("the gateway exited while starting: %v\n%s", g.exitErr, g.log())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := pgconn.Connect(ctx, g.connStr)
		if err == nil {
			_, err = c.Exec(ctx, "SELECT 1").ReadAll()
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not answer within 30s: %v\n%s", err, g.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *binGateway) alive() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

func (g *binGateway) log() string {
	b, _ := os.ReadFile(g.stderr)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// sample reads the process's VmRSS and VmHWM every 20 ms.
func (g *binGateway) sample() {
	status := fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid)
	for {
		select {
		case <-g.exited:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if rss, hwm, ok := procMemory(status); ok {
			g.rss.Store(rss)
			g.hwm.Store(hwm)
		}
	}
}

func (g *binGateway) stop() {
	if g.alive() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(15 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
		}
	}
}

// bystanderLoop runs query on its own session every 100 ms until stop
// is closed and returns each statement's latency; a failure is reported.
func bystanderLoop(t *testing.T, connStr, query string, stop <-chan struct{}) func() []time.Duration {
	t.Helper()
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close(ctx)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			qctx, cancel := context.WithTimeout(ctx, 3*fairBystanderBound)
			began := time.Now()
			_, err := c.Exec(qctx, query).ReadAll()
			cancel()
			lat = append(lat, time.Since(began))
			if err != nil {
				t.Errorf("bystander: %v", err)
				return
			}
		}
	}()
	return func() []time.Duration {
		<-done
		return lat
	}
}

func latencies(d []time.Duration) (p50, worst time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// With 256 open files allowed, 300 silent TCP connections run the
// gateway out of file descriptors: the accept loop backs off (and says
// so once) instead of returning, the gateway stays up, a session opened
// before keeps answering, and once the connections close a bystander
// logs in and queries.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	g := startBinGateway(t, 1000, nil, func(pid int) error {
		lim := unix.Rlimit{Cur: 256, Max: 256}
		return unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil)
	})
	stop := make(chan struct{})
	lat := bystanderLoop(t, g.connStr, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`, stop)
	var socks []net.Conn
	for range 300 {
		c, err := net.DialTimeout("tcp", g.sqlAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(socks), err)
		}
		socks = append(socks, c)
	}
	// The gateway accepts until it has no file descriptor left.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.log(), "accepting connections failed") {
		if !g.alive() {
			t.Fatalf("the gateway exited: %v\n%s", g.exitErr, g.log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never ran out of file descriptors:\n%s", g.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if !g.alive() {
		t.Fatalf("the gateway exited out of file descriptors: %v\n%s", g.exitErr, g.log())
	}
	close(stop)
	d := lat()
	p50, worst := latencies(d)
	t.Logf("bystander session during the attack: %d statements, p50 %s, max %s", len(d), p50.Round(time.Millisecond), worst.Round(time.Millisecond))
	if worst > fairBystanderBound {
		t.Errorf("the bystander waited %s during the attack, bound %s", worst, fairBystanderBound)
	}
	for _, c := range socks {
		c.Close()
	}
	// A bystander logs in and queries once they closed (the back-off is
	// at most 1 s, the kernel's backlog drains first).
	ctx := context.Background()
	var err error
	began := time.Now()
	for time.Since(began) < 20*time.Second {
		var c *pgconn.PgConn
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err = pgconn.Connect(cctx, g.connStr)
		if err == nil {
			var res []*pgconn.Result
			res, err = c.Exec(cctx, `SELECT MEASURE(count) FROM orders`).ReadAll()
			c.Close(ctx)
			if err == nil && string(res[0].Rows[0][0]) != "1000" {
				err = fmt.Errorf("count %s", res[0].Rows[0][0])
			}
		}
		cancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the bystander after the attack: %v\n%s", err, g.log())
	}
	t.Logf("bystander logged in and queried %s after the sockets closed; log: %d back-off episode(s)", time.Since(began).Round(time.Millisecond),
		strings.Count(g.log(), "accepting connections failed"))
	if !g.alive() {
		t.Fatal("the gateway exited")
	}
}

// Past sql.drain_timeout a statement still running is canceled with
// FATAL 57P01 (not 57014) and its session ends; Shutdown returns.
func TestDrainTimeoutEnds57P01(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) { c.SQL.DrainTimeout = 300 * time.Millisecond }})
	conn := apptest.Connect(t, g.ConnString(t, "drain"))
	ctx := context.Background()
	result := make(chan error, 1)
	go func() { _, err := conn.Exec(ctx, `SELECT pg_sleep(30)`); result <- err }()
	time.Sleep(300 * time.Millisecond) // the statement runs
	done := make(chan error, 1)
	go func() { done <- g.Shutdown() }()
	select {
	case err := <-result:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Severity != "FATAL" {
			t.Fatalf("the running statement: %v, want FATAL 57P01", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the running statement did not end")
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	if !conn.IsClosed() {
		t.Fatal("the session is still open")
	}
}

// sql.max_statement_timeout is a ceiling — and without it the server's
// default statement_timeout is: a session that SETs statement_timeout to
// 0 or above it is still canceled (57014) after the ceiling; SHOW reports
// what the session set, a smaller value of its own still applies, and the
// session goes on.
func TestStatementTimeoutCeiling(t *testing.T) {
	t.Run("max_statement_timeout", func(t *testing.T) {
		checkStatementTimeoutCeiling(t, func(c *app.Config) { c.SQL.MaxStatementTimeout = 500 * time.Millisecond })
	})
	t.Run("the default statement_timeout", func(t *testing.T) {
		checkStatementTimeoutCeiling(t, func(c *app.Config) { c.SQL.StatementTimeout = 500 * time.Millisecond })
	})
}

func checkStatementTimeoutCeiling(t *testing.T, adjust func(*app.Config)) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: adjust})
	conn := apptest.Connect(t, g.ConnString(t, "ceiling"))
	ctx := context.Background()
	for _, set := range []string{"0", "'1h'"} {
		if _, err := conn.Exec(ctx, "SET statement_timeout = "+set); err != nil {
			t.Fatal(err)
		}
		var shown string
		if err := conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&shown); err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"0": "0", "'1h'": "1h"}[set]; shown != want {
			t.Errorf("SHOW after SET %s: %q, want %q", set, shown, want)
		}
		began := time.Now()
		_, err := conn.Exec(ctx, `SELECT pg_sleep(20)`)
		if pgCode(err) != "57014" {
			t.Fatalf("SET %s then pg_sleep(20): %v, want 57014", set, err)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Fatalf("SET %s: canceled after %s, the ceiling is 500ms", set, took)
		}
		// A slow catalog scan is canceled too.
		_, err = conn.Exec(ctx, `SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b`)
		if code := pgCode(err); code != "57014" && code != "54000" && code != "53200" {
			t.Fatalf("a slow catalog scan: %v, want 57014 (or a budget's error)", err)
		}
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("the session after the cancel: %v", err)
		}
	}
	// Below the ceiling the session's own value rules.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 50"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_sleep(20)`); pgCode(err) != "57014" {
		t.Fatalf("SET 50 then pg_sleep(20): %v, want 57014", err)
	}
}

// limits.max_prepared_statements and limits.max_cursors: SQL PREPARE and
// the protocol's Parse count together, as do DECLARE and the protocol's
// portals; past a cap the statement gets 54000 naming the setting, the
// session stays usable, and closing one lets it go on.
func TestSessionObjectCaps(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.Limits.MaxPreparedStatements = 4
		c.Limits.MaxCursors = 3
	}})
	connStr := g.ConnString(t, "caps")
	conn := apptest.Connect(t, connStr)
	ctx := context.Background()
	wantCap := func(err error, setting string) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "54000" || !strings.Contains(pe.Hint, setting) {
			t.Fatalf("past the cap: %v, want 54000 naming %s", err, setting)
		}
	}
	for i := 1; i <= 3; i++ {
		if _, err := conn.Exec(ctx, fmt.Sprintf("PREPARE p%d AS SELECT %d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	// The protocol's statement is the fourth.
	if _, err := conn.PgConn().Prepare(ctx, "wire", "SELECT 1", nil); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, "PREPARE p4 AS SELECT 4")
	wantCap(err, "limits.max_prepared_statements")
	_, err = conn.PgConn().Prepare(ctx, "wire2", "SELECT 1", nil)
	wantCap(err, "limits.max_prepared_statements")
	if _, err := conn.Exec(ctx, "DEALLOCATE p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "PREPARE p4 AS SELECT 4"); err != nil {
		t.Fatalf("after DEALLOCATE: %v", err)
	}
	var four int
	if err := conn.QueryRow(ctx, "EXECUTE p4").Scan(&four); err != nil || four != 4 {
		t.Fatalf("EXECUTE p4: %d, %v", four, err)
	}

	for i := 1; i <= 3; i++ {
		if _, err := conn.Exec(ctx, fmt.Sprintf("DECLARE c%d CURSOR WITH HOLD FOR SELECT status FROM orders", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = conn.Exec(ctx, "DECLARE c4 CURSOR WITH HOLD FOR SELECT status FROM orders")
	wantCap(err, "limits.max_cursors")
	if _, err := conn.Exec(ctx, "CLOSE c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DECLARE c4 CURSOR WITH HOLD FOR SELECT status FROM orders"); err != nil {
		t.Fatalf("after CLOSE: %v", err)
	}
	var status string
	if err := conn.QueryRow(ctx, "FETCH 1 FROM c4").Scan(&status); err != nil || status == "" {
		t.Fatalf("FETCH from c4: %q, %v", status, err)
	}
	// At both caps, the unnamed statement and portal (which replace
	// themselves) still serve the extended protocol.
	_, err = conn.Exec(ctx, "DECLARE c5 CURSOR WITH HOLD FOR SELECT 1")
	wantCap(err, "limits.max_cursors")
	var one int
	if err := conn.QueryRow(ctx, "SELECT $1::int", pgx.QueryExecModeDescribeExec, 1).Scan(&one); err != nil || one != 1 {
		t.Fatalf("the unnamed statement at the caps: %d, %v", one, err)
	}
	// Caps are per session: another session of the same credential has
	// its own.
	other := apptest.Connect(t, connStr)
	if _, err := other.Exec(ctx, "PREPARE p1 AS SELECT 1"); err != nil {
		t.Fatalf("another session: %v", err)
	}
}

// With the default caps, the attack — 20,000 prepared statements
// and 3,000 cursors in one session — stops at 10,000 and 1,000 (54000),
// and the session goes on.
func TestSessionObjectCapsDefaults(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	conn := apptest.Connect(t, g.ConnString(t, "caps"))
	ctx := context.Background()
	for _, c := range []struct {
		stmt    string
		n       int
		setting string
	}{
		{"PREPARE p%d AS SELECT %[1]d;", 20_000, "limits.max_prepared_statements"},
		{"DECLARE c%d CURSOR WITH HOLD FOR SELECT status FROM orders;", 3_000, "limits.max_cursors"},
	} {
		var b strings.Builder
		for i := 1; i <= c.n; i++ {
			fmt.Fprintf(&b, c.stmt, i)
		}
		_, err := conn.Exec(ctx, b.String())
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "54000" || !strings.Contains(pe.Hint, c.setting) {
			t.Fatalf("%d × %q: %v, want 54000 naming %s", c.n, c.stmt, err, c.setting)
		}
	}
	var last int
	if err := conn.QueryRow(ctx, "EXECUTE p10000").Scan(&last); err != nil || last != 10_000 {
		t.Fatalf("EXECUTE p10000: %d, %v", last, err)
	}
	if _, err := conn.Exec(ctx, "EXECUTE p10001"); pgCode(err) != "26000" {
		t.Fatalf("EXECUTE p10001: %v, want 26000 (it was refused)", err)
	}
	var status string
	if err := conn.QueryRow(ctx, "FETCH 1 FROM c1000").Scan(&status); err != nil || status == "" {
		t.Fatalf("FETCH from c1000: %q, %v", status, err)
	}
}

// The attack: with the defaults (max_connections 100), one
// credential opening 100 sessions gets half of them (the rest 53300
// naming the credential) and another tenant's credential still logs in
// and queries, timed; with a tenant's own cap, a second credential of
// the same tenant is refused once the tenant's sessions are used up
// (53300 naming the tenant). Slots come back however a session ends.
func TestSessionSlotsPerCredentialAndTenant(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	state := "sqlite://" + filepath.Join(dir, "state.db")
	store, err := auth.OpenStore(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTenant(ctx, "acme", "Acme Corp", "test"); err != nil {
		t.Fatal(err)
	}
	store.Close()
	acmeWH := apptest.DuckDB(t, apptest.Demo(200))
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.DataSources = []app.DataSourceSpec{{Name: "acme", Tenant: "acme", ModelDir: c.Model.Dir, WarehouseDSN: acmeWH}}
	}})
	host, port, _ := app.ClientHost(g.SQLAddr().String())
	mint := func(database, tenant string) string {
		c, pw, err := g.Auth.CreateCredential(ctx, auth.CreateCredentialInput{Label: database, Database: database, TenantID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		return app.ConnectionString(c.Username, pw, host, port, database) + "?sslmode=disable"
	}
	a, acme := mint("demo", auth.DefaultTenant), mint("acme", "acme")

	var opened []*pgconn.PgConn
	t.Cleanup(func() {
		for _, c := range opened {
			c.Close(ctx)
		}
	})
	refused := 0
	for range 100 {
		c, err := pgconn.Connect(ctx, a)
		if err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Message, "credential") || !strings.Contains(pe.Hint, "sql.max_sessions_per_credential") {
				t.Fatalf("login %d: %v, want 53300 for the credential", len(opened)+refused+1, err)
			}
			refused++
			continue
		}
		opened = append(opened, c)
	}
	if len(opened) != 50 || refused != 50 {
		t.Fatalf("one credential opened %d sessions (%d refused), want 50 (max_connections/2)", len(opened), refused)
	}
	began := time.Now()
	other := apptest.Connect(t, acme)
	var n int
	if err := other.QueryRow(ctx, `SELECT MEASURE(count) FROM orders`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("another tenant's credential: %d, %v", n, err)
	}
	t.Logf("another tenant logged in and queried in %s while one credential held 50 sessions", time.Since(began).Round(time.Millisecond))
	if took := time.Since(began); took > fairBystanderBound {
		t.Errorf("another tenant took %s to log in and query, bound %s", took, fairBystanderBound)
	}
	// A slot comes back when a session ends: by Terminate, and by a
	// dropped socket.
	opened[0].Close(ctx)
	hj, err := opened[1].Hijack()
	if err != nil {
		t.Fatal(err)
	}
	hj.Conn.Close()
	opened = opened[2:]
	for i := 0; i < 2; i++ {
		var c *pgconn.PgConn
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			if c, err = pgconn.Connect(ctx, a); err == nil || time.Since(start) > 10*time.Second {
				break
			}
		}
		if err != nil {
			t.Fatalf("a login after sessions ended: %v", err)
		}
		opened = append(opened, c)
	}
	for _, c := range opened {
		c.Close(ctx)
	}
	opened = nil

	// A tenant's cap, below max_connections.
	g2 := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(200), Adjust: func(c *app.Config) {
		c.SQL.MaxSessionsPerCredential, c.SQL.MaxSessionsPerTenant = 3, 4
	}})
	c1, c2 := g2.ConnString(t, "one"), g2.ConnString(t, "two")
	for _, s := range []string{c1, c1, c1, c2} {
		c, err := pgconn.Connect(ctx, s+"?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, c)
	}
	if _, err := pgconn.Connect(ctx, c1+"?sslmode=disable"); pgCode(err) != "53300" || !strings.Contains(err.Error(), "credential") {
		t.Fatalf("the credential's fourth session: %v, want 53300", err)
	}
	_, err = pgconn.Connect(ctx, c2+"?sslmode=disable")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Message, "tenant") || !strings.Contains(pe.Hint, "sql.max_sessions_per_tenant") {
		t.Fatalf("the tenant's fifth session: %v, want 53300 for the tenant", err)
	}
}

// The message memory budget under the attack: many sessions
// send large Query messages at once to the real binary. Messages past
// sql.message_memory wait (their bytes stay in the socket) or end their
// session with 53200; the gateway's peak RSS stays under a bound far
// below what the messages would take held at once, and a bystander
// keeps answering.
func TestMessageMemoryUnderAttack(t *testing.T) {
	const (
		sessions    = 24
		messageSize = 48 << 20
		// The budget: 256 MiB (a quarter of the 1 GiB memory_limit) —
		// two such messages at a time. Held at once, the 24 messages
		// would be 1.1 GiB of bodies, 2.3 GiB with their decoded copies.
		rssBound = 1280 << 20
	)
	g := startBinGateway(t, 10_000, []string{"CUBEGATE_LIMITS_MEMORY_LIMIT=1GiB"}, nil)
	baseline := g.rss.Load()
	stop := make(chan struct{})
	lat := bystanderLoop(t, g.connStr, `SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1`, stop)
	ctx := context.Background()
	msg := "SELECT 1 /*" + strings.Repeat("x", messageSize) + "*/"
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgconn.Connect(ctx, g.connStr)
			if err != nil {
				t.Errorf("connect: %v", err)
				return
			}
			defer c.Close(ctx)
			qctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			_, err = c.Exec(qctx, msg).ReadAll()
			what := "answered"
			if err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) {
					what = pe.Severity + " " + pe.Code
				} else {
					what = "lost: " + err.Error()
				}
			}
			mu.Lock()
			outcomes[what]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	d := lat()
	p50, worst := latencies(d)
	t.Logf("%d sessions × %d MiB Query: %v; gateway RSS %s before, peak (VmHWM) %s, bound %s; bystander %d statements, p50 %s, max %s",
		sessions, messageSize>>20, outcomes, mib(baseline), mib(g.hwm.Load()), mib(rssBound), len(d), p50.Round(time.Millisecond), worst.Round(time.Millisecond))
	if !g.alive() {
		t.Fatalf("the gateway died: %v\n%s", g.exitErr, g.log())
	}
	if hwm := g.hwm.Load(); hwm > rssBound {
		t.Errorf("peak RSS %s over the bound %s", mib(hwm), mib(rssBound))
	}
	if worst > fairBystanderBound {
		t.Errorf("the bystander waited %s, bound %s", worst, fairBystanderBound)
	}
	for what := range outcomes {
		if what != "answered" && what != "FATAL 53200" && !strings.HasPrefix(what, "ERROR 53") && !strings.HasPrefix(what, "ERROR 54") {
			t.Errorf("a session ended %q: want an answer, 53200 (no message memory) or a budget's error", what)
		}
	}
}

// sql.message_memory must hold the largest message sql.max_message_size
// admits, twice its length (review of issue #21): with memory_limit
// 400MiB the budget was 100 MiB and a message over 50 MiB got 54000
// though the maximum was 64 MiB. Such a configuration is refused at
// startup with a SettingError naming both keys and the sizes that would
// fix it; consistent ones pass.
func TestMessageMemoryHoldsLargestMessage(t *testing.T) {
	base := func() app.Config {
		c := app.Defaults()
		c.Model.Dir = t.TempDir()
		c.Warehouse.DSN, c.State.DSN = "duckdb::memory:", "sqlite::memory:"
		return c
	}
	cases := []struct {
		name   string
		adjust func(*app.Config)
		key    string   // "" when valid
		want   []string // in the error
	}{
		{name: "defaults", adjust: func(*app.Config) {}},
		{name: "memory_limit 400MiB derives 100MiB", adjust: func(c *app.Config) { c.Limits.MemoryLimit = 400 << 20 },
			key: "sql.message_memory", want: []string{"limits.memory_limit", "sql.max_message_size", "64MiB", "100MiB", "at least 128MiB", "at most 50MiB"}},
		{name: "memory_limit 400MiB, max_message_size 50MiB", adjust: func(c *app.Config) { c.Limits.MemoryLimit, c.SQL.MaxMessageSize = 400<<20, 50<<20 }},
		{name: "memory_limit 400MiB, message_memory 128MiB", adjust: func(c *app.Config) { c.Limits.MemoryLimit, c.SQL.MessageMemory = 400<<20, 128<<20 }},
		{name: "message_memory 100MiB", adjust: func(c *app.Config) { c.SQL.MessageMemory = 100 << 20 },
			key: "sql.message_memory", want: []string{"100MiB", "sql.max_message_size", "64MiB", "at least 128MiB", "at most 50MiB"}},
		{name: "max_message_size 200MiB over the default budget", adjust: func(c *app.Config) { c.SQL.MaxMessageSize = 200 << 20 },
			key: "sql.max_message_size", want: []string{"200MiB", "sql.message_memory", "256MiB", "at least 400MiB", "at most 128MiB"}},
	}
	for _, tc := range cases {
		c := base()
		tc.adjust(&c)
		err := c.Validate()
		var se *app.SettingError
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.key == "":
		case !errors.As(err, &se) || se.Key != tc.key:
			t.Errorf("%s: %v, want a SettingError of %s", tc.name, err, tc.key)
		default:
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not say %q", tc.name, err, w)
				}
			}
		}
	}
}

// stateMaxPages is the max_page_count of the SQLite state files the
// full-disk tests fill: room for a gateway's setup, not for the filler.
const stateMaxPages = 1000

// fillStateFile grows the SQLite file at path past pages pages from a
// connection of its own (no max_page_count): the gateway's connections,
// limited to pages, get SQLITE_FULL once they need a new page — a real
// full disk as SQLite reports it.
func fillStateFile(t *testing.T, path string, pages int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf(`CREATE TABLE filler(b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO filler SELECT randomblob(4000) FROM n`, pages+50)); err != nil {
		t.Fatal(err)
	}
}

// emptyStateFile drops fillStateFile's filler: its pages are free again.
func emptyStateFile(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TABLE filler`); err != nil {
		t.Fatal(err)
	}
}

// fullableStateDSN is a SQLite state store at path whose connections
// stop at stateMaxPages pages.
func fullableStateDSN(path string) string {
	return fmt.Sprintf("sqlite://%s?_pragma=max_page_count(%d)", path, stateMaxPages)
}

// Fail-closed admin changes (review of issue #21): with audit.fail_closed
// and the state file really full (SQLITE_FULL), SQL statements get 53100
// (the cause is a full disk), and credential and key changes on the admin
// API are refused with 503 AUDIT_UNAVAILABLE and not made (a revoked key
// still works, no credential appears); the CLI's `credentials create`
// fails with an error naming the audit log and makes nothing. Once there
// is room again the same changes succeed and are in the audit log.
func TestAuditFailClosedAdminChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	setup := apptest.Prepare(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.State.DSN = fullableStateDSN(path)
		c.Audit.FailClosed = true
	}})
	ctx := context.Background()
	admin, err := g.Keys.Create(ctx, auth.DefaultTenant, "admin", auth.KeyInput{Scopes: &[]string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	victim, err := g.Keys.Create(ctx, auth.DefaultTenant, "admin", auth.KeyInput{Scopes: &[]string{"load"}})
	if err != nil {
		t.Fatal(err)
	}
	_, conn := connectAs(t, g, "analyst", auth.SecurityContext{})
	credentials := func() int {
		cs, err := g.Auth.ListCredentials(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	before := credentials()

	fillStateFile(t, path, stateMaxPages)
	if !pollUntil(10*time.Second, func() bool {
		conn.Exec(ctx, `SELECT MEASURE(count) FROM orders WHERE status = 'a'`)
		_, st, _ := httpGet(t, g, "/admin/v1/status", admin.KeyValue)
		return st["state"] == "DEGRADED"
	}) {
		t.Fatal("the status is not DEGRADED with the state file full")
	}
	_, err = conn.PgConn().Exec(ctx, `SELECT MEASURE(count) FROM orders`).ReadAll()
	if code := codeOf(err); code != "53100" {
		t.Fatalf("a query with the state file full: %v, want 53100 (disk full)", err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/credentials", `{"label":"refused","database":"` + g.Database + `"}`},
		{"POST", "/admin/v1/api_keys", `{"scope_names":["load"]}`},
		{"DELETE", "/admin/v1/api_keys/" + victim.ID, ""},
	} {
		status, body := httpCall(t, g, admin.KeyValue, c.method, c.path, c.body)
		if status != 503 || !strings.Contains(body, `"AUDIT_UNAVAILABLE"`) {
			t.Errorf("%s %s while the audit log cannot be written: %d %s, want 503 AUDIT_UNAVAILABLE", c.method, c.path, status, body)
		}
	}
	if n := credentials(); n != before {
		t.Errorf("%d credentials after a refused create, want %d", n, before)
	}
	if k, err := g.Keys.Get(ctx, auth.DefaultTenant, victim.ID); err != nil || k.RevokedAt != nil {
		t.Errorf("the key after a refused revoke: revoked %v, %v", k.RevokedAt, err)
	}

	// The CLI, a process of its own, on the same state file with
	// audit.fail_closed: its one small change could still fit the full
	// file's free space, so the store refuses audit inserts outright too
	// (a trigger: a refused write, not a full disk).
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit inserts refused'); END`); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cubegate")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cubegate/cubegate/cmd/cubegate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cli := exec.Command(bin, "credentials", "create", "--label", "cli", "--json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUBEGATE_") {
			cli.Env = append(cli.Env, kv)
		}
	}
	cli.Env = append(cli.Env, "CUBEGATE_MODEL_DIR="+setup.Config.Model.Dir, "CUBEGATE_WAREHOUSE_DSN=duckdb::memory:",
		"CUBEGATE_STATE_DSN="+fullableStateDSN(path), "CUBEGATE_AUDIT_FAIL_CLOSED=true")
	out, err := cli.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "audit log") {
		t.Errorf("the CLI's credentials create with the audit log unwritable: %v\n%s", err, out)
	}
	t.Logf("the CLI: %v: %s", err, bytes.TrimSpace(out))
	if n := credentials(); n != before {
		t.Errorf("%d credentials after the CLI's refused create, want %d", n, before)
	}

	// Room again: the changes go through, audited.
	if _, err := db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	emptyStateFile(t, path)
	if !pollUntil(10*time.Second, func() bool {
		_, st, _ := httpGet(t, g, "/admin/v1/status", admin.KeyValue)
		return st["state"] == "RUNNING"
	}) {
		t.Fatal("the status is not RUNNING once there is room")
	}
	if status, body := httpCall(t, g, admin.KeyValue, "DELETE", "/admin/v1/api_keys/"+victim.ID, ""); status != 200 {
		t.Fatalf("a revoke once the audit log is written: %d %s", status, body)
	}
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`) // the same session
	g.Audit.Sync()
	events, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant, Kind: "api_key"})
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, e := range events {
		if e.Action == "revoke" && e.Object == victim.ID {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("%d revoke events for the key, want 1 (the refused one is not there, the made one is)", revoked)
	}
}

// An unreachable PostgreSQL state store is not a full disk (review of
// issue #21: fail-closed always said 53100): with audit.fail_closed and
// the state store's cluster stopped, a session opened before gets 58030
// io_error for its next statement (the cause's type decides), stays
// usable, and queries again once the cluster is back.
func TestAuditFailClosedUnreachableStateStore(t *testing.T) {
	pg := pgtest.Start(t)
	state := pg.CreateDatabase("state")
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.State.DSN = state
		c.Audit.FailClosed = true
	}})
	ctx := context.Background()
	_, conn := connectAs(t, g, "analyst", auth.SecurityContext{})
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	pg.Stop()
	stopped := true
	defer func() {
		if stopped {
			pg.Restart()
		}
	}()
	if !pollUntil(15*time.Second, func() bool {
		conn.Exec(ctx, `SELECT MEASURE(count) FROM orders WHERE status = 'a'`)
		return g.Audit.Healthy() != nil
	}) {
		t.Fatal("audit writes to a stopped state store do not fail")
	}
	_, err := conn.PgConn().Exec(ctx, `SELECT MEASURE(count) FROM orders`).ReadAll()
	if code := codeOf(err); code != "58030" {
		t.Fatalf("a query with the state store unreachable: %v, want 58030 (io_error, not disk full)", err)
	}
	pg.Restart()
	stopped = false
	if !pollUntil(15*time.Second, func() bool { return g.Audit.Healthy() == nil }) {
		t.Fatalf("still unhealthy with the state store back: %v", g.Audit.Healthy())
	}
	viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`) // the same session
}

// The 54000 past limits.statement_rows on cubegate.audit_log sends the
// reader to the admin API, page by page (review of issue #21: the API
// could not page, and cut a limit above 10,000 to 1,000): with
// statement_rows 20 and more events than that, the SQL read is 54000
// with that hint, and following it — limit, then before_id from
// meta.next_before_id — reads every event of the tenant, each once.
func TestAuditLogHintPagesThrough(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000), Adjust: func(c *app.Config) {
		c.Limits.StatementRows = 20
	}})
	ctx := context.Background()
	_, conn := connectAs(t, g, "auditor", auth.SecurityContext{}, "audit:read")
	for range 25 {
		viaGateway(t, conn, `SELECT MEASURE(count) FROM orders`)
	}
	_, err := conn.Exec(ctx, `SELECT * FROM cubegate.audit_log`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "54000" || !strings.Contains(pe.Hint, "/admin/v1/audit") || !strings.Contains(pe.Hint, "before_id") {
		t.Fatalf("the whole log past statement_rows: %v (hint %q), want 54000 sending to /admin/v1/audit with before_id", err, hintOf(err))
	}
	reader, err := g.Keys.Create(ctx, auth.DefaultTenant, "op", auth.KeyInput{Scopes: &[]string{"audit:read"}})
	if err != nil {
		t.Fatal(err)
	}
	g.Audit.Sync()
	all, err := g.Audit.Read(ctx, auth.AuditFilter{Tenant: auth.DefaultTenant})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	path := "/admin/v1/audit?limit=10"
	for pages := 0; ; pages++ {
		if pages > len(all) {
			t.Fatal("the pages do not end")
		}
		status, body := httpCall(t, g, reader.KeyValue, "GET", path, "")
		var page struct {
			Meta struct {
				Next int64 `json:"next_before_id"`
			} `json:"meta"`
			Data []auth.AuditEvent `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &page); status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		for _, e := range page.Data {
			if seen[e.ID] {
				t.Fatalf("event %d on two pages", e.ID)
			}
			seen[e.ID] = true
		}
		if page.Meta.Next == 0 {
			break
		}
		path = fmt.Sprintf("/admin/v1/audit?limit=10&before_id=%d", page.Meta.Next)
	}
	for _, e := range all {
		if !seen[e.ID] {
			t.Fatalf("event %d (%s/%s) is on no page: %d of %d read", e.ID, e.Kind, e.Action, len(seen), len(all))
		}
	}
	t.Logf("%d events read in pages of 10 (statement_rows 20)", len(seen))
}

func hintOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Hint
	}
	return ""
}
