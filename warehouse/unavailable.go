package warehouse

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectError is a warehouse that cannot be opened: Address is its
// host:port (PostgreSQL) or file (DuckDB), never its user, password or
// DSN; Err the driver's error, kept for errors.As (a refused connection
// is told from a bad setting by it) but not in the message, which
// pgconn's would fill with user=… database=….
type ConnectError struct {
	Engine, Address string
	Err             error
}

func (e *ConnectError) Error() string {
	if e.Engine == "duckdb" {
		// A file's error (held by another process, unreadable) holds
		// no secret and says what to fix.
		return "duckdb " + e.Address + ": " + e.Err.Error()
	}
	return e.Engine + " warehouse " + e.Address + ": " + Reason(e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// UnavailableError is a query that could not reach its warehouse: the
// server is down, refuses connections, is shutting down, or the
// connection broke. Clients get 57P03 and Error's text, which names no
// address, user or DSN; Address and Reason are for the gateway's log.
type UnavailableError struct {
	Engine, Address, Reason string
}

func (e *UnavailableError) Error() string    { return "the warehouse is not available" }
func (e *UnavailableError) SQLState() string { return pgerrcode.CannotConnectNow }

// Address is where w is — host:port, a DuckDB file — for the log ("" when
// the warehouse does not say: an optional Address() method).
func Address(w Warehouse) string {
	if a, ok := w.(interface{ Address() string }); ok {
		return a.Address()
	}
	return ""
}

// Unavailable tells whether err is a warehouse that cannot be reached
// (an *UnavailableError or a *ConnectError).
func Unavailable(err error) bool {
	var ue *UnavailableError
	var ce *ConnectError
	return errors.As(err, &ue) || errors.As(err, &ce)
}

// connectionFailure tells the errors of a warehouse that cannot be
// reached from those of a query it refused: a failed connection attempt,
// a network error, a server shutting down or refusing connections (57P01
// to 57P03, class 08), a connection closed under a query.
func connectionFailure(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == pgerrcode.AdminShutdown ||
			pe.Code == pgerrcode.CrashShutdown || pe.Code == pgerrcode.CannotConnectNow
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || pgconn.SafeToRetry(err) // pgconn's "conn closed"/"conn busy": nothing was sent
}

// unavailable turns a failure to reach the warehouse into an
// *UnavailableError; a statement whose context ended (statement_timeout,
// cancel) keeps its context's error, and any other error is returned as
// it is.
func unavailable(ctx context.Context, engine, address string, err error) error {
	if err == nil || ctx.Err() != nil || !connectionFailure(err) {
		return err
	}
	return &UnavailableError{Engine: engine, Address: address, Reason: Reason(err)}
}

// Reason says in a few words why a warehouse cannot be reached, with no
// user, database or password (pgconn's messages name them): the
// network's or the server's reason, its SQLSTATE for a server's refusal.
func Reason(err error) string {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		switch pe.Code {
		case pgerrcode.InvalidPassword, pgerrcode.InvalidAuthorizationSpecification:
			return "the server refused the login (SQLSTATE " + pe.Code + ")"
		case pgerrcode.InvalidCatalogName:
			return "the database does not exist (SQLSTATE " + pe.Code + ")"
		}
		return "the server refused (SQLSTATE " + pe.Code + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return "timed out"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "the host name does not resolve"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "cannot connect"
	}
	if pgconn.SafeToRetry(err) {
		return "the connection was closed"
	}
	return "unreachable"
}
