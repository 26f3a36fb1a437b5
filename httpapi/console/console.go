// Package console is cubegate's web console, served by the gateway at
// /console on the REST API's listener: server-rendered html/template
// pages and one small hand-written script (console.js) that only
// enhances them (copy buttons, the Connect drawer, live refresh). Every
// asset is embedded and served by the gateway; nothing is fetched from
// elsewhere, and the Content-Security-Policy allows no inline script or
// style.
//
// People sign in with an API key or as a console user (auth.ConsoleUsers);
// the session is a random id in an HttpOnly, SameSite=Strict cookie whose
// SHA-256 the state store keeps. Every action calls the admin API's own
// functions (httpapi.Admin …As) with the signed-in principal as actor, so
// the console applies the admin API's scopes and rules and the audit log
// names the console user or key. README.md says how to add a page.
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served.
const Prefix = "/console"

// CSP is the Content-Security-Policy of every console answer: scripts,
// styles and images from the gateway only, no inline script or style, no
// eval, no framing, forms posting to the gateway only.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// Defaults of Config's timeouts.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
)

// Source is a data source as the console shows it.
type Source struct {
	Name   string // the database name SQL clients connect to
	Tenant string
}

// Config is what the console is served from.
type Config struct {
	// Admin is the admin API the console acts through (its Keys, Status,
	// Restart, Tenants, Audit …).
	Admin *httpapi.Admin
	// Users are the console users and the sessions.
	Users *auth.ConsoleUsers
	// Throttle slows and blocks repeated failed sign-ins (the SQL
	// listener's, so both count together); nil: none.
	Throttle *auth.LoginThrottle
	// Sources lists every data source, the default one first.
	Sources func() []Source
	// SQLAddr is the SQL listener's host and port (what it listens on).
	SQLAddr func() (host, port string)
	// SQLTLS: the SQL listener offers TLS (sslmode=require in snippets).
	SQLTLS bool
	// PublicHost is the advertised host (or host:port) of the SQL
	// listener in connection strings; "": the host the browser reached
	// the console at, with the SQL listener's port.
	PublicHost string
	// IdleTimeout ends a session unused this long; Lifetime ends it this
	// long after sign-in (0: the defaults).
	IdleTimeout, Lifetime time.Duration
	// TrustForwardedProto: a proxy terminating TLS in front of the gateway
	// sets X-Forwarded-Proto, and "https" there marks cookies Secure and
	// makes https:// the origin. Off, only a TLS connection does.
	TrustForwardedProto bool
	Version             string
	Log                 zerolog.Logger
	// Now is the clock (tests move it); nil: time.Now.
	Now func() time.Time
	// Explore runs the Model and Playground pages' queries (nil: those
	// pages say they cannot).
	Explore Explorer
}

// Console serves the console.
type Console struct {
	cfg    Config
	mux    *http.ServeMux
	base   *template.Template
	pages  []*page
	static http.Handler
	// assetVersion busts browser caches when the embedded assets change.
	assetVersion string

	mu         sync.Mutex
	restarting map[string]bool   // tenant → a restart from the console runs
	restarts   map[string]uint64 // tenant → restarts begun and ended (each counts twice)
}

// Page is one console page: its Handler answers every method on Path
// (and below it, Path+"/…"); a method other than GET and HEAD passes the
// CSRF checks first. Nav pages appear in the header's nav, in
// registration order.
type Page struct {
	Path  string // "/console/status"
	Title string // the nav label and <title>
	Nav   bool
	// Scope the principal needs ("": any signed-in principal; "admin"
	// holds every scope), as the admin API checks it.
	Scope string
	// Template is the name of the template that renders the page's
	// content ({{define "NAME"}} in templates/NAME.html); Session.Render
	// wraps it in the layout.
	Template string
	Handler  func(w http.ResponseWriter, r *http.Request, s *Session)
}

type page struct {
	Page
	tmpl *template.Template
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Admin == nil || cfg.Admin.Keys == nil || cfg.Users == nil {
		return nil, errors.New("console: the admin API's keys and the console users are needed")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sources == nil {
		cfg.Sources = func() []Source { return nil }
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), restarting: map[string]bool{}, restarts: map[string]uint64{}}
	sub, _ := fs.Sub(staticFS, "static")
	c.assetVersion = hashFS(sub)
	c.static = http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub))
	var err error
	c.base, err = template.New("").Funcs(c.funcs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	for _, p := range c.builtinPages() {
		if err := c.Register(p); err != nil {
			return nil, err
		}
	}
	c.routes()
	return c, nil
}

