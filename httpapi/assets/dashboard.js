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
  function post(route, payload, method) {
    var why = document.getElementById("reason");
    if (why && why.value) { payload.reason = why.value; }
    return fetch(here(base + route), {
      method: method || "POST",
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

  // bulk retries or discards a cause's failures, or those of one of its
  // hosts (data-host).
  function bulk(button, action) {
    var filter = { signature: button.dataset.sig };
    if (button.dataset.host) { filter.host = button.dataset.host; }
    button.disabled = true;
    busy++;
    post(action, Object.assign({ dry_run: true }, filter)).then(function (preview) {
      var verb = action === "retry" ? "Retry" : "Discard";
      if (!window.confirm(verb + " these " + preview.matched + " failures" + (filter.host ? " on " + filter.host : "") + "?")) {
        button.disabled = false;
        return;
      }
      if (preview.matched > ASYNC_OVER) {
        // Many entries: an operation, watched in the Operations panel.
        return post(action, Object.assign({}, filter, { async: true })).then(function (op) {
          say(verb + " of " + preview.matched + " started as an operation.");
          return loadOps();
        });
      }
      return post(action, filter).then(function (res) {
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
      case "cancel-op":
        b.disabled = true;
        var why = document.getElementById("reason");
        post("ops/" + encodeURIComponent(b.dataset.op) + (why && why.value ? "?reason=" + encodeURIComponent(why.value) : ""), {}, "DELETE").then(loadOps).catch(function (err) { say(err.message, true); });
        break;
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

  // The Operations and Recent actions panels read the JSON API and build
  // text nodes only: actors and reasons are whatever callers sent.
  var ASYNC_OVER = 1000; // a bulk action over this many entries runs as an operation
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function getJSON(route) {
    return fetch(base + route, { headers: { "Accept": "application/json" } }).then(function (res) {
      return res.ok ? res.json() : null;
    });
  }
  function renderOps(ops) {
    var box = document.getElementById("ops-list");
    var running = (ops || []).filter(function (op) { return op.state === "running" || op.state === "interrupted"; });
    box.replaceChildren();
    if (!running.length) { box.appendChild(el("p", "None running.", "empty")); return; }
    running.forEach(function (op) {
      var row = el("div", undefined, "op");
      var done = op.handled + op.failed + op.skipped;
      var bar = el("progress");
      bar.max = Math.max(op.matched, 1);
      bar.value = done;
      row.appendChild(el("span", op.action + " · " + op.state + " · " + done + " of " + op.matched + " matched so far"));
      row.appendChild(bar);
      row.appendChild(el("span", op.actor ? "by " + op.actor : "", "who"));
      if (!readOnly && op.state === "running") {
        var b = el("button", "Cancel", "danger");
        b.dataset.action = "cancel-op";
        b.dataset.op = op.id;
        row.appendChild(b);
      }
      box.appendChild(row);
    });
  }
  function renderAudit(recs) {
    var rows = document.getElementById("audit-rows");
    rows.replaceChildren();
    (recs || []).forEach(function (r) {
      var tr = el("tr");
      var what = r.id ? "id " + r.id : (r.matched !== undefined ? r.handled + " of " + r.matched + " (" + r.result + ")" : r.result);
      [new Date(r.time).toLocaleString(), r.actor || "–", r.action, what, r.reason || ""].forEach(function (v) {
        tr.appendChild(el("td", v));
      });
      rows.appendChild(tr);
    });
  }
  function loadOps() { return getJSON("ops?limit=20").then(renderOps).catch(function () {}); }
  function loadAudit() { return getJSON("audit?limit=20").then(renderAudit).catch(function () {}); }
  function panels() {
    if (document.hidden) { return; }
    loadOps();
    loadAudit();
  }
  panels();
  window.setInterval(panels, 2000);

  window.setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
