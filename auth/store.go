package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the shared state store
	"modernc.org/sqlite"               // the embedded state store
	sqlite3 "modernc.org/sqlite/lib"
)

// uniqueViolation tells, by the driver's code, whether err is a unique
// constraint violation (SQLite's SQLITE_CONSTRAINT_UNIQUE or PRIMARYKEY,
// PostgreSQL's 23505).
func uniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgerrcode.UniqueViolation
}

// Store is the state store: credentials and server secrets. SQLite
// (embedded, pure Go) is the default.
type Store struct {
	db *sql.DB
	// postgres: the store is a PostgreSQL database, shared by several
	// gateways (placeholders are $n there).
	postgres bool
	// file is the SQLite file ("" otherwise), and fileInfo what it was
	// when opened: its disappearance or replacement is noticed.
	file     string
	fileInfo os.FileInfo
	// Warnings are what opening found and fixed (a state file others
	// could read, tightened to 0600): the caller logs them.
	Warnings []string
	health   auditHealth
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Store) rebind(q string) string {
	if !s.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// txKey carries a transaction in a context: exec, query and queryRow
// run in it (a change written with its audit event, Store.change).
type txKey struct{}

// conn is the transaction ctx carries, else the database.
func (s *Store) conn(ctx context.Context) interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
} {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return tx
	}
	return s.db
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.conn(ctx).ExecContext(ctx, s.rebind(q), args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.conn(ctx).QueryContext(ctx, s.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.conn(ctx).QueryRowContext(ctx, s.rebind(q), args...)
}

var errDuplicate = errors.New("duplicate")

// OpenStore opens the state store named by dsn: "sqlite://PATH" or
// "sqlite::memory:" (the file and its folder are created when missing),
// or "postgres://…" for several gateways sharing credentials, keys and
// the audit log (each request reads the store, so a revocation made on
// one gateway is refused by the others on their next request).
func OpenStore(ctx context.Context, dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		s := &Store{db: db, postgres: true}
		if err := s.migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("state store: %w", err)
		}
		return s, nil
	}
	var path, file string
	var warnings []string
	switch {
	case dsn == "sqlite::memory:":
		path = "file:cubegate-state-" + randomHex(8) + "?mode=memory&cache=shared"
	case strings.HasPrefix(dsn, "sqlite://"):
		path = strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("state.dsn %q: missing a file path", dsn)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("state store folder: %w", err)
		}
		file, _, _ = strings.Cut(path, "?")
		var err error
		if warnings, err = privateFile(file); err != nil {
			return nil, fmt.Errorf("state store: %w", err)
		}
		path = "file:" + path
	default:
		return nil, fmt.Errorf("state.dsn %q: want sqlite://PATH, sqlite::memory: (in-memory) or postgres://…", dsn)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if file != "" && !strings.Contains(path, "mode=") {
		// The file exists (privateFile made it): mode=rw never creates
		// it again. Were it deleted under a running gateway, a new
		// pooled connection would otherwise open an empty database at
		// the path and answer "no such table" (or write there).
		path += sep + "mode=rw"
		sep = "&"
	}
	db, err := sql.Open("sqlite", path+sep+"_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	// Connections are kept, not closed when idle (database/sql keeps 2 by
	// default): a connection stays on the file it opened, so a deleted
	// state file still answers (DEGRADED, see Health) rather than
	// failing each request that needs a fresh connection.
	db.SetMaxIdleConns(sqliteIdleConns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &Store{db: db, file: file, Warnings: warnings}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", dsn, err)
	}
	if file != "" {
		// SQLite's journal files are made with the file's mode; those of
		// an older, wider file are tightened too.
		for _, f := range []string{file + "-wal", file + "-shm"} {
			if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
				os.Chmod(f, 0o600)
			}
		}
		if s.fileInfo, err = os.Stat(file); err != nil {
			db.Close()
			return nil, fmt.Errorf("state store %s: %w", dsn, err)
		}
	}
	return s, nil
}

// sqliteIdleConns is how many of the embedded state store's connections
// are kept open between uses (more than it ever holds at once in
// practice; the pool is not capped, so nothing waits for a connection).
const sqliteIdleConns = 64

// privateFile makes the state file readable by its owner only: created
// 0600 when missing, tightened (with a warning) when others could read
// or write it — it holds verifiers, key hashes and the audit log.
func privateFile(path string) (warnings []string, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if f != nil {
			f.Close()
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("the state file %s is mode %04o (others may read it) and cannot be made 0600: %w", path, perm, err)
		}
		warnings = append(warnings, fmt.Sprintf("the state file %s was mode %04o (readable by others); it is now 0600", path, perm))
	}
	return warnings, nil
}

