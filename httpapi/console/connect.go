package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cubegate/cubegate/httpapi"
)

// Status is the gateway's status as the admin API reports it
// (GET /admin/v1/status, read through httpapi.Admin.StatusAs).
type Status struct {
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	Uptime    string    `json:"uptime"`
	Model     struct {
		Dir      string    `json:"dir"`
		Version  string    `json:"version"`
		LoadedAt time.Time `json:"loaded_at"`
		Cubes    int       `json:"cubes"`
		Error    string    `json:"error"`
	} `json:"model"`
	Warehouse struct {
		Dialect string `json:"dialect"`
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
	} `json:"warehouse"`
	Reloads     int            `json:"reloads"`
	Sessions    int            `json:"sql_sessions"`
	DataSources []SourceStatus `json:"data_sources"`
	Degraded    string         `json:"degraded"`
}

// SourceStatus is one data source's state.
type SourceStatus struct {
	Name      string `json:"name"`
	Tenant    string `json:"tenant"`
	State     string `json:"state"`
	Warehouse string `json:"warehouse"`
	Cubes     int    `json:"cubes"`
	Error     string `json:"error"`
}

// Status is the status the session's principal may read (its tenant's;
// in full with the admin scope), read once per request.
func (s *Session) Status(ctx context.Context) *Status {
	if s.status != nil {
		return s.status
	}
	st := &Status{State: "ERROR"}
	if a := s.c.cfg.Admin; a.Status != nil {
		b, err := json.Marshal(a.StatusAs(ctx, s.Principal.Actor()))
		if err == nil {
			err = json.Unmarshal(b, st)
		}
		if err != nil {
			s.c.cfg.Log.Error().Err(err).Msg("console: reading the status")
		}
	}
	s.status = st
	return st
}

// Heartbeat is what the Connect drawer's dot shows of a data source
// (GET /console/api/heartbeat).
type Heartbeat struct {
	DataSource string `json:"data_source"`
	// State is RUNNING, PENDING, DEGRADED, ERROR, STOPPING or STOPPED;
	// PENDING too while a restart from the console runs.
	State string `json:"state"`
	// Reason says why the state is not RUNNING, or that the last reload
	// was refused (file:line) while the previous model serves.
	Reason string `json:"reason,omitempty"`
	// Restartable: the principal may restart and the state is RUNNING.
	Restartable  bool      `json:"restartable"`
	Restarting   bool      `json:"restarting"`
	ModelVersion string    `json:"model_version,omitempty"`
	LoadedAt     time.Time `json:"loaded_at,omitzero"`
	CheckedAt    time.Time `json:"checked_at"`
}

// heartbeatOf is the heartbeat of the session's picked data source.
// Whether a restart runs is read before the status: a restart ending in
// between is reported by the status read after it, never a stale one.
func (c *Console) heartbeatOf(ctx context.Context, s *Session) Heartbeat {
	tenant := s.Principal.TenantID
	c.mu.Lock()
	restarting, gen := c.restarting[tenant], c.restarts[tenant]
	c.mu.Unlock()
	st := s.Status(ctx)
	// Reading the status can take a while (a warehouse ping): a restart
	// that began or ended meanwhile makes what was read stale, so the
	// beat says PENDING and the next one reads afresh.
	c.mu.Lock()
	restarting = restarting || c.restarting[tenant] || c.restarts[tenant] != gen
	c.mu.Unlock()
	hb := Heartbeat{DataSource: s.Source, State: st.State, CheckedAt: c.cfg.Now().UTC(), Restarting: restarting}
	for _, d := range st.DataSources {
		if d.Name == s.Source {
			hb.State, hb.Reason = d.State, d.Error
		}
	}
	if len(st.DataSources) > 0 && st.DataSources[0].Name == s.Source {
		// The default data source: its model's version and load time.
		hb.ModelVersion, hb.LoadedAt = st.Model.Version, st.Model.LoadedAt
		if hb.State == "DEGRADED" && hb.Reason == "" {
			hb.Reason = st.Degraded
		}
	}
	if s.Source == "" {
		hb.State, hb.Reason = "STOPPED", "no data source of tenant "+s.Principal.TenantID+" is served here"
	}
	if hb.State == "RUNNING" && hb.Reason != "" {
		// The status keeps the last refused reload (a restart's too)
		// until a reload succeeds.
		hb.Reason = "the last reload was refused; the previous model keeps serving: " + hb.Reason
	}
	if hb.Restarting {
		hb.State, hb.Reason = "PENDING", "restarting: the model is being reloaded (the previous one keeps serving meanwhile)"
	}
	hb.Restartable = hb.State == "RUNNING" && !hb.Restarting && s.Principal.Holds("admin") && c.cfg.Admin.Restart != nil
	return hb
}

