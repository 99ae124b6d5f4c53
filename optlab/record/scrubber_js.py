"""The time slider's script and style (optlab.record.scrubber builds its data and markup).

Vanilla JavaScript, inline in the page, no library: it reads the slider's JSON and, on every move,
sets the time cursor of each interactive curve (``window.optlabCharts``, optlab.record.html_chart),
writes the step's numbers, and redraws the panels from the last record at or before the step:
the decision boundary on a canvas (class regions light, training points full colour), the
update/weight ratios as bars on a log axis, the activation histograms.
"""

from optlab.record.html_chart import SVG_HELPERS_JS


SCRUBBER_CSS = """
.scrubber input[type=range] { width: min(100%, 640px); vertical-align: middle; }
.scrub-readout { display: block; font-variant-numeric: tabular-nums; margin: .3rem 0; }
.scrub-panels { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.scrub-panels figure { margin: .5rem 0; max-width: 420px; }
.scrub-boundary canvas { width: 320px; height: 320px; border: 1px solid var(--line); }
.scrub-ratios svg { width: 380px; } .scrub-landscape svg { width: 320px; height: 320px; border: 1px solid var(--line); }
.scrub-hists { display: flex; flex-wrap: wrap; gap: .5rem; }
.scrub-hists svg { width: 200px; height: 110px; }
"""

