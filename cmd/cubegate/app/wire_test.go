package app_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

func dial(t *testing.T, g *apptest.Gateway) (net.Conn, *pgproto3.Frontend) {
	t.Helper()
	nc, err := net.Dial("tcp", g.SQLAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc, pgproto3.NewFrontend(nc, nc)
}

func expectFatal(t *testing.T, fe *pgproto3.Frontend, code string) {
	t.Helper()
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || er.Severity != "FATAL" || er.Code != code {
		t.Fatalf("got %#v, want FATAL %s", msg, code)
	}
	if _, err := fe.Receive(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed after FATAL: %v", err)
	}
}

func TestStartupPhase(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(100)})

	t.Run("SSLRequest is answered N and startup goes on", func(t *testing.T) {
		nc, fe := dial(t, g)
		fe.Send(&pgproto3.SSLRequest{})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(nc, b); err != nil || b[0] != 'N' {
			t.Fatalf("got %q, %v", b, err)
		}
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "cg_someone", "database": "demo"}})
		fe.Flush()
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if sasl, ok := msg.(*pgproto3.AuthenticationSASL); !ok || sasl.AuthMechanisms[0] != "SCRAM-SHA-256" {
			t.Fatalf("got %#v, want AuthenticationSASL SCRAM-SHA-256", msg)
		}
	})

	t.Run("no user name", func(t *testing.T) {
		_, fe := dial(t, g)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"database": "demo"}})
		fe.Flush()
		expectFatal(t, fe, "28000")
	})

	t.Run("a huge claimed length allocates nothing and is refused", func(t *testing.T) {
		nc, _ := dial(t, g)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], 1<<30)
		binary.BigEndian.PutUint32(hdr[4:], pgproto3.ProtocolVersionNumber)
		nc.Write(hdr[:])
		fe := pgproto3.NewFrontend(nc, nc)
		expectFatal(t, fe, "08P01")
	})

	t.Run("SASL with another mechanism", func(t *testing.T) {
		_, fe := dial(t, g)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "cg_x", "database": "demo"}})
		fe.Flush()
		if _, err := fe.Receive(); err != nil {
			t.Fatal(err)
		}
		fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "PLAIN", Data: []byte("x")})
		fe.Flush()
		expectFatal(t, fe, "08P01")
	})

	t.Run("the server keeps serving", func(t *testing.T) {
		_, _, connStr, err := g.MintCredential(context.Background(), "after")
		if err != nil {
			t.Fatal(err)
		}
		conn := apptest.Connect(t, connStr)
		if got := viaGateway(t, conn, "SELECT MEASURE(count) FROM orders"); got[0][0] != "100" {
			t.Fatalf("got %v", got)
		}
	})
}

// A CancelRequest stops the running statement and its warehouse query:
// the query is gone from the warehouse's pg_stat_activity within a second,
// the client gets 57014 and the session stays usable.
func TestCancelStopsWarehouseQuery(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase("slow")
	connStr := apptest.Start(t, apptest.Options{DSN: dsn, Model: slowModel("10")}).ConnString(t, "limits")
	conn := apptest.Connect(t, connStr)
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT label, MEASURE(count) FROM slow GROUP BY 1")
		done <- err
	}()
	active := slowStatements(t, dsn)
	waitFor(t, "the warehouse query to start", func() bool { return active() > 0 })
	canceled := time.Now()
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("err = %v, want 57014", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the statement did not stop")
	}
	for active() > 0 {
		if time.Since(canceled) > time.Second {
			t.Fatal("the warehouse query is still running a second after the cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("session unusable after cancel: %v", err)
	}
	if !strings.Contains(connStr, "/demo") {
		t.Fatal(connStr)
	}
}
