package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cubegate/cubegate/cmd/cubegate/app/apptest"
	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// Issue #15: a CancelRequest stops every kind of statement — constants
// and catalog answered by cubegate, a cube query and a push-down in the
// warehouse, a cursor's FETCH, COPY — on the simple and the extended
// protocol, with 57014; the session goes on.
func TestCancelEveryStatement(t *testing.T) {
	pg := pgtest.Start(t)
	for _, wh := range slowWarehouses(pg) {
		t.Run(wh.name, func(t *testing.T) {
			g := apptest.Start(t, apptest.Options{DSN: wh.dsn, Model: wh.model})
			cancelEach(t, g.ConnString(t, "cancel"))
		})
	}
}

func cancelEach(t *testing.T, connStr string) {
	statements := []struct{ name, sql string }{
		{"constant", `SELECT pg_sleep(5)`},
		{"catalog", `SELECT pg_sleep(5) FROM pg_class LIMIT 1`},
		{"cube query", `SELECT label, MEASURE(count) FROM slow GROUP BY 1`},
		{"push-down", `SELECT upper(label) FROM (SELECT label FROM slow) s`},
		{"cursor", `FETCH ALL FROM c`},
		{"copy", `COPY (SELECT label, MEASURE(count) FROM slow GROUP BY 1) TO STDOUT`},
	}
	modes := map[pgx.QueryExecMode]string{pgx.QueryExecModeSimpleProtocol: "simple", pgx.QueryExecModeExec: "extended",
		pgx.QueryExecModeCacheStatement: "prepared"}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
		for _, st := range statements {
			name := modes[mode] + "/" + st.name
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				cfg, err := pgx.ParseConfig(connStr)
				if err != nil {
					t.Fatal(err)
				}
				cfg.DefaultQueryExecMode = mode
				conn, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if st.name == "cursor" {
					if _, err := conn.Exec(ctx, `BEGIN; DECLARE c CURSOR FOR SELECT label, MEASURE(count) FROM slow GROUP BY 1`, pgx.QueryExecModeSimpleProtocol); err != nil {
						t.Fatal(err)
					}
				}
				time.AfterFunc(500*time.Millisecond, func() { conn.PgConn().CancelRequest(context.Background()) })
				began := time.Now()
				if st.name == "copy" {
					_, err = conn.PgConn().CopyTo(ctx, &strings.Builder{}, st.sql)
				} else {
					_, err = conn.Exec(ctx, st.sql)
				}
				took := time.Since(began)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "57014" {
					t.Fatalf("err = %v after %v, want 57014", err, took)
				}
				if took > 3*time.Second {
					t.Fatalf("cancelled after %v", took)
				}
				if st.name == "cursor" {
					conn.Exec(ctx, `ROLLBACK`)
				}
				var one int
				if err := conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
					t.Fatalf("session after cancel: %v", err)
				}
			})
		}
	}
}
