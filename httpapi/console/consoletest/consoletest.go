// Package consoletest drives the web console in a real browser for the
// tests: Debian's headless chromium through the DevTools protocol
// (chromedp), one browser per test, every step under the test's time
// budget. Elements are found as a user finds them — a button or link by
// its accessible name, an input by its label — through the browser's own
// accessibility tree, so a test also checks that the console is labelled.
//
// Whatever the page writes to the console as an error, every uncaught
// exception, every Content-Security-Policy violation and every
// alert/confirm/prompt dialog is collected; the test fails on any that it
// did not declare expected (AllowError). Screenshots of the full page go
// to an artifacts folder ($CUBEGATE_ARTIFACTS, else
// testdata/artifacts/console under the repository), one subfolder per
// test, named NN-name.png; a failing test gets a last one, NN-failed.png.
//
// It is test support: every error fails the test at once.
package consoletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Options shape a browser. The zero Options are a 60 s budget, 15 s a
// step, a 1280×900 window.
type Options struct {
	// Timeout is the whole browser session's budget, from Start: every
	// step fails once it is spent.
	Timeout time.Duration
	// Step is the most one step (a click, a wait for text) may take.
	Step time.Duration
	// Width and Height are the window's size in CSS pixels.
	Width, Height int
}

// Browser is one headless chromium with one tab, for one test.
type Browser struct {
	t         testing.TB
	ctx       context.Context // the tab's context: no deadline of its own
	deadline  time.Time
	step      time.Duration
	artifacts string
	downloads string
	scope     string // CSS selector the name lookups start from; "" the document

	state *state
}

// state is what every scoped view of one browser shares.
type state struct {
	mu       sync.Mutex
	shots    int
	problems []string         // console errors, exceptions, CSP violations, dialogs
	allowed  []*regexp.Regexp // problems a test expects
	dialogs  []string
	done     map[string]string // download guid → final path
	begun    map[string]string // download guid → suggested file name
	taken    map[string]bool   // downloads Download returned

	acceptConfirms bool
	dlCond         *sync.Cond
}

// cspProbe runs before any page script in every document: it reports each
// securitypolicyviolation (which the page's own scripts may not see, and
// which the browser logs only as a warning for report-only policies) on the
// console, where the Browser collects it. Scripts the DevTools protocol
// injects are not subject to the page's CSP.
const cspProbe = `document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
    ' at ' + (e.sourceFile || '') + ':' + (e.lineNumber || 0) + (e.sample ? ' (' + e.sample + ')' : ''));
}, true);`

// Chromium is the browser's executable: chromium (Debian's package, which
// make deps installs), else chromium-browser. A missing browser fails the
// test — a dependency make deps cannot install is a failure, never a skip
// — and says so.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("consoletest: no chromium on PATH: run make deps (scripts/deps.sh installs Debian's chromium)")
	return ""
}

