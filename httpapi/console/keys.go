package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
)

// The API keys page: the tenant's keys (revoked ones counted, not
// listed), refreshing itself every 30 s; create, enable/disable, rotate
// with overlap and revoke through the admin API's functions
// (httpapi.Admin.CreateKeyAs …) with the signed-in principal as actor. A
// new key's value is shown once, as a credential's password is (see
// credentials.go).

// keyRow is one key of the list (never its value or hash).
type keyRow struct {
	ID, Name, Label, KeyStart, CreatedBy string
	Scopes, AllowIPs                     []string
	Enabled, Expired                     bool
	Expires, Created, LastUsed           *when
}

// keyForm is the create form as typed.
type keyForm struct {
	Label, AllowIPs, Expires string
	Scopes                   []string
	Errors                   map[string]string
}

type scopeChoice struct {
	Name    string
	Checked bool
}

// keysView is the API keys page's data.
type keysView struct {
	Rows    []keyRow
	Revoked int
	// Choices are the scopes the admin API knows, as the form's boxes.
	Choices  []scopeChoice
	CanWrite bool
	Form     keyForm
	Open     bool
	// Rotate, when set, is the rotate page of one key.
	Rotate *rotateView
}

// rotateView is the rotate page: the key and the old key's end.
type rotateView struct {
	Key   keyRow
	Until string
	Error string
}

// shownKey waits in the once store to be shown: a new key with its value.
type shownKey struct {
	Key      auth.APIKey
	Previous *auth.APIKey // rotated: the old key
}

// dateTimeLocal is an <input type="datetime-local"> value, read as UTC.
const dateTimeLocal = "2006-01-02T15:04"

// parseLocal reads a datetime-local value (minutes or seconds) as UTC.
func parseLocal(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{dateTimeLocal, dateTimeLocal + ":05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (YYYY-MM-DDTHH:MM, UTC)", s)
}

// splitList reads an allow-list typed one per line or comma-separated.
func splitList(s string) []string {
	return append([]string{}, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' })...)
}

func (c *Console) keysPage() Page {
	once := newOnceStore(c.cfg.Now)
	p := Page{Path: Prefix + "/keys", Title: "API keys", Nav: true, Scope: "keys:read", Template: "keys"}
	p.Handler = func(w http.ResponseWriter, r *http.Request, s *Session) {
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, p.Path), "/")
		id, action, _ := strings.Cut(rest, "/")
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		a, actor := c.cfg.Admin, s.Principal.Actor()
		switch {
		case rest == "" && get:
			c.keysList(w, r, s, once, keysView{}, http.StatusOK)
		case rest == "" && r.Method == http.MethodPost:
			c.keyCreate(w, r, s, once)
		case id != "" && (action == "enable" || action == "disable") && r.Method == http.MethodPost:
			on := action == "enable"
			k, err := a.UpdateKeyAs(r.Context(), actor, id, auth.KeyInput{Enabled: &on})
			if err != nil {
				s.Error(w, err)
				return
			}
			s.Redirect(w, p.Path, "API key "+k.KeyStart+"… "+action+"d.")
		case id != "" && action == "revoke" && r.Method == http.MethodPost:
			k, err := a.RevokeKeyAs(r.Context(), actor, id)
			if err != nil {
				s.Error(w, err)
				return
			}
			s.Redirect(w, p.Path, "API key "+k.KeyStart+"… revoked: it is refused from now on.")
		case id != "" && action == "rotate" && (get || r.Method == http.MethodPost):
			c.keyRotate(w, r, s, once, id)
		default:
			c.errorPage(w, r, s, http.StatusNotFound, "There is no such API keys page or action.")
		}
	}
	return p
}

func (c *Console) keyRow(k auth.APIKey) keyRow {
	now := c.cfg.Now()
	return keyRow{ID: k.ID, Name: cmpOr(k.Description, k.KeyStart+"…"), Label: k.Description, KeyStart: k.KeyStart, CreatedBy: k.CreatedBy,
		Scopes: k.Scopes, AllowIPs: k.AllowIPs, Enabled: k.Enabled, Expired: k.ExpiresAt != nil && !now.Before(*k.ExpiresAt),
		Expires: c.when(k.ExpiresAt), Created: c.when(&k.CreatedTime), LastUsed: c.when(k.LastUsedTime)}
}

