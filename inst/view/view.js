/* rkeras's live view of training metrics.
 *
 * R rewrites data.js (window.rkerasMetrics) as each epoch ends, atomically (a new file
 * renamed over the old one). This script reloads only that file, by adding a fresh
 * <script src="data.js?n=..."> element every second: unlike fetch() or XMLHttpRequest,
 * a script element may load a local file when the page itself is a file:// URL. The page
 * is never reloaded; a chart is redrawn when the data's counter `n` changes. Once the data
 * says training is over (`done`), polling stops and the page is a static record.
 *
 * For tests and tools, each chart's element carries data-metric, data-points (training
 * values drawn) and data-val-points (validation values drawn); <body> carries
 * data-status ("waiting", "training", "finished", "stopped"), data-epochs and
 * data-redraws.
 */
(function () {
  "use strict";
  var POLL_MS = 1000;
  var HEIGHT = 250;
  var COLORS = { training: "#1f77b4", validation: "#e6550d" };
  var charts = {};
  var shown = -1;
  var polls = 0;
  var redraws = 0;
  var main = document.getElementById("charts");

  function groupsOf(metrics) {
    var order = [];
    var groups = {};
    Object.keys(metrics).forEach(function (name) {
      var val = name.indexOf("val_") === 0;
      var base = val ? name.slice(4) : name;
      if (!groups[base]) {
        groups[base] = { base: base, training: null, validation: null };
        order.push(base);
      }
      groups[base][val ? "validation" : "training"] = name;
    });
    return order.map(function (b) { return groups[b]; });
  }

  function clean(v) {
    return (v || []).map(function (x) {
      return typeof x === "number" && isFinite(x) ? x : null;
    });
  }

  function count(v) {
    return v.filter(function (x) { return x !== null; }).length;
  }

  function lastValue(v) {
    for (var i = v.length - 1; i >= 0; i--) if (v[i] !== null) return v[i];
    return null;
  }

  function fmt(x) {
    if (x === null) return "";
    var a = Math.abs(x);
    return a !== 0 && (a >= 1e5 || a < 1e-3) ? x.toExponential(3) : String(Number(x.toPrecision(4)));
  }

  function chartWidth(box) {
    return Math.max(240, box.clientWidth || 400);
  }

  function statusText(d) {
    var k = d.epoch.length;
    var last = k ? d.epoch[k - 1] : null;
    if (d.status === "finished") return "Finished: " + k + (k === 1 ? " epoch" : " epochs") + " run" +
      (last !== null && last < d.epochs ? " (stopped early at epoch " + last + " of " + d.epochs + ")" : "") + ".";
    if (d.status === "stopped") return "Stopped" + (last !== null ? " after epoch " + last + " of " + d.epochs : "") + ".";
    if (!k) return "Waiting for the first epoch\u2026";
    return "Epoch " + last + " of " + d.epochs + " done; training\u2026";
  }

  function draw(d) {
    var x = d.epoch.map(Number);
    var lo = d.first_epoch;
    var hi = Math.max(d.epochs, lo + 1);
    groupsOf(d.metrics).forEach(function (g) {
      var series = [{ label: "epoch" }];
      var data = [x];
      var names = [];
      var points = { training: 0, validation: 0 };
      var values = {};
      ["training", "validation"].forEach(function (role) {
        var name = g[role];
        if (!name) return;
        var v = clean(d.metrics[name]);
        series.push({
          label: name, stroke: COLORS[role], width: 2, spanGaps: true,
          points: { show: true, size: 7, fill: COLORS[role], stroke: COLORS[role] }
        });
        data.push(v);
        names.push(name);
        points[role] = count(v);
        values[role] = lastValue(v);
      });
      var c = charts[g.base];
      if (!c) {
        var box = document.createElement("section");
        box.className = "chart";
        box.setAttribute("data-metric", g.base);
        var head = document.createElement("h2");
        box.appendChild(head);
        main.appendChild(box);
        c = charts[g.base] = { box: box, head: head, plot: null, key: "" };
      }
      var key = names.join(",");
      if (c.plot && c.key !== key) {
        c.plot.destroy();
        c.plot = null;
      }
      if (!c.plot) {
        c.plot = new uPlot({
          width: chartWidth(c.box), height: HEIGHT, series: series,
          legend: { live: false },
          scales: { x: { time: false, auto: false, range: [lo, hi] } },
          axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }, {}]
        }, data, c.box);
        c.key = key;
      } else {
        c.plot.setData(data, false);
        c.plot.setScale("x", { min: lo, max: hi });
      }
      c.box.setAttribute("data-points", String(points.training));
      c.box.setAttribute("data-val-points", String(points.validation));
      var text = g.base;
      var parts = [];
      if (values.training !== null && values.training !== undefined) parts.push(fmt(values.training));
      if (values.validation !== null && values.validation !== undefined) parts.push("validation " + fmt(values.validation));
      c.head.textContent = text;
      if (parts.length) {
        var span = document.createElement("span");
        span.textContent = parts.join(", ");
        c.head.appendChild(span);
      }
    });
    var status = statusText(d);
    document.getElementById("title").textContent = "Training metrics" + (d.model ? ": model \u2018" + d.model + "\u2019" : "");
    document.getElementById("status").textContent = status;
    document.title = status + " \u2014 rkeras";
    document.body.setAttribute("data-status", d.status);
    document.body.setAttribute("data-epochs", String(x.length));
    redraws += 1;
    document.body.setAttribute("data-redraws", String(redraws));
  }

  function check() {
    var d = window.rkerasMetrics;
    if (d && d.n !== shown) {
      shown = d.n;
      draw(d);
    }
    if (d && d.done) return;
    window.setTimeout(poll, POLL_MS);
  }

  function poll() {
    var s = document.createElement("script");
    polls += 1;
    s.src = "data.js?n=" + polls;
    s.onload = s.onerror = function () {
      s.parentNode.removeChild(s);
      check();
    };
    document.head.appendChild(s);
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) {
      var c = charts[k];
      if (c.plot) c.plot.setSize({ width: chartWidth(c.box), height: HEIGHT });
    });
  });

  check();
})();
