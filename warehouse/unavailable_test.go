package warehouse

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnreachablePostgres: a PostgreSQL warehouse nobody listens for is a
// *ConnectError naming host:port and why, never the DSN's user, password
// or database (pgconn's own message names user and database).
func TestUnreachablePostgres(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	_, err = Open(context.Background(), "postgres://warehouse_owner:hunter2@127.0.0.1:"+port+"/sales_db?sslmode=disable")
	var ce *ConnectError
	if !errors.As(err, &ce) || !Unavailable(err) {
		t.Fatalf("open: %v (%T), want a *ConnectError", err, err)
	}
	var pce *pgconn.ConnectError
	if !errors.As(err, &pce) {
		t.Errorf("the driver's error is not kept for errors.As")
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:"+port) || !strings.Contains(msg, "connection refused") {
		t.Errorf("message %q: want the address and the reason", msg)
	}
	for _, secret := range []string{"warehouse_owner", "hunter2", "sales_db", "user=", "postgres://"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message %q shows %q", msg, secret)
		}
	}
}

// TestUnavailableErrors: what counts as a warehouse that cannot be
// reached, and what a client is told of it.
func TestUnavailableErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: pgerrcode.AdminShutdown, Message: "terminating connection due to administrator command"}, true},
		{&pgconn.PgError{Code: pgerrcode.CannotConnectNow}, true},
		{&pgconn.PgError{Code: pgerrcode.ConnectionFailure}, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{&pgconn.PgError{Code: pgerrcode.UndefinedTable, Message: "relation does not exist"}, false},
		{&Error{Code: "22012", Message: "division by zero"}, false},
	} {
		err := unavailable(ctx, "postgres", "127.0.0.1:5432", c.err)
		var ue *UnavailableError
		if got := errors.As(err, &ue); got != c.want {
			t.Errorf("%v: unavailable %v, want %v", c.err, got, c.want)
			continue
		}
		if c.want && (ue.SQLState() != "57P03" || ue.Error() != "the warehouse is not available" || ue.Address != "127.0.0.1:5432") {
			t.Errorf("%v: %+v", c.err, ue)
		}
	}
	// A statement whose context ended keeps its context's error (57014).
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := unavailable(done, "postgres", "x", &net.OpError{Op: "read", Err: errors.New("closed")}); Unavailable(err) {
		t.Errorf("a canceled statement's error became %v", err)
	}
}
