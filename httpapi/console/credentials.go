package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
)

// The Credentials page: the tenant's SQL credentials; create, edit,
// rotate and delete through the admin API's functions
// (httpapi.Admin.CreateCredentialAs …) with the signed-in principal as
// actor. A new password is shown once: the POST that makes it redirects
// to the page with a one-time token (bound to the session, good for a few
// minutes), whose answer opens the secret dialog; the dialog's downloads
// (.pgpass, JSON, pg_service.conf) are one-time tokens too. No other
// answer carries the password, and no URL shows it again.

// onceTTL is how long a password or key waits to be shown, and a
// download to be fetched.
const onceTTL = 5 * time.Minute

// onceStore keeps what is shown or downloaded once: a token (256 random
// bits) maps to a value for the session that made it, until taken or
// expired. It lives in this gateway's memory only.
type onceStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]onceItem
}

type onceItem struct {
	session string // SHA-256 of the session id
	expires time.Time
	value   any
}

func newOnceStore(now func() time.Time) *onceStore {
	return &onceStore{now: now, m: map[string]onceItem{}}
}

func sessionKey(s *Session) string {
	h := sha256.Sum256([]byte("cubegate console once\x00" + s.id))
	return hex.EncodeToString(h[:])
}

// put keeps v for s and returns its token.
func (o *onceStore) put(s *Session, v any) string {
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b)
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, it := range o.m {
		if now.After(it.expires) {
			delete(o.m, k)
		}
	}
	o.m[token] = onceItem{session: sessionKey(s), expires: now.Add(onceTTL), value: v}
	return token
}

// take returns the token's value once, to the session that made it,
// before it expires.
func (o *onceStore) take(s *Session, token string) (any, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	it, ok := o.m[token]
	if !ok || it.session != sessionKey(s) {
		// Another session's token stays for its owner.
		return nil, false
	}
	delete(o.m, token)
	if o.now().After(it.expires) {
		return nil, false
	}
	return it.value, true
}

// when is a time as the pages show it: relative ("2 min ago"), with the
// exact time in the title and <time datetime>.
type when struct {
	Rel, Exact, ISO string
}

func (c *Console) when(t *time.Time) *when {
	if t == nil || t.IsZero() {
		return nil
	}
	return &when{Rel: relTime(c.cfg.Now(), *t), Exact: t.UTC().Format("2006-01-02 15:04:05 UTC"), ISO: t.UTC().Format(time.RFC3339)}
}