// keysList renders the list (v holds the form's state), with the secret
// dialog when ?secret= is a token of this session's; with ?fragment=1
// only the list (the page's live refresh).
func (c *Console) keysList(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore, v keysView, status int) {
	keys, err := c.cfg.Admin.KeysAs(r.Context(), s.Principal.Actor())
	if err != nil {
		s.Error(w, err)
		return
	}
	v.CanWrite = s.Principal.Holds("keys:write")
	for _, sc := range auth.Scopes {
		v.Choices = append(v.Choices, scopeChoice{Name: sc, Checked: slices.Contains(v.Form.Scopes, sc)})
	}
	starts := map[string]string{}
	for _, k := range keys {
		starts["api_key:"+k.ID] = "key " + k.KeyStart + "…"
	}
	for _, k := range keys {
		if k.RevokedAt != nil {
			v.Revoked++
			continue
		}
		row := c.keyRow(k)
		if s, ok := starts[k.CreatedBy]; ok {
			row.CreatedBy = s // the creating key as the list shows keys
		}
		v.Rows = append(v.Rows, row)
	}
	if token := r.URL.Query().Get("secret"); token != "" && r.URL.Query().Get("fragment") != "1" {
		got, ok := once.take(s, token)
		shown, isKey := got.(shownKey)
		if !ok || !isKey {
			s.Redirect(w, Prefix+"/keys", "That key was shown once already, or the link expired: rotate the key for a new one.")
			return
		}
		d := SecretDialog{Title: "API key " + cmpOr(shown.Key.Description, shown.Key.KeyStart) + " created",
			Message: "The key is shown once: copy it now. Nothing shows it again (rotate the key for a new one).",
			Fields: []SecretField{
				{ID: "secret-api-key", Label: "API key", Value: shown.Key.KeyValue, Secret: true},
				{ID: "secret-key-start", Label: "Key starts with", Value: shown.Key.KeyStart},
				{ID: "secret-rest-url", Label: "REST base URL", Value: c.origin(r) + "/cubejs-api/v1"},
			}}
		if p := shown.Previous; p != nil {
			d.Title = "New key for " + cmpOr(p.Description, p.KeyStart)
			if p.RevokedAt != nil {
				d.Message += " The old key (" + p.KeyStart + "…) is revoked."
			} else if p.ExpiresAt != nil {
				d.Message += " The old key (" + p.KeyStart + "…) keeps working until " + p.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + "."
			}
		}
		s.ShowSecret(w, status, v, d)
		return
	}
	s.Render(w, status, v)
}

// keyCreate makes a key from the form; refused, the form comes back with
// its values and the message next to the field.
func (c *Console) keyCreate(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore) {
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, s, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := keyForm{Label: strings.TrimSpace(r.PostFormValue("label")), AllowIPs: r.PostFormValue("allow_ips"),
		Expires: strings.TrimSpace(r.PostFormValue("expires_at")), Scopes: r.PostForm["scopes"]}
	scopes, ips := slices.Clone(f.Scopes), splitList(f.AllowIPs)
	in := auth.KeyInput{Description: &f.Label, Scopes: &scopes, AllowIPs: &ips}
	var err error
	if f.Expires != "" {
		var t time.Time
		if t, err = parseLocal(f.Expires); err == nil && !t.After(c.cfg.Now()) {
			err = fmt.Errorf("%s is not in the future", t.Format("2006-01-02 15:04 UTC"))
		}
		if err != nil {
			err = &httpapi.FieldError{Field: "expires_at", Err: err}
		}
		in.ExpiresAt = &t
	}
	var k auth.APIKey
	if err == nil {
		k, err = c.cfg.Admin.CreateKeyAs(r.Context(), s.Principal.Actor(), in)
	}
	if err != nil {
		status, code, _ := errorStatus(err)
		if status >= 500 || status == http.StatusForbidden && (code == "FORBIDDEN" || code == "ACCESS_DENIED_PERMISSIONS") {
			s.Error(w, err)
			return
		}
		f.Errors = fieldErrors(err)
		c.keysList(w, r, s, once, keysView{Form: f, Open: true}, status)
		return
	}
	s.Redirect(w, Prefix+"/keys?secret="+once.put(s, shownKey{Key: k}), "")
}

// keyRotate shows (GET) and makes (POST) a key's rotation: a new key,
// the old one working on until the time chosen (empty: revoked now).
func (c *Console) keyRotate(w http.ResponseWriter, r *http.Request, s *Session, once *onceStore, id string) {
	a, actor := c.cfg.Admin, s.Principal.Actor()
	keys, err := a.KeysAs(r.Context(), actor)
	if err != nil {
		s.Error(w, err)
		return
	}
	i := slices.IndexFunc(keys, func(k auth.APIKey) bool { return k.ID == id && k.RevokedAt == nil })
	if i < 0 {
		c.errorPage(w, r, s, http.StatusNotFound, "No such API key (or it is revoked).")
		return
	}
	v := rotateView{Key: c.keyRow(keys[i]), Until: c.cfg.Now().UTC().Add(time.Hour).Format(dateTimeLocal)}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		v.Until = strings.TrimSpace(r.PostFormValue("old_until"))
		var until time.Time
		if v.Until != "" {
			if until, err = parseLocal(v.Until); err != nil {
				err = &httpapi.FieldError{Field: "old_until", Err: err}
			}
		}
		if err == nil {
			var k, old auth.APIKey
			if k, old, err = a.RotateKeyAs(r.Context(), actor, id, until); err == nil {
				s.Redirect(w, Prefix+"/keys?secret="+once.put(s, shownKey{Key: k, Previous: &old}), "")
				return
			}
		}
		status, _, v.Error = errorStatus(err)
		if status >= 500 {
			s.Error(w, err)
			return
		}
		v.Error = strings.TrimPrefix(v.Error, "bad request\n")
	}
	s.RenderTitled(w, status, "Rotate API key "+v.Key.Name, keysView{Rotate: &v, CanWrite: s.Principal.Holds("keys:write")})
}