// builtinPages are the console's pages, the nav in this order.
func (c *Console) builtinPages() []Page {
	return []Page{
		c.connectPage(),
		c.credentialsPage(),
		c.keysPage(),
		c.statusPage(),
		c.historyPage(),
		c.modelPage(),
		c.playgroundPage(),
		c.tenantsPage(),
	}
}

// Register adds a page (New registers the built-in ones).
func (c *Console) Register(p Page) error {
	if !strings.HasPrefix(p.Path, Prefix+"/") || p.Handler == nil || p.Template == "" {
		return fmt.Errorf("console page %q: needs a path under %s/, a template and a handler", p.Path, Prefix)
	}
	t, err := c.base.Clone()
	if err == nil {
		_, err = t.New("content").Parse(`{{template "` + p.Template + `" .}}`)
	}
	if err == nil && t.Lookup(p.Template) == nil {
		err = fmt.Errorf("no template %q (define it in templates/%s.html)", p.Template, p.Template)
	}
	if err != nil {
		return fmt.Errorf("console page %s: %w", p.Path, err)
	}
	pg := &page{Page: p, tmpl: t}
	c.pages = append(c.pages, pg)
	h := c.signedIn(pg)
	c.mux.Handle(p.Path, h)
	c.mux.Handle(p.Path+"/", h)
	return nil
}

func (c *Console) routes() {
	c.mux.HandleFunc("GET "+Prefix+"/static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			c.errorPage(w, r, nil, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		c.static.ServeHTTP(w, r)
	})
	c.mux.HandleFunc(Prefix+"/login", c.login)
	c.mux.HandleFunc("POST "+Prefix+"/logout", c.logout)
	c.mux.Handle("GET "+Prefix+"/api/heartbeat", c.api("", c.heartbeat))
	c.mux.Handle("POST "+Prefix+"/api/restart", c.api("admin", c.restartAPI))
	c.mux.Handle("POST "+Prefix+"/restart", c.signedIn(&page{Page: Page{Path: Prefix + "/restart", Scope: "admin", Handler: c.restartForm}}))
	c.mux.HandleFunc(Prefix+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/status", http.StatusSeeOther)
	})
	c.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/status", http.StatusSeeOther)
	})
	c.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	})
}

// ServeHTTP serves the console: every answer carries the security
// headers; a panic renders an error page (the log has the stack).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if !strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	defer func() {
		v := recover()
		if v == nil || v == http.ErrAbortHandler {
			if v != nil {
				panic(v)
			}
			return
		}
		c.cfg.Log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Str("path", r.URL.Path).
			Msg("console: internal error while serving a page")
		c.errorPage(w, r, nil, http.StatusInternalServerError, "Internal error: the gateway's log has the details.")
	}()
	c.mux.ServeHTTP(w, r)
}

// https reports whether the browser reached the console over TLS.
func (c *Console) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return c.cfg.TrustForwardedProto && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// origin is the console's own origin as the browser sees it.
func (c *Console) origin(r *http.Request) string {
	if c.https(r) {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// sameOrigin checks a state-changing request came from the console's own
// pages: Sec-Fetch-Site, when the browser sends it, is same-origin, and
// Origin, when sent, names the host the request was sent to. Behind a
// proxy terminating TLS the browser's https origin is accepted even
// when the proxy is not trusted (console.trust_forwarded_proto); over
// TLS an http origin is not. The CSRF token is checked besides.
func (c *Console) sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("a %s request (Sec-Fetch-Site) cannot change anything here", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) || u.Path != "" ||
			!(u.Scheme == "https" || u.Scheme == "http" && !c.https(r)) {
			return errors.New("the request comes from another origin")
		}
	}
	return nil
}

// Session is a signed-in request: who, its CSRF token, the data sources
// it sees; pages render through it.
type Session struct {
	c         *Console
	r         *http.Request
	page      *page
	id        string
	Principal Principal
	// CSRF is the token every state-changing request carries (the
	// hidden field csrf_token, or the X-CSRF-Token header).
	CSRF string
	// Source is the data source picked in the header (the first one).
	Source  string
	Sources []Source
	status  *Status
}

type sessionCtxKey struct{}

