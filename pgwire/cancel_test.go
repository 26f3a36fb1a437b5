package pgwire

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// sendCancel writes a CancelRequest for pid and secret to addr, as a
// client does on a new connection.
func sendCancel(t *testing.T, addr string, pid, secret uint32) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], 16)
	binary.BigEndian.PutUint32(b[4:], 80877102)
	binary.BigEndian.PutUint32(b[8:], pid)
	binary.BigEndian.PutUint32(b[12:], secret)
	if _, err := nc.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	// The server closes the connection once it has handled the request.
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	nc.Read(b[:1])
}

// A CancelRequest reaching a server that does not hold the session
// (another server behind the same load balancer) is handed to
// ForwardCancel as CancelHash(pid, secret) — never the secret — and the
// server holding the session stops its statement (57014) with
// CancelHashed. A cancel that stops a local statement is not forwarded;
// a wrong secret, even for a local process id, is, and its hash stops
// nothing anywhere.
func TestForwardCancel(t *testing.T) {
	var mu sync.Mutex
	var forwarded []CancelKeyHash
	var other *Server
	cfg := Config{ForwardCancel: func(h CancelKeyHash) {
		mu.Lock()
		forwarded = append(forwarded, h)
		mu.Unlock()
		other.CancelHashed(h)
	}}
	here, hereDSN := serveLimits(t, cfg, limitsHandler{})
	other, otherDSN := serveLimits(t, Config{}, limitsHandler{})
	hereAddr := strings.Split(strings.Split(hereDSN, "@")[1], "/")[0]
	ctx := context.Background()
	takeForwarded := func() []CancelKeyHash {
		mu.Lock()
		defer mu.Unlock()
		f := forwarded
		forwarded = nil
		return f
	}
	run := func(srv *Server, dsn string) (pid, secret uint32, result chan error) {
		c := connectLimits(t, dsn)
		result = make(chan error, 1)
		go func() { _, err := c.Exec(ctx, "sleep").ReadAll(); result <- err }()
		for srv.busySessions() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		return c.PID(), binary.BigEndian.Uint32(c.SecretKey()), result
	}
	stopped := func(what string, result chan error) {
		t.Helper()
		select {
		case err := <-result:
			if code, _ := sqlstate(err); code != "57014" {
				t.Fatalf("%s: %v, want 57014", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the statement was not stopped", what)
		}
	}
	running := func(what string, result chan error) {
		t.Helper()
		select {
		case err := <-result:
			t.Fatalf("%s: the statement ended: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// The other server's session, cancelled through this one.
	pid, secret, result := run(other, otherDSN)
	sendCancel(t, hereAddr, pid, secret^1) // a wrong secret: forwarded, stops nothing
	running("a wrong secret forwarded", result)
	sendCancel(t, hereAddr, pid, secret)
	stopped("a cancel forwarded to the session's server", result)
	f := takeForwarded()
	if len(f) != 2 || f[0] != CancelHash(pid, secret^1) || f[1] != CancelHash(pid, secret) {
		t.Fatalf("forwarded %x, want the hashes of the wrong and the right key", f)
	}
	for _, h := range f {
		for _, k := range []uint32{secret, secret ^ 1} {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], k)
			if strings.Contains(string(h[:]), string(b[:])) {
				t.Fatalf("the forwarded hash %x holds the secret %x", h, b)
			}
		}
	}

	// A session of this server: stopped here, nothing forwarded; a wrong
	// secret for its process id is forwarded (it may be another server's
	// process id) and stops nothing.
	pid, secret, result = run(here, hereDSN)
	sendCancel(t, hereAddr, pid, secret+1)
	running("a wrong secret for a local process id", result)
	if f := takeForwarded(); len(f) != 1 || f[0] != CancelHash(pid, secret+1) {
		t.Fatalf("forwarded %x, want the wrong key's hash", f)
	}
	sendCancel(t, hereAddr, pid, secret)
	stopped("a local cancel", result)
	if f := takeForwarded(); len(f) != 0 {
		t.Fatalf("a local cancel was forwarded too: %x", f)
	}

	// CancelHashed finds only live sessions.
	if other.CancelHashed(CancelHash(pid, secret)) {
		t.Fatal("the other server claims this server's session")
	}
	if !here.CancelHashed(CancelHash(pid, secret)) {
		t.Fatal("CancelHashed does not find the session")
	}
}
