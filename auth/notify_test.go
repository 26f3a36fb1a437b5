package auth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Notify and Listen on a PostgreSQL state store: a note sent through one
// store reaches another's listener; a connection silent past its check
// keeps hearing; a listening connection killed by the server, or lost
// while the server was down, is made again and the callback told to
// resynchronise; stop ends the listening.
func TestNotifyListen(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase("state")
	ctx := context.Background()
	open := func() *Store {
		s, err := OpenStore(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	got := make(chan string, 16)
	var lost atomic.Int32
	stop, err := a.ListenWith(ctx, "Cube Gate", func(p string) { got <- p },
		ListenOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Check: 200 * time.Millisecond, OnError: func(err error) {
			lost.Add(1)
			t.Logf("listener: %v", err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	expect := func(want string, within time.Duration) {
		t.Helper()
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("heard %q, want %q", p, want)
			}
		case <-time.After(within):
			t.Fatalf("nothing heard in %s, want %q", within, want)
		}
	}
	notify := func(payload string) {
		t.Helper()
		if err := b.Notify(ctx, "Cube Gate", payload); err != nil {
			t.Fatal(err)
		}
	}
	sent := time.Now()
	notify("one")
	expect("one", time.Second)
	t.Logf("a note heard %s after it was sent", time.Since(sent).Round(time.Microsecond))
	if err := b.Notify(ctx, "Cube Gate", Resync); err == nil {
		t.Fatal("an empty payload was sent")
	}
	// Silent past several checks (each a ping): still listening.
	time.Sleep(700 * time.Millisecond)
	notify("two")
	expect("two", time.Second)
	if n := lost.Load(); n != 0 {
		t.Fatalf("%d errors on a healthy connection", n)
	}

	// The server ends the listening connection: it is made again, and
	// the callback hears Resync (notes sent meanwhile are lost).
	admin, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	listeners := func() int {
		t.Helper()
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, listenName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t`, listenName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", killed, err)
	}
	killedAt := time.Now()
	expect(Resync, 2*time.Second)
	t.Logf("resync %s after the connection was killed", time.Since(killedAt).Round(time.Microsecond))
	if lost.Load() == 0 {
		t.Fatal("the lost connection was not reported")
	}
	notify("three")
	expect("three", time.Second)
	if n := listeners(); n != 1 {
		t.Fatalf("%d listening connections after the reconnect, want 1", n)
	}

	// The server is down for a while: attempts fail (reported) until it
	// is back, then Resync.
	admin.Close(ctx)
	before := lost.Load()
	pg.Stop()
	time.Sleep(300 * time.Millisecond)
	pg.Restart()
	restarted := time.Now()
	expect(Resync, 5*time.Second)
	t.Logf("resync %s after the server came back (%d errors reported meanwhile)", time.Since(restarted).Round(time.Microsecond), lost.Load()-before)
	if lost.Load()-before < 2 {
		t.Fatal("the failed reconnects were not reported")
	}
	if admin, err = pgx.Connect(ctx, pg.DSN); err != nil {
		t.Fatal(err)
	}
	notify("four")
	expect("four", time.Second)

	// A note sent in a transaction is heard on its commit only.
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(context.WithValue(ctx, txKey{}, tx), "Cube Gate", "in tx"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		t.Fatalf("heard %q before the commit", p)
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	expect("in tx", time.Second)

	// Stopped: the connection is gone and nothing more is heard.
	stop()
	stop()
	// The server ends the session a moment after the client hangs up.
	for deadline := time.Now().Add(2 * time.Second); listeners() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d listening connections 2s after stop", listeners())
		}
	}
	notify("five")
	select {
	case p := <-got:
		t.Fatalf("heard %q after stop", p)
	case <-time.After(200 * time.Millisecond):
	}
}

// On SQLite (one gateway per store) Notify and Listen do nothing.
func TestNotifySQLite(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, "sqlite://"+t.TempDir()+"/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	heard := make(chan string, 1)
	stop, err := s.Listen(ctx, "cubegate_cache", func(p string) { heard <- p })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(ctx, "cubegate_cache", "x"); err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case p := <-heard:
		t.Fatalf("heard %q on SQLite", p)
	case <-time.After(50 * time.Millisecond):
	}
}
