package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app"
	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// balancer is the smallest TCP load balancer: each connection accepted
// goes to the next backend in turn (round-robin) and is copied both ways
// until either side ends. It stands for HAProxy or an NLB in front of
// several gateways; served counts the connections each backend got.
type balancer struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	served   []atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
}

// startBalancer listens on a free port of 127.0.0.1 in front of
// backends; it stops, and cuts what it carries, when the test ends.
func startBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends, served: make([]atomic.Int64, len(backends)), conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		i := int((b.next.Add(1) - 1) % uint64(len(b.backends)))
		b.served[i].Add(1)
		b.wg.Add(1)
		go b.pipe(c, b.backends[i])
	}
}

// pipe copies between the client c and a new connection to backend;
// when either side ends, both are closed.
func (b *balancer) pipe(c net.Conn, backend string) {
	defer b.wg.Done()
	s, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	b.conns[c], b.conns[s] = struct{}{}, struct{}{}
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	<-done
	b.mu.Lock()
	delete(b.conns, c)
	delete(b.conns, s)
	b.mu.Unlock()
}

func (b *balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *balancer) counts() []int64 {
	out := make([]int64, len(b.served))
	for i := range b.served {
		out[i] = b.served[i].Load()
	}
	return out
}

// via runs f, which opens exactly one connection through the balancer,
// and returns the backend that served it.
func (b *balancer) via(t *testing.T, f func()) int {
	t.Helper()
	before := b.counts()
	f()
	got := -1
	for i, n := range b.counts() {
		switch {
		case n == before[i]:
		case n == before[i]+1 && got == -1:
			got = i
		default:
			t.Fatalf("one connection through the balancer, but it served %v then %v", before, b.counts())
		}
	}
	if got == -1 {
		t.Fatal("no connection went through the balancer")
	}
	return got
}

