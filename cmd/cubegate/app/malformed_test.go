package app_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

// Raw message builders: malformed inputs are built byte by byte.
func msg(typ byte, body ...[]byte) []byte {
	var b []byte
	for _, part := range body {
		b = append(b, part...)
	}
	out := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)+4))
	return append(out, b...)
}

func startupPacket(body ...[]byte) []byte {
	var b []byte
	for _, part := range body {
		b = append(b, part...)
	}
	out := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)+4))
	return append(out, b...)
}

func u32(v uint32) []byte  { return binary.BigEndian.AppendUint32(nil, v) }
func u16(v uint16) []byte  { return binary.BigEndian.AppendUint16(nil, v) }
func cstr(s string) []byte { return append([]byte(s), 0) }

func encode(t *testing.T, ms ...pgproto3.FrontendMessage) []byte {
	var out []byte
	for _, m := range ms {
		var err error
		if out, err = m.Encode(out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

const (
	protocol30    = 196608
	sslRequest    = 80877103
	gssRequest    = 80877104
	cancelRequest = 80877102
)

// outcome of a malformed input:
//
//	"fatal CODE"  a FATAL ErrorResponse with CODE, then the connection closes
//	"error CODE"  an ERROR with CODE; after Sync the session answers queries
//	"closed"      the server closes the connection without a word
//	"byte X"      a one-byte answer (SSLRequest / GSSENCRequest)
//	"sasl"        the server goes on with AuthenticationSASL
//	"ok"          the session goes on (ReadyForQuery) and answers queries
type malformed struct {
	name    string
	session bool // sent after a successful login, else on a fresh socket
	input   func(t *testing.T) []byte
	want    string
}

func malformedCases() []malformed {
	startup := func(params ...string) []byte {
		var b []byte
		for _, p := range params {
			b = append(b, cstr(p)...)
		}
		return startupPacket(u32(protocol30), b, []byte{0})
	}
	saslStart := func(user string) []byte { return startup("user", user, "database", "demo") }
	sasl := func(mech string, data []byte) []byte {
		return msg('p', cstr(mech), u32(uint32(len(data))), data)
	}
	raw := func(b ...[]byte) func(*testing.T) []byte {
		return func(*testing.T) []byte {
			var out []byte
			for _, p := range b {
				out = append(out, p...)
			}
			return out
		}
	}
	sync := msg('S')
	return []malformed{
		// Startup phase.
		{"nothing at all", false, raw(), "closed"},
		{"length below 8", false, raw(u32(4)), "fatal 08P01"},
		{"length of a gigabyte", false, raw(u32(1<<30), u32(protocol30)), "fatal 08P01"},
		{"length 7", false, raw(u32(7), []byte{0, 3, 0}), "fatal 08P01"},
		{"protocol 2.0", false, raw(startupPacket(u32(0x00020000), cstr("user"), cstr("x"), []byte{0})), "fatal 08P01"},
		{"protocol 4.0", false, raw(startupPacket(u32(0x00040000), cstr("user"), cstr("x"), []byte{0})), "fatal 08P01"},
		{"unterminated parameters", false, raw(startupPacket(u32(protocol30), []byte("user"))), "fatal 08P01"},
		{"key without value", false, raw(startupPacket(u32(protocol30), cstr("user"))), "fatal 08P01"},
		{"no user", false, raw(startup("database", "demo")), "fatal 28000"},
		{"empty user", false, raw(startup("user", "", "database", "demo")), "fatal 28000"},
		{"user without database", false, raw(startup("user", "cg_someone")), "sasl"},
		{"SSLRequest", false, raw(startupPacket(u32(sslRequest))), "byte N"},
		{"GSSENCRequest", false, raw(startupPacket(u32(gssRequest))), "byte N"},
		{"SSLRequest with a body", false, raw(startupPacket(u32(sslRequest), []byte{1, 2, 3})), "byte N"},
		{"CancelRequest for nobody", false, raw(startupPacket(u32(cancelRequest), u32(12345), u32(678))), "closed"},
		{"CancelRequest too short", false, raw(startupPacket(u32(cancelRequest), u32(12345))), "fatal 08P01"},
		{"half a header", false, raw([]byte{0, 0}), "closed"},
		{"header then nothing", false, raw(u32(100)), "closed"},
		{"binary junk", false, raw([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")), "fatal 08P01"},
		{"HTTP request", false, raw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "fatal 08P01"},
		{"query before startup", false, raw(msg('Q', cstr("SELECT 1"))), "fatal 08P01"},
		{"wrong message instead of SASL", false, raw(saslStart("cg_x"), msg('Q', cstr("SELECT 1"))), "fatal 08P01"},
		{"unknown SASL mechanism", false, raw(saslStart("cg_x"), sasl("PLAIN", []byte("x"))), "fatal 08P01"},
		{"SCRAM-SHA-256-PLUS without TLS", false, raw(saslStart("cg_x"), sasl("SCRAM-SHA-256-PLUS", []byte("p=tls-server-end-point,,n=,r=x"))), "fatal 08P01"},
		{"empty client-first", false, raw(saslStart("cg_x"), sasl("SCRAM-SHA-256", nil)), "fatal 28P01"},
		{"client-first without nonce", false, raw(saslStart("cg_x"), sasl("SCRAM-SHA-256", []byte("n,,n=,r="))), "fatal 28P01"},
		{"client-first with channel binding", false, raw(saslStart("cg_x"), sasl("SCRAM-SHA-256", []byte("p=tls-server-end-point,,n=,r=abc"))), "fatal 28P01"},
		// pgproto3 takes the bytes present; the exchange then fails as a bad login.
		{"SASL data length beyond message", false, raw(saslStart("cg_x"), msg('p', cstr("SCRAM-SHA-256"), u32(1000), []byte("n,,"))), "fatal 28P01"},
		{"SASL response over 16 KiB", false, raw(saslStart("cg_x"), msg('p', cstr("SCRAM-SHA-256"), u32(20000), make([]byte, 20000))), "fatal 08P01"},
		{"garbage client-final", false, raw(saslStart("cg_x"), sasl("SCRAM-SHA-256", []byte("n,,n=,r=abc")), msg('p', []byte("c=xyz"))), "fatal 28P01"},
		{"password message instead of SASL", false, raw(saslStart("cg_x"), msg('p', cstr("hunter2"))), "fatal 08P01"},

		// After login.
		{"unknown message type", true, raw(msg('z')), "fatal 08P01"},
		{"query without terminator", true, raw(msg('Q', []byte("SELECT 1"))), "fatal 08P01"},
		{"query with empty body", true, raw(msg('Q')), "fatal 08P01"},
		{"query over the 64 MiB limit", true, raw(msg('Q', cstr(strings.Repeat("x", 65<<20)))), "fatal 54000"},
		{"query with invalid UTF-8", true, raw(msg('Q', cstr("SELECT '\xff\xfe'"))), "error 22021"},
		{"query that is a comment", true, raw(msg('Q', cstr("-- nothing"))), "ok"},
		{"ten thousand statements", true, raw(msg('Q', cstr(strings.Repeat("SELECT 1;", 10000)))), "ok"},
		{"5,000 nested parentheses", true, raw(msg('Q', cstr("SELECT "+strings.Repeat("(", 5000)+"1"+strings.Repeat(")", 5000)))), "ok"},
		{"100,000 nested parentheses", true, raw(msg('Q', cstr("SELECT "+strings.Repeat("(", 100000)+"1"+strings.Repeat(")", 100000)))), "error 42601"},
		{"parse with more OIDs than bytes", true, raw(msg('P', cstr(""), cstr("SELECT 1"), u16(5), u32(23))), "fatal 08P01"},
		{"parse with invalid UTF-8", true, raw(msg('P', cstr(""), cstr("SELECT '\xff'"), u16(0)), sync), "error 22021"},
		{"bind to an unknown statement", true, raw(msg('B', cstr(""), cstr("nope"), u16(0), u16(0), u16(0)), sync), "error 26000"},
		{"bind with a parameter count mismatch", true, func(t *testing.T) []byte {
			return append(encode(t, &pgproto3.Parse{Name: "m1", Query: "SELECT $1::int4"}), append(msg('B', cstr(""), cstr("m1"), u16(0), u16(0), u16(0)), sync...)...)
		}, "error 08P01"},
		{"bind with truncated parameters", true, raw(msg('B', cstr(""), cstr(""), u16(0), u16(1), u32(100)), sync), "fatal 08P01"},
		{"bind with three bytes for an int4", true, func(t *testing.T) []byte {
			return append(encode(t, &pgproto3.Parse{Name: "m2", Query: "SELECT $1::int4", ParameterOIDs: []uint32{23}}),
				append(msg('B', cstr(""), cstr("m2"), u16(1), u16(1), u16(1), u32(3), []byte{1, 2, 3}, u16(0)), sync...)...)
		}, "error 22P03"},
		{"bind with bad text for an int4", true, func(t *testing.T) []byte {
			return append(encode(t, &pgproto3.Parse{Name: "m3", Query: "SELECT $1::int4", ParameterOIDs: []uint32{23}}),
				append(msg('B', cstr(""), cstr("m3"), u16(0), u16(1), u32(3), []byte("abc"), u16(0)), sync...)...)
		}, "error 22P02"},
		{"bind with invalid UTF-8 text", true, func(t *testing.T) []byte {
			return append(encode(t, &pgproto3.Parse{Name: "m4", Query: "SELECT $1::text"}),
				append(msg('B', cstr(""), cstr("m4"), u16(0), u16(1), u32(2), []byte{0xff, 0xfe}, u16(0)), sync...)...)
		}, "error 22021"},
		{"bind with a format code of 7", true, func(t *testing.T) []byte {
			return append(encode(t, &pgproto3.Parse{Name: "m5", Query: "SELECT 1"}),
				append(msg('B', cstr(""), cstr("m5"), u16(0), u16(0), u16(1), u16(7)), sync...)...)
		}, "error 08P01"},
		{"describe of kind X", true, raw(msg('D', []byte{'X'}, cstr("")), sync), "error 08P01"},
		{"close of kind X", true, raw(msg('C', []byte{'X'}, cstr("")), sync), "error 08P01"},
		{"execute of an unknown portal", true, raw(msg('E', cstr("nope"), u32(0)), sync), "error 34000"},
		{"sync alone", true, raw(sync), "ok"},
		{"flush alone, then sync", true, raw(msg('H'), sync), "ok"},
		{"copy messages outside COPY", true, raw(msg('d', []byte("x")), msg('c'), msg('f', cstr("no")), sync), "ok"},
		{"function call", true, raw(msg('F', u32(1234), u16(0), u16(0), u16(0)), sync), "error 0A000"},
		{"a thousand pipelined parses", true, func(t *testing.T) []byte {
			var out []byte
			for range 1000 {
				out = append(out, encode(t, &pgproto3.Parse{Query: "SELECT 1"})...)
			}
			return append(out, sync...)
		}, "ok"},
		{"startup packet inside a session", true, raw(startupPacket(u32(protocol30), cstr("user"), cstr("x"), []byte{0})), "fatal 08P01"},
		{"terminate", true, raw(msg('X')), "closed"},
	}
}

// readOutcome reads the server's answer to a malformed input.
func readOutcome(t *testing.T, nc net.Conn, fe *pgproto3.Frontend, c malformed, connStr string) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if strings.HasPrefix(c.want, "byte") {
		b := make([]byte, 1)
		if _, err := io.ReadFull(nc, b); err != nil {
			return "error reading: " + err.Error()
		}
		return "byte " + string(b)
	}
	for {
		m, err := fe.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
				return "closed"
			}
			return "read error: " + err.Error()
		}
		switch x := m.(type) {
		case *pgproto3.AuthenticationSASL:
			if c.want == "sasl" {
				return "sasl"
			}
		case *pgproto3.AuthenticationSASLContinue:
		case *pgproto3.ErrorResponse:
			if x.Severity == "FATAL" {
				if _, err := fe.Receive(); err == nil {
					return "fatal " + x.Code + " but the connection stayed open"
				}
				return "fatal " + x.Code
			}
			// An ERROR: after ReadyForQuery the session must still answer.
			if !untilReady(fe) || !stillServes(fe) {
				return "error " + x.Code + " but the session is unusable"
			}
			return "error " + x.Code
		case *pgproto3.ReadyForQuery:
			if !stillServes(fe) {
				return "ready but the session is unusable"
			}
			return "ok"
		}
	}
}

func untilReady(fe *pgproto3.Frontend) bool {
	for {
		m, err := fe.Receive()
		if err != nil {
			return false
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			return true
		}
	}
}

// stillServes sends a query and expects its answer.
func stillServes(fe *pgproto3.Frontend) bool {
	fe.Send(&pgproto3.Query{String: "SELECT MEASURE(count) FROM orders"})
	if fe.Flush() != nil {
		return false
	}
	got := false
	for {
		m, err := fe.Receive()
		if err != nil {
			return false
		}
		switch x := m.(type) {
		case *pgproto3.DataRow:
			got = string(x.Values[0]) == "1000"
		case *pgproto3.ErrorResponse:
			return false
		case *pgproto3.ReadyForQuery:
			return got
		}
	}
}

// Every malformed input gets its expected outcome — a clear error with
// the right SQLSTATE, the session usable where Postgres keeps it — while
// another session keeps being served without a single failure.
func TestMalformedInputs(t *testing.T) {
	ctx := context.Background()
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(1000)})
	_, _, connStr, err := g.MintCredential(ctx, "malformed")
	if err != nil {
		t.Fatal(err)
	}
	var served, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := pgconn.Connect(ctx, connStr)
		if err != nil {
			failed.Add(1)
			return
		}
		defer conn.Close(ctx)
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := conn.Exec(ctx, "SELECT MEASURE(count) FROM orders").ReadAll()
			if err != nil || string(res[0].Rows[0][0]) != "1000" {
				failed.Add(1)
			}
			served.Add(1)
		}
	}()
	cases := malformedCases()
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var nc net.Conn
			var fe *pgproto3.Frontend
			if c.session {
				pc, err := pgconn.Connect(ctx, connStr)
				if err != nil {
					t.Fatal(err)
				}
				hc, err := pc.Hijack()
				if err != nil {
					t.Fatal(err)
				}
				nc, fe = hc.Conn, hc.Frontend
			} else {
				var err error
				if nc, err = net.Dial("tcp", g.SQLAddr().String()); err != nil {
					t.Fatal(err)
				}
				fe = pgproto3.NewFrontend(nc, nc)
			}
			defer nc.Close()
			input := c.input(t)
			nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			// Written while the answer is read: the server may answer (and
			// close) before it has read a large input.
			go nc.Write(input)
			if !c.session && c.want == "closed" && len(input) < 8 {
				// A client that stops mid-packet: close our side; the
				// server must let go rather than wait.
				nc.(*net.TCPConn).CloseWrite()
			}
			if got := readOutcome(t, nc, fe, c, connStr); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	close(stop)
	<-done
	if failed.Load() > 0 || served.Load() == 0 {
		t.Fatalf("the bystander session: %d queries served, %d failed", served.Load(), failed.Load())
	}
	t.Logf("%d malformed inputs; the bystander session ran %d queries meanwhile, none failed", len(cases), served.Load())
}
