package app_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
)

func TestCopyToStdout(t *testing.T) {
	g := apptest.Start(t, apptest.Options{DuckDB: apptest.Demo(e2eOrders)})
	ctx := context.Background()
	_, _, connStr, err := g.MintCredential(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	conn := apptest.Connect(t, connStr)
	copyOut := func(sql string) (string, string) {
		t.Helper()
		var buf bytes.Buffer
		tag, err := conn.PgConn().CopyTo(ctx, &buf, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return buf.String(), tag.String()
	}
	const q = `SELECT status, MEASURE(count) AS n, MEASURE(total_amount) AS amount FROM orders GROUP BY 1 ORDER BY 1`
	want := direct(t, g, `SELECT status, count(*), sum(amount) FROM public.orders_raw GROUP BY 1 ORDER BY 1`)

	text, tag := copyOut(`COPY (` + q + `) TO STDOUT`)
	if tag != "COPY 5" {
		t.Fatalf("tag %q", tag)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], want[0][0]+"\t"+want[0][1]+"\t") {
		t.Fatalf("text:\n%s", text)
	}

	csv, _ := copyOut(`COPY (` + q + `) TO STDOUT WITH (FORMAT csv, HEADER, FORCE_QUOTE (status))`)
	if !strings.HasPrefix(csv, "status,n,amount\n\""+want[0][0]+"\","+want[0][1]+",") || strings.Count(csv, "\n") != 6 {
		t.Fatalf("csv:\n%s", csv)
	}
	// NULLs: \N in text, an unquoted empty field in csv.
	nulls, _ := copyOut(`COPY (SELECT city, MEASURE(count) FROM customers WHERE city IS NULL GROUP BY 1) TO STDOUT`)
	if !strings.HasPrefix(nulls, `\N`+"\t") {
		t.Fatalf("text NULL: %q", nulls)
	}
	nulls, _ = copyOut(`COPY (SELECT city, MEASURE(count) FROM customers WHERE city IS NULL GROUP BY 1) TO STDOUT (FORMAT csv, DELIMITER ';')`)
	if !strings.HasPrefix(nulls, ";") {
		t.Fatalf("csv NULL: %q", nulls)
	}

	bin, tag := copyOut(`COPY (SELECT status, MEASURE(count) FROM orders GROUP BY 1 ORDER BY 1) TO STDOUT (FORMAT binary)`)
	if tag != "COPY 5" || !strings.HasPrefix(bin, "PGCOPY\n\xff\r\n\x00") || !strings.HasSuffix(bin, "\xff\xff") {
		t.Fatalf("binary: %q", bin)
	}
	// First tuple: 2 fields, the status as text, the count as int8.
	b := []byte(bin[19:])
	if binary.BigEndian.Uint16(b) != 2 {
		t.Fatalf("field count %d", binary.BigEndian.Uint16(b))
	}
	l := binary.BigEndian.Uint32(b[2:])
	if string(b[6:6+l]) != want[0][0] {
		t.Fatalf("first field %q", b[6:6+l])
	}

	// psql's \copy goes through COPY … TO STDOUT.
	out, err := exec.Command("psql", connStr, "-X", "-c", `\copy (`+q+`) to stdout with (format csv)`).CombinedOutput()
	if err != nil || strings.Count(string(out), "\n") != 5 {
		t.Fatalf("psql \\copy: %v\n%s", err, out)
	}

	for sql, code := range map[string]string{
		`COPY orders FROM STDIN`:                             "0A000",
		`COPY (` + q + `) TO '/tmp/x'`:                       "42501",
		`COPY (` + q + `) TO STDOUT (FORMAT xml)`:            "22023",
		`COPY (` + q + `) TO STDOUT (FORMAT binary, HEADER)`: "42601",
	} {
		_, err := conn.Exec(ctx, sql)
		if pgCode(err) != code {
			t.Errorf("%s: %v, want %s", sql, err, code)
		}
	}
}
