// cubegate console: the Query history's live list (pausable) and the
// Playground's small helpers. The pages work without this file. No
// inline script, no eval: the Content-Security-Policy allows this file.
(function () {
  'use strict';

  // Live regions: [data-live-url][data-live-every="seconds"] get the
  // server's fragment (HTML escaped by the same templates) every few
  // seconds, unless paused with the [data-live-toggle] button, the tab
  // is hidden, or the focus is inside the region.
  document.querySelectorAll('[data-live-url]').forEach(function (el) {
    var every = Math.max(2, parseInt(el.getAttribute('data-live-every') || '5', 10)) * 1000;
    var paused = false;
    var toggle = document.querySelector('[data-live-toggle="#' + el.id + '"]');
    var state = document.getElementById(el.id + '-state') || document.getElementById('history-live-state');
    var timer = null;
    function say(msg) { if (state) state.textContent = msg; }
    function schedule() { window.clearTimeout(timer); timer = window.setTimeout(tick, every); }
    function tick() {
      if (paused) return;
      if (document.hidden || el.contains(document.activeElement)) { schedule(); return; }
      fetch(el.getAttribute('data-live-url'), { credentials: 'same-origin' })
        .then(function (r) { if (r.status === 401) { window.location.reload(); return null; } return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== undefined && !paused) {
            el.innerHTML = html;
            el.setAttribute('data-refreshed', new Date().toISOString());
          }
        })
        .catch(function () { say('The gateway does not answer; trying again.'); })
        .finally(function () { if (!paused) schedule(); });
    }
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener('click', function () {
        paused = !paused;
        toggle.setAttribute('aria-pressed', String(paused));
        toggle.textContent = paused ? 'Resume live updates' : 'Pause live updates';
        el.setAttribute('data-paused', String(paused));
        say(paused ? 'Live updates are paused.' : 'The list refreshes itself every ' + every / 1000 + ' seconds.');
        if (!paused) tick();
      });
    }
    schedule();
  });

  // Playground: Ctrl+Enter (Cmd+Enter) in the SQL box or the JSON query
  // runs it.
  [['sql', 'run-sql'], ['query-json', 'run-json']].forEach(function (p) {
    var ta = document.getElementById(p[0]);
    var btn = document.getElementById(p[1]);
    if (!ta || !btn) return;
    ta.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        if (btn.form.requestSubmit) btn.form.requestSubmit(btn); else btn.click();
      }
    });
  });
})();