// relTime is t relative to now: "just now", "4 min ago", "in 2 h", "3 days ago".
func relTime(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		if future {
			return "in a moment"
		}
		return "just now"
	case d < 90*time.Minute:
		s = fmt.Sprintf("%d min", int((d+30*time.Second)/time.Minute))
	case d < 36*time.Hour:
		s = fmt.Sprintf("%d h", int((d+30*time.Minute)/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int((d+12*time.Hour)/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// fieldErrors maps a refusal to the form field it is about ("" the form).
func fieldErrors(err error) map[string]string {
	var fe *httpapi.FieldError
	var ke *auth.KeyError
	_, _, msg := errorStatus(err)
	switch {
	case errors.As(err, &fe):
		return map[string]string{fe.Field: fe.Err.Error()}
	case errors.As(err, &ke):
		switch ke.Code {
		case "API_KEY_ALLOW_IP_INVALID":
			return map[string]string{"allow_ips": ke.Message}
		case "API_KEY_SCOPE_NAME_INVALID":
			return map[string]string{"scopes": ke.Message}
		}
	case errors.Is(err, auth.ErrCredentialScope):
		return map[string]string{"scopes": strings.TrimPrefix(msg, "bad request\n")}
	}
	return map[string]string{"": strings.TrimPrefix(msg, "bad request\n")}
}

// credentialRow is one credential of the list (never its password).
type credentialRow struct {
	ID, Name, Label, Username, Database, Member string
	Restricted                                  bool
	Created, LastLogin                          *when
}

// credentialForm is the create or edit form, as typed.
type credentialForm struct {
	ID, Label, Database, Member, Security string
	Username                              string
	Errors                                map[string]string
}

// credentialsView is the Credentials page's data.
type credentialsView struct {
	Rows     []credentialRow
	Sources  []string
	CanWrite bool
	Form     credentialForm
	// Open: the create form is open (a refused submission).
	Open bool
	// Edit, when set, is the edit page of one credential.
	Edit *credentialForm
}

// shownCredential waits in the once store to be shown: a credential
// with its new password.
type shownCredential struct {
	Cred     auth.Credential
	Password string
	Rotated  bool
}

// download waits in the once store to be fetched.
type download struct {
	Filename, Type string
	Body           []byte
}

func (c *Console) credentialsPage() Page {
	once := newOnceStore(c.cfg.Now)
	p := Page{Path: Prefix + "/credentials", Title: "Credentials", Nav: true, Scope: "credentials:read", Template: "credentials"}
	p.Handler = func(w http.ResponseWriter, r *http.Request, s *Session) {
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, p.Path), "/")
		id, action, _ := strings.Cut(rest, "/")
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case rest == "" && get:
			c.credentialsList(w, r, s, once, credentialsView{}, http.StatusOK)
		case rest == "" && r.Method == http.MethodPost:
			c.credentialCreate(w, r, s, once)
		case rest == "download" && r.Method == http.MethodPost:
			serveOnce(w, r, s, once)
		case id != "" && action == "edit" && (get || r.Method == http.MethodPost):
			c.credentialEdit(w, r, s, id)
		case id != "" && action == "rotate" && r.Method == http.MethodPost:
			cred, pw, err := c.cfg.Admin.RotateCredentialAs(r.Context(), s.Principal.Actor(), id)
			if err != nil {
				s.Error(w, err)
				return
			}
			s.Redirect(w, p.Path+"?secret="+once.put(s, shownCredential{Cred: cred, Password: pw, Rotated: true}), "")
		case id != "" && action == "delete" && r.Method == http.MethodPost:
			cred, err := c.cfg.Admin.DeleteCredentialAs(r.Context(), s.Principal.Actor(), id)
			if err != nil {
				s.Error(w, err)
				return
			}
			s.Redirect(w, p.Path, "Credential "+cred.Username+" deleted: its next login fails.")
		default:
			c.errorPage(w, r, s, http.StatusNotFound, "There is no such credentials page or action.")
		}
	}
	return p
}

// credentialsList renders the list (v holds the form's state), with the
// secret dialog when ?secret= is a token of this session's.
func (c *Console) credentialsList(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore, v credentialsView, status int) {
	creds, err := c.cfg.Admin.CredentialsAs(r.Context(), s.Principal.Actor())
	if err != nil {
		s.Error(w, err)
		return
	}
	v.CanWrite = s.Principal.Holds("credentials:write")
	for _, src := range s.Sources {
		v.Sources = append(v.Sources, src.Name)
	}
	if v.Form.Database == "" {
		v.Form.Database = s.Source
	}
	a := c.cfg.Admin.Audit
	if a != nil {
		a.Sync()
	}
	for _, cr := range creds {
		row := credentialRow{ID: cr.ID, Name: cmpOr(cr.Label, cr.Username), Label: cr.Label, Username: cr.Username, Database: cr.Database,
			Member: cr.Member, Restricted: !cr.Security.IsZero(), Created: c.when(&cr.CreatedAt)}
		if a != nil {
			// The last successful login (a failed one names no credential).
			if ev, err := a.Read(r.Context(), auth.AuditFilter{Tenant: cr.TenantID, Kind: "login", CredentialID: cr.ID, Limit: 1}); err == nil && len(ev) == 1 {
				row.LastLogin = c.when(&ev[0].Time)
			}
		}
		v.Rows = append(v.Rows, row)
	}
	if token := r.URL.Query().Get("secret"); token != "" && r.URL.Query().Get("fragment") != "1" {
		got, ok := once.take(s, token)
		shown, isCred := got.(shownCredential)
		if !ok || !isCred {
			// Reloaded, or another session's: the plain page, never the
			// secret again.
			s.Redirect(w, Prefix+"/credentials", "That password was shown once already, or the link expired: rotate the credential for a new one.")
			return
		}
		s.ShowSecret(w, status, v, c.credentialDialog(r, s, once, shown))
		return
	}
	s.Render(w, status, v)
}

// credentialDialog shows a new password once, with the connection and
// its one-time downloads.
func (c *Console) credentialDialog(r *http.Request, s *Session, once *onceStore, sc shownCredential) SecretDialog {
	cr := sc.Cred
	host, port := c.sqlHostPort(r)
	sslmode := "disable"
	if c.cfg.SQLTLS {
		sslmode = "require"
	}
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(cr.Username, sc.Password), Host: net.JoinHostPort(host, port), Path: "/" + cr.Database,
		RawQuery: "sslmode=" + sslmode}
	title := "Credential " + cmpOr(cr.Label, cr.Username) + " created"
	if sc.Rotated {
		title = "New password for " + cmpOr(cr.Label, cr.Username)
	}
	d := SecretDialog{
		Title: title,
		Message: "The password is shown once: copy it or download the credentials now. Nothing shows it again" +
			" (rotate the credential for a new one).",
		Fields: []SecretField{
			{ID: "secret-username", Label: "Username", Value: cr.Username},
			{ID: "secret-password", Label: "Password", Value: sc.Password, Secret: true},
			{ID: "secret-host", Label: "Host", Value: host},
			{ID: "secret-port", Label: "Port", Value: port},
			{ID: "secret-database", Label: "Database", Value: cr.Database},
			{ID: "secret-connection-string", Label: "Connection string", Value: u.String(), Secret: true},
		},
		FilesLabel: "Download credentials",
	}
	files := []struct {
		id, label string
		dl        download
	}{
		{"download-pgpass", "Download .pgpass", download{Filename: cr.Username + ".pgpass", Type: "text/plain; charset=utf-8",
			Body: []byte(pgpassLine(host, port, cr.Database, cr.Username, sc.Password))}},
		{"download-json", "Download JSON", download{Filename: cr.Username + ".json", Type: "application/json", Body: credentialJSON(cr, sc.Password, host, port, sslmode, u.String())}},
		{"download-pg-service", "Download pg_service.conf", download{Filename: "pg_service.conf", Type: "text/plain; charset=utf-8",
			Body: []byte(fmt.Sprintf("[%s]\nhost=%s\nport=%s\ndbname=%s\nuser=%s\npassword=%s\nsslmode=%s\n",
				serviceName(cr), host, port, cr.Database, cr.Username, sc.Password, sslmode))}},
	}
	for _, f := range files {
		d.Files = append(d.Files, SecretFile{ID: f.id, Label: f.label, Action: Prefix + "/credentials/download", Token: once.put(s, f.dl)})
	}
	return d
}

