package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubegate/cubegate/auth"
	"github.com/cubegate/cubegate/httpapi"
)

// Principal is who is signed in: an API key or a console user, with the
// scopes it holds now.
type Principal struct {
	// Kind is "api_key" or "console_user"; ID the key's id or the user's
	// name.
	Kind     string
	ID       string
	TenantID string
	Scopes   []string
	// Key is the key signed in with (nil for a console user): its
	// allow-list and expiry bound what it creates (auth.Ceiling).
	Key *auth.APIKey
}

// Actor is the principal as the admin API's functions take it.
func (p Principal) Actor() auth.Actor {
	if p.Key != nil {
		return auth.KeyActor(*p.Key)
	}
	return auth.Actor{Kind: p.Kind, ID: p.ID, TenantID: p.TenantID, Scopes: slices.Clone(p.Scopes)}
}

// Name is the principal as the audit log names it ("api_key:ID",
// "console_user:NAME").
func (p Principal) Name() string { return p.Kind + ":" + p.ID }

// Display is the principal for people.
func (p Principal) Display() string {
	if p.Key != nil {
		return "API key " + p.Key.KeyStart + "…"
	}
	return p.ID
}

// Holds reports whether the principal holds scope ("" always; admin
// holds every scope).
func (p Principal) Holds(scope string) bool { return httpapi.Holds(p.Actor(), scope) }

// principal reads a session's principal as it is now.
func (c *Console) principal(ctx context.Context, ss auth.ConsoleSession, addr netip.Addr) (Principal, error) {
	switch ss.Kind {
	case "api_key":
		k, err := c.cfg.Admin.Keys.ConsoleKey(ctx, ss.Principal, addr)
		if err != nil {
			return Principal{}, err
		}
		return Principal{Kind: "api_key", ID: k.ID, TenantID: k.TenantID, Scopes: k.Scopes, Key: &k}, nil
	case "console_user":
		u, err := c.cfg.Users.User(ctx, ss.Principal)
		if err != nil {
			return Principal{}, err
		}
		return Principal{Kind: "console_user", ID: u.Username, TenantID: u.TenantID, Scopes: u.Scopes}, nil
	}
	return Principal{}, auth.ErrNotFound
}

const loginCookie = "cubegate_console_login"

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, path
// /console, Secure over TLS; maxAge < 0 deletes it, 0 makes a browser
// session cookie.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, HttpOnly: true,
		Secure: c.https(r), SameSite: http.SameSiteStrictMode})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// loginView is the sign-in page's data.
type loginView struct {
	Token, Next, Error, Username string
	// Notice is a flash message (signed out, session expired).
	Notice string
	UseKey bool
}

// safeNext keeps a post-sign-in destination inside the console (its
// path cleaned: /console/../admin is not inside).
func safeNext(next string) string {
	p, query, _ := strings.Cut(next, "?")
	if !strings.HasPrefix(next, Prefix+"/") || strings.ContainsAny(next, "\\\r\n") ||
		path.Clean(p) != strings.TrimSuffix(p, "/") || strings.HasPrefix(p, Prefix+"/login") {
		return Prefix + "/status"
	}
	if query != "" {
		return p + "?" + query
	}
	return p
}

// login serves the sign-in page (GET) and signs in (POST): with an API
// key, or a console user's name and password. A double-submit token
// (cookie and hidden field) and the origin checks keep other sites from
// signing a browser in as someone else. Failures are throttled with the
// SQL listener's failed-login throttle and audited.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if s, _ := c.session(r); s != nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
		c.loginPage(w, r, http.StatusOK, loginView{Next: r.URL.Query().Get("next"), Notice: c.takeFlash(w, r)})
	case http.MethodPost:
		c.signIn(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		c.errorPage(w, r, nil, http.StatusMethodNotAllowed, "Use GET or POST here.")
	}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	token := randomToken()
	c.setCookie(w, r, loginCookie, token, 3600)
	v.Token = token
	c.render(w, r, nil, c.base, "login", status, "Sign in", v)
}

