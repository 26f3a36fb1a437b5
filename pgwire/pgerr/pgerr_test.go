package pgerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// From gives every error its SQLSTATE: its own, a PostgreSQL warehouse's
// (message, detail and hint as PostgreSQL wrote them), a driver's, 57014
// for a cancel, XX000 for the rest.
func TestFrom(t *testing.T) {
	wh := fmt.Errorf("query: %w", &pgconn.PgError{Severity: "ERROR", Code: "42703", Message: `column "x" does not exist`, Hint: "look again", Position: 17})
	for _, c := range []struct {
		err                 error
		code, message, hint string
	}{
		{New("22012", "division by zero"), "22012", "division by zero", ""},
		{wh, "42703", `column "x" does not exist`, "look again"},
		{context.Canceled, "57014", "canceling statement due to user request", ""},
		{errors.New("boom"), "XX000", "boom", ""},
	} {
		e := From(c.err)
		if e.Code != c.code || e.Message != c.message || e.Hint != c.hint || e.Position != 0 {
			t.Errorf("%v: %+v", c.err, e)
		}
	}
}