// pgpassLine is a .pgpass line, host:port:database:username:password,
// each field's ':' and '\' escaped with '\' as libpq reads them.
func pgpassLine(fields ...string) string {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	for i, f := range fields {
		fields[i] = esc.Replace(f)
	}
	return strings.Join(fields, ":") + "\n"
}

func credentialJSON(cr auth.Credential, password, host, port, sslmode, connStr string) []byte {
	b, _ := json.MarshalIndent(map[string]any{"label": cr.Label, "host": host, "port": port, "database": cr.Database,
		"username": cr.Username, "password": password, "sslmode": sslmode, "connection_string": connStr}, "", "  ")
	return append(b, '\n')
}

// serviceName is the pg_service.conf section's name: cubegate-LABEL
// (letters, digits, '-' and '_'), else cubegate-USERNAME.
func serviceName(cr auth.Credential) string {
	name := strings.Trim(slug(strings.ToLower(cr.Label)), "_")
	if name == "" {
		name = cr.Username
	}
	return "cubegate-" + name
}

// serveOnce serves a one-time download: attachment, never cached; a
// second fetch, another session's token or an expired one is 410.
func serveOnce(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore) {
	got, ok := once.take(s, r.PostFormValue("token"))
	dl, isDL := got.(download)
	if !ok || !isDL {
		s.c.errorPage(w, r, s, http.StatusGone, "This download was served once already, or it expired: rotate for a new secret.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", dl.Type)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", dl.Filename))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(dl.Body)))
	w.WriteHeader(http.StatusOK)
	w.Write(dl.Body)
}

// parseSecurity reads the security context editor: "" is none (nil);
// a JSON error is the field's.
func parseSecurity(text string) (*auth.SecurityContext, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	sc, err := auth.ParseSecurityContext(text)
	if err != nil {
		return nil, &httpapi.FieldError{Field: "security_context", Err: err}
	}
	return &sc, nil
}

// credentialCreate makes a credential from the form; refused, the form
// comes back with its values and the message next to the field.
func (c *Console) credentialCreate(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore) {
	f := credentialForm{Label: strings.TrimSpace(r.PostFormValue("label")), Database: r.PostFormValue("database"),
		Member: strings.TrimSpace(r.PostFormValue("member")), Security: r.PostFormValue("security_context")}
	sec, err := parseSecurity(f.Security)
	var cred auth.Credential
	var pw string
	if err == nil {
		cred, pw, err = c.cfg.Admin.CreateCredentialAs(r.Context(), s.Principal.Actor(),
			auth.CredentialRequest{Label: f.Label, Database: f.Database, Member: f.Member, Security: sec})
	}
	if err != nil {
		status, _, _ := errorStatus(err)
		if status >= 500 || status == http.StatusForbidden && !errors.Is(err, auth.ErrEscalation) {
			s.Error(w, err)
			return
		}
		f.Errors = fieldErrors(err)
		c.credentialsList(w, r, s, once, credentialsView{Form: f, Open: true}, status)
		return
	}
	s.Redirect(w, Prefix+"/credentials?secret="+once.put(s, shownCredential{Cred: cred, Password: pw}), "")
}

// credentialEdit shows (GET) and applies (POST) the edit form: label,
// member and security context.
func (c *Console) credentialEdit(w http.ResponseWriter, r *http.Request, s *Session, id string) {
	actor := s.Principal.Actor()
	cr, err := c.cfg.Admin.CredentialAs(r.Context(), actor, id)
	if err != nil {
		s.Error(w, err)
		return
	}
	f := credentialForm{ID: cr.ID, Username: cr.Username, Label: cr.Label, Database: cr.Database, Member: cr.Member}
	if !cr.Security.IsZero() {
		b, _ := json.MarshalIndent(cr.Security, "", "  ")
		f.Security = string(b)
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		label, member, secText := strings.TrimSpace(r.PostFormValue("label")), strings.TrimSpace(r.PostFormValue("member")), r.PostFormValue("security_context")
		in := auth.UpdateCredentialInput{Label: &label, Member: &member}
		var sec *auth.SecurityContext
		if strings.TrimSpace(secText) != strings.TrimSpace(f.Security) {
			if sec, err = parseSecurity(secText); err == nil && sec == nil {
				sec = &auth.SecurityContext{} // emptied: no restriction
			}
			in.Security = sec
		}
		f.Label, f.Member, f.Security = label, member, secText
		if err == nil {
			if _, err = c.cfg.Admin.UpdateCredentialAs(r.Context(), actor, cr.ID, in); err == nil {
				s.Redirect(w, Prefix+"/credentials", "Credential "+cr.Username+" saved.")
				return
			}
		}
		status, _, _ = errorStatus(err)
		if status >= 500 || status == http.StatusForbidden && !errors.Is(err, auth.ErrEscalation) {
			s.Error(w, err)
			return
		}
		f.Errors = fieldErrors(err)
	}
	s.RenderTitled(w, status, "Edit credential "+cmpOr(cr.Label, cr.Username), credentialsView{Edit: &f, CanWrite: s.Principal.Holds("credentials:write")})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
