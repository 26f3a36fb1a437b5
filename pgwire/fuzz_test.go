package pgwire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/rs/zerolog"
)

// FuzzMessageDecoding decodes arbitrary bytes as a stream of frontend
// messages, with the post-login size cap, and clones each as the reader
// goroutine does: no panic, no allocation beyond the cap.
func FuzzMessageDecoding(f *testing.F) {
	seed := func(ms ...pgproto3.FrontendMessage) []byte {
		var out []byte
		for _, m := range ms {
			out, _ = m.Encode(out)
		}
		return out
	}
	f.Add(seed(&pgproto3.Query{String: "SELECT 1"}))
	f.Add(seed(&pgproto3.Parse{Name: "s", Query: "SELECT $1", ParameterOIDs: []uint32{23}},
		&pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 1}}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: 5}, &pgproto3.Sync{}))
	f.Add([]byte("B\x00\x00\x00\x0c\x00\x00\xff\xff\xff\xff\x00\x00"))
	f.Add([]byte("Q\x7f\xff\xff\xffSELECT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		be := pgproto3.NewBackend(bytes.NewReader(data), io.Discard)
		be.SetMaxBodyLen(1 << 16)
		for range 1000 {
			m, err := be.Receive()
			if err != nil {
				return
			}
			cloneMessage(m)
		}
	})
}

// refuseAll fails every login; enough to drive the startup phase.
type refuseAll struct{}

type failing struct{}

func (failing) Next([]byte) ([]byte, bool, error) { return nil, false, errors.New("no") }
func (failing) Principal() any                    { return nil }

func (refuseAll) SCRAM(context.Context, string, string, ChannelBinding) (SASLExchange, error) {
	return failing{}, nil
}
func (refuseAll) Password(context.Context, string, string, string) (any, bool, error) {
	return nil, false, nil
}

// FuzzStartup sends arbitrary bytes as the start of a connection: the
// server answers or hangs up, never panics and never waits past the
// startup timeout.
func FuzzStartup(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x08\x04\xd2\x16\x2f"))                                               // SSLRequest
	f.Add([]byte("\x00\x00\x00\x13\x00\x03\x00\x00user\x00cg_x\x00\x00"))                           // startup
	f.Add([]byte("\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x30\x39\x00\x00\x00\x01"))               // cancel
	f.Add([]byte("\x00\x00\x00\x13\x00\x03\x00\x00user\x00cg_x\x00\x00p\x00\x00\x00\x08PLAIN\x00")) // bad SASL
	srv := NewServer(Config{Auth: refuseAll{}, Logger: zerolog.Nop(), StartupTimeout: 200 * time.Millisecond})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(l)
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		nc.Write(data)
		nc.(*net.TCPConn).CloseWrite()
		// The server answers or hangs up well within the startup timeout.
		if _, err := io.Copy(io.Discard, nc); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server held the connection past the startup timeout")
			}
		}
	})
}