// Start starts a headless chromium for t, closed when t ends.
func Start(t testing.TB, o Options) *Browser {
	t.Helper()
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Step <= 0 {
		o.Step = 15 * time.Second
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 1280, 900
	}
	exe := Chromium(t)
	b := &Browser{
		t:         t,
		deadline:  time.Now().Add(o.Timeout),
		step:      o.Step,
		artifacts: Artifacts(t),
		downloads: t.TempDir(),
		state:     &state{done: map[string]string{}, begun: map[string]string{}, taken: map[string]bool{}},
	}
	b.state.dlCond = sync.NewCond(&b.state.mu)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.DisableGPU,
		// No component updates, crash reports or field trials: a test
		// browser makes no request of its own to anywhere.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-field-trial-config", true),
	)
	if os.Geteuid() == 0 {
		// Chromium's sandbox (user namespaces and the setuid helper)
		// refuses to start under root — CI and these machines run the
		// tests as root. Without the sandbox the renderer runs with the
		// test's own rights; it only ever loads the gateway this test
		// started on 127.0.0.1. Any other user keeps the sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		if t.Failed() {
			b.shotOnFailure()
		}
		cancelTab()
		cancelAlloc()
	})
	t.Cleanup(b.Check) // runs first: the problems of the last page count too

	// Start the browser: the first Run binds the browser's life to its
	// context, so that one has no deadline; the steps after it have.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("consoletest: starting %s: %v", exe, err)
	}
	sctx, cancel := b.stepContext()
	defer cancel()
	err := chromedp.Do(sctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
				return err
			}
			// A headless tab is never focused; the async clipboard
			// needs a focused document.
			_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
			return err
		}),
	)
	if err != nil {
		t.Fatalf("consoletest: setting up the tab: %v", err)
	}
	if _, err := chromedp.CallBrowser(sctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.downloads, EventsEnabled: new(true),
	}); err != nil {
		t.Fatalf("consoletest: Browser.setDownloadBehavior: %v", err)
	}
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(sctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: name == "clipboard-write"},
			Setting:    browser.PermissionSettingGranted,
		}); err != nil {
			t.Fatalf("consoletest: granting %s: %v", name, err)
		}
	}
	if err := chromedp.ListenBrowser(ctx, b.listenBrowser); err != nil {
		t.Fatalf("consoletest: %v", err)
	}
	t.Logf("consoletest: %s; screenshots in %s", exe, b.artifacts)
	return b
}

// listen sees the tab's events in order, in the tab's loop: it must not
// run a command (a dialog is answered from a goroutine).
func (b *Browser) listen(ev any) {
	s := b.state
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			s.add("console." + string(ev.Type) + ": " + argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		s.add(fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e.Level == cdplog.EntryLevelError {
			s.add(fmt.Sprintf("browser log (%s): %s %s", e.Source, e.Text, e.URL))
		}
	case *page.EventJavascriptDialogOpening:
		s.mu.Lock()
		s.dialogs = append(s.dialogs, string(ev.Type)+": "+ev.Message)
		accept := s.acceptConfirms && ev.Type == page.DialogTypeConfirm
		s.mu.Unlock()
		if !accept {
			s.add("a " + string(ev.Type) + " dialog opened: " + ev.Message)
		}
		go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
	}
}

// listenBrowser sees the browser's events: the log's errors (a refused
// CSP load, a failed resource) and the downloads.
func (b *Browser) listenBrowser(ev any) {
	s := b.state
	switch ev := ev.(type) {
	case *browser.EventDownloadWillBegin:
		s.mu.Lock()
		s.begun[ev.GUID] = ev.SuggestedFilename
		s.mu.Unlock()
	case *browser.EventDownloadProgress:
		if ev.State == browser.DownloadProgressStateCompleted || ev.State == browser.DownloadProgressStateCanceled {
			s.mu.Lock()
			path := filepath.Join(b.downloads, ev.GUID)
			if ev.State == browser.DownloadProgressStateCanceled {
				path = ""
			}
			s.done[ev.GUID] = path
			s.dlCond.Broadcast()
			s.mu.Unlock()
		}
	}
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a.Type == runtime.RemoteObjectTypeString:
			var s string
			if err := unmarshalJSON(a.Value, &s); err == nil {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, string(a.Value))
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

func (s *state) add(problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, problem)
}

// AllowError declares a console error the test expects (a regular
// expression): Check passes over problems it matches.
func (b *Browser) AllowError(pattern string) {
	b.state.mu.Lock()
	defer b.state.mu.Unlock()
	b.state.allowed = append(b.state.allowed, regexp.MustCompile(pattern))
}

// Problems are the console errors, uncaught exceptions, CSP violations and
// dialogs seen so far that no AllowError matches.
func (b *Browser) Problems() []string {
	s := b.state
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.problems {
		if !slices.ContainsFunc(s.allowed, func(re *regexp.Regexp) bool { return re.MatchString(p) }) {
			out = append(out, p)
		}
	}
	return out
}

// Check fails the test on every problem seen so far (and forgets them). It
// runs when the test ends too.
func (b *Browser) Check() {
	b.t.Helper()
	for _, p := range b.Problems() {
		b.t.Errorf("consoletest: in the browser: %s", p)
	}
	b.state.mu.Lock()
	b.state.problems = nil
	b.state.mu.Unlock()
}

// Dialogs are the alert/confirm/prompt dialogs that opened ("alert: text"),
// each dismissed at once.
func (b *Browser) Dialogs() []string {
	b.state.mu.Lock()
	defer b.state.mu.Unlock()
	return slices.Clone(b.state.dialogs)
}

// Artifacts is t's artifacts folder, made empty: $CUBEGATE_ARTIFACTS/<test>
// or <repository>/testdata/artifacts/console/<test> (the folder is
// gitignored).
func Artifacts(t testing.TB) string {
	t.Helper()
	root := os.Getenv("CUBEGATE_ARTIFACTS")
	if root == "" {
		root = filepath.Join(repoRoot(t), "testdata", "artifacts", "console")
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("consoletest: no go.mod above the working directory")
		}
		dir = up
	}
}

