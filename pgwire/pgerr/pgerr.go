// Package pgerr carries PostgreSQL error fields (SQLSTATE, detail, hint,
// position) as data on a Go error, so any layer can say what went wrong in
// Postgres terms and the wire layer flattens it into an ErrorResponse.
//
// Codes come from github.com/jackc/pgerrcode, which is generated from
// PostgreSQL's errcodes.txt.
package pgerr

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Severity values as PostgreSQL sends them.
const (
	SeverityError = "ERROR"
	SeverityFatal = "FATAL"
)

// Error is a Postgres-shaped error. Position is 1-based in characters of the
// statement text, 0 when unknown.
type Error struct {
	Severity string
	Code     string
	Message  string
	Detail   string
	Hint     string
	Position int32
	cause    error
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// SQLState returns the SQLSTATE code.
func (e *Error) SQLState() string { return e.Code }

// New returns an ERROR with code and a formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unsupported is 0A000 (feature_not_supported) pointing at loc, a
// 0-based position in the statement (none when negative).
func Unsupported(loc int32, format string, args ...any) *Error {
	e := New("0A000", format, args...)
	if loc >= 0 {
		e.At(loc + 1)
	}
	return e
}

// Fatal returns a FATAL error (the connection ends after it is sent).
func Fatal(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityFatal, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an ERROR with code whose cause is err.
func Wrap(err error, code, format string, args ...any) *Error {
	e := New(code, format, args...)
	e.cause = err
	return e
}

// ErrNotYet marks an error about a feature cubegate lacks on the path that
// refused it (errors.Is(err, ErrNotYet)): another path may have it. Markers,
// never messages, are what callers decide on.
var ErrNotYet = errors.New("not supported yet")

// Mark attaches a marker — a sentinel error callers test with errors.Is —
// and returns e.
func (e *Error) Mark(marker error) *Error {
	if e.cause == nil {
		e.cause = marker
	} else {
		e.cause = errors.Join(e.cause, marker)
	}
	return e
}

// WithHint sets the hint and returns e.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// WithDetail sets the detail and returns e.
func (e *Error) WithDetail(format string, args ...any) *Error {
	e.Detail = fmt.Sprintf(format, args...)
	return e
}

// At sets the 1-based statement position and returns e.
func (e *Error) At(pos int32) *Error {
	e.Position = pos
	return e
}

// From converts any error into an *Error: Postgres-shaped errors pass
// through (also ones wrapped by other errors, and pgconn errors from a
// Postgres warehouse, via the SQLState method), cancellations become 57014,
// everything else is an internal error XX000.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return Wrap(err, pgerrcode.QueryCanceled, "canceling statement due to user request")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Wrap(err, pgerrcode.QueryCanceled, "canceling statement due to statement timeout")
	}
	// A PostgreSQL warehouse's error keeps its message, detail and hint
	// (not pgconn's "ERROR: … (SQLSTATE …)" spelling); its position is in
	// the warehouse's SQL, not the client's, and is left out.
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 {
		e := Wrap(err, pe.Code, "%s", pe.Message)
		e.Detail, e.Hint = pe.Detail, pe.Hint
		return e
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) && len(st.SQLState()) == 5 {
		return Wrap(err, st.SQLState(), "%s", err.Error())
	}
	return Wrap(err, pgerrcode.InternalError, "%s", err.Error())
}

// Code returns err's SQLSTATE, or "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	return From(err).Code
}
