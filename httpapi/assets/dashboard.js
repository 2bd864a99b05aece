// The dashboard's only script: it sends the actions to the JSON API, whose
// routes sit next to this page (relative URLs work under any mount), with
// ids and causes in JSON bodies, and refreshes the page's counts, causes
// and rows every few seconds while it is visible and nobody is typing.
(function () {
  "use strict";
  var body = document.body;
  var kind = body.dataset.kind;
  var readOnly = body.dataset.readonly === "true";
  var canRetry = body.dataset.canRetry === "true";
  var status = document.getElementById("status");
  var base = encodeURIComponent(kind) + "/";
  var busy = 0; // actions under way: no refresh meanwhile
  var failing = false; // the last refresh failed, and #status says so
  var lastKey = 0; // when the user last typed
  var REFRESH_MS = 5000;

  // here resolves a route next to the page without the page's user and
  // password: fetch refuses a URL holding credentials (a page opened as
  // http://user:pass@host/…), and the browser sends them anyway.
  function here(route) {
    var u = new URL(route, window.location.href);
    u.username = "";
    u.password = "";
    return u.href;
  }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  // post sends a JSON body to a route next to the page and resolves to
  // the answer's JSON (null for 204), or rejects with its detail.
  function post(route, payload) {
    return fetch(here(base + route), {
      method: "POST",
      headers: { "Accept": "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (res) {
      if (res.status === 204) { return null; }
      return res.json().then(function (b) {
        if (!res.ok) {
          var err = new Error(b.detail || res.statusText);
          err.status = res.status;
          throw err;
        }
        return b;
      });
    });
  }

  function dropCount(n) {
    var el = document.querySelector('[data-count="' + CSS.escape(kind) + '"]');
    if (el) { el.textContent = Math.max(0, parseInt(el.textContent, 10) - n); }
  }

  // rowAction retries or discards one row's entry. A discard of an entry
  // a retry has claimed (409) is sent again with force, if the user says so.
  function rowAction(button, route, done) {
    var row = button.closest("tr");
    var id = button.dataset.id;
    button.disabled = true;
    busy++;
    post(route, { id: id }).catch(function (err) {
      if (err.status !== 409 || route !== "delete-item" ||
          !window.confirm(err.message + "\n\nA retry is requeuing this failure right now. Discard it anyway? Its job may be requeued and discarded both.")) {
        throw err;
      }
      return post(route, { id: id, force: true });
    }).then(function () {
      row.remove();
      dropCount(1);
      say(done);
    }).catch(function (err) {
      button.disabled = false;
      say(err.message, true);
    }).finally(function () { busy--; });
  }

  // describe says what a bulk action did, as an error when requeues failed.
  function describe(action, res) {
    var text = (action === "retry" ? "Retried " : "Discarded ") + res.handled + " of " + res.matched + ".";
    if (res.failed) { text += " " + res.failed + " requeue" + (res.failed === 1 ? "" : "s") + " failed; still in the DLQ."; }
    if (res.skipped) { text += " " + res.skipped + " skipped (claimed by a retry under way, or already gone)."; }
    return { text: text, error: res.failed > 0 };
  }

  function bulk(button, action) {
    var sig = button.dataset.sig;
    button.disabled = true;
    busy++;
    post(action, { signature: sig, dry_run: true }).then(function (preview) {
      var verb = action === "retry" ? "Retry" : "Discard";
      if (!window.confirm(verb + " these " + preview.matched + " failures?")) {
        button.disabled = false;
        return;
      }
      return post(action, { signature: sig }).then(function (res) {
        var d = describe(action, res);
        say(d.text, d.error); // stays on screen: the refresh leaves #status alone
        return refresh(true);
      });
    }).catch(function (err) {
      button.disabled = false;
      say(err.message, true);
    }).finally(function () { busy--; });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) { return; }
    if (readOnly) { say("Read-only view: no changes.", true); return; }
    var act = b.dataset.action;
    if ((act === "retry" || act === "bulk-retry") && !canRetry) {
      say("Retry is off: this service has no Requeuer.", true);
      return;
    }
    switch (act) {
      case "retry": rowAction(b, "retry-item", "Retried."); break;
      case "delete": rowAction(b, "delete-item", "Discarded."); break;
      case "bulk-retry": bulk(b, "retry"); break;
      case "bulk-delete": bulk(b, "delete"); break;
    }
  });

  document.addEventListener("keydown", function () { lastKey = Date.now(); });

  function typing() {
    var el = document.activeElement;
    var field = el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable);
    return field && Date.now() - lastKey < 3 * REFRESH_MS;
  }

  // refresh fetches this page again and swaps in its counts, warnings,
  // causes and rows, keeping open details open. force skips the checks
  // for visibility, typing and actions under way.
  function refresh(force) {
    if (!force && (document.hidden || typing() || busy > 0)) { return Promise.resolve(); }
    return fetch(here(window.location.href), { headers: { "Accept": "text/html" } }).then(function (res) {
      if (res.status === 503) { return; } // busy: try again next time
      return res.text().then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        if (!res.ok) { // Redis down, say: the answer's page says why
          var why = next.querySelector("[role=alert]");
          failing = true;
          say("Cannot refresh: " + (why ? why.textContent : res.status + " " + res.statusText), true);
          return;
        }
        if (failing) { failing = false; say(""); }
        var open = {};
        document.querySelectorAll("details[open][data-key]").forEach(function (d) { open[d.dataset.key] = true; });
        document.querySelectorAll("[data-refresh][id]").forEach(function (el) {
          var fresh = next.getElementById(el.id);
          if (fresh) { el.replaceWith(document.adoptNode(fresh)); }
        });
        document.querySelectorAll("details[data-key]").forEach(function (d) {
          if (open[d.dataset.key]) { d.open = true; }
        });
        document.title = next.title;
        body.dataset.refreshed = String(Number(body.dataset.refreshed || 0) + 1);
      });
    }).catch(function () { /* offline: try again next time */ });
  }

  window.setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