// TestManyGatewaysOneAddress is README's "Many gateways, one warehouse":
// three gateways on one PostgreSQL state store (the warehouse's cluster,
// another database), one shared model folder, and one TCP address in
// front of their SQL ports and one in front of their HTTP ports. Every
// assertion is made through those two addresses; the balancer's counters
// say which gateway answered.
//
// Shared through the state store: credentials, API keys and their
// revocations (each login and each request reads the store), the audit
// log, a tenant's request rate (one token bucket, a row of the store),
// and notes (LISTEN/NOTIFY): result cache invalidations, reloads (a
// reload on one gateway reloads the others from their own folders) and
// cancel requests that reached a gateway not holding the session (sent
// as a hash of the key). Per gateway: the running-query cap, the
// failed-login throttle, and the SQL sessions themselves.
func TestManyGatewaysOneAddress(t *testing.T) {
	const gateways, burst = 3, 100
	ctx := context.Background()
	pg, wh := apptest.Postgres(t, apptest.Demo(500))
	state := pg.CreateDatabase("state")
	model := t.TempDir()
	if err := app.WriteDemoModel(model); err != nil {
		t.Fatal(err)
	}
	gws := make([]*apptest.Gateway, gateways)
	var sqlAddrs, httpAddrs []string
	for i := range gws {
		gws[i] = apptest.Start(t, apptest.Options{DSN: wh, ModelDir: model, Adjust: func(c *app.Config) {
			c.State.DSN = state
			// No folder watch: a reload is only what the admin API asks of
			// the one gateway it reaches, and what that one tells the
			// others.
			c.Model.Watch = false
			// A tenant's bucket: 100 requests, refilled at one per 1000 s
			// (nothing comes back during the test).
			c.Limits.RequestsPerSecond, c.Limits.Burst = 0.001, burst
		}})
		sqlAddrs = append(sqlAddrs, gws[i].SQLAddr().String())
		httpAddrs = append(httpAddrs, gws[i].HTTPAddr().String())
	}
	sqlLB, httpLB := startBalancer(t, sqlAddrs...), startBalancer(t, httpAddrs...)
	sqlHost, sqlPort, _ := net.SplitHostPort(sqlLB.ln.Addr().String())
	want := direct(t, gws[0], `SELECT count(*) FROM public.orders_raw`)[0][0]

	// REST through the balancer: a new connection for each request, so
	// that each goes to the next gateway.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	rest := func(method, path, key, body string) (status int, out []byte, backend int) {
		t.Helper()
		backend = httpLB.via(t, func() {
			req, _ := http.NewRequest(method, "http://"+httpLB.ln.Addr().String()+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			status = resp.StatusCode
			out, _ = io.ReadAll(resp.Body)
		})
		return status, out, backend
	}
	load := func(key, measure string) (status int, value string, backend int) {
		t.Helper()
		status, out, backend := rest("GET", "/cubejs-api/v1/load?query="+url.QueryEscape(`{"measures":["`+measure+`"]}`), key, "")
		var ans struct {
			Data []map[string]any `json:"data"`
		}
		if status == 200 {
			if err := json.Unmarshal(out, &ans); err != nil || len(ans.Data) != 1 {
				t.Fatalf("load %s on gateway %d: %v %s", measure, backend, err, out)
			}
			value = fmt.Sprint(ans.Data[0][measure])
		}
		return status, value, backend
	}
	// SQL through the balancer: one connection a login.
	login := func(connStr string) (*pgconn.PgConn, int, error) {
		t.Helper()
		var conn *pgconn.PgConn
		var err error
		backend := sqlLB.via(t, func() {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, err = connectFrom(lctx, connStr, "127.0.0.1", "", "")
		})
		if err == nil {
			t.Cleanup(func() { conn.Close(context.Background()) })
		}
		return conn, backend, err
	}
	count := func(conn *pgconn.PgConn) (string, error) {
		rs, err := conn.Exec(ctx, `SELECT MEASURE(count) FROM orders`).ReadAll()
		if err != nil {
			return "", err
		}
		if len(rs) != 1 || len(rs[0].Rows) != 1 {
			return "", fmt.Errorf("%d results", len(rs))
		}
		return string(rs[0].Rows[0][0]), nil
	}
	// onEach polls f through the balancer until every gateway has said
	// yes, within 5 s; it returns how long that took.
	onEach := func(what string, f func() (backend int, ok bool)) time.Duration {
		t.Helper()
		start := time.Now()
		seen := make([]bool, gateways)
		for n := 0; ; {
			if b, ok := f(); ok && !seen[b] {
				seen[b] = true
				n++
			}
			if n == gateways {
				return time.Since(start)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: after 5 s only on gateways %v", what, seen)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	admin := testKey(t, gws[0], nil, "admin")

	// 1. A credential minted on gateway 0 logs in, and queries, on every
	// gateway through the one address.
	cred, pw, _, err := gws[0].MintCredential(ctx, "many")
	if err != nil {
		t.Fatal(err)
	}
	connStr := app.ConnectionString(cred.Username, pw, sqlHost, sqlPort, cred.Database) + "?sslmode=disable"
	before := sqlLB.counts()
	var sessions []*pgconn.PgConn
	for i := 0; i < 2*gateways; i++ {
		conn, b, err := login(connStr)
		if err != nil {
			t.Fatalf("login %d (gateway %d): %v", i, b, err)
		}
		if got, err := count(conn); err != nil || got != want {
			t.Fatalf("count on gateway %d: %q %v, want %s", b, got, err, want)
		}
		sessions = append(sessions, conn)
	}
	for i, n := range sqlLB.counts() {
		if n-before[i] < 1 {
			t.Fatalf("gateway %d served none of the logins: %v → %v", i, before, sqlLB.counts())
		}
	}

	// 2. Revoked (deleted) through the admin API on whichever gateway the
	// balancer picks, the credential's next login fails on every gateway
	// with 28P01: each login reads the state store, nothing is cached.
	// Sessions already open are not cut: a session's principal is read
	// at login, and deleting a credential closes no session on any
	// gateway (the test logs what the six sessions answer).
	status, out, by := rest("DELETE", "/admin/v1/credentials/"+cred.ID, admin, "")
	if status != 200 {
		t.Fatalf("revoking the credential: %d %s", status, out)
	}
	took := onEach("the revoked credential refused", func() (int, bool) {
		conn, b, err := login(connStr)
		if err == nil {
			conn.Close(ctx)
			return b, false
		}
		if pgCode(err) != "28P01" {
			t.Fatalf("the revoked credential on gateway %d: %v, want 28P01", b, err)
		}
		return b, true
	})
	t.Logf("credential revoked on gateway %d: refused with 28P01 by every gateway %s later", by, took.Round(time.Microsecond))
	alive := 0
	for _, conn := range sessions {
		if got, err := count(conn); err == nil && got == want {
			alive++
		}
	}
	t.Logf("sessions opened before the revocation that still answer: %d of %d", alive, len(sessions))

	// 3. A model reload: a new cube in the shared model folder, the admin
	// API's restart through the balancer. The gateway it reached reloads
	// and tells the others (a note on the state store); each reloads from
	// its own folder and tells nobody: within 5 s every gateway serves the
	// new cube, and each reloaded exactly once (no storm).
	probe := `reload_probe.count`
	if status, _, b := load(admin, probe); status == 200 {
		t.Fatalf("gateway %d knows %s before any reload", b, probe)
	}
	if err := os.WriteFile(filepath.Join(model, "probe.yml"), []byte(extraCube(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	reloadsBefore := make([]int, gateways)
	for i, g := range gws {
		reloadsBefore[i] = g.Status(ctx).Reloads
	}
	status, out, first := rest("POST", "/admin/v1/restart", admin, "")
	if status != 200 {
		t.Fatalf("restart on gateway %d: %d %s", first, status, out)
	}
	took = onEach(probe+" served", func() (int, bool) {
		time.Sleep(10 * time.Millisecond) // each load spends a token
		status, got, b := load(admin, probe)
		if status == 429 || status >= 500 {
			t.Fatalf("%s on gateway %d: %d", probe, b, status)
		}
		return b, status == 200 && got == want
	})
	time.Sleep(300 * time.Millisecond) // a storm would show by now
	for i, g := range gws {
		if n := g.Status(ctx).Reloads - reloadsBefore[i]; n != 1 {
			t.Fatalf("gateway %d reloaded %d times after one restart on gateway %d, want once", i, n, first)
		}
	}
	t.Logf("a reload on gateway %d: every gateway served %s %s after the restart answered, each reloaded once", first, probe, took.Round(time.Microsecond))

	// 5. An API key minted through the admin API on one gateway loads on
	// every gateway; revoked on one, it is refused (401) by every gateway
	// on its next request.
	status, out, by = rest("POST", "/admin/v1/api_keys", admin, `{"description":"many","scope_names":["load"]}`)
	var minted struct {
		Data struct {
			ID  string `json:"api_key_id"`
			Key string `json:"key_value"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &minted); err != nil || status != 201 || minted.Data.Key == "" {
		t.Fatalf("minting a key: %d %v %s", status, err, out)
	}
	onEach("the key minted on gateway "+fmt.Sprint(by)+" loads", func() (int, bool) {
		status, got, b := load(minted.Data.Key, "orders.count")
		if status != 200 || got != want {
			t.Fatalf("the new key on gateway %d: %d %q, want %s", b, status, got, want)
		}
		return b, true
	})
	status, out, by = rest("DELETE", "/admin/v1/api_keys/"+minted.Data.ID, admin, "")
	if status != 200 {
		t.Fatalf("revoking the key: %d %s", status, out)
	}
	took = onEach("the revoked key refused", func() (int, bool) {
		status, _, b := load(minted.Data.Key, "orders.count")
		return b, status == 401
	})
	t.Logf("key revoked on gateway %d: refused with 401 by every gateway %s later", by, took.Round(time.Microsecond))

	// One audit log: whichever gateway answers holds both revocations and
	// the refused logins of every gateway (each writer flushed first).
	for _, g := range gws {
		g.Audit.Sync()
	}
	status, out, by = rest("GET", "/admin/v1/audit?limit=1000", admin, "")
	var audit struct {
		Data []struct {
			Kind, Action, Outcome, Object, Username string
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &audit); err != nil || status != 200 {
		t.Fatalf("audit on gateway %d: %d %v %.300s", by, status, err, out)
	}
	var credDeleted, keyRevoked bool
	var failedLogins int
	for _, e := range audit.Data {
		credDeleted = credDeleted || e.Kind == "credential" && e.Action == "delete" && e.Object == cred.ID
		keyRevoked = keyRevoked || e.Kind == "api_key" && e.Action == "revoke" && e.Object == minted.Data.ID
		if e.Kind == "login" && e.Outcome == "failed" && e.Username == cred.Username {
			failedLogins++
		}
	}
	if !credDeleted || !keyRevoked || failedLogins < gateways {
		t.Fatalf("the audit log on gateway %d: credential deleted %v, key revoked %v, %d failed logins (want ≥ %d)", by, credDeleted, keyRevoked, failedLogins, gateways)
	}

	// Cancels cross gateways: a CancelRequest is a new connection, which
	// the balancer sends to the next gateway, not the session's. That
	// gateway finds no session of its own with the key and publishes its
	// SHA-256 (never the secret); the session's gateway stops the
	// statement with 57014. Twice, so that each of the two other gateways
	// forwards one.
	cred2, pw2, _, err := gws[1].MintCredential(ctx, "cancel")
	if err != nil {
		t.Fatal(err)
	}
	cancelConn := app.ConnectionString(cred2.Username, pw2, sqlHost, sqlPort, cred2.Database) + "?sslmode=disable"
	forwardedBy := map[int]bool{}
	for round := 0; round < 2; round++ {
		conn, on, err := login(cancelConn)
		if err != nil {
			t.Fatal(err)
		}
		ended := make(chan error, 1)
		go func() {
			_, err := conn.Exec(ctx, `SELECT pg_sleep(5)`).ReadAll()
			ended <- err
		}()
		time.Sleep(100 * time.Millisecond)
		sent := time.Now()
		b := sqlLB.via(t, func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := conn.CancelRequest(cctx); err != nil {
				t.Fatal(err)
			}
		})
		if b == on {
			t.Fatalf("the round-robin balancer sent the cancel to the session's own gateway %d", on)
		}
		select {
		case err := <-ended:
			if pgCode(err) != "57014" {
				t.Fatalf("the statement on gateway %d, cancelled through gateway %d: %v, want 57014", on, b, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("a cancel sent to gateway %d did not stop the statement on gateway %d", b, on)
		}
		forwardedBy[b] = true
		t.Logf("a cancel sent to gateway %d stopped the statement on gateway %d with 57014 in %s", b, on, time.Since(sent).Round(time.Microsecond))
		conn.Close(ctx)
	}
	if len(forwardedBy) != 2 {
		t.Fatalf("the two cancels were forwarded by gateways %v, want two different ones", forwardedBy)
	}

	// 4. The tenant's rate limit is one bucket for every gateway (a row
	// of the state store): over the whole test it admits no more than
	// burst requests (it refills at 0.001/s), so after the steps above
	// spent tokens on every gateway, the three together admit fewer than
	// burst before each refuses; once one refuses, none admits again.
	admitted, refused := make([]int, gateways), make([]int, gateways)
	anyRefused := false
	onEach("the tenant's rate limit reached", func() (int, bool) {
		status, _, b := load(admin, "orders.count")
		switch status {
		case 200:
			if anyRefused {
				t.Fatalf("gateway %d admitted a request after a refusal (refused so far: %v): the bucket is not shared", b, refused)
			}
			admitted[b]++
		case 429:
			refused[b]++
			anyRefused = true
		default:
			t.Fatalf("load on gateway %d: %d", b, status)
		}
		return b, status == 429
	})
	total := 0
	for _, n := range admitted {
		total += n
	}
	if total >= burst {
		t.Fatalf("the gateways admitted %v = %d requests before each refused one, after earlier steps spent tokens: the burst is %d — the bucket is not shared", admitted, total, burst)
	}
	t.Logf("rate limit: the gateways admitted %v = %d requests (burst %d, the rest spent by the steps above) before each refused: one bucket", admitted, total, burst)
}
