package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Tenant is a team: it owns data sources (by configuration), SQL
// credentials and API keys, and shares one set of rate limits.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// tenantID is what a tenant id may be: it appears in URLs, logs and
// configuration.
var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrTenantExists is returned when creating a tenant whose id is taken.
var ErrTenantExists = errors.New("tenant exists")

func (s *Store) migrateTenants(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS tenants (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  created_by   TEXT NOT NULL DEFAULT ''
);`); err != nil {
		return err
	}
	// The default tenant always exists: a single-team install needs no setup.
	_, err := s.exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		DefaultTenant, "Default", time.Now().UTC().Format(time.RFC3339Nano))
	return err
}

// CreateTenant adds a tenant.
func (s *Store) CreateTenant(ctx context.Context, id, name, createdBy string) (Tenant, error) {
	if !tenantID.MatchString(id) {
		return Tenant{}, fmt.Errorf("tenant id %q: use 1 to 63 lower-case letters, digits, '-' or '_'", id)
	}
	t := Tenant{ID: id, Name: name, CreatedAt: time.Now().UTC(), CreatedBy: createdBy}
	if t.Name == "" {
		t.Name = id
	}
	err := s.change(ctx, AuditEvent{Kind: "tenant", Action: "create", TenantID: id, Object: id, Username: createdBy}, func(ctx context.Context) error {
		res, err := s.exec(ctx, `INSERT INTO tenants (id, name, created_at, created_by) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Name, t.CreatedAt.Format(time.RFC3339Nano), t.CreatedBy)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrTenantExists, id)
		}
		return nil
	})
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// Tenants lists the tenants, oldest first.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.query(ctx, `SELECT id, name, created_at, created_by FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		var created string
		if err := rows.Scan(&t.ID, &t.Name, &created, &t.CreatedBy); err != nil {
			return nil, err
		}
		t.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Tenant reads one tenant (ErrNotFound).
func (s *Store) Tenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	var created string
	err := s.queryRow(ctx, `SELECT id, name, created_at, created_by FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, &created, &t.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	t.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return t, err
}
