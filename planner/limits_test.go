package planner

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/cubegate/cubegate/catalog"
	"github.com/cubegate/cubegate/pgwire/pgerr"
)

// TestEvaluatorLimits: the planner's Options.Evaluator limits are the
// ones the catalog and the session's temporary tables run under.
func TestEvaluatorLimits(t *testing.T) {
	s, _ := newTestSession(t, "../testdata/oracle/model", Options{Evaluator: catalog.Limits{Rows: 5000, ValueBytes: 4096, TempBytes: 256 << 10}}, nil)
	run := func(sql string) error {
		t.Helper()
		p, err := bind(t, s, sql)
		if err != nil {
			return err
		}
		defer p.Close()
		for {
			if _, err := p.Next(context.Background()); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	for _, c := range []struct{ sql, code string }{
		{`SELECT count(*) FROM generate_series(1, 4000)`, ""},
		{`SELECT count(*) FROM generate_series(1, 6000)`, "54000"},
		{`SELECT repeat('x', 5000)`, "54000"},
		{`CREATE TEMP TABLE small (n int, s text)`, ""},
		{`INSERT INTO small SELECT g, 'x' FROM generate_series(1, 500) g`, ""},
		{`INSERT INTO small SELECT g, repeat('x', 4000) FROM generate_series(1, 100) g`, "53200"},
		{`SELECT count(*) FROM small`, ""},
		{`SELECT g, repeat('y', 1000) AS s INTO TEMP big FROM generate_series(1, 200) g`, "53200"},
		{`DROP TABLE small`, ""},
		{`SELECT g, repeat('y', 1000) AS s INTO TEMP big FROM generate_series(1, 50) g`, ""},
	} {
		err := run(c.sql)
		if pgerr.Code(err) != c.code && !(c.code == "" && err == nil) {
			t.Errorf("%s: %v, want %q", c.sql, err, c.code)
		}
	}
}