SCRUBBER_JS = r"""
(function () {
  "use strict";
  var node = document.getElementById("scrub-data");
  if (!node) return;
  var data = JSON.parse(node.textContent), NS = "http://www.w3.org/2000/svg";
  var box = document.getElementById("scrubber"), slider = document.getElementById("scrub-step");
  var readout = box.querySelector(".scrub-readout");
""" + SVG_HELPERS_JS + r"""
  function lastAtOrBefore(steps, step) {   // index of the last recorded step <= step, or -1
    var k = -1;
    for (var i = 0; i < steps.length; i++) if (steps[i] <= step) k = i;
    return k;
  }
  function shade(hex, a) {   // a class colour mixed with white: the regions are light, the points full
    var n = parseInt(hex.slice(1), 16), r = n >> 16, g = (n >> 8) & 255, b = n & 255;
    return "rgb(" + Math.round(255 - a * (255 - r)) + "," + Math.round(255 - a * (255 - g)) + "," +
           Math.round(255 - a * (255 - b)) + ")";
  }
  function boundary(step) {
    var fig = box.querySelector(".scrub-boundary");
    if (!fig) return;
    var b = data.boundary, k = lastAtOrBefore(b.records.map(function (r) { return r.step; }), step);
    var canvas = fig.querySelector("canvas"), ctx = canvas.getContext("2d"), n = b.grid, S = canvas.width;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, S, S);
    var cap = fig.querySelector("figcaption");
    if (k < 0) { cap.textContent = "decision boundary: not recorded yet"; canvas.setAttribute("data-step", ""); return; }
    var rec = b.records[k], cell = S / n;
    for (var r = 0; r < n; r++) for (var c = 0; c < n; c++) {
      var cls = parseInt(rec.classes.charAt(r * n + c), 36);
      ctx.fillStyle = shade(data.colors[cls % data.colors.length], 0.35);
      ctx.fillRect(c * cell, S - (r + 1) * cell, Math.ceil(cell), Math.ceil(cell));
    }
    var w = b.window;
    b.points.forEach(function (p) {
      ctx.beginPath();
      ctx.arc((p[0] - w[0]) / (w[1] - w[0]) * S, (1 - (p[1] - w[2]) / (w[3] - w[2])) * S, 2.6, 0, 2 * Math.PI);
      ctx.fillStyle = data.colors[p[2] % data.colors.length]; ctx.fill();
      ctx.lineWidth = 0.7; ctx.strokeStyle = "#fff"; ctx.stroke();
    });
    canvas.setAttribute("data-step", rec.step);
    cap.textContent = "predicted class on a " + n + "\u00d7" + n + " grid at step " + rec.step +
                      ", with " + b.points.length + " training points";
  }
  function ratios(step) {
    var fig = box.querySelector(".scrub-ratios");
    if (!fig) return;
    var R = data.ratios, k = lastAtOrBefore(R.steps, step), svg = fig.querySelector("svg");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var H = 22 * R.names.length + 30, L = 70, W = 370, lo = -6, hi = 0;
    svg.setAttribute("viewBox", "0 0 380 " + H);
    function px(v) { return L + (Math.log10(v) - lo) / (hi - lo) * (W - L); }
    [-6, -5, -4, -3, -2, -1, 0].forEach(function (e) {
      el("line", {x1: px(Math.pow(10, e)), x2: px(Math.pow(10, e)), y1: 4, y2: H - 18, stroke: e === -3 ? "#d55e00" : "#e6e6e6",
                  "stroke-dasharray": e === -3 ? "4 3" : ""}, svg);
      el("text", {x: px(Math.pow(10, e)), y: H - 4, "text-anchor": "middle", "font-size": 10}, svg).textContent = "1e" + e;
    });
    R.names.forEach(function (name, i) {
      var y = 6 + 22 * i, v = k < 0 ? null : R.values[k][i];
      el("text", {x: L - 6, y: y + 12, "text-anchor": "end", "font-size": 11}, svg).textContent = name;
      if (v !== null && v > 0) {
        el("rect", {x: L, y: y, height: 15, width: Math.max(1, Math.min(W, px(v)) - L), fill: data.colors[i % 10],
                    "class": "ratio-bar"}, svg);
      }
    });
    fig.querySelector("figcaption").textContent = k < 0 ? "update/weight ratios: not recorded yet"
      : "update/weight ratio of each weight matrix at step " + R.steps[k] + " (dashed: CS231n's 1e-3)";
  }
  function activations(step) {
    var fig = box.querySelector(".scrub-acts");
    if (!fig) return;
    var A = data.activations, k = lastAtOrBefore(A.map(function (r) { return r.step; }), step);
    var hists = fig.querySelector(".scrub-hists");
    hists.textContent = "";
    if (k < 0) { fig.querySelector("figcaption").textContent = "activation histograms: not recorded yet"; return; }
    Object.keys(A[k].layers).forEach(function (name, i) {
      var h = A[k].layers[name], top = Math.max.apply(null, h.counts.concat([1]));
      var svg = el("svg", {viewBox: "0 0 200 110", role: "img", "aria-label": name + " activations"}, hists);
      var bw = 190 / h.counts.length;
      h.counts.forEach(function (c, j) {
        el("rect", {x: 5 + j * bw, y: 92 - 80 * c / top, width: Math.max(1, bw - 1), height: 80 * c / top,
                    fill: data.colors[i % 10]}, svg);
      });
      var zeros = h.zero_fraction ? ", " + Math.round(100 * h.zero_fraction) + " % zeros" : "";
      el("text", {x: 100, y: 106, "text-anchor": "middle", "font-size": 10}, svg).textContent =
        name + " (" + h.kind + ")" + zeros;
    });
    fig.querySelector("figcaption").textContent = "hidden activations at step " + A[k].step +
      " (histograms are recorded at diagnostics.histograms)";
  }
  function landscape(step) {   // the PCA path (optlab landscape) up to the step, the loss on its plane shaded
    var fig = box.querySelector(".scrub-landscape");
    if (!fig) return;
    var P = data.landscape, svg = fig.querySelector("svg"), w = P.window, S = 320;
    var k = lastAtOrBefore(P.steps, step);
    function px(a) { return (a - w[0]) / (w[1] - w[0]) * S; }
    function py(b) { return (1 - (b - w[2]) / (w[3] - w[2])) * S; }
    if (!svg.firstChild) {
      var flat = [].concat.apply([], P.loss).filter(function (v) { return v !== null && v > 0; });
      var lo = Math.log(Math.min.apply(null, flat)), hi = Math.log(Math.max.apply(null, flat));
      var rows = P.loss.length, cols = P.loss[0].length, cw = S / cols, ch = S / rows;
      P.loss.forEach(function (row, r) {
        row.forEach(function (v, c) {
          var u = v === null || v <= 0 ? 1 : Math.floor((Math.log(v) - lo) / ((hi - lo) || 1) * 12) / 12;
          el("rect", {x: c * cw, y: S - (r + 1) * ch, width: cw + 0.5, height: ch + 0.5,
                      fill: "rgb(" + Math.round(247 - 150 * u) + "," + Math.round(251 - 110 * u) + "," + Math.round(255 - 60 * u) + ")"}, svg);
        });
      });
      el("polyline", {points: P.path.map(function (p) { return px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1); }).join(" "),
                      fill: "none", stroke: "#777", "stroke-width": 1, "stroke-dasharray": "3 3"}, svg);
      el("polyline", {"class": "walked", fill: "none", stroke: "#d55e00", "stroke-width": 2}, svg);
      el("circle", {"class": "here", r: 5, fill: "#d55e00", stroke: "#fff"}, svg);
    }
    var walked = P.path.slice(0, k + 1);
    svg.querySelector(".walked").setAttribute("points",
      walked.map(function (p) { return px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1); }).join(" "));
    var here = svg.querySelector(".here"), at = walked[walked.length - 1] || P.path[0];
    here.setAttribute("cx", px(at[0])); here.setAttribute("cy", py(at[1]));
    here.setAttribute("visibility", k < 0 ? "hidden" : "visible");
    svg.setAttribute("data-step", k < 0 ? "" : P.steps[k]);
    fig.querySelector("figcaption").textContent = k < 0 ? "PCA path: no snapshot yet"
      : "the weights' path on the plane of its top two PCA directions (optlab landscape), up to step " + P.steps[k];
  }
  function show(i) {
    var step = data.steps[i], x = data.x[i];
    var parts = ["step " + step];
    if (data.xlabel !== "step" && x !== null) parts.push(data.xlabel + " " + fmt(x));
    if (data.loss[i] !== null) parts.push("mini-batch loss " + fmt(data.loss[i]));
    if (data.train_acc[i] !== null) parts.push("training accuracy " + fmt(100 * data.train_acc[i]) + " %");
    if (data.val_acc[i] !== null) parts.push("validation accuracy " + fmt(100 * data.val_acc[i]) + " %");
    readout.textContent = parts.join(" \u00b7 ");
    (window.optlabCharts || []).forEach(function (c) { c.setTime(x); });
    boundary(step); ratios(step); activations(step); landscape(step);
    box.setAttribute("data-step", step);
  }
  slider.addEventListener("input", function () { show(+slider.value); });
  show(+slider.value);
  window.optlabScrubber = {show: show, steps: data.steps};
})();
"""