// FromRequest is the request's session (nil outside a signed-in page).
func FromRequest(r *http.Request) *Session {
	s, _ := r.Context().Value(sessionCtxKey{}).(*Session)
	return s
}

// csrfToken derives the session's CSRF token from its id: nothing to
// store, and the store's SHA-256 of the id does not give it.
func csrfToken(id string) string {
	h := sha256.Sum256([]byte("cubegate console csrf\x00" + id))
	return hex.EncodeToString(h[:])
}

// CheckCSRF checks the request's CSRF token (form field csrf_token or
// header X-CSRF-Token) in constant time.
func (s *Session) CheckCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

const sessionCookie = "cubegate_console"

// session reads the request's session: nil when signed out (no cookie,
// an unknown or expired session, a key or user gone since).
func (c *Console) session(r *http.Request) (*Session, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, ""
	}
	ctx := r.Context()
	ss, err := c.cfg.Users.Session(ctx, ck.Value, c.cfg.Now(), c.cfg.IdleTimeout, c.cfg.Lifetime)
	switch {
	case errors.Is(err, auth.ErrSessionExpired):
		return nil, "Your session expired; sign in again."
	case err != nil:
		if !errors.Is(err, auth.ErrNotFound) {
			c.cfg.Log.Error().Err(err).Msg("console: reading a session")
		}
		return nil, ""
	}
	p, err := c.principal(ctx, ss, httpapi.RemoteAddr(r))
	if err != nil {
		_ = c.cfg.Users.DeleteSession(ctx, ck.Value)
		_, _, msg := httpapi.ErrorStatus(err)
		if errors.Is(err, auth.ErrNotFound) {
			msg = "the console user no longer exists"
		}
		return nil, "You were signed out: " + msg + "."
	}
	s := &Session{c: c, r: r, id: ck.Value, Principal: p, CSRF: csrfToken(ck.Value)}
	for _, src := range c.cfg.Sources() {
		if src.Tenant == p.TenantID {
			s.Sources = append(s.Sources, src)
		}
	}
	if len(s.Sources) > 0 {
		s.Source = s.Sources[0].Name
		if want := r.URL.Query().Get("source"); want != "" {
			for _, src := range s.Sources {
				if src.Name == want {
					s.Source = want
				}
			}
		}
	}
	return s, ""
}

// signedIn serves a page to a signed-in principal holding its scope:
// signed out, a GET goes to the sign-in page and anything else is 401;
// a state-changing request must pass the origin and CSRF checks.
func (c *Console) signedIn(p *page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, why := c.session(r)
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q := url.Values{"next": {r.URL.RequestURI()}}
				if why != "" {
					c.setFlash(w, r, why)
				}
				http.Redirect(w, r, Prefix+"/login?"+q.Encode(), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, http.StatusUnauthorized, "Sign in first.")
			return
		}
		s.page = p
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := c.sameOrigin(r); err != nil {
				c.errorPage(w, r, s, http.StatusForbidden, "Refused: "+err.Error()+".")
				return
			}
			if !s.CheckCSRF(r) {
				c.errorPage(w, r, s, http.StatusForbidden, "Refused: the form's CSRF token is missing or stale; reload the page and try again.")
				return
			}
		}
		if !s.Principal.Holds(p.Scope) {
			c.errorPage(w, r, s, http.StatusForbidden, fmt.Sprintf("This page needs the %q scope; %s holds %s.",
				p.Scope, s.Principal.Display(), strings.Join(s.Principal.Scopes, ", ")))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, s))
		s.r = r
		p.Handler(w, r, s)
	})
}

// api serves a JSON endpoint to a signed-in principal holding scope:
// 401/403 as JSON {"error": …}; state changes pass the origin and CSRF
// checks.
func (c *Console) api(scope string, h func(w http.ResponseWriter, r *http.Request, s *Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, why := c.session(r)
		if s == nil {
			if why == "" {
				why = "sign in first"
			}
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": why})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := c.sameOrigin(r); err != nil {
				writeJSON(w, http.StatusForbidden, map[string]any{"error": err.Error()})
				return
			}
			if !s.CheckCSRF(r) {
				writeJSON(w, http.StatusForbidden, map[string]any{"error": "the CSRF token is missing or stale"})
				return
			}
		}
		if !s.Principal.Holds(scope) {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": fmt.Sprintf("this needs the %q scope", scope)})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, s))
		s.r = r
		h(w, r, s)
	})
}