// stepContext is a context for one step: at most the step's time, never
// past the test's budget.
func (b *Browser) stepContext() (context.Context, context.CancelFunc) {
	d := time.Now().Add(b.step)
	if b.deadline.Before(d) {
		d = b.deadline
	}
	return context.WithDeadline(b.ctx, d)
}

// do runs actions as one step and fails the test, naming what, when they
// fail.
func (b *Browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *Browser) fail(what string, err error) {
	b.t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		if time.Now().After(b.deadline) {
			err = fmt.Errorf("the test's browser budget is spent (%w)", err)
		} else {
			err = fmt.Errorf("not within %s (%w)", b.step, err)
		}
	}
	url, _ := b.location()
	b.t.Fatalf("consoletest: %s (on %s): %v", what, url, err)
}

func (b *Browser) location() (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url))
}

// Reload reloads the page and waits for its load event.
func (b *Browser) Reload() {
	b.t.Helper()
	b.do("reload", chromedp.Reload())
}

// URL is the page's address.
func (b *Browser) URL() string {
	b.t.Helper()
	u, err := b.location()
	if err != nil {
		b.t.Fatalf("consoletest: the location: %v", err)
	}
	return u
}

// In is a view of the browser whose name and label lookups (Click, Fill,
// WaitButton…) look only inside the first element css matches — a
// dialog, a drawer, a table row.
func (b *Browser) In(css string) *Browser {
	c := *b
	c.scope = css
	return &c
}

// Roles a name lookup accepts.
var (
	clickable = []string{"button", "link", "menuitem", "tab", "checkbox", "radio", "switch", "option", "menuitemcheckbox", "menuitemradio", "summary", "DisclosureTriangle"}
	fillable  = []string{"textbox", "searchbox", "combobox", "spinbutton", "textarea", "ListBox", "listbox"}
)

// byName finds, in the accessibility tree under the scope, the elements
// not hidden from it whose accessible name is name and whose role is one
// of roles (any role when roles is nil); the first in document order.
func (b *Browser) byName(name string, roles []string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		root := n.NodeID
		if b.scope != "" {
			r, err := cdp.Call(ctx, t, dom.QuerySelector, dom.QuerySelectorParams{NodeID: n.NodeID, Selector: b.scope})
			if err != nil {
				return nil, err
			}
			if r.NodeID == chromedp.EmptyNodeID {
				return []cdp.NodeID{}, nil
			}
			root = r.NodeID
		}
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: root, AccessibleName: name})
		if err != nil {
			return nil, err
		}
		var ids []cdp.BackendNodeID
		for _, ax := range res.Nodes {
			if ax.Ignored || ax.BackendDOMNodeID == 0 {
				continue
			}
			if roles != nil && !slices.Contains(roles, axString(ax.Role)) {
				continue
			}
			ids = append(ids, ax.BackendDOMNodeID)
		}
		if len(ids) == 0 {
			return []cdp.NodeID{}, nil
		}
		pushed, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: ids[:1]})
		if err != nil {
			return nil, err
		}
		return pushed.NodeIDs, nil
	})
}

