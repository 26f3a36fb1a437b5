package pgwire

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// CopyFormat is the output format of COPY … TO STDOUT.
type CopyFormat struct {
	Format     string // "text", "csv" or "binary"
	Header     bool
	Delimiter  string // one character
	Null       string
	Quote      string // csv
	Escape     string // csv
	ForceQuote []bool // csv: per column
}

// CopyOutPortal is a portal whose rows go out as COPY data: the wire sends
// CopyOutResponse, one CopyData per row, CopyDone.
type CopyOutPortal interface {
	Portal
	CopyOut() (CopyFormat, []Column)
}

var copyBinarySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyOut streams a COPY portal.
func (c *conn) copyOut(pt *portal, cp CopyOutPortal) error {
	f, cols := cp.CopyOut()
	overall := int16(0)
	if f.Format == "binary" {
		overall = 1
	}
	codes := make([]uint16, len(cols))
	for i := range codes {
		codes[i] = uint16(overall)
	}
	c.be.Send(&pgproto3.CopyOutResponse{OverallFormat: byte(overall), ColumnFormatCodes: codes})
	var line []byte
	switch {
	case f.Format == "binary":
		line = append(line, copyBinarySignature...)
		line = binary.BigEndian.AppendUint32(line, 0) // flags
		line = binary.BigEndian.AppendUint32(line, 0) // header extension
	case f.Header:
		for i, col := range cols {
			if i > 0 {
				line = append(line, f.Delimiter...)
			}
			if f.Format == "csv" {
				line = appendCSV(line, col.Name, f, false)
			} else {
				line = appendCopyText(line, col.Name, f.Delimiter)
			}
		}
		line = append(line, '\n')
	}
	if len(line) > 0 && f.Format != "binary" {
		// A text or csv header goes on its own, as Postgres sends it; the
		// binary signature travels with the first row.
		c.be.Send(&pgproto3.CopyData{Data: line})
		line = nil
	}
	var n int64
	for {
		row, err := pt.p.Next(pt.ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if pt.ctx.Err() != nil {
				return canceled(pt.ctx)
			}
			return err
		}
		if line, err = c.appendCopyRow(line, f, cols, row); err != nil {
			return err
		}
		c.be.Send(&pgproto3.CopyData{Data: line})
		c.unflushed += len(line) + 5
		line = line[:0]
		n++
		if c.unflushed >= flushThreshold {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	if f.Format == "binary" {
		line = binary.BigEndian.AppendUint16(line, 0xffff) // trailer
	}
	if len(line) > 0 {
		c.be.Send(&pgproto3.CopyData{Data: line})
	}
	c.be.Send(&pgproto3.CopyDone{})
	pt.done = true
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("COPY " + strconv.FormatInt(n, 10))})
	return nil
}

func (c *conn) appendCopyRow(line []byte, f CopyFormat, cols []Column, row []any) ([]byte, error) {
	if f.Format == "binary" {
		line = binary.BigEndian.AppendUint16(line, uint16(len(row)))
		for i, v := range row {
			if v == nil {
				line = binary.BigEndian.AppendUint32(line, 0xffffffff)
				continue
			}
			at := len(line)
			line = append(line, 0, 0, 0, 0)
			var err error
			if line, err = appendBinary(line, cols[i].TypeOID, v); err != nil {
				return line, pgerr.Wrap(err, pgerrcode.InternalError, "column %q: %v", cols[i].Name, err)
			}
			binary.BigEndian.PutUint32(line[at:], uint32(len(line)-at-4))
		}
		return line, nil
	}
	var scratch []byte
	for i, v := range row {
		if i > 0 {
			line = append(line, f.Delimiter...)
		}
		if v == nil {
			line = append(line, f.Null...) // unquoted, in csv too
			continue
		}
		if t, ok := v.(time.Time); ok && cols[i].TypeOID == pgtype.TimestamptzOID {
			v = t.In(c.location())
		}
		var err error
		scratch, err = appendText(scratch[:0], cols[i].TypeOID, v)
		if err != nil {
			return line, pgerr.Wrap(err, pgerrcode.InternalError, "column %q: %v", cols[i].Name, err)
		}
		if f.Format == "csv" {
			line = appendCSV(line, string(scratch), f, i < len(f.ForceQuote) && f.ForceQuote[i])
		} else {
			line = appendCopyText(line, string(scratch), f.Delimiter)
		}
	}
	return append(line, '\n'), nil
}

// appendCopyText escapes a value for COPY's text format.
func appendCopyText(buf []byte, s, delim string) []byte {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\v':
			buf = append(buf, '\\', 'v')
		default:
			if len(delim) == 1 && ch == delim[0] {
				buf = append(buf, '\\')
			}
			buf = append(buf, ch)
		}
	}
	return buf
}

// appendCSV quotes a value for COPY's csv format when it must: when it
// holds the delimiter, the quote, a line break, equals the NULL string
// (so that it reads back as a value), or the column is forced.
func appendCSV(buf []byte, s string, f CopyFormat, force bool) []byte {
	if !force && s != f.Null && s != `\.` && !strings.ContainsAny(s, f.Delimiter+f.Quote+"\r\n") {
		return append(buf, s...)
	}
	buf = append(buf, f.Quote...)
	for i := 0; i < len(s); i++ {
		if s[i] == f.Quote[0] || s[i] == f.Escape[0] {
			buf = append(buf, f.Escape[0])
		}
		buf = append(buf, s[i])
	}
	return append(buf, f.Quote...)
}
