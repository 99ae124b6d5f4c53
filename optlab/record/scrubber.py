"""The time slider of a run's report.html: one slider over the run's recorded steps.

Moving it puts a cursor at that step on every interactive curve (optlab.record.html_chart), says
the step's numbers (loss, accuracies), and shows what was recorded at or before it: each weight
matrix's update/weight ratio (diagnostics.csv, CS231n's 1e-3 marked), each hidden layer's
activation histogram (activations.json) and, for 2-D data, the decision boundary with the training
points (boundary.json, optlab.training.boundary). All from the run directory's files; the page
holds what they hold (thinned to :data:`MAX_STEPS` slider positions), so it stays small.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from optlab.record.html_page import esc, json_script, section
from optlab.record.rundir import read_metrics
from optlab.record.style import color

MAX_STEPS = 400


def _num(v) -> float | None:
    v = float(v)
    return float(f"{v:.4g}") if math.isfinite(v) else None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def scrub_data(path: Path, m: dict[str, np.ndarray], x: np.ndarray, xlabel: str) -> dict | None:
    """The slider's data for a data run (``m`` its metrics, ``x`` their x in the charts' unit), or
    None when it recorded nothing but its first step."""
    steps = m["step"].astype(int)
    evals = {int(s) for s, a, b in zip(steps, m.get("val_acc", steps * np.nan), m.get("train_acc", steps * np.nan))
             if np.isfinite(a) or np.isfinite(b)}
    ratios = None
    if (path / "diagnostics.csv").is_file():
        d = read_metrics(path / "diagnostics.csv")
        names = [k for k in d if k != "step"]
        if names and len(d["step"]):
            ratios = {"names": names, "steps": [int(s) for s in d["step"]],
                      "values": [[_num(d[n][i]) for n in names] for i in range(len(d["step"]))]}
    acts = (_read(path / "activations.json") or {}).get("records") or []
    for r in acts:
        for layer in r["layers"].values():
            layer["edges"] = [_num(e) for e in layer["edges"]]
            layer["zero_fraction"] = _num(layer.get("zero_fraction", math.nan))
            layer.pop("mean", None), layer.pop("std", None)
    boundary = _read(path / "boundary.json")
    marks = evals | ({s for s in ratios["steps"]} if ratios else set()) | {r["step"] for r in acts}
    marks |= {r["step"] for r in boundary["records"]} if boundary else set()
    marks = sorted(s for s in marks if s <= (steps.max() if len(steps) else 0))
    if len(marks) < 2:
        return None
    if len(marks) > MAX_STEPS:   # evenly thinned; the first and the last kept
        marks = sorted({marks[i] for i in np.linspace(0, len(marks) - 1, MAX_STEPS).round().astype(int)})
    at = {int(s): i for i, s in enumerate(steps)}
    rows = [at.get(s) for s in marks]

    def column(key: str) -> list:
        values = m.get(key)
        return [None if values is None or i is None else _num(values[i]) for i in rows]

    return {"steps": marks, "x": [_num(np.interp(s, steps, x)) for s in marks], "xlabel": xlabel,
            "loss": column("loss"), "val_acc": column("val_acc"), "train_acc": column("train_acc"),
            "ratios": ratios, "activations": acts, "boundary": boundary,
            "colors": [color(k) for k in range(max(10, (boundary or {}).get("classes", 0)))]}


def scrubber_html(data: dict) -> str:
    """The slider (a labelled range input: arrow keys, Home and End move it) and its panels."""
    n = len(data["steps"])
    parts = ["<p class=\"muted\">Move the slider (or focus it and use the arrow keys, Home, End): the curves get a "
             "cursor at that step, and the panels show what the run recorded at or before it.</p>",
             json_script(data, "scrub-data"), '<div class="scrubber" id="scrubber">',
             '<label for="scrub-step">step</label> '
             f'<input type="range" id="scrub-step" min="0" max="{n - 1}" step="1" value="{n - 1}">'
             ' <output for="scrub-step" class="scrub-readout" aria-live="polite"></output>',
             '<div class="scrub-panels">']
    if data["boundary"]:
        parts.append('<figure class="scrub-boundary"><canvas width="320" height="320" '
                     'aria-label="decision boundary at the chosen step"></canvas><figcaption></figcaption></figure>')
    if data["ratios"]:
        parts.append('<figure class="scrub-ratios"><svg viewBox="0 0 380 40" role="img" '
                     'aria-label="update/weight ratios at the chosen step"></svg><figcaption></figcaption></figure>')
    if data["activations"]:
        parts.append('<figure class="scrub-acts"><div class="scrub-hists"></div><figcaption></figcaption></figure>')
    parts.append("</div></div>")
    return section("Time", "".join(parts), "time")


SCRUBBER_CSS = """
.scrubber input[type=range] { width: min(100%, 640px); vertical-align: middle; }
.scrub-readout { display: block; font-variant-numeric: tabular-nums; margin: .3rem 0; }
.scrub-panels { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.scrub-panels figure { margin: .5rem 0; }
.scrub-boundary canvas { width: 320px; height: 320px; border: 1px solid var(--line); }
.scrub-ratios svg { width: 380px; }
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
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "\u2014";
    var a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(2) : String(+v.toPrecision(4));
  }
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
  function show(i) {
    var step = data.steps[i], x = data.x[i];
    var parts = ["step " + step];
    if (data.xlabel !== "step" && x !== null) parts.push(data.xlabel + " " + fmt(x));
    if (data.loss[i] !== null) parts.push("mini-batch loss " + fmt(data.loss[i]));
    if (data.train_acc[i] !== null) parts.push("training accuracy " + fmt(100 * data.train_acc[i]) + " %");
    if (data.val_acc[i] !== null) parts.push("validation accuracy " + fmt(100 * data.val_acc[i]) + " %");
    readout.textContent = parts.join(" \u00b7 ");
    (window.optlabCharts || []).forEach(function (c) { c.setTime(x); });
    boundary(step); ratios(step); activations(step);
    box.setAttribute("data-step", step);
  }
  slider.addEventListener("input", function () { show(+slider.value); });
  show(+slider.value);
  window.optlabScrubber = {show: show, steps: data.steps};
})();
"""