const failedSignIn = "Sign-in failed: the API key, or the user name and password, are not valid."

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	key := strings.TrimSpace(r.PostFormValue("api_key"))
	username := strings.TrimSpace(r.PostFormValue("username"))
	v := loginView{Next: r.PostFormValue("next"), Username: username, UseKey: key != ""}
	if err := c.sameOrigin(r); err != nil {
		v.Error = "Refused: " + err.Error() + "."
		c.loginPage(w, r, http.StatusForbidden, v)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("login_token"))) != 1 {
		v.Error = "The sign-in form expired; try again."
		c.loginPage(w, r, http.StatusForbidden, v)
		return
	}
	// The throttle counts per address and per target: the user name, or
	// the key's displayable start.
	// A malformed "key" may be a password pasted in the wrong field:
	// none of it is kept.
	target := "console:" + username
	switch {
	case key != "" && auth.WellFormedKey(key):
		target = "console-key:" + key[:12] // its key_start, shown in lists anyway
	case key != "":
		target = "console-key:malformed"
	}
	ctx := r.Context()
	addr := httpapi.RemoteAddr(r)
	at, wait, err := c.cfg.Throttle.Begin(ctx, &net.TCPAddr{IP: addr.AsSlice()}, target)
	var blocked *auth.LoginBlockedError
	if errors.As(err, &blocked) {
		c.audit(auth.AuditEvent{Kind: "console", Action: "login", Outcome: "failed", Username: target, Address: addr.String(), Error: "blocked: too many failed sign-ins"})
		w.Header().Set("Retry-After", retryAfter(blocked.Retry))
		v.Error = "Too many failed sign-ins from this address; wait and try again."
		c.loginPage(w, r, http.StatusTooManyRequests, v)
		return
	}
	if err != nil {
		return // the browser left
	}
	defer at.End()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	var p Principal
	ok := false
	if key != "" {
		k, err := c.cfg.Admin.Keys.Authenticate(ctx, key, addr, "")
		if err == nil {
			ok, p = true, Principal{Kind: "api_key", ID: k.ID, TenantID: k.TenantID, Scopes: k.Scopes, Key: &k}
		} else if _, _, msg := httpapi.ErrorStatus(err); errors.As(err, new(*auth.KeyError)) {
			c.audit(auth.AuditEvent{Kind: "console", Action: "login", Outcome: "failed", Username: target, Address: addr.String(), Error: msg})
		} else {
			at.End()
			c.errorPage(w, r, nil, http.StatusInternalServerError, "The sign-in could not be checked: the gateway's log has the details.")
			c.cfg.Log.Error().Err(err).Msg("console: checking an API key")
			return
		}
	} else if username != "" {
		u, good, err := c.cfg.Users.CheckUser(ctx, username, r.PostFormValue("password"))
		if err != nil {
			at.End()
			c.errorPage(w, r, nil, http.StatusInternalServerError, "The sign-in could not be checked: the gateway's log has the details.")
			c.cfg.Log.Error().Err(err).Msg("console: checking a console user")
			return
		}
		if good {
			ok, p = true, Principal{Kind: "console_user", ID: u.Username, TenantID: u.TenantID, Scopes: u.Scopes}
		} else {
			c.audit(auth.AuditEvent{Kind: "console", Action: "login", Outcome: "failed", Username: "console_user:" + username, Address: addr.String(),
				Error: "wrong user name or password"})
		}
	}
	if !ok {
		at.Failed()
		v.Error = failedSignIn
		c.loginPage(w, r, http.StatusUnauthorized, v)
		return
	}
	at.Succeeded()
	id, err := c.cfg.Users.CreateSession(ctx, p.Kind, p.ID, p.TenantID, c.cfg.Now(), c.cfg.Lifetime)
	if err != nil {
		c.cfg.Log.Error().Err(err).Msg("console: creating a session")
		c.errorPage(w, r, nil, http.StatusInternalServerError, "The session could not be stored: the gateway's log has the details.")
		return
	}
	c.audit(c.event(p, r, auth.AuditEvent{Kind: "console", Action: "login"}))
	c.setCookie(w, r, loginCookie, "", -1)
	c.setCookie(w, r, sessionCookie, id, 0)
	http.Redirect(w, r, safeNext(v.Next), http.StatusSeeOther)
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(max(d.Round(time.Second), time.Second) / time.Second))
}

// logout ends the session (deleted from the store: the cookie is worth
// nothing after it, on every gateway).
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s, _ := c.session(r)
	if s == nil {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	if err := c.sameOrigin(r); err != nil {
		c.errorPage(w, r, s, http.StatusForbidden, "Refused: "+err.Error()+".")
		return
	}
	if !s.CheckCSRF(r) {
		c.errorPage(w, r, s, http.StatusForbidden, "Refused: the form's CSRF token is missing or stale; reload the page and try again.")
		return
	}
	if err := c.cfg.Users.DeleteSession(r.Context(), s.id); err != nil {
		c.cfg.Log.Error().Err(err).Msg("console: deleting a session")
		c.errorPage(w, r, s, http.StatusInternalServerError, "The session could not be ended: the gateway's log has the details.")
		return
	}
	c.audit(c.event(s.Principal, r, auth.AuditEvent{Kind: "console", Action: "logout"}))
	c.setCookie(w, r, sessionCookie, "", -1)
	c.setFlash(w, r, "You are signed out.")
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// event fills an audit event's actor, tenant and address from p and r.
func (c *Console) event(p Principal, r *http.Request, e auth.AuditEvent) auth.AuditEvent {
	e.TenantID, e.Username, e.Address = p.TenantID, p.Name(), httpapi.RemoteAddr(r).String()
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	if p.Kind == "api_key" {
		e.APIKeyID = p.ID
	}
	return e
}

func (c *Console) audit(e auth.AuditEvent) { c.cfg.Admin.Audit.Log(e) }

// Audit records an action of the session's principal (Kind, Action,
// Object, Outcome, Error as the caller sets them; actor, tenant and
// address filled in). Actions made through the admin API's functions
// are audited there already.
func (s *Session) Audit(e auth.AuditEvent) { s.c.audit(s.c.event(s.Principal, s.r, e)) }

const flashCookie = "cubegate_console_flash"

// setFlash leaves a short message for the next page shown (after a
// redirect). It is plain text, rendered escaped; never a secret.
func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, msg string) {
	if len(msg) > 500 {
		msg = msg[:500]
	}
	c.setCookie(w, r, flashCookie, url.QueryEscape(msg), 60)
}

// takeFlash reads and clears the flash message.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	c.setCookie(w, r, flashCookie, "", -1)
	msg, _ := url.QueryUnescape(ck.Value)
	return msg
}

// Redirect sends the browser to path (under /console) after a change,
// with a flash message for the page it lands on (POST → redirect → GET).
func (s *Session) Redirect(w http.ResponseWriter, path, flash string) {
	if flash != "" {
		s.c.setFlash(w, s.r, flash)
	}
	http.Redirect(w, s.r, safeNext(path), http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
