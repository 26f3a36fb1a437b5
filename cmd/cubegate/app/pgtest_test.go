package app

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Wire scripts (testdata/pgtest/*.test): pgproto3 messages to send as
// JSON, and the backend messages expected back. Each script runs against
// cubegate and, unless it starts with "cubegate-only", against a real
// PostgreSQL 15: the expected messages are Postgres' own.
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
// go test ./cmd/cubegate/app -run PGTest -rewrite rewrites the expected
// messages: from Postgres for shared scripts, from cubegate for the rest.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected messages of testdata/pgtest scripts")

const pgtestDir = "../../../testdata/pgtest"

type block struct {
	directive string
	body      []string
	expected  []string
	line      int
}

func parseScript(t *testing.T, path string) (blocks []block, cubegateOnly bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *block
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
			blocks = append(blocks, block{directive: line, line: n})
			cur = &blocks[len(blocks)-1]
			inExpected = false
		case line == "----":
			inExpected = true
		case line == "" && inExpected:
			cur = nil
		case inExpected:
			cur.expected = append(cur.expected, line)
		default:
			cur.body = append(cur.body, line)
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
	case "Describe":
		var d struct {
			ObjectType string
			Name       string
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return nil, err
		}
		return &pgproto3.Describe{ObjectType: d.ObjectType[0], Name: d.Name}, nil
	case "Close":
		var d struct {
			ObjectType string
			Name       string
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return nil, err
		}
		return &pgproto3.Close{ObjectType: d.ObjectType[0], Name: d.Name}, nil
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

// runScript runs a script on a fresh connection and returns the output
// of each block.
func runScript(t *testing.T, blocks []block, connStr string) [][]string {
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
		switch b.directive {
		case "send":
			for _, line := range b.body {
				m, err := frontendMessage(line)
				if err != nil {
					t.Fatalf("line %d: %v", b.line, err)
				}
				fe.Send(m)
			}
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
		case "until":
			for _, want := range b.body {
				for {
					m, err := fe.Receive()
					if err != nil {
						t.Fatalf("line %d: waiting for %s: %v (got so far %v)", b.line, want, err, out[i])
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
			t.Fatalf("line %d: unknown directive %q", b.line, b.directive)
		}
	}
	return out
}

func writeScript(t *testing.T, path string, blocks []block, cubegateOnly bool, outs [][]string) {
	var sb strings.Builder
	if cubegateOnly {
		sb.WriteString("cubegate-only\n\n")
	}
	for i, b := range blocks {
		sb.WriteString(b.directive + "\n")
		for _, l := range b.body {
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

func TestPGTestScripts(t *testing.T) {
	scripts, _ := filepath.Glob(filepath.Join(pgtestDir, "*.test"))
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata/pgtest")
	}
	g := startDuckDB(t, 1000)
	_, _, gwConn, err := g.MintCredential(context.Background(), "pgtest")
	if err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t)
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			blocks, cubegateOnly := parseScript(t, path)
			targets := map[string]string{"cubegate": gwConn}
			if !cubegateOnly {
				targets["postgres"] = pg.DSN
			}
			results := map[string][][]string{}
			for name, dsn := range targets {
				results[name] = runScript(t, blocks, dsn)
			}
			if *rewrite {
				ref := results["postgres"]
				if cubegateOnly {
					ref = results["cubegate"]
				}
				writeScript(t, path, blocks, cubegateOnly, ref)
			}
			blocks, _ = parseScript(t, path)
			for name, outs := range results {
				for i, b := range blocks {
					if strings.Join(outs[i], "\n") != strings.Join(b.expected, "\n") {
						t.Errorf("%s, block at line %d (%s):\n got:\n%s\nwant:\n%s", name, b.line, b.directive,
							strings.Join(outs[i], "\n"), strings.Join(b.expected, "\n"))
					}
				}
			}
		})
	}
}