func axString(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	var s string
	if err := unmarshalJSON(v.Value, &s); err != nil {
		return ""
	}
	return s
}

// Click clicks the button, link, tab, checkbox… whose accessible name is
// name, once it is visible and enabled.
func (b *Browser) Click(name string) {
	b.t.Helper()
	b.do(fmt.Sprintf("click %q", name), chromedp.Click("name="+name, b.byName(name, clickable), chromedp.NodeVisible), b.settle())
}

// ClickRole is Click for an element of one role ("button", "link", "row"…).
func (b *Browser) ClickRole(role, name string) {
	b.t.Helper()
	b.do(fmt.Sprintf("click %s %q", role, name), chromedp.Click("name="+name, b.byName(name, []string{role}), chromedp.NodeVisible), b.settle())
}

// settle waits for the page to have no navigation under way: a click that
// submits a form returns before the next page loaded, and a script's
// context can go away under a query (then it asks again).
func (b *Browser) settle() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		time.Sleep(50 * time.Millisecond)
		for {
			state, err := chromedp.Evaluate[string](`document.readyState`)(ctx, t)
			if err == nil && state == "complete" {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the page did not finish loading: %w", ctx.Err())
			case <-time.After(25 * time.Millisecond):
			}
		}
	})
}

// Fill sets the input, textarea or select labelled label to value as a
// user would: it focuses it, clears it and types value (a select chooses
// the option whose text or value is value), firing input and change
// events.
func (b *Browser) Fill(label, value string) {
	b.t.Helper()
	what := fmt.Sprintf("fill %q", label)
	b.do(what, chromedp.QueryAfter("label="+label, func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (chromedp.Void, error) {
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
		if err != nil {
			return chromedp.Void{}, err
		}
		kind, err := chromedp.CallFunctionOn[string](`function(v) {
			this.scrollIntoView({block: 'center'});
			this.focus();
			if (this.tagName === 'SELECT') {
				const o = [...this.options].find(o => o.value === v || o.text.trim() === v);
				if (!o) return 'no option ' + v;
				this.value = o.value;
				this.dispatchEvent(new Event('input', {bubbles: true}));
				this.dispatchEvent(new Event('change', {bubbles: true}));
				return 'select';
			}
			if (this.type === 'checkbox' || this.type === 'radio') return 'use Click for a ' + this.type;
			this.select && this.select();
			this.value = '';
			this.dispatchEvent(new Event('input', {bubbles: true}));
			return 'text';
		}`, func(p *runtime.CallFunctionOnParams) { p.ObjectID = obj.Object.ObjectID }, value)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		switch kind {
		case "select":
			return chromedp.Void{}, nil
		case "text":
		default:
			return chromedp.Void{}, errors.New(kind)
		}
		if value != "" {
			if _, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: value}); err != nil {
				return chromedp.Void{}, err
			}
		}
		_, err = chromedp.CallFunctionOn[chromedp.Void](`function() { this.dispatchEvent(new Event('change', {bubbles: true})); }`,
			func(p *runtime.CallFunctionOnParams) { p.ObjectID = obj.Object.ObjectID })(ctx, t)
		return chromedp.Void{}, err
	}, b.byName(label, fillable), chromedp.NodeVisible, chromedp.NodeEnabled))
}

// Value is the current value of the input labelled label.
func (b *Browser) Value(label string) string {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value("label="+label, b.byName(label, fillable), chromedp.NodeVisible))
	if err != nil {
		b.fail(fmt.Sprintf("the value of %q", label), err)
	}
	return v
}

