package warehouse_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cubegate/cubegate/warehouse"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// freezer forwards TCP to a PostgreSQL until frozen; frozen, it forwards
// nothing more, as a host that drops packets.
type freezer struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(f.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			if f.frozen.Load() {
				continue // accepted, never answered
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, up)
			f.mu.Unlock()
			go f.pipe(up, c)
			go f.pipe(c, up)
		}
	}()
	return f
}

// close ends the listener and every connection.
func (f *freezer) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if f.frozen.Load() {
			continue // dropped
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A warehouse that stops answering without closing anything (a hung
// host, a dropped network) is an outage once a ping times out while the
// pool has connections to spare; with every connection busy, a ping that
// waits is not one.
func TestHungPostgresIsUnavailable(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	u, err := url.Parse(pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	f := newFreezer(t, u.Host)
	u.Host = f.ln.Addr().String()
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	w, err := warehouse.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.close(); w.Close() }() // the connections first: a pool closes them politely
	ping := func() error {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		return w.Ping(pctx)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	// Busy: the one connection holds an unread result; the ping waits.
	rows, err := w.Query(ctx, `SELECT generate_series(1, 100000)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(); err == nil || warehouse.Unavailable(err) {
		t.Errorf("a ping waiting for a busy pool: %v, want its context's error, not an outage", err)
	}
	rows.Close()
	if err := ping(); err != nil {
		t.Fatalf("after the result closed: %v", err)
	}
	// Frozen: the server does not answer any more.
	f.frozen.Store(true)
	err = ping()
	var ue *warehouse.UnavailableError
	if !errors.As(err, &ue) || ue.Reason != "timed out" {
		t.Fatalf("a ping of a hung warehouse: %v, want an *UnavailableError (timed out)", err)
	}
}
