// The dashboard's only script: it sends the actions to the JSON API, whose
// routes sit next to this page (relative URLs work under any mount).
(function () {
  "use strict";
  var kind = document.body.dataset.kind;
  var status = document.getElementById("status");

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function call(method, url) {
    return fetch(url, { method: method, headers: { "Accept": "application/json" } }).then(function (res) {
      if (res.status === 204) { return null; }
      return res.json().then(function (body) {
        if (!res.ok) { throw new Error(body.detail || res.statusText); }
        return body;
      });
    });
  }

  function dropCount(n) {
    var el = document.querySelector('[data-count="' + CSS.escape(kind) + '"]');
    if (el) { el.textContent = Math.max(0, parseInt(el.textContent, 10) - n); }
  }

  function rowAction(button, method, url, done) {
    var row = button.closest("tr");
    button.disabled = true;
    call(method, url).then(function () {
      row.remove();
      dropCount(1);
      say(done);
    }).catch(function (err) {
      button.disabled = false;
      say(err.message, true);
    });
  }

  function bulk(button, action) {
    var q = "signature=" + encodeURIComponent(button.dataset.sig);
    var base = encodeURIComponent(kind) + "/";
    button.disabled = true;
    call("POST", base + action + "?dry_run=true&" + q).then(function (preview) {
      var verb = action === "retry" ? "Retry" : "Discard";
      if (!window.confirm(verb + " these " + preview.matched + " failures?")) {
        button.disabled = false;
        return;
      }
      return call("POST", base + action + "?" + q).then(function (res) {
        say((action === "retry" ? "Retried " : "Discarded ") + res.handled + " of " + res.matched + ".");
        window.location.reload();
      });
    }).catch(function (err) {
      button.disabled = false;
      say(err.message, true);
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) { return; }
    var id = b.dataset.id ? encodeURIComponent(b.dataset.id) : "";
    var k = encodeURIComponent(kind);
    switch (b.dataset.action) {
      case "retry": rowAction(b, "POST", k + "/" + id + "/retry", "Retried."); break;
      case "delete": rowAction(b, "DELETE", k + "/" + id, "Discarded."); break;
      case "bulk-retry": bulk(b, "retry"); break;
      case "bulk-delete": bulk(b, "delete"); break;
    }
  });
})();
