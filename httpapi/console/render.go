package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// View is what every template gets: the layout's parts (title, nav,
// principal, CSRF token, data-source picker, Connect drawer, flash,
// secret dialog) and the page's own Data.
type View struct {
	Title     string
	Path      string // the current page's path
	Principal *Principal
	CSRF      string
	Nav       []NavItem
	Source    string
	Sources   []Source
	Connect   *ConnectView
	Flash     string
	// Secret, when set, opens a dialog showing a secret once (Session.ShowSecret).
	Secret  *SecretDialog
	Version string
	Data    any
}

// NavItem is one link of the header's nav.
type NavItem struct {
	Path, Title string
	// Href is Path, with the picked data source when it is not the
	// first (?source=…).
	Href    string
	Current bool
}

// SecretDialog shows what is shown once — a new password or key — in a
// <dialog> opened on load, with copy buttons and downloads; the answer
// that carries it is never cached and nothing shows it again.
type SecretDialog struct {
	Title   string
	Message string
	Fields  []SecretField
	// Downloads are files made in the browser from their text.
	Downloads []Download
	// Files are files the server makes once: each button posts its
	// one-time Token to Action (FilesLabel names the group). CSRF is
	// filled by ShowSecret.
	Files      []SecretFile
	FilesLabel string
	CSRF       string
}

// SecretFile is a download of a SecretDialog served once by the page
// that showed it.
type SecretFile struct {
	ID, Label, Action, Token string
}

// SecretField is one labelled value of a SecretDialog (Secret: the value
// is the secret itself).
type SecretField struct {
	ID, Label, Value string
	Secret           bool
}

// Download is a file the browser saves from Text.
type Download struct {
	ID, Label, Filename, Type, Text string
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return Prefix + "/static/" + name + "?v=" + c.assetVersion },
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			d := c.cfg.Now().Sub(t).Round(time.Second)
			if d < 0 {
				d = 0
			}
			return d.String() + " ago"
		},
		"field": func(id, label, value string) SecretField { return SecretField{ID: id, Label: label, Value: value} },
		"slug":  slug,
		"join":  strings.Join,
		"dot":   dotClass,
		"lower": strings.ToLower,
		// holds: {{if holds $.Principal "admin"}}
		"holds": func(p *Principal, scope string) bool { return p != nil && p.Holds(scope) },
	}
}

// dotClass is the heartbeat dot's colour for a state.
func dotClass(state string) string {
	switch state {
	case "RUNNING":
		return "dot-green"
	case "PENDING", "DEGRADED":
		return "dot-yellow"
	}
	return "dot-red"
}

// hashFS is a short hash of every file under fsys (asset URLs carry it).
func hashFS(fsys fs.FS) string {
	h := sha256.New()
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(fsys, p)
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// view builds the layout's data for s (nil: signed out).
func (c *Console) view(w http.ResponseWriter, r *http.Request, s *Session, title string, data any) View {
	v := View{Title: title, Path: r.URL.Path, Version: c.cfg.Version, Data: data}
	if s == nil {
		return v
	}
	v.Principal, v.CSRF, v.Source, v.Sources = &s.Principal, s.CSRF, s.Source, s.Sources
	// The picked data source stays picked from page to page.
	query := ""
	if len(s.Sources) > 1 && s.Source != s.Sources[0].Name {
		query = "?" + url.Values{"source": {s.Source}}.Encode()
	}
	for _, p := range c.pages {
		if p.Nav {
			v.Nav = append(v.Nav, NavItem{Path: p.Path, Href: p.Path + query, Title: p.Title, Current: r.URL.Path == p.Path || strings.HasPrefix(r.URL.Path, p.Path+"/")})
		}
	}
	v.Connect = c.connectView(r, s)
	v.Flash = c.takeFlash(w, r)
	return v
}

// render writes tmpl's template name with the layout's data.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *Session, tmpl *template.Template, name string, status int, title string, data any) {
	c.write(w, tmpl, name, status, c.view(w, r, s, title, data))
}

func (c *Console) write(w http.ResponseWriter, tmpl *template.Template, name string, status int, v View) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, v); err != nil {
		// Rendered in full before anything is sent: a template error is
		// an error page, never half a page.
		c.cfg.Log.Error().Err(err).Str("template", name).Msg("console: rendering a page")
		status = http.StatusInternalServerError
		b.Reset()
		v.Data, v.Secret = errorView{Status: status, Message: "Internal error: the page could not be rendered; the gateway's log has the details."}, nil
		if err := c.base.ExecuteTemplate(&b, "error", v); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// Render writes the session's page with data as .Data, in the layout;
// with ?fragment=1 only the page's own template (console.js's live
// refresh swaps it into the element with data-refresh).
func (s *Session) Render(w http.ResponseWriter, status int, data any) {
	s.RenderTitled(w, status, s.page.Title, data)
}

// RenderTitled is Render with another title.
func (s *Session) RenderTitled(w http.ResponseWriter, status int, title string, data any) {
	name := "layout"
	if s.r.URL.Query().Get("fragment") == "1" {
		name = s.page.Template
		if s.page.tmpl.Lookup(name+"-body") != nil {
			name += "-body"
		}
	}
	s.c.render(w, s.r, s, s.page.tmpl, name, status, title, data)
}

// ShowSecret renders the session's page with data and d opened over it.
// The secret is in this answer only (no-store); the next page load has
// it no more.
func (s *Session) ShowSecret(w http.ResponseWriter, status int, data any, d SecretDialog) {
	v := s.c.view(w, s.r, s, s.page.Title, data)
	d.CSRF = s.CSRF
	v.Secret = &d
	s.c.write(w, s.page.tmpl, "layout", status, v)
}

// Error renders an error page for err with the admin API's status and
// message (httpapi.ErrorStatus), never a stack.
func (s *Session) Error(w http.ResponseWriter, err error) {
	status, code, msg := errorStatus(err)
	if status >= 500 && code == "INTERNAL" {
		s.c.cfg.Log.Error().Err(err).Str("path", s.r.URL.Path).Msg("console: a page failed")
		msg = "Internal error: the gateway's log has the details."
	}
	s.c.errorPage(w, s.r, s, status, msg)
}

// errorView is the error page's data.
type errorView struct {
	Status  int
	Message string
}

// errorPage renders the error page: the status and a message for people.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *Session, status int, msg string) {
	c.render(w, r, s, c.base, "error", status, http.StatusText(status), errorView{Status: status, Message: msg})
}
