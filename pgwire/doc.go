// Package pgwire is a PostgreSQL v3 protocol server on pgproto3.Backend.
// It knows nothing about what SQL means: it authenticates a connection
// through an Authenticator, opens a Session through a Handler, and moves
// statements, rows and errors between the socket and that Session.
//
// Connection lifecycle:
//
//	accept
//	 → startup: SSLRequest (TLS when Config.TLS is set, else 'N'),
//	   GSSENCRequest ('N'), CancelRequest (routed to the session it
//	   names), StartupMessage — under a startup timeout and a 16 KiB
//	   message cap; Config.TLSRequired refuses a connection without TLS
//	 → SCRAM-SHA-256 (AuthenticationSASL → Continue → Final → Ok), or a
//	   cleartext password over TLS when Config.AllowCleartext is set
//	 → Handler.NewSession
//	 → ParameterStatus…, BackendKeyData, ReadyForQuery
//	 → message loop
//	 → Terminate, or the connection closes
//
// After authentication one goroutine reads messages and another executes
// them, so a running statement never blocks reading: Terminate and
// CancelRequest take effect at once, and pipelined messages queue up.
// Rows are pulled from a Portal one at a time and written as they come,
// with a flush every few tens of kilobytes: nothing is buffered whole.
package pgwire
