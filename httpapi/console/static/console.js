// cubegate console: progressive enhancement of server-rendered pages.
// Every page works without this file; with it, copy buttons copy, the
// Connect drawer opens as a dialog, the heartbeat and [data-refresh]
// regions refresh themselves, and Restart shows its progress. No inline
// script, no eval: the Content-Security-Policy allows this file only.
(function () {
  'use strict';

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var live = document.getElementById('live');

  function announce(msg) {
    if (!live) return;
    live.textContent = '';
    window.setTimeout(function () { live.textContent = msg; }, 50);
  }

  function textOf(el) {
    if (!el) return '';
    if (el.value !== undefined && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA')) return el.value;
    return el.textContent;
  }

  // Copy buttons: data-copy="#id" copies the element's text or value.
  function copy(btn) {
    var el = document.querySelector(btn.getAttribute('data-copy'));
    var text = textOf(el);
    var done = function () {
      var old = btn.textContent;
      btn.textContent = 'Copied';
      announce('Copied to the clipboard');
      window.setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'visually-hidden';
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand('copy'); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(ta);
  }

  // Downloads: data-download="#textarea" saves its text as a file.
  function download(btn) {
    var el = document.querySelector(btn.getAttribute('data-download'));
    var blob = new Blob([textOf(el)], { type: btn.getAttribute('data-type') || 'text/plain' });
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = btn.getAttribute('data-filename') || 'download.txt';
    document.body.appendChild(a);
    a.click();
    window.setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  var opener = null;
  document.addEventListener('click', function (ev) {
    var t = ev.target.closest('[data-copy],[data-download],[data-open-dialog],[data-close-dialog]');
    if (!t) return;
    if (t.hasAttribute('data-copy')) { ev.preventDefault(); copy(t); return; }
    if (t.hasAttribute('data-download')) { ev.preventDefault(); download(t); return; }
    if (t.hasAttribute('data-open-dialog')) {
      var d = document.querySelector(t.getAttribute('data-open-dialog'));
      if (d && d.showModal) {
        ev.preventDefault();
        opener = t;
        d.showModal();
        pollHeartbeat();
      }
      return;
    }
    if (t.hasAttribute('data-close-dialog')) {
      var dlg = t.closest('dialog');
      if (dlg) dlg.close();
    }
  });
  document.querySelectorAll('dialog').forEach(function (d) {
    d.addEventListener('close', function () { if (opener) { opener.focus(); opener = null; } });
    // A click on the backdrop (outside the dialog's box) closes it.
    d.addEventListener('click', function (ev) { if (ev.target === d && d.classList.contains('drawer')) d.close(); });
  });
  // Dialogs rendered open (a secret shown once) are modal.
  document.querySelectorAll('dialog[data-open]').forEach(function (d) { if (d.showModal) d.showModal(); });

  // Confirmations: <form data-confirm="Delete credential x?"> asks in
  // #confirm-dialog (a <dialog>, keyboard-usable) before it submits.
  var confirmDialog = document.getElementById('confirm-dialog');
  var pending = null;
  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    var msg = f.getAttribute && f.getAttribute('data-confirm');
    if (!msg || !confirmDialog || f.getAttribute('data-confirmed') === 'yes') return;
    ev.preventDefault();
    pending = { form: f, submitter: ev.submitter || null };
    document.getElementById('confirm-message').textContent = msg;
    confirmDialog.returnValue = '';
    opener = ev.submitter || document.activeElement;
    confirmDialog.showModal();
    document.getElementById('confirm-cancel').focus();
  }, true);
  if (confirmDialog) {
    confirmDialog.addEventListener('close', function () {
      var p = pending;
      pending = null;
      if (p && confirmDialog.returnValue === 'ok') {
        p.form.setAttribute('data-confirmed', 'yes');
        if (p.form.requestSubmit) p.form.requestSubmit(p.submitter); else p.form.submit();
      }
    });
  }

  // The data-source picker submits on change.
  document.querySelectorAll('select[data-autosubmit]').forEach(function (s) {
    s.addEventListener('change', function () { s.form.submit(); });
  });

  // Heartbeat: #heartbeat[data-url] polled every few seconds.
  var hb = document.getElementById('heartbeat');
  var restartBtn = document.getElementById('restart');
  var progress = document.getElementById('restart-progress');
  var restarting = false;
  var timer = null;

  function dotClass(state) {
    if (state === 'RUNNING') return 'dot-green';
    if (state === 'PENDING' || state === 'DEGRADED') return 'dot-yellow';
    return 'dot-red';
  }

  function showHeartbeat(h) {
    if (!hb || !h || !h.state) return;
    var changed = hb.getAttribute('data-state') !== h.state;
    hb.setAttribute('data-state', h.state);
    hb.setAttribute('data-restartable', String(!!h.restartable));
    var st = document.getElementById('heartbeat-state');
    if (st) st.textContent = h.state;
    ['heartbeat-dot', 'nav-dot'].forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.className = 'dot ' + dotClass(h.state);
    });
    var reason = document.getElementById('heartbeat-reason');
    if (reason) {
      reason.textContent = h.reason || '';
      reason.hidden = !h.reason;
    }
    if (restartBtn) restartBtn.disabled = !h.restartable;
    if (restarting && progress) {
      if (h.state === 'RUNNING' && !h.restarting) {
        restarting = false;
        progress.textContent = h.reason ? 'Restart finished: ' + h.reason : 'Running again' + (h.model_version ? ' (model ' + h.model_version + ')' : '') + '.';
      } else {
        progress.textContent = 'Restarting… ' + h.state;
      }
    }
    if (changed) announce('Server heartbeat: ' + h.state);
  }

  function pollHeartbeat() {
    if (!hb) return;
    window.clearTimeout(timer);
    fetch(hb.getAttribute('data-url'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(showHeartbeat)
      .catch(function () { showHeartbeat({ state: 'STOPPED', reason: 'the gateway does not answer' }); })
      .finally(function () {
        if (!document.hidden) timer = window.setTimeout(pollHeartbeat, restarting ? 1000 : 4000);
      });
  }
  if (hb) {
    timer = window.setTimeout(pollHeartbeat, 4000);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) pollHeartbeat(); });
  }

  // Restart: posted with fetch, then the heartbeat is watched until
  // RUNNING again (without JavaScript the form posts and comes back).
  var restartForm = document.getElementById('restart-form');
  if (restartForm) {
    restartForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (restartBtn) restartBtn.disabled = true;
      if (progress) progress.textContent = 'Restarting…';
      fetch('/console/api/restart', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' } })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) {
            if (progress) progress.textContent = 'Restart refused: ' + (res.body.error || 'unknown error');
            if (res.body.heartbeat) showHeartbeat(res.body.heartbeat);
            return;
          }
          restarting = true;
          showHeartbeat(res.body);
          pollHeartbeat();
        })
        .catch(function () { if (progress) progress.textContent = 'Restart failed: the gateway does not answer.'; });
    });
  }

  // Live regions: [data-refresh="URL"][data-refresh-every="seconds"] get
  // their content replaced by the server's fragment (escaped HTML
  // rendered by the same templates).
  document.querySelectorAll('[data-refresh]').forEach(function (el) {
    var every = Math.max(2, parseInt(el.getAttribute('data-refresh-every') || '10', 10)) * 1000;
    var tick = function () {
      if (document.hidden || el.contains(document.activeElement)) { window.setTimeout(tick, every); return; }
      fetch(el.getAttribute('data-refresh'), { credentials: 'same-origin' })
        .then(function (r) { if (r.status === 401) { window.location.reload(); return null; } return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && html !== undefined) el.innerHTML = html; })
        .catch(function () { /* the next tick tries again */ })
        .finally(function () { window.setTimeout(tick, every); });
    };
    window.setTimeout(tick, every);
  });
})();
