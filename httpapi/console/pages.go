package console

import (
	"net/http"
	"strings"

	"github.com/cubegate/cubegate/auth"
)

// statusView is the Status page's data.
type statusView struct {
	Status       *Status
	Heartbeat    Heartbeat
	RecentErrors []auth.AuditEvent
	ErrorsHidden bool
}

// statusPage: every data source's state, the model's version and load
// time, the last refused reload (file:line), warehouse health, SQL
// sessions, uptime, and recent errors (the audit log's failed events).
// Any signed-in principal reads it, as GET /admin/v1/status; the errors'
// texts need the admin scope there and here, and recent errors
// audit:read.
func (c *Console) statusPage() Page {
	return Page{Path: Prefix + "/status", Title: "Status", Nav: true, Template: "status", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET here.")
			return
		}
		v := statusView{Status: s.Status(r.Context()), Heartbeat: c.heartbeatOf(r.Context(), s)}
		if a := c.cfg.Admin.Audit; a != nil && s.Principal.Holds("audit:read") {
			a.Sync()
			events, err := a.Read(r.Context(), auth.AuditFilter{Tenant: s.Principal.TenantID, Limit: 500})
			if err != nil {
				s.Error(w, err)
				return
			}
			for _, e := range events {
				if e.Outcome != "" && e.Outcome != "ok" {
					v.RecentErrors = append(v.RecentErrors, e)
					if len(v.RecentErrors) == 20 {
						break
					}
				}
			}
		} else {
			v.ErrorsHidden = true
		}
		s.Render(w, http.StatusOK, v)
	}}
}

// tenantsView is the Tenants page's data.
type tenantsView struct {
	Tenants []auth.Tenant
	ID      string
	Name    string
	Error   string
}

// tenantsPage lists and creates tenants with the admin API's functions
// (httpapi.Admin.TenantsAs / CreateTenantAs): the default tenant's
// admins only, audited with the principal.
func (c *Console) tenantsPage() Page {
	return Page{Path: Prefix + "/tenants", Title: "Tenants", Nav: true, Scope: "admin", Template: "tenants", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		a := c.cfg.Admin
		actor := s.Principal.Actor()
		var v tenantsView
		status := http.StatusOK
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			v.ID, v.Name = strings.TrimSpace(r.PostFormValue("id")), strings.TrimSpace(r.PostFormValue("name"))
			t, err := a.CreateTenantAs(r.Context(), actor, v.ID, v.Name)
			if err == nil {
				s.Redirect(w, Prefix+"/tenants", "Tenant "+t.ID+" created.")
				return
			}
			status, _, v.Error = errorStatus(err)
			if status >= 500 {
				s.Error(w, err)
				return
			}
		default:
			c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET or POST here.")
			return
		}
		ts, err := a.TenantsAs(r.Context(), actor)
		if err != nil {
			s.Error(w, err)
			return
		}
		v.Tenants = ts
		s.Render(w, status, v)
	}}
}
