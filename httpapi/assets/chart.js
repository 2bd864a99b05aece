// The dashboard's chart of failures over time: an inline SVG this script
// draws from the history route next to the page (a relative URL, so it
// works under any mount), one bar per bucket: 60 minutes for 1h, 1440 for
// 24h, 168 hours for 7d, 720 hours for 30d. Its coordinates are the box's
// own pixels, so the axis labels keep their size on a narrow screen. No chart library: the page's CSP allows
// only its own scripts. It redraws every few seconds while the page is
// visible, and when another window is picked.
(function () {
  "use strict";
  var box = document.getElementById("chart");
  if (!box) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var REFRESH_MS = 5000;
  var W = 1000, H = 180, LEFT = 44, RIGHT = 8, TOP = 10, BOTTOM = 22;
  var hour = 3600;
  var kind = document.body.dataset.kind;
  var svg = box.querySelector("svg");
  var summary = document.getElementById("chart-summary");
  var win = box.dataset.window || "24h";
  var seq = 0; // the latest load; older answers are dropped

  function node(name, attrs, text) {
    var el = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  // parse reads a bucket start ("2026-11-26T21:43:00.000000+00:00").
  function parse(s) { return new Date(s.replace(/\.\d+/, "")); }

  // label names a bucket's start: its time alone in the 1h window.
  function label(d, step, n) {
    var o = step * n <= hour ? {} : { month: "short", day: "numeric" };
    o.hour = "2-digit"; o.minute = "2-digit";
    return d.toLocaleString(undefined, o);
  }

  function draw(data) {
    var b = data.buckets, n = b.length, step = data.bucket_seconds;
    var max = 0, total = 0, peak = -1;
    b.forEach(function (x, i) {
      total += x.count;
      if (x.count > max) { max = x.count; peak = i; }
    });
    var top = Math.max(max, 1);
    W = Math.max(Math.round(svg.getBoundingClientRect().width) || 1000, 240);
    var pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM, bw = pw / n;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.appendChild(node("line", { "class": "axis", x1: LEFT, y1: TOP + ph, x2: W - RIGHT, y2: TOP + ph }));
    svg.appendChild(node("text", { "class": "tick", x: LEFT - 6, y: TOP + 8, "text-anchor": "end" }, String(top)));
    svg.appendChild(node("text", { "class": "tick", x: LEFT - 6, y: TOP + ph, "text-anchor": "end" }, "0"));
    if (n > 0) {
      svg.appendChild(node("text", { "class": "tick", x: LEFT, y: H - 6 }, label(parse(b[0].start), step, n)));
      svg.appendChild(node("text", { "class": "tick", x: W - RIGHT, y: H - 6, "text-anchor": "end" }, "now"));
    }
    var bars = node("g", { "class": "bars" });
    b.forEach(function (x, i) {
      var h = x.count / top * ph;
      var r = node("rect", {
        "class": "bar", x: (LEFT + i * bw).toFixed(2), y: (TOP + ph - h).toFixed(2),
        width: Math.max(bw * 0.85, 0.5).toFixed(2), height: h.toFixed(2),
        "data-start": x.start, "data-count": x.count
      });
      r.appendChild(node("title", {}, label(parse(x.start), step, n) + ": " + x.count + " failure" + (x.count === 1 ? "" : "s")));
      bars.appendChild(r);
    });
    svg.appendChild(bars);
    svg.dataset.window = data.window;
    svg.dataset.total = String(total);
    var per = step === 60 ? "minute" : "hour";
    summary.textContent = total === 0 ? "No failures pushed in the last " + data.window + "." :
      total + " failure" + (total === 1 ? "" : "s") + " pushed in the last " + data.window +
      "; at most " + max + " in one " + per + " (" + label(parse(b[peak].start), step, n) + ").";
    box.dataset.loaded = String(Number(box.dataset.loaded || 0) + 1);
  }

  // here resolves a route next to the page without the page's user and
  // password: fetch refuses a URL holding credentials (a page opened as
  // http://user:pass@host/…), and the browser sends them anyway.
  function here(route) {
    var u = new URL(route, window.location.href);
    u.username = "";
    u.password = "";
    return u.href;
  }

  function load() {
    var mine = ++seq;
    return fetch(here(encodeURIComponent(kind) + "/history?window=" + encodeURIComponent(win)), {
      headers: { "Accept": "application/json" }
    }).then(function (res) {
      return res.json().catch(function () {
        throw new Error(res.status + " " + res.statusText); // not JSON: a proxy's or auth's page
      }).then(function (body) {
        if (mine !== seq) { return; }
        if (!res.ok) { summary.textContent = "History unavailable: " + (body.detail || res.statusText); return; }
        draw(body);
      });
    }).catch(function (err) {
      // offline, or an answer that is not JSON: say so rather than
      // "Loading" forever; the next load tries again.
      if (mine === seq) { summary.textContent = "History unavailable: " + err.message + " (trying again)."; }
    });
  }

  box.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-window]");
    if (!b) { return; }
    win = b.dataset.window;
    box.dataset.window = win;
    box.querySelectorAll("button[data-window]").forEach(function (x) {
      x.setAttribute("aria-pressed", String(x === b));
    });
    load();
  });

  load();
  window.setInterval(function () { if (!document.hidden) { load(); } }, REFRESH_MS);
})();
