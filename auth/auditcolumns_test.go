package auth

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/cubegate/cubegate/warehouse/pgtest"
)

// The audit log's table as the release before code and served made it
// (SQLite, then PostgreSQL): what an existing state store holds.
const (
	auditLogBeforeCodeSQLite = `
CREATE TABLE audit_log (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  time          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  action        TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  tenant_id     TEXT NOT NULL,
  credential_id TEXT NOT NULL DEFAULT '',
  api_key_id    TEXT NOT NULL DEFAULT '',
  username      TEXT NOT NULL DEFAULT '',
  address       TEXT NOT NULL DEFAULT '',
  object        TEXT NOT NULL DEFAULT '',
  fingerprint   TEXT NOT NULL DEFAULT '',
  statement     TEXT NOT NULL DEFAULT '',
  warehouse_sql TEXT NOT NULL DEFAULT '',
  rows          INTEGER NOT NULL DEFAULT 0,
  duration_ms   REAL NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`
	auditLogBeforeCodePostgres = `
CREATE TABLE audit_log (
  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time          TEXT NOT NULL,
  kind          TEXT NOT NULL,
  action        TEXT NOT NULL,
  outcome       TEXT NOT NULL,
  tenant_id     TEXT NOT NULL,
  credential_id TEXT NOT NULL DEFAULT '',
  api_key_id    TEXT NOT NULL DEFAULT '',
  username      TEXT NOT NULL DEFAULT '',
  address       TEXT NOT NULL DEFAULT '',
  object        TEXT NOT NULL DEFAULT '',
  fingerprint   TEXT NOT NULL DEFAULT '',
  statement     TEXT NOT NULL DEFAULT '',
  warehouse_sql TEXT NOT NULL DEFAULT '',
  rows          BIGINT NOT NULL DEFAULT 0,
  duration_ms   DOUBLE PRECISION NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
CREATE FUNCTION cubegate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION cubegate_audit_append_only();`
	oldAuditRow = `INSERT INTO audit_log(time, kind, action, outcome, tenant_id, statement, error)
VALUES ('2026-01-02T03:04:05Z', 'query', 'sql', 'error', 'default', 'SELECT nope FROM orders', 'column "nope" does not exist')`
)

// The SQLSTATE and what served a query go into the audit log and come
// back from Read, on both state stores; a store made before those
// columns existed is upgraded in place when opened — its events kept
// (code and served empty), new ones written whole, the log still
// append-only.
func TestAuditCodeAndServed(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T, old string) string{
		"sqlite": func(t *testing.T, old string) string {
			path := t.TempDir() + "/state.db"
			if old != "" {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, old); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			return "sqlite://" + path
		},
		"postgres": func(t *testing.T, old string) string {
			dsn := pgtest.Start(t).CreateDatabase("state")
			if old != "" {
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, old); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			return dsn
		},
	}
	olds := map[string]string{"sqlite": auditLogBeforeCodeSQLite, "postgres": auditLogBeforeCodePostgres}
	want := []AuditEvent{
		{Kind: "query", Action: "sql", Outcome: "error", Statement: "SELECT nope FROM orders", Error: `column "nope" does not exist`, Code: "42703"},
		{Kind: "query", Action: "rest", Outcome: "ok", Rows: 3, Served: "cache"},
		{Kind: "query", Action: "sql", Outcome: "ok", Rows: 2, Served: "rollup:orders.by_status"},
		{Kind: "query", Action: "sql", Outcome: "ok", Rows: 1, Served: "warehouse"},
		{Kind: "login", Action: "sql", Outcome: "ok", Username: "u"},
	}
	check := func(t *testing.T, s *Store, before int) {
		t.Helper()
		a := NewAudit(s)
		defer a.Close()
		for _, e := range want {
			a.Log(e)
		}
		a.Sync()
		got, err := a.Read(ctx, AuditFilter{Tenant: DefaultTenant})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want)+before {
			t.Fatalf("%d events, want %d", len(got), len(want)+before)
		}
		for i, w := range want {
			g := got[len(want)-1-i] // newest first
			if g.Code != w.Code || g.Served != w.Served || g.Outcome != w.Outcome || g.Statement != w.Statement {
				t.Errorf("event %d: code %q served %q outcome %q statement %q, want %q %q %q %q",
					i, g.Code, g.Served, g.Outcome, g.Statement, w.Code, w.Served, w.Outcome, w.Statement)
			}
		}
		if before > 0 {
			old := got[len(got)-1]
			if old.Statement != "SELECT nope FROM orders" || old.Outcome != "error" || old.Code != "" || old.Served != "" {
				t.Errorf("the event written before the upgrade: %+v", old)
			}
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE audit_log SET code = 'XX000'`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("UPDATE after the upgrade: %v", err)
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Run("new", func(t *testing.T) {
				s, err := OpenStore(ctx, stores[name](t, ""))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				check(t, s, 0)
			})
			t.Run("upgraded", func(t *testing.T) {
				dsn := stores[name](t, olds[name]+";\n"+oldAuditRow)
				s, err := OpenStore(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				check(t, s, 1)
				s.Close()
				// Opened again: the migration finds its columns there.
				s, err = OpenStore(ctx, dsn)
				if err != nil {
					t.Fatalf("opened again: %v", err)
				}
				s.Close()
			})
		})
	}
}