// Press sends a key ("\r" for Enter, kb.Escape…) to the focused element.
func (b *Browser) Press(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys), b.settle())
}

// WaitText waits until the page (or the scope) shows text.
func (b *Browser) WaitText(text string) {
	b.t.Helper()
	b.poll(fmt.Sprintf("wait for the text %q", text), `(root, text) => !!root && root.innerText.includes(text)`, text)
}

// WaitNoText waits until the page (or the scope) no longer shows text.
func (b *Browser) WaitNoText(text string) {
	b.t.Helper()
	b.poll(fmt.Sprintf("wait for the text %q to go", text), `(root, text) => !root || !root.innerText.includes(text)`, text)
}

// WaitTextMatch waits until the page (or the scope) shows text matching
// the regular expression re, and returns the first match.
func (b *Browser) WaitTextMatch(re string) string {
	b.t.Helper()
	regexp.MustCompile(re)
	b.poll(fmt.Sprintf("wait for text matching %q", re), `(root, re) => !!root && new RegExp(re).test(root.innerText)`, re)
	return regexp.MustCompile(re).FindString(b.Text())
}

// WaitFor waits until the JavaScript predicate pred, a function of the
// scope's element (document.body without a scope) and arg, is true.
func (b *Browser) WaitFor(what, pred string, arg any) {
	b.t.Helper()
	b.poll(what, pred, arg)
}

