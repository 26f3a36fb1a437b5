package httpapi

import (
	"encoding/json"
	"io"
)

// bodyScan follows a POST body ({"query": …, "queryType": …}) as a.queries
// reads it and keeps only what the handler reads again: the top-level
// queryType, each query's responseFormat and renewQuery, and the body
// itself only while it is small (the first largeBody bytes). A body of
// megabytes of filter values costs a few bytes here, not a copy.
type bodyScan struct {
	rc io.ReadCloser

	small    []byte
	overflow bool

	// The JSON being followed.
	stack  []byte   // '{' or '[' per open container
	keys   []string // per depth: its current key (objects)
	keyPos []bool   // per depth: a key comes next (objects)
	inStr  bool
	esc    bool
	str    []byte // the string being read, when kept
	keep   bool   // keep the string being read
	// A value being captured: target names it ("queryType",
	// "responseFormat", "renewQuery"); lit holds a literal's bytes.
	target  string
	pending bool // target set, its value not begun
	inLit   bool
	lit     []byte
	query   int // the index of the query a target belongs to

	queryType string
	sides     []querySide
	bad       bool // not JSON as expected: nothing kept is trusted
}

func (b *bodyScan) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if !b.overflow {
		if len(b.small)+n > largeBody {
			b.overflow, b.small = true, nil
		} else {
			b.small = append(b.small, p[:n]...)
		}
	}
	for _, c := range p[:n] {
		b.feed(c)
	}
	return n, err
}

func (b *bodyScan) Close() error { return b.rc.Close() }

// queryLevel reports whether the innermost container is a query object
// of "query": the object itself, or an object of its array; and which.
func (b *bodyScan) queryLevel() (int, bool) {
	switch {
	case len(b.stack) == 2 && b.stack[0] == '{' && b.keys[0] == "query" && b.stack[1] == '{':
		return 0, true
	case len(b.stack) == 3 && b.stack[0] == '{' && b.keys[0] == "query" && b.stack[1] == '[' && b.stack[2] == '{':
		return len(b.sides) - 1, true
	}
	return 0, false
}

func (b *bodyScan) feed(c byte) {
	if b.bad {
		return
	}
	if b.inStr {
		switch {
		case b.esc:
			b.esc = false
		case c == '\\':
			b.esc = true
		case c == '"':
			b.inStr = false
			b.endString()
			return
		}
		if b.keep && len(b.str) < 64 {
			b.str = append(b.str, c)
		}
		return
	}
	if b.inLit {
		switch c {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			b.inLit = false
			b.setValue(string(b.lit))
		default:
			if len(b.lit) < 16 {
				b.lit = append(b.lit, c)
			}
			return
		}
	}
	d := len(b.stack)
	switch c {
	case ' ', '\t', '\r', '\n':
	case '"':
		b.inStr, b.str = true, b.str[:0]
		b.keep = (d > 0 && d <= 3 && b.keyPos[d-1]) || b.pending
	case '{', '[':
		b.pending = false
		b.stack = append(b.stack, c)
		b.keys = append(b.keys, "")
		b.keyPos = append(b.keyPos, c == '{')
		if c == '{' && len(b.stack) == 3 && b.stack[0] == '{' && b.keys[0] == "query" && b.stack[1] == '[' {
			b.sides = append(b.sides, querySide{})
		}
		if c == '{' && len(b.stack) == 2 && b.keys[0] == "query" {
			b.sides = []querySide{{}}
		}
	case '}', ']':
		if d == 0 {
			b.bad = true
			return
		}
		b.stack, b.keys, b.keyPos = b.stack[:d-1], b.keys[:d-1], b.keyPos[:d-1]
	case ':':
		if d == 0 || !(b.stack[d-1] == '{') {
			b.bad = true
			return
		}
		b.keyPos[d-1] = false
		key := b.keys[d-1]
		b.target, b.pending = "", false
		if d == 1 && key == "queryType" {
			b.target, b.pending = key, true
		} else if i, ok := b.queryLevel(); ok && (key == "responseFormat" || key == "renewQuery") {
			b.target, b.pending, b.query = key, true, i
		}
	case ',':
		b.pending = false
		if d > 0 && b.stack[d-1] == '{' {
			b.keyPos[d-1] = true
		}
	default:
		if b.pending {
			b.pending, b.inLit, b.lit = false, true, append(b.lit[:0], c)
		}
	}
}

func (b *bodyScan) endString() {
	d := len(b.stack)
	if d > 0 && b.keyPos[d-1] && b.stack[d-1] == '{' {
		b.keys[d-1] = string(b.str)
		return
	}
	if b.pending {
		b.pending = false
		// The kept bytes are the string as written: read its escapes.
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, b.str...), '"'), &s) != nil {
			s = string(b.str)
		}
		b.setString(s)
	}
}

func (b *bodyScan) setString(s string) {
	switch b.target {
	case "queryType":
		b.queryType = s
	case "responseFormat":
		if b.query < len(b.sides) {
			b.sides[b.query].ResponseFormat = s
		}
	}
	b.target = ""
}

func (b *bodyScan) setValue(lit string) {
	if b.target == "renewQuery" && b.query < len(b.sides) {
		switch lit {
		case "true", "false":
			v := lit == "true"
			b.sides[b.query].RenewQuery = &v
		}
	}
	b.target = ""
}