func (c *Console) heartbeat(w http.ResponseWriter, r *http.Request, s *Session) {
	writeJSON(w, http.StatusOK, c.heartbeatOf(r.Context(), s))
}

var errRestartBusy = errors.New("a restart is running already")

// startRestart reloads the principal's tenant's models in the background
// (the admin API's restart, httpapi.Admin.RestartAs, audited with the
// principal); the heartbeat says PENDING until it ends.
func (c *Console) startRestart(ctx context.Context, s *Session) error {
	hb := c.heartbeatOf(ctx, s)
	if hb.Restarting {
		return errRestartBusy
	}
	if hb.State != "RUNNING" {
		return fmt.Errorf("the data source is %s: restart is possible once it is RUNNING", hb.State)
	}
	tenant := s.Principal.TenantID
	c.mu.Lock()
	if c.restarting[tenant] {
		c.mu.Unlock()
		return errRestartBusy
	}
	c.restarting[tenant] = true
	c.restarts[tenant]++
	c.mu.Unlock()
	actor := s.Principal.Actor()
	go func() {
		err := c.cfg.Admin.RestartAs(context.Background(), actor)
		if err != nil {
			// The status shows the refused reload (file:line); the log
			// has it too.
			c.cfg.Log.Warn().Err(err).Str("tenant", tenant).Msg("console: restart refused")
		}
		c.mu.Lock()
		delete(c.restarting, tenant)
		c.restarts[tenant]++
		c.mu.Unlock()
	}()
	return nil
}

// restartAPI: POST /console/api/restart → 202 with the heartbeat
// (PENDING, restarting) — console.js then polls the heartbeat until the
// state is RUNNING again.
func (c *Console) restartAPI(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := c.startRestart(r.Context(), s); err != nil {
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "heartbeat": c.heartbeatOf(r.Context(), s)})
		return
	}
	s.status = nil
	writeJSON(w, http.StatusAccepted, c.heartbeatOf(r.Context(), s))
}

// restartForm is Restart without JavaScript: POST /console/restart,
// then back to the page it was pressed on.
func (c *Console) restartForm(w http.ResponseWriter, r *http.Request, s *Session) {
	back := r.PostFormValue("back")
	if err := c.startRestart(r.Context(), s); err != nil {
		s.Redirect(w, back, "Restart refused: "+err.Error()+".")
		return
	}
	s.Redirect(w, back, "Restarting: the model is being reloaded.")
}

// ConnectView is the Connect drawer: how to reach each data source.
type ConnectView struct {
	Sources    []ConnectSource
	Heartbeat  Heartbeat
	CanRestart bool
}

// ConnectSource is one data source's connection details and snippets.
type ConnectSource struct {
	Name, Host, Port, Database, Username, SSLMode string
	ConnectionString                              string
	RESTURL                                       string
	Snippets                                      []Snippet
	Current                                       bool
}

// Snippet is a ready-made piece of text to copy.
type Snippet struct {
	ID, Title, Text string
}

// sqlHostPort is the advertised SQL host and port: Config.PublicHost,
// else the host the browser used with the SQL listener's port.
func (c *Console) sqlHostPort(r *http.Request) (string, string) {
	var port string
	if c.cfg.SQLAddr != nil {
		_, port = c.cfg.SQLAddr()
	}
	if ph := c.cfg.PublicHost; ph != "" {
		if h, p, err := net.SplitHostPort(ph); err == nil {
			return h, p
		}
		return strings.Trim(ph, "[]"), port
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" && c.cfg.SQLAddr != nil {
		host, _ = c.cfg.SQLAddr()
	}
	return host, port
}