func (b *Browser) poll(what, pred string, arg any) {
	b.t.Helper()
	fn := fmt.Sprintf(`(scope, arg) => { const root = scope ? document.querySelector(scope) : document.body; return (%s)(root, arg); }`, pred)
	ctx, cancel := b.stepContext()
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](fn, chromedp.WithPollingArgs(b.scope, arg),
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadlineOf(ctx)))))
		if err == nil {
			return
		}
		// A navigation destroys the document the poll ran in ("Cannot
		// find context with specified id"): poll the next one.
		if ctx.Err() != nil || errors.Is(err, chromedp.ErrPollingTimeout) {
			b.fail(what+"; the page shows:\n"+b.textNoFail(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// WaitVisible waits until an element named name (any role) is shown.
func (b *Browser) WaitVisible(name string) {
	b.t.Helper()
	b.do(fmt.Sprintf("wait for %q", name), chromedp.Query("name="+name, b.byName(name, nil), chromedp.NodeVisible))
}

// WaitGone waits until no element is named name (any role).
func (b *Browser) WaitGone(name string) {
	b.t.Helper()
	b.do(fmt.Sprintf("wait for %q to go", name), chromedp.Query("name="+name, b.byName(name, nil), chromedp.NodeNotPresent))
}

// WaitEnabled waits until the control named name is visible and enabled.
func (b *Browser) WaitEnabled(name string) {
	b.t.Helper()
	b.waitState(name, true)
}

// WaitDisabled waits until the control named name is visible and disabled
// (the disabled attribute, or aria-disabled="true").
func (b *Browser) WaitDisabled(name string) {
	b.t.Helper()
	b.waitState(name, false)
}

// Enabled reports whether the control named name, once visible, is
// enabled.
func (b *Browser) Enabled(name string) bool {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	enabled, err := b.enabled(ctx, name)
	if err != nil {
		b.fail(fmt.Sprintf("find %q", name), err)
	}
	return enabled
}

func (b *Browser) enabled(ctx context.Context, name string) (bool, error) {
	return chromedp.Run(ctx, chromedp.QueryAfter("name="+name, func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (bool, error) {
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
		if err != nil {
			return false, err
		}
		return chromedp.CallFunctionOn[bool](`function() { return !this.disabled && this.getAttribute('aria-disabled') !== 'true'; }`,
			func(p *runtime.CallFunctionOnParams) { p.ObjectID = obj.Object.ObjectID })(ctx, t)
	}, b.byName(name, clickable), chromedp.NodeVisible))
}

func (b *Browser) waitState(name string, enabled bool) {
	b.t.Helper()
	want := map[bool]string{true: "enabled", false: "disabled"}[enabled]
	ctx, cancel := b.stepContext()
	defer cancel()
	for {
		got, err := b.enabled(ctx, name)
		if err == nil && got == enabled {
			return
		}
		if ctx.Err() != nil {
			b.fail(fmt.Sprintf("wait for %q %s", name, want), ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Attribute is attribute attr of the element named name (any role), and
// whether it has it.
func (b *Browser) Attribute(name, attr string) (string, bool) {
	b.t.Helper()
	var v string
	var ok bool
	b.do(fmt.Sprintf("read %s of %q", attr, name), chromedp.Query("name="+name, b.byName(name, nil), chromedp.NodeReady,
		chromedp.After(func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) error {
			v, ok = nodes[0].Attribute(attr)
			return nil
		})))
	return v, ok
}

// Text is the visible text of the page (or of the scope).
func (b *Browser) Text() string {
	b.t.Helper()
	var s string
	b.eval("read the page's text", `(scope) => { const r = scope ? document.querySelector(scope) : document.body; return r ? r.innerText : ''; }`, &s, b.scope)
	return s
}

func (b *Browser) textNoFail() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// TextOf is the visible text of the first element css matches (under the
// scope), once there is one.
func (b *Browser) TextOf(css string) string {
	b.t.Helper()
	sel := css
	if b.scope != "" {
		sel = b.scope + " " + css
	}
	ctx, cancel := b.stepContext()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

// Count is how many elements css matches (under the scope) now.
func (b *Browser) Count(css string) int {
	b.t.Helper()
	var n int
	b.eval("count "+css, `(scope, css) => { const r = scope ? document.querySelector(scope) : document; return r ? r.querySelectorAll(css).length : 0; }`, &n, b.scope, css)
	return n
}

// Eval runs the JavaScript function fn (its text, e.g. "(a) => a + 1")
// with args in the page and decodes its result into out (nil: ignored).
// A promise is awaited.
func (b *Browser) Eval(fn string, out any, args ...any) {
	b.t.Helper()
	b.eval("evaluate "+fn, fn, out, args...)
}

func (b *Browser) eval(what, fn string, out any, args ...any) {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	js, err := marshalJSON(args)
	if err != nil {
		b.t.Fatalf("consoletest: %s: %v", what, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](fmt.Sprintf("(%s)(...%s)", fn, js), chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(what, err)
	}
	if out != nil && len(raw) > 0 {
		if err := unmarshalJSON(raw, out); err != nil {
			b.t.Fatalf("consoletest: %s: %s: %v", what, raw, err)
		}
	}
}

// Screenshot saves a full-page PNG of the page as NN-name.png in the
// artifacts folder and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	return b.save(name, png)
}

func (b *Browser) save(name string, png []byte) string {
	b.t.Helper()
	b.state.mu.Lock()
	b.state.shots++
	n := b.state.shots
	b.state.mu.Unlock()
	name = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(name), "-"), "-")
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("consoletest: screenshot %s", path)
	return path
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// shotOnFailure saves what the page showed when the test failed, if the
// browser still answers.
func (b *Browser) shotOnFailure() {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		b.save("failed", png)
	}
}

// Copied clicks the copy button named name and returns what it put on the
// clipboard (the real system clipboard, read back through the async
// clipboard API).
func (b *Browser) Copied(name string) string {
	b.t.Helper()
	// Something else first, so a copy that does nothing is seen.
	b.eval("clear the clipboard", `() => navigator.clipboard.writeText('\u0000consoletest')`, nil)
	b.Click(name)
	var got string
	b.poll(fmt.Sprintf("wait for %q to copy", name), `async () => (await navigator.clipboard.readText()) !== '\u0000consoletest'`, nil)
	b.eval("read the clipboard", `() => navigator.clipboard.readText()`, &got)
	return got
}

// Download clicks the button or link named name, waits for the one
// download it starts to finish, and returns its suggested file name and
// its bytes.
func (b *Browser) Download(name string) (string, []byte) {
	b.t.Helper()
	s := b.state
	s.mu.Lock()
	before := len(s.begun)
	s.mu.Unlock()
	b.Click(name)
	ctx, cancel := b.stepContext()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.mu.Lock(); s.dlCond.Broadcast(); s.mu.Unlock() })
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if len(s.begun) > before {
			for guid, file := range s.begun {
				if path, ok := s.done[guid]; ok && !s.taken[guid] {
					s.taken[guid] = true
					if path == "" {
						b.t.Fatalf("consoletest: the download of %q (%s) was canceled", name, file)
					}
					data, err := os.ReadFile(path)
					if err != nil {
						b.t.Fatalf("consoletest: the download of %q: %v", name, err)
					}
					return file, data
				}
			}
		}
		if ctx.Err() != nil {
			s.mu.Unlock()
			b.fail(fmt.Sprintf("download from %q", name), fmt.Errorf("no finished download (%w)", ctx.Err()))
			s.mu.Lock()
			return "", nil
		}
		s.dlCond.Wait()
	}
}

// SignInKey signs in at the console under base (the gateway's HTTP
// address, "http://127.0.0.1:PORT") with an API key, through the sign-in
// page as a person does, and waits for the page it lands on.
func (b *Browser) SignInKey(base, key string) {
	b.t.Helper()
	b.Navigate(base + "/console/login")
	b.Fill("API key", key)
	b.Click("Sign in with the key")
	b.waitSignedIn()
}

// SignInUser signs in as a console user.
func (b *Browser) SignInUser(base, username, password string) {
	b.t.Helper()
	b.Navigate(base + "/console/login")
	b.Fill("User name", username)
	b.Fill("Password", password)
	b.Click("Sign in")
	b.waitSignedIn()
}

func (b *Browser) waitSignedIn() {
	b.t.Helper()
	b.poll("wait to be signed in", `() => !location.pathname.startsWith('/console/login') && !!document.getElementById('principal')`, nil)
}

// SignOut presses Sign out and waits for the sign-in page.
func (b *Browser) SignOut() {
	b.t.Helper()
	b.Click("Sign out")
	b.poll("wait for the sign-in page", `() => location.pathname.startsWith('/console/login')`, nil)
}

// HTML is the page's whole markup now (the DOM, serialized).
func (b *Browser) HTML() string {
	b.t.Helper()
	var s string
	b.eval("read the page's HTML", `() => document.documentElement.outerHTML`, &s)
	return s
}

// AcceptConfirms makes confirm dialogs (a "Delete it?" before a
// destructive action) answered yes and not a problem; an alert or a
// prompt still is.
func (b *Browser) AcceptConfirms(accept bool) {
	b.state.mu.Lock()
	defer b.state.mu.Unlock()
	b.state.acceptConfirms = accept
}

// NavigateStatus loads url like Navigate and returns the HTTP status of
// the document (after redirects).
func (b *Browser) NavigateStatus(url string) int {
	b.t.Helper()
	ctx, cancel := b.stepContext()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.fail("navigate to "+url, err)
	}
	if resp == nil {
		b.t.Fatalf("consoletest: navigate to %s: no response", url)
	}
	return int(resp.Status)
}

// Viewport resizes the page's viewport (CSS pixels; mobile: a phone's
// touch viewport), as a narrow window or a phone shows it; Viewport(0, 0,
// false) goes back to the window's own size.
func (b *Browser) Viewport(width, height int64, mobile bool) {
	b.t.Helper()
	if width == 0 {
		b.do("reset the viewport", chromedp.ResetViewport())
		return
	}
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.do(fmt.Sprintf("a %dx%d viewport", width, height), chromedp.EmulateViewport(width, height, opts...))
}
