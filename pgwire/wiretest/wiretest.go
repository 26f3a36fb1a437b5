// Package wiretest runs wire scripts: pgproto3 messages to send, written
// as JSON, and the backend messages expected back, over a real
// connection. pgwire's own tests run them against a small in-package
// session; the gateway's end-to-end tests against cubegate and a real
// PostgreSQL (whose answers are the expected ones).
//
//	send
//	{"Type":"Query","String":"SELECT 1"}
//	----
//
//	until
//	ReadyForQuery
//	----
//	{"Type":"RowDescription",...}
//
// A script that starts with the line "cubegate-only" runs against
// cubegate alone. Rewriting a script (Write) records the messages a
// server sent as its expected ones.
package wiretest

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Block is one directive of a script with its body and expected output.
type Block struct {
	Directive string
	Body      []string
	Expected  []string
	Line      int
}

// Parse reads a script: its blocks, and whether it is cubegate's alone.
func Parse(t testing.TB, path string) (blocks []Block, cubegateOnly bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *Block
	inExpected := false
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil && line == "cubegate-only":
			cubegateOnly = true
		case cur == nil:
			blocks = append(blocks, Block{Directive: line, Line: n})
			cur = &blocks[len(blocks)-1]
			inExpected = false
		case line == "----":
			inExpected = true
		case line == "" && inExpected:
			cur = nil
		case inExpected:
			cur.Expected = append(cur.Expected, line)
		default:
			cur.Body = append(cur.Body, line)
		}
	}
	return blocks, cubegateOnly
}

// frontendMessage decodes one message to send.
func frontendMessage(line string) (pgproto3.FrontendMessage, error) {
	var head struct{ Type string }
	if err := json.Unmarshal([]byte(line), &head); err != nil {
		return nil, err
	}
	var m pgproto3.FrontendMessage
	switch head.Type {
	case "Query":
		m = &pgproto3.Query{}
	case "Parse":
		m = &pgproto3.Parse{}
	case "Bind":
		m = &pgproto3.Bind{}
	case "Describe", "Close":
		// Their object type is written as a letter ("S", "P").
		var d struct {
			ObjectType string
			Name       string
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return nil, err
		}
		if len(d.ObjectType) != 1 {
			return nil, fmt.Errorf("%s: ObjectType %q: want S or P", head.Type, d.ObjectType)
		}
		if head.Type == "Close" {
			return &pgproto3.Close{ObjectType: d.ObjectType[0], Name: d.Name}, nil
		}
		return &pgproto3.Describe{ObjectType: d.ObjectType[0], Name: d.Name}, nil
	case "Execute":
		m = &pgproto3.Execute{}
	case "Sync":
		return &pgproto3.Sync{}, nil
	case "Flush":
		return &pgproto3.Flush{}, nil
	default:
		return nil, fmt.Errorf("unknown message type %q", head.Type)
	}
	err := json.Unmarshal([]byte(line), m)
	return m, err
}

// render prints a backend message, leaving out what legitimately differs
// between servers (error source locations, key data).
func render(m pgproto3.BackendMessage) string {
	switch x := m.(type) {
	case *pgproto3.ErrorResponse:
		// Hints are left out: cubegate adds its own to help users.
		b, _ := json.Marshal(struct {
			Type, Severity, Code, Message string
			Detail                        string `json:",omitempty"`
			Position                      int32  `json:",omitempty"`
		}{"ErrorResponse", x.Severity, x.Code, x.Message, x.Detail, x.Position})
		return string(b)
	case *pgproto3.DataRow:
		vals := make([]any, len(x.Values))
		for i, v := range x.Values {
			switch {
			case v == nil:
				vals[i] = nil
			case utf8.Valid(v) && !strings.ContainsAny(string(v), "\x00\x01\x02\x03\x04\x05\x06\x07\x08"):
				vals[i] = string(v)
			default:
				vals[i] = `\x` + hex.EncodeToString(v)
			}
		}
		b, _ := json.Marshal(struct {
			Type   string
			Values []any
		}{"DataRow", vals})
		return string(b)
	case *pgproto3.CopyData:
		b, _ := json.Marshal(struct{ Type, Data string }{"CopyData", string(x.Data)})
		return string(b)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func typeName(m pgproto3.BackendMessage) string {
	var head struct{ Type string }
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &head)
	return head.Type
}

// Run runs a script on a fresh connection to connStr and returns the
// output of each block.
func Run(t testing.TB, blocks []Block, connStr string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := pgconn.Connect(ctx, connStr)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Conn.Close()
	hc.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	fe := hc.Frontend
	out := make([][]string, len(blocks))
	for i, b := range blocks {
		switch b.Directive {
		case "send":
			for _, line := range b.Body {
				m, err := frontendMessage(line)
				if err != nil {
					t.Fatalf("line %d: %v", b.Line, err)
				}
				fe.Send(m)
			}
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
		case "until":
			for _, want := range b.Body {
				for {
					m, err := fe.Receive()
					if err != nil {
						t.Fatalf("line %d: waiting for %s: %v (got so far %v)", b.Line, want, err, out[i])
					}
					if _, ok := m.(*pgproto3.BackendKeyData); ok {
						continue
					}
					out[i] = append(out[i], render(m))
					if typeName(m) == want {
						break
					}
				}
			}
		default:
			t.Fatalf("line %d: unknown directive %q", b.Line, b.Directive)
		}
	}
	return out
}

// Write records outs as the script's expected messages.
func Write(t testing.TB, path string, blocks []Block, cubegateOnly bool, outs [][]string) {
	var sb strings.Builder
	if cubegateOnly {
		sb.WriteString("cubegate-only\n\n")
	}
	for i, b := range blocks {
		sb.WriteString(b.Directive + "\n")
		for _, l := range b.Body {
			sb.WriteString(l + "\n")
		}
		sb.WriteString("----\n")
		for _, l := range outs[i] {
			sb.WriteString(l + "\n")
		}
		sb.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Check compares a run's output with the script's expected messages.
func Check(t testing.TB, name string, blocks []Block, outs [][]string) {
	t.Helper()
	for i, b := range blocks {
		if strings.Join(outs[i], "\n") != strings.Join(b.Expected, "\n") {
			t.Errorf("%s, block at line %d (%s):\n got:\n%s\nwant:\n%s", name, b.Line, b.Directive,
				strings.Join(outs[i], "\n"), strings.Join(b.Expected, "\n"))
		}
	}
}