func (c *Console) connectView(r *http.Request, s *Session) *ConnectView {
	host, port := c.sqlHostPort(r)
	sslmode := "disable"
	if c.cfg.SQLTLS {
		sslmode = "require"
	}
	rest := c.origin(r) + "/cubejs-api/v1"
	v := &ConnectView{Heartbeat: c.heartbeatOf(r.Context(), s), CanRestart: s.Principal.Holds("admin") && c.cfg.Admin.Restart != nil}
	for _, src := range s.Sources {
		cs := ConnectSource{Name: src.Name, Host: host, Port: port, Database: src.Name, Username: "USER", SSLMode: sslmode, RESTURL: rest,
			Current: src.Name == s.Source}
		u := url.URL{Scheme: "postgresql", User: url.User(cs.Username), Host: net.JoinHostPort(host, port), Path: "/" + src.Name,
			RawQuery: "sslmode=" + sslmode}
		cs.ConnectionString = u.String()
		cs.Snippets = snippets(cs)
		v.Sources = append(v.Sources, cs)
	}
	return v
}

// snippets are the ready-made connection snippets of a data source.
// USER and PASSWORD stand for a credential's (the password is shown once,
// when the credential is created or rotated).
func snippets(cs ConnectSource) []Snippet {
	id := func(kind string) string { return "snippet-" + kind + "-" + slug(cs.Name) }
	return []Snippet{
		{id("psql"), "psql", fmt.Sprintf("psql %q", cs.ConnectionString)},
		{id("dbeaver"), "DBeaver / pgAdmin", fmt.Sprintf("Host:     %s\nPort:     %s\nDatabase: %s\nUsername: USER\nPassword: PASSWORD\nSSL mode: %s", cs.Host, cs.Port, cs.Database, cs.SSLMode)},
		{id("bi"), "Tableau / Power BI", fmt.Sprintf("Server:   %s\nPort:     %s\nDatabase: %s\nUsername: USER\nPassword: PASSWORD\nRequire SSL: %v\n(Power BI's PostgreSQL connector: Server %s:%s)", cs.Host, cs.Port, cs.Database, cs.SSLMode != "disable", cs.Host, cs.Port)},
		{id("python"), "Python (psycopg2)", fmt.Sprintf("import os\nimport psycopg2\n\nconn = psycopg2.connect(host=%q, port=%s, dbname=%q,\n                        user=\"USER\", password=os.environ[\"CUBEGATE_PASSWORD\"], sslmode=%q)\nwith conn.cursor() as cur:\n    cur.execute(\"SELECT 1\")\n    print(cur.fetchall())", cs.Host, cs.Port, cs.Database, cs.SSLMode)},
		{id("curl"), "curl (REST)", fmt.Sprintf("curl -s %s/meta \\\n  -H \"Authorization: Bearer $CUBEGATE_API_KEY\"\n\ncurl -s %s/load \\\n  -H \"Authorization: Bearer $CUBEGATE_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{\"query\": {\"measures\": [\"CUBE.count\"]}}'", cs.RESTURL, cs.RESTURL)},
		{id("cubejs"), "@cubejs-client/core", fmt.Sprintf("import cube from '@cubejs-client/core';\n\nconst cubeApi = cube(process.env.CUBEGATE_API_KEY, {\n  apiUrl: '%s',\n});\nconst resultSet = await cubeApi.load({ measures: ['CUBE.count'] });", cs.RESTURL)},
	}
}

// slug makes a name usable in an element id.
func slug(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// connectPage is the Connect drawer as a page (the header's Connect
// link without JavaScript).
func (c *Console) connectPage() Page {
	return Page{Path: Prefix + "/connect", Title: "Connect", Template: "connect", Handler: func(w http.ResponseWriter, r *http.Request, s *Session) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.c.errorPage(w, r, s, http.StatusMethodNotAllowed, "Use GET here.")
			return
		}
		s.Render(w, http.StatusOK, nil)
	}}
}

// errorStatus is the admin API's status and message for err.
func errorStatus(err error) (int, string, string) { return httpapi.ErrorStatus(err) }