// checkFile notices the state file gone or replaced: the store then
// writes to a file no longer on disk (or not the one others read), and
// everything written since would be lost.
func (s *Store) checkFile() {
	if s.file == "" {
		return
	}
	// The status shows problem, without the file's path; the log has it.
	var problem error
	fi, err := os.Stat(s.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		problem = errors.New("the state file was deleted: credentials, keys and audit events written now are lost when the gateway stops")
	case err != nil:
		problem = errors.New("the state file cannot be looked at")
	case !os.SameFile(fi, s.fileInfo):
		problem = errors.New("the state file was replaced by another file: this gateway still writes to the one it opened")
	}
	h := &s.health
	h.mu.Lock()
	changed := fmt.Sprint(problem) != fmt.Sprint(h.fileErr)
	h.fileErr = problem
	f := h.opts.Log
	h.mu.Unlock()
	if changed && problem != nil && f != nil {
		f(fmt.Errorf("%w (%s; %v)", problem, s.file, err), 0)
	}
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS server_secrets (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL,
  username   TEXT NOT NULL UNIQUE,
  label      TEXT NOT NULL DEFAULT '',
  database   TEXT NOT NULL,
  verifier   TEXT NOT NULL,
  created_at TEXT NOT NULL
);`)
	if err != nil {
		return err
	}
	// Columns added after the first release.
	if err := s.addColumn(ctx, "credentials", "security_context", "TEXT NOT NULL DEFAULT '{}'"); err != nil {
		return err
	}
	if err := s.addColumn(ctx, "credentials", "act_as", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		return err
	}
	if err := s.addColumn(ctx, "credentials", "member", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return err
	}
	if err := s.addColumn(ctx, "credentials", "scopes", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return err
	}
	if err := s.migrateKeys(ctx); err != nil {
		return err
	}
	if err := s.migrateTenants(ctx); err != nil {
		return err
	}
	return s.migrateAudit(ctx)
}

// addColumn adds a column to a table unless it is there already.
func (s *Store) addColumn(ctx context.Context, table, column, def string) error {
	if s.postgres {
		_, err := s.db.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s`, table, column, def))
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if name == column {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, table, column, def))
	return err
}

// serverSecret returns the random secret that seeds decoy verifiers,
// creating it on first use.
func (s *Store) serverSecret(ctx context.Context) ([]byte, error) {
	fresh := randomHex(32)
	if _, err := s.exec(ctx, `INSERT INTO server_secrets(name, value) VALUES ('decoy', ?) ON CONFLICT(name) DO NOTHING`, fresh); err != nil {
		return nil, err
	}
	var v string
	if err := s.queryRow(ctx, `SELECT value FROM server_secrets WHERE name = 'decoy'`).Scan(&v); err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

func (s *Store) insertCredential(ctx context.Context, c Credential) error {
	_, err := s.exec(ctx,
		`INSERT INTO credentials(id, tenant_id, username, label, database, verifier, created_at, security_context, member, act_as, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TenantID, c.Username, c.Label, c.Database, c.verifier.String(), c.CreatedAt.Format(time.RFC3339Nano), c.Security.String(), c.Member, boolInt(c.ActAs),
		strings.Join(c.Scopes, " "))
	if uniqueViolation(err) {
		return errDuplicate
	}
	return err
}

const credentialColumns = `id, tenant_id, username, label, database, verifier, created_at, security_context, member, act_as, scopes`

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var c Credential
	var verifier, created, security, scopes string
	var actAs int
	if err := row.Scan(&c.ID, &c.TenantID, &c.Username, &c.Label, &c.Database, &verifier, &created, &security, &c.Member, &actAs, &scopes); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, ErrNotFound
		}
		return c, err
	}
	v, err := ParseVerifier(verifier)
	if err != nil {
		return c, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	c.verifier = v
	c.ActAs = actAs != 0
	c.Scopes = strings.Fields(scopes) // space-separated, as OAuth writes scopes
	if c.Security, err = ParseSecurityContext(security); err != nil {
		return c, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	c.CreatedAt, err = time.Parse(time.RFC3339Nano, created)
	return c, err
}

func (s *Store) credentialByID(ctx context.Context, id string) (Credential, error) {
	return scanCredential(s.queryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = ? OR username = ?`, id, id))
}

func (s *Store) updateCredential(ctx context.Context, c Credential) error {
	res, err := s.exec(ctx, `UPDATE credentials SET label = ?, database = ?, security_context = ?, verifier = ?, member = ?, act_as = ?, scopes = ? WHERE id = ?`,
		c.Label, c.Database, c.Security.String(), c.verifier.String(), c.Member, boolInt(c.ActAs), strings.Join(c.Scopes, " "), c.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) deleteCredential(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM credentials WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) credentialByUsername(ctx context.Context, username string) (Credential, error) {
	return scanCredential(s.queryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE username = ?`, username))
}

func (s *Store) listCredentials(ctx context.Context) ([]Credential, error) {
	rows, err := s.query(ctx, `SELECT `+credentialColumns+` FROM credentials ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
