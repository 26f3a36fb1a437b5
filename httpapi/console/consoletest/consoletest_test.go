package consoletest_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cubegate/cubegate/httpapi/console/consoletest"
)

// The harness itself, on a small page served under a strict CSP: labels
// and accessible names, typing, waiting, the clipboard, a download, a
// screenshot, and the problems it must see — a CSP violation, an uncaught
// exception, a dialog.
func TestHarness(t *testing.T) {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title><script src="/app.js" defer></script></head><body>` + body + `</body></html>`))
		}
	}
	mux.HandleFunc("/", page(`<main>
<form method="post" action="/hello">
<label for="n">Your name</label><input id="n" name="n">
<label>Colour <select name="c"><option value="r">Red</option><option value="g">Green</option></select></label>
<button type="submit">Say hello</button></form>
<button type="button" id="copy" data-copy="postgres://u@h:5433/db" aria-label="Copy connection string">⧉</button>
<button type="button" id="later" disabled>Restart</button>
<a href="/file" download>Download credentials</a>
</main>`))
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`document.getElementById('copy')?.addEventListener('click', e => navigator.clipboard.writeText(e.currentTarget.dataset.copy));
setTimeout(() => { const b = document.getElementById('later'); if (b) b.disabled = false; }, 300);
if (location.pathname === '/boom') { throw new Error('boom'); }
if (location.pathname === '/alert') { alert('hi'); }`))
	})
	mux.HandleFunc("POST /hello", func(w http.ResponseWriter, r *http.Request) {
		page(`<p>Hello, `+html.EscapeString(r.FormValue("n"))+` in `+html.EscapeString(r.FormValue("c"))+`</p>`)(w, r)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="x.pgpass"`)
		w.Write([]byte("h:5433:db:u:secret\n"))
	})
	mux.HandleFunc("/inline", page(`<p>inline</p><script>document.title='x'</script>`))
	mux.HandleFunc("/boom", page(`<p>boom</p>`))
	mux.HandleFunc("/alert", page(`<p>alert</p>`))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := consoletest.Start(t, consoletest.Options{Timeout: 40 * time.Second})
	b.Navigate(srv.URL + "/")
	b.WaitDisabled("Restart")
	b.WaitEnabled("Restart")
	if got := b.Copied("Copy connection string"); got != "postgres://u@h:5433/db" {
		t.Errorf("copied %q", got)
	}
	if v, _ := b.Attribute("Copy connection string", "data-copy"); v != "postgres://u@h:5433/db" {
		t.Errorf("data-copy %q", v)
	}
	name, data := b.Download("Download credentials")
	if name != "x.pgpass" || string(data) != "h:5433:db:u:secret\n" {
		t.Errorf("downloaded %q %q", name, data)
	}
	b.Fill("Your name", "Ada <b>")
	b.Fill("Colour", "Green")
	if v := b.Value("Your name"); v != "Ada <b>" {
		t.Errorf("value %q", v)
	}
	shot := b.Screenshot("form")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	b.Click("Say hello")
	b.WaitText("Hello, Ada <b> in g")
	if b.Count("b") != 0 {
		t.Error("the test page itself is not escaping")
	}
	if p := b.Problems(); len(p) != 0 {
		t.Fatalf("problems on a clean page: %q", p)
	}

	// What must be seen.
	for _, c := range []struct{ path, want string }{
		{"/inline", "CSP violation: script-src"},
		{"/boom", "uncaught exception"},
		{"/alert", "alert dialog opened: hi"},
	} {
		b.Navigate(srv.URL + c.path)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(strings.Join(b.Problems(), "\n"), c.want) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if p := strings.Join(b.Problems(), "\n"); !strings.Contains(p, c.want) {
			t.Errorf("%s: problems %q, want %q", c.path, p, c.want)
		}
		for _, p := range b.Problems() { // seen: not this test's failure
			t.Logf("%s: %s", c.path, p)
			b.AllowError("^" + regexp.QuoteMeta(p) + "$")
		}
	}
	if d := b.Dialogs(); len(d) != 1 || d[0] != "alert: hi" {
		t.Errorf("dialogs %q", d)
	}
}
