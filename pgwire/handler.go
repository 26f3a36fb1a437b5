package pgwire

import (
	"context"
	"net"
)

// SASLExchange is the server side of one SASL authentication.
type SASLExchange interface {
	// Next consumes a client message and returns the server's answer.
	// done is true when out is the final message of a successful exchange.
	// An error means authentication failed.
	Next(in []byte) (out []byte, done bool, err error)
	// Principal identifies who authenticated, once done; opaque here and
	// handed to Handler.NewSession.
	Principal() any
}

// SASLEnder is a SASLExchange that wants to know when its exchange is
// over, however it ended (the client may leave before its last
// message): End is called once, after the last Next.
type SASLEnder interface {
	End()
}

// ChannelBinding describes SCRAM channel binding on a connection.
type ChannelBinding struct {
	// Data is the tls-server-end-point hash of the server certificate
	// (RFC 5929); nil without TLS.
	Data []byte
	// Plus is true when the client selected SCRAM-SHA-256-PLUS.
	Plus bool
	// Offered is true when the server offered SCRAM-SHA-256-PLUS.
	Offered bool
}

// Authenticator checks logins. For an unknown user it must behave as for
// a wrong password (same exchange, same cost), so the wire does not reveal
// who exists.
type Authenticator interface {
	// SCRAM starts a SCRAM-SHA-256(-PLUS) exchange for the startup user.
	SCRAM(ctx context.Context, user, database string, cb ChannelBinding) (SASLExchange, error)
	// Password checks a cleartext password (only ever asked over TLS,
	// and only when the server allows it).
	Password(ctx context.Context, user, database, password string) (principal any, ok bool, err error)
}

// SessionInfo is what a new session knows about its connection.
type SessionInfo struct {
	User       string
	Database   string
	Params     map[string]string // startup parameters
	Principal  any
	RemoteAddr net.Addr
	ProcessID  uint32
	// Limits are the caps the session shares with the wire: ask before
	// SQL PREPARE or DECLARE makes one more (nil: none).
	Limits *SessionLimits
}

// Handler opens sessions; the planner implements it.
type Handler interface {
	NewSession(ctx context.Context, info SessionInfo) (Session, error)
}

// Session is the SQL side of one connection.
type Session interface {
	// Parse splits a query string into statements, checking syntax only:
	// each statement is planned when it runs, against the session state
	// the statements before it left.
	Parse(ctx context.Context, sql string) ([]Statement, error)
	// Prepare parses one statement for the extended protocol, with the
	// parameter types the client gave (0 = infer), and describes it
	// without running it.
	Prepare(ctx context.Context, sql string, paramOIDs []uint32) (PreparedStatement, error)
	// TxStatus is the ReadyForQuery status: 'I', 'T' or 'E'.
	TxStatus() byte
	// StatementFailed tells the session that a statement failed, so that a
	// transaction block becomes failed ('E').
	StatementFailed()
	Close() error
}

// Cursors is a session whose SQL cursors are portals of the protocol too,
// as in PostgreSQL, where DECLARE makes a portal: Describe, Execute and
// Close of a portal the protocol did not bind reach the session's cursor
// of that name (psycopg 3 describes its named cursors so).
type Cursors interface {
	// Cursor is the cursor name as a portal whose rows are the cursor's
	// next rows; closing that portal leaves the cursor open.
	Cursor(name string) (Portal, bool)
	// CloseCursor closes the cursor name, reporting whether there was one.
	CloseCursor(name string) bool
}

// SQLPrepared is a session whose SQL PREPAREd statements share one
// namespace with the protocol's, as in PostgreSQL: Describe and Bind of a
// statement name Parse did not make reach the session's, and Parse of a
// name PREPARE made is 42P05.
type SQLPrepared interface {
	Prepared(name string) (PreparedStatement, bool)
}

// PreparedStatement is a statement of the extended protocol.
type PreparedStatement interface {
	// ParamOIDs are the parameter types, given or inferred.
	ParamOIDs() []uint32
	// Columns describe the rows; nil for a statement without rows.
	Columns() []Column
	// BindParams plans the statement with parameter values in text form
	// (nil for NULL) and returns a portal.
	BindParams(ctx context.Context, values []*string) (Portal, error)
}

// Statement is one parsed statement.
type Statement interface {
	// Bind plans the statement and returns a portal ready to run.
	Bind(ctx context.Context) (Portal, error)
}

// Portal is a planned statement whose rows are pulled one at a time, so
// that a row-limited Execute can suspend and resume it.
type Portal interface {
	// Columns describe the rows; nil for a statement without rows.
	Columns() []Column
	// Next returns the next row, or io.EOF after the last one. The slice
	// is only valid until the next call.
	Next(ctx context.Context) ([]any, error)
	// Tag is the CommandComplete tag once rows rows were returned; ""
	// for an empty statement (EmptyQueryResponse).
	Tag(rows int64) string
	Close() error
}

// Column describes a result column.
type Column struct {
	Name     string
	TypeOID  uint32
	TypeSize int16
	TypeMod  int32
	TableOID uint32
	AttrNum  uint16
	// Format is the column's format in the simple query protocol: 0
	// text, 1 binary (a BINARY cursor's rows).
	Format int16
}
