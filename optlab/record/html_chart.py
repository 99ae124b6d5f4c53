"""Interactive curves for report.html: a small vanilla-JavaScript renderer (no library, nothing
fetched) that draws each chart as inline SVG from data embedded in the page.

Hover shows the values of every visible series at the nearest x; clicking a legend entry hides or
shows its series; dragging across the plot zooms to that x-range (the y-range follows the
visible data); a double click zooms back out. The page stays readable without JavaScript: the
static SVG figures are drawn by matplotlib beside these.

Data size is bounded on the Python side (:func:`thin`: at most ``MAX_POINTS`` points a series,
4 significant digits), which keeps a 20-trial comparison's page far below 1 MB.
"""

from __future__ import annotations

import math

import numpy as np

MAX_POINTS = 400


def _round(v: float) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.4g}")


def thin(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS) -> tuple[list, list]:
    """At most ``n`` evenly spaced points (the last kept), NaN as null, values to 4 digits."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    if m > n:
        pick = np.unique(np.r_[np.linspace(0, m - 1, n).round().astype(int), m - 1])
        x, y = x[pick], y[pick]
    return [_round(v) for v in x], [_round(v) for v in y]


def series(name: str, x, y, color: str, dash: str = "", std=None) -> dict:
    """One curve; ``std``: a ± band around it (the sample std over seeds at each point)."""
    xs, ys = thin(x, y)
    out = {"name": name, "x": xs, "y": ys, "color": color, "dash": dash}
    if std is not None and np.nan_to_num(np.asarray(std, dtype=float)).max(initial=0.0) > 0:   # one seed: no band
        y, std = np.asarray(y, dtype=float), np.asarray(std, dtype=float)
        out["lo"] = thin(x, y - std)[1]
        out["hi"] = thin(x, y + std)[1]
    return out


DASHES = ["", "6 3", "8 3 2 3", "2 3"]   # the SVG spellings of optlab.record.style.LINESTYLES

# The page scripts' shared helpers (charts, time slider, explorer), spliced into each one's own
# function scope, where ``NS`` is the SVG namespace: an SVG element with attributes, and a number
# in four significant digits (an em dash for a missing value).
SVG_HELPERS_JS = r"""
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
"""

CHART_JS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
""" + SVG_HELPERS_JS + r"""
  function ticks(lo, hi, log) {
    var out = [], i;
    if (log) {
      for (i = Math.floor(Math.log10(lo)); i <= Math.ceil(Math.log10(hi)); i++) {
        var t = Math.pow(10, i); if (t >= lo * 0.999 && t <= hi * 1.001) out.push(t);
      }
      if (out.length >= 2) return out;
      log = false;
    }
    var span = hi - lo || 1, step = Math.pow(10, Math.floor(Math.log10(span / 5)));
    if (span / step > 10) step *= 2; if (span / step > 10) step *= 2.5;
    for (i = Math.ceil(lo / step) * step; i <= hi + step * 1e-9; i += step) out.push(+i.toPrecision(12));
    return out;
  }
  // Linked views: every chart of the page shares which series are hidden and which one is in focus
  // (a legend entry hovered or focused), by series name: a comparison's variant acts on every chart.
  var hidden = {}, focus = {name: null}, charts = [];
  function renderAll() { charts.forEach(function (c) { c.render(); }); }
  function draw(box, spec) {
    var W = 760, H = 380, L = 70, R = 16, T = 34, B = 48;
    var zoom = null, timeX = null;
    box.innerHTML = "";
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, "class": "chart-svg", role: "img",
                         "aria-label": spec.title}, box);
    var legend = document.createElement("div"); legend.className = "chart-legend"; box.appendChild(legend);
    var tip = document.createElement("div"); tip.className = "chart-tip"; box.appendChild(tip);
    function visible() { return spec.series.filter(function (s) { return !hidden[s.name]; }); }
    function ranges() {
      var xs = [], ys = [];
      spec.series.forEach(function (s) { s.x.forEach(function (v) { if (v !== null) xs.push(v); }); });
      var x0 = zoom ? zoom[0] : Math.min.apply(null, xs), x1 = zoom ? zoom[1] : Math.max.apply(null, xs);
      visible().forEach(function (s) {
        s.y.forEach(function (v, i) {
          if (v !== null && s.x[i] !== null && s.x[i] >= x0 && s.x[i] <= x1 && (!spec.ylog || v > 0)) ys.push(v);
        });
      });
      var y0 = ys.length ? Math.min.apply(null, ys) : 0, y1 = ys.length ? Math.max.apply(null, ys) : 1;
      if (spec.ylim) { y0 = spec.ylim[0]; y1 = spec.ylim[1]; }
      else if (!spec.ylog) { var pad = (y1 - y0) * 0.05 || 1; y0 -= pad; y1 += pad; }
      if (x1 === x0) x1 = x0 + 1;
      return [x0, x1, y0, y1];
    }
    function render() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var r = ranges(), x0 = r[0], x1 = r[1], y0 = r[2], y1 = r[3], log = spec.ylog && y0 > 0;
      var ly0 = log ? Math.log10(y0) : y0, ly1 = log ? Math.log10(y1) : y1;
      if (ly1 === ly0) ly1 = ly0 + 1;
      function px(x) { return L + (x - x0) / (x1 - x0) * (W - L - R); }
      function py(y) { var v = log ? Math.log10(y) : y; return T + (1 - (v - ly0) / (ly1 - ly0)) * (H - T - B); }
      el("text", {x: W / 2, y: 20, "text-anchor": "middle", "class": "chart-title"}, svg).textContent = spec.title;
      ticks(x0, x1, false).forEach(function (t) {
        el("line", {x1: px(t), x2: px(t), y1: T, y2: H - B, "class": "grid"}, svg);
        el("text", {x: px(t), y: H - B + 18, "text-anchor": "middle"}, svg).textContent = fmt(t);
      });
      ticks(y0, y1, log).forEach(function (t) {
        el("line", {x1: L, x2: W - R, y1: py(t), y2: py(t), "class": "grid"}, svg);
        el("text", {x: L - 6, y: py(t) + 4, "text-anchor": "end"}, svg).textContent = fmt(t);
      });
      el("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle"}, svg).textContent = spec.xlabel;
      el("text", {x: 14, y: (T + H - B) / 2, "text-anchor": "middle",
                  transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"}, svg).textContent = spec.ylabel;
      var clip = "clip" + Math.random().toString(36).slice(2);
      el("rect", {x: L, y: T, width: W - L - R, height: H - T - B}, el("clipPath", {id: clip}, svg));
      var plot = el("g", {"clip-path": "url(#" + clip + ")"}, svg);
      visible().forEach(function (s) {   // the ± std band first, under the curves
        if (!s.lo) return;
        var up = [], down = [];
        s.x.forEach(function (x, i) {
          if (x === null || s.lo[i] === null || s.hi[i] === null || (log && s.lo[i] <= 0)) return;
          up.push(px(x).toFixed(1) + "," + py(s.hi[i]).toFixed(1));
          down.unshift(px(x).toFixed(1) + "," + py(s.lo[i]).toFixed(1));
        });
        if (up.length > 1) el("polygon", {points: up.concat(down).join(" "), fill: s.color, "fill-opacity": 0.15,
                                          stroke: "none", "class": "band", "data-series": s.name}, plot);
      });
      visible().forEach(function (s) {
        var d = "", pen = false;
        s.x.forEach(function (x, i) {
          var y = s.y[i];
          if (x === null || y === null || (log && y <= 0)) { pen = false; return; }
          d += (pen ? "L" : "M") + px(x).toFixed(1) + " " + py(y).toFixed(1); pen = true;
        });
        var dim = focus.name !== null && focus.name !== s.name;
        el("path", {d: d, fill: "none", stroke: s.color, "stroke-width": focus.name === s.name ? 3.5 : 2,
                    "stroke-opacity": dim ? 0.25 : 1, "stroke-dasharray": s.dash || "",
                    "class": "series", "data-series": s.name}, plot);
      });
      el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, "class": "frame"}, svg);
      if (timeX !== null && timeX >= x0 && timeX <= x1) {   // the time slider's step (optlab.record.scrubber)
        el("line", {x1: px(timeX), x2: px(timeX), y1: T, y2: H - B, "class": "timecursor"}, svg);
      }
      var cursor = el("line", {y1: T, y2: H - B, "class": "cursor", visibility: "hidden"}, svg);
      var band = el("rect", {y: T, height: H - T - B, "class": "zoomband", visibility: "hidden"}, svg);
      var overlay = el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent"}, svg);
      function xOf(ev) {
        var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
        var q = p.matrixTransform(svg.getScreenCTM().inverse());
        return [q.x, x0 + (q.x - L) / (W - L - R) * (x1 - x0)];
      }
      var dragFrom = null;
      overlay.addEventListener("mousemove", function (ev) {
        var at = xOf(ev), rows = [];
        cursor.setAttribute("x1", at[0]); cursor.setAttribute("x2", at[0]); cursor.setAttribute("visibility", "visible");
        visible().forEach(function (s) {
          var best = -1, gap = Infinity;
          s.x.forEach(function (x, i) { if (x !== null && Math.abs(x - at[1]) < gap) { gap = Math.abs(x - at[1]); best = i; } });
          if (best >= 0) rows.push([s, s.x[best], s.y[best]]);
        });
        tip.textContent = "";
        rows.forEach(function (r) {
          var line = document.createElement("div");
          var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = r[0].color;
          line.appendChild(sw);
          line.appendChild(document.createTextNode(r[0].name + ": " + fmt(r[2]) + " at " + fmt(r[1])));
          tip.appendChild(line);
        });
        tip.style.display = rows.length ? "block" : "none";
        if (dragFrom !== null) {
          band.setAttribute("x", Math.min(dragFrom[0], at[0])); band.setAttribute("width", Math.abs(at[0] - dragFrom[0]));
          band.setAttribute("visibility", "visible");
        }
      });
      overlay.addEventListener("mouseleave", function () {
        cursor.setAttribute("visibility", "hidden"); tip.style.display = "none";
      });
      overlay.addEventListener("mousedown", function (ev) { dragFrom = xOf(ev); ev.preventDefault(); });
      overlay.addEventListener("mouseup", function (ev) {
        var at = xOf(ev), from = dragFrom; dragFrom = null; band.setAttribute("visibility", "hidden");
        if (from && Math.abs(at[0] - from[0]) > 5) { zoom = [Math.min(from[1], at[1]), Math.max(from[1], at[1])]; render(); }
      });
      overlay.addEventListener("dblclick", function () { zoom = null; render(); });
    }
    spec.series.forEach(function (s) {
      var item = document.createElement("button"); item.type = "button"; item.className = "chart-key";
      var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = s.color;
      item.appendChild(sw); item.appendChild(document.createTextNode(s.name));
      item.setAttribute("data-series", s.name);
      item.addEventListener("click", function () {
        hidden[s.name] = !hidden[s.name];
        document.querySelectorAll(".chart-key").forEach(function (k) {
          if (k.getAttribute("data-series") === s.name) k.classList.toggle("off", !!hidden[s.name]);
        });
        renderAll();
      });
      function focusOn(name) { if (focus.name !== name) { focus.name = name; renderAll(); } }
      item.addEventListener("mouseenter", function () { focusOn(s.name); });
      item.addEventListener("focus", function () { focusOn(s.name); });
      item.addEventListener("mouseleave", function () { focusOn(null); });
      item.addEventListener("blur", function () { focusOn(null); });
      legend.appendChild(item);
    });
    charts.push({render: render, setTime: function (x) { timeX = x; render(); }, spec: spec});
    render();
  }
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    draw(box, data[+box.getAttribute("data-chart")]);
  });
  window.optlabCharts = charts;
  document.body.setAttribute("data-charts", "drawn");
})();
"""
