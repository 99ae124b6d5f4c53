"""The surface explorer's script and style (optlab.record.explorer builds its data and markup).

Vanilla JavaScript, inline in the page, no library, no ``eval``: it reads the explorer's JSON,
shades the surface's contours on a canvas, runs every path with the optimizers' rules (``RULES``,
translated from the engine by optlab.record.rules_js and prepended to this script) and the
surface's gradient (``SURFACES`` below: the engine's formulas of optlab.engine.surfaces, written in
the same order of operations), and redraws on every slider move. The start point is dragged on
the plot (or typed); a diverging path stops where the engine's run would stop (f or the point
not finite) and says so.

``window.optlabExplorer.state()`` returns the settings and every path at full precision: the
browser test compares them with the engine's runs of the same settings.
"""

from optlab.record.html_chart import SVG_HELPERS_JS


EXPLORER_CSS = """
.explorer { display: grid; grid-template-columns: minmax(0, 640px) minmax(16rem, 1fr); gap: 1rem; align-items: start; }
.explorer-plot { position: sticky; top: .5rem; width: 100%; max-width: 640px; aspect-ratio: 640 / 400; touch-action: none; }
.explorer-plot canvas, .explorer-plot svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.explorer-plot svg { cursor: crosshair; }
.explorer-plot .start { fill: #fff; stroke: #000; stroke-width: 2; cursor: grab; }
.explorer fieldset { border: 1px solid var(--line); border-radius: 4px; margin: 0 0 .6rem; padding: .3rem .6rem .5rem; }
.explorer legend { font-weight: 600; }
.explorer label { display: block; font-size: .9rem; }
.explorer .ctl { display: grid; grid-template-columns: 5.5rem 1fr 6.5rem; gap: .4rem; align-items: center; }
.explorer input[type=range] { width: 100%; margin: 0; }
.explorer input[type=number] { width: 6.5rem; }
.explorer input:invalid { outline: 2px solid #d55e00; }
.explorer .marks { position: relative; height: 0; margin: 0 0 .2rem 5.9rem; width: calc(100% - 12.8rem); font-size: .75rem; }
.explorer .mark { position: absolute; transform: translateX(-50%); white-space: nowrap; color: #b35900; }
.explorer .pathstatus { font-size: .85rem; color: var(--muted); }
.explorer .pathstatus.diverged { color: #d55e00; font-weight: 600; }
@media (max-width: 800px) { .explorer { grid-template-columns: 1fr; } }
"""

EXPLORER_JS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", PW = 640, PH = 400;
  // The engine's surfaces (optlab.engine.surfaces), operator for operator.
  var BEALE_C = [1.5, 2.25, 2.625];
  var SURFACES = {
    bowl: {value: function (x, y) { return x * x / 20.0 + y * y; },
           grad: function (x, y) { return [x / 10.0, 2.0 * y]; }},
    rosenbrock: {value: function (x, y) { return Math.pow(1 - x, 2) + 100.0 * Math.pow(y - x * x, 2); },
                 grad: function (x, y) { var r = y - x * x; return [-2.0 * (1 - x) - 400.0 * x * r, 200.0 * r]; }},
    beale: {value: function (x, y) {
              var f = 0;
              for (var k = 1; k <= 3; k++) f = f + Math.pow(BEALE_C[k - 1] - x + x * Math.pow(y, k), 2);
              return f;
            },
            grad: function (x, y) {
              var gx = 0.0, gy = 0.0;
              for (var k = 1; k <= 3; k++) {
                var t = BEALE_C[k - 1] - x + x * Math.pow(y, k);
                gx = gx + 2.0 * t * (Math.pow(y, k) - 1);
                gy = gy + 2.0 * t * k * x * Math.pow(y, k - 1);
              }
              return [gx, gy];
            }},
    saddle: {value: function (x, y) { return x * x - y * y; },
             grad: function (x, y) { return [2.0 * x, -2.0 * y]; }}
  };
""" + SVG_HELPERS_JS + r"""
  function html(tag, props, parent) {
    var e = document.createElement(tag);
    for (var k in props) { if (k === "text") e.textContent = props[k]; else e.setAttribute(k, props[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }

  // One path: the engine's loop of optlab.training.descend (gradient at the point, update, stop
  // when f or the point is no longer finite), one coordinate at a time (every rule is elementwise).
  function trajectory(surface, optimizer, hyper, start, steps) {
    var rule = RULES[optimizer], cs = [{W: start[0], g: 0}, {W: start[1], g: 0}];
    rule.slots.forEach(function (slot) { cs[0][slot] = 0; cs[1][slot] = 0; });
    var xs = [start[0]], ys = [start[1]], fs = [surface.value(start[0], start[1])], diverged = null;
    for (var t = 1; t <= steps; t++) {
      var g = surface.grad(cs[0].W, cs[1].W);
      cs[0].g = g[0]; cs[1].g = g[1];
      rule.step(cs[0], hyper, t); rule.step(cs[1], hyper, t);
      var x = cs[0].W, y = cs[1].W, f = surface.value(x, y);
      xs.push(x); ys.push(y); fs.push(f);
      if (!(isFinite(f) && isFinite(x) && isFinite(y))) { diverged = t; break; }
    }
    return {x: xs, y: ys, f: fs, diverged: diverged};
  }

  function Explorer(box, data) {
    var surface = SURFACES[data.surface], win = data.window;
    var state = {start: data.start.slice(), steps: data.steps};
    var paths = data.paths.map(function (p) {
      return {label: p.label, optimizer: p.optimizer, hyper: Object.assign({}, p.hyper), color: p.color, on: p.on};
    });
    var plot = html("div", {"class": "explorer-plot"}, box);
    var canvas = html("canvas", {width: PW, height: PH, "aria-hidden": "true"}, plot);
    var svg = el("svg", {viewBox: "0 0 " + PW + " " + PH, role: "img",
                         "aria-label": "paths on the contours of f = " + data.formula}, plot);
    var panel = html("div", {"class": "explorer-controls"}, box);
    function px(x) { return (x - win[0]) / (win[1] - win[0]) * PW; }
    function py(y) { return (1 - (y - win[2]) / (win[3] - win[2])) * PH; }
    function clampPx(v) { return Math.max(-1e5, Math.min(1e5, v)); }

    (function shade() {   // contour bands of f on the canvas, band edges darker (log levels where f spans decades)
      var ctx = canvas.getContext("2d"), img = ctx.createImageData(PW, PH), v = new Float64Array(PW * PH);
      var lo = Infinity, hi = -Infinity, i, j;
      for (j = 0; j < PH; j++) for (i = 0; i < PW; i++) {
        var x = win[0] + (i + 0.5) / PW * (win[1] - win[0]), y = win[3] - (j + 0.5) / PH * (win[3] - win[2]);
        var f = surface.value(x, y); v[j * PW + i] = f; if (f < lo) lo = f; if (f > hi) hi = f;
      }
      var n = 16, band = new Int32Array(PW * PH);
      for (i = 0; i < v.length; i++) {
        var u = data.log_levels ? Math.log(v[i] - lo + 1e-3) - Math.log(1e-3) : v[i] - lo;
        var top = data.log_levels ? Math.log(hi - lo + 1e-3) - Math.log(1e-3) : hi - lo;
        band[i] = Math.min(n - 1, Math.floor(u / (top || 1) * n));
      }
      for (i = 0; i < v.length; i++) {
        var b = band[i] / (n - 1), edge = (i % PW && band[i - 1] !== band[i]) || (i >= PW && band[i - PW] !== band[i]);
        var r = 247 - 150 * b, gr = 251 - 110 * b, bl = 255 - 60 * b, k = edge ? 0.8 : 1;
        img.data[4 * i] = r * k; img.data[4 * i + 1] = gr * k; img.data[4 * i + 2] = bl * k; img.data[4 * i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    })();
    if (data.minimum) {
      el("text", {x: px(data.minimum[0]), y: py(data.minimum[1]) + 5, "text-anchor": "middle", "font-size": 16,
                  "class": "minimum"}, svg).textContent = "\u00d7";
    }
    var lines = paths.map(function (p) {
      return el("polyline", {fill: "none", stroke: p.color, "stroke-width": 2, "class": "path",
                             "data-label": p.label}, svg);
    });
    var handle = el("circle", {r: 7, "class": "start"}, svg);
    var title = el("title", {}, handle); title.textContent = "start: drag me";

    // Controls: the start point, the number of steps, and per path its hyper-parameters.
    var uid = (box.id || "explorer") + "-";
    function number(label, value, attrs, parent) {
      var wrap = html("label", {}, parent);
      wrap.appendChild(document.createTextNode(label + " "));
      var input = html("input", Object.assign({type: "number", step: "any", value: value}, attrs), wrap);
      return input;
    }
    var common = html("fieldset", {}, panel); html("legend", {text: "start and steps"}, common);
    var sx = number("start x", state.start[0], {"data-control": "start-x"}, common);
    var sy = number("start y", state.start[1], {"data-control": "start-y"}, common);
    var stepsRow = html("div", {"class": "ctl"}, common);
    html("label", {"for": uid + "steps", text: "steps"}, stepsRow);
    var stepsRange = html("input", {type: "range", id: uid + "steps", min: 1, max: data.max_steps, step: 1,
                                    value: state.steps, "data-control": "steps"}, stepsRow);
    var stepsNum = html("input", {type: "number", min: 1, max: data.max_steps, step: 1, value: state.steps,
                                  "aria-label": "steps (number)"}, stepsRow);
    function setSteps(v) {
      v = Math.round(+v);
      if (!(v >= 1 && v <= data.max_steps)) return;
      state.steps = v; stepsRange.value = v; stepsNum.value = v; update();
    }
    stepsRange.addEventListener("input", function () { setSteps(stepsRange.value); });
    stepsNum.addEventListener("change", function () { setSteps(stepsNum.value); });
    function setStart(x, y) {
      state.start = [x, y]; sx.value = +x.toPrecision(6); sy.value = +y.toPrecision(6); update();
    }
    [sx, sy].forEach(function (input) {
      input.addEventListener("change", function () {
        var x = +sx.value, y = +sy.value;
        if (isFinite(x) && isFinite(y) && sx.value !== "" && sy.value !== "") setStart(x, y);
      });
    });

    var POS = 1000;   // slider positions; log-scale sliders map them to 10^(lo + pos/POS (hi - lo))
    function toValue(spec, pos) {
      var u = pos / POS;
      var v = spec.log ? Math.pow(10, Math.log10(spec.min) + u * (Math.log10(spec.max) - Math.log10(spec.min)))
                       : spec.min + u * (spec.max - spec.min);
      return +v.toPrecision(4);
    }
    function toPos(spec, v) {
      var u = spec.log ? (Math.log10(v) - Math.log10(spec.min)) / (Math.log10(spec.max) - Math.log10(spec.min))
                       : (v - spec.min) / (spec.max - spec.min);
      return Math.max(0, Math.min(POS, Math.round(u * POS)));
    }
    function allowed(spec, v) {
      return isFinite(v) && (spec.low_open ? v > spec.low : v >= spec.low) && (spec.high_open ? v < spec.high : v <= spec.high);
    }
    var statuses = [], markers = [];
    paths.forEach(function (p, k) {
      var fs = html("fieldset", {"data-path": k}, panel);
      var lg = html("legend", {}, fs);
      var show = html("input", {type: "checkbox", id: uid + "on" + k}, lg);
      show.checked = p.on;
      var lab = html("label", {"for": uid + "on" + k, style: "display:inline"}, lg);
      var sw = html("span", {"class": "swatch"}, lab); sw.style.background = p.color;
      lab.appendChild(document.createTextNode(p.label));
      show.addEventListener("change", function () { p.on = show.checked; update(); });
      Object.keys(p.hyper).forEach(function (name) {
        var spec = data.sliders[name];
        if (!spec) return;
        var row = html("div", {"class": "ctl"}, fs), id = uid + k + "-" + name;
        html("label", {"for": id, text: name}, row);
        var range = html("input", {type: "range", id: id, min: 0, max: POS, step: 1, value: toPos(spec, p.hyper[name]),
                                   "data-control": k + ":" + name}, row);
        var num = html("input", {type: "number", step: "any", value: p.hyper[name],
                                 "aria-label": p.label + " " + name + " (number)"}, row);
        var marks = html("div", {"class": "marks", "aria-live": "polite"}, fs);
        markers.push({path: k, name: name, box: marks, spec: spec});
        range.addEventListener("input", function () {
          p.hyper[name] = toValue(spec, +range.value); num.value = p.hyper[name]; num.setCustomValidity(""); update();
        });
        num.addEventListener("change", function () {
          var v = +num.value;
          if (num.value === "" || !allowed(spec, v)) { num.setCustomValidity(spec.describe); num.reportValidity(); return; }
          num.setCustomValidity(""); p.hyper[name] = v; range.value = toPos(spec, v); update();
        });
      });
      statuses.push(html("div", {"class": "pathstatus", "aria-live": "polite"}, fs));
    });

    // Goh (2017): on a quadratic with Hessian eigenvalues lmin..lmax, gradient descent is stable for
    // lr < 2/lmax, heavy-ball momentum for lr < 2(1 + mu)/lmax, Nesterov for lr < 2(1 + mu)/((1 + 2mu) lmax);
    // momentum is critically damped along eigenvalue l at mu = (1 - sqrt(lr l))^2.
    function marksOf(p, name) {
      var q = data.quadratic, h = p.hyper, out = [];
      if (!q) return out;
      if (name === "lr" && p.optimizer === "sgd") out.push(["lr < 2/\u03bbmax = " + fmt(2 / q.lmax), 2 / q.lmax]);
      if (name === "lr" && p.optimizer === "momentum") {
        out.push(["stable: lr < 2(1+\u03bc)/\u03bbmax = " + fmt(2 * (1 + h.momentum) / q.lmax), 2 * (1 + h.momentum) / q.lmax]);
      }
      if (name === "lr" && p.optimizer === "nesterov") {
        var lim = 2 * (1 + h.momentum) / ((1 + 2 * h.momentum) * q.lmax);
        out.push(["stable: lr < " + fmt(lim), lim]);
      }
      if (name === "momentum" && p.optimizer === "momentum") {
        [["\u03bbmin", q.lmin], ["\u03bbmax", q.lmax]].forEach(function (l) {
          if (h.lr * l[1] < 1) {
            var c = Math.pow(1 - Math.sqrt(h.lr * l[1]), 2);
            out.push(["critical \u03bc (" + l[0] + ") = " + fmt(c), c]);
          }
        });
      }
      return out;
    }
    function updateMarks() {
      markers.forEach(function (m) {
        m.box.textContent = "";
        marksOf(paths[m.path], m.name).forEach(function (mk, i) {
          var pos = toPos(m.spec, mk[1]) / POS * 100;
          var span = html("span", {"class": "mark", "data-mark": m.name, "data-value": mk[1],
                                   title: mk[0], text: "\u25b2 " + mk[0]}, m.box);
          span.style.left = pos + "%"; span.style.top = (i * 1.1) + "rem";
          m.box.style.height = (1.1 * (i + 1)) + "rem";
        });
      });
    }

    var computed = [];
    function update() {
      var t0 = performance.now();
      computed = paths.map(function (p) { return trajectory(surface, p.optimizer, p.hyper, state.start, state.steps); });
      computed.forEach(function (c, k) {
        var pts = [];
        for (var i = 0; i < c.x.length; i++) {
          if (!(isFinite(c.x[i]) && isFinite(c.y[i]))) break;
          pts.push(clampPx(px(c.x[i])).toFixed(1) + "," + clampPx(py(c.y[i])).toFixed(1));
        }
        lines[k].setAttribute("points", pts.join(" "));
        lines[k].setAttribute("visibility", paths[k].on ? "visible" : "hidden");
        var last = c.x.length - 1, st = statuses[k];
        st.classList.toggle("diverged", c.diverged !== null);
        st.textContent = c.diverged !== null
          ? "diverged at step " + c.diverged + " (f or the point is no longer finite)"
          : "after " + last + " steps: f = " + fmt(c.f[last]) + " at (" + fmt(c.x[last]) + ", " + fmt(c.y[last]) + ")";
      });
      handle.setAttribute("cx", clampPx(px(state.start[0]))); handle.setAttribute("cy", clampPx(py(state.start[1])));
      updateMarks();
      box.setAttribute("data-redraw-ms", (performance.now() - t0).toFixed(2));
      box.setAttribute("data-state", JSON.stringify({start: state.start, steps: state.steps,
        diverged: computed.map(function (c) { return c.diverged; })}));
    }

    var dragging = false;
    function where(ev) {
      var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      var q = pt.matrixTransform(svg.getScreenCTM().inverse());
      return [win[0] + q.x / PW * (win[1] - win[0]), win[3] - q.y / PH * (win[3] - win[2])];
    }
    function round(v) { return +v.toPrecision(3); }
    svg.addEventListener("pointerdown", function (ev) {
      dragging = true; svg.setPointerCapture(ev.pointerId);
      var w = where(ev); setStart(round(w[0]), round(w[1])); ev.preventDefault();
    });
    svg.addEventListener("pointermove", function (ev) {
      if (dragging) { var w = where(ev); setStart(round(w[0]), round(w[1])); }
    });
    svg.addEventListener("pointerup", function () { dragging = false; });
    update();
    return {
      state: function () {
        return {surface: data.surface, start: state.start.slice(), steps: state.steps,
                paths: paths.map(function (p, k) {
                  return {label: p.label, optimizer: p.optimizer, hyper: Object.assign({}, p.hyper), on: p.on,
                          x: computed[k].x, y: computed[k].y, diverged: computed[k].diverged};
                })};
      },
      redraw: function () { var t0 = performance.now(); update(); return performance.now() - t0; }
    };
  }
  var explorers = [];
  document.querySelectorAll("[data-explorer]").forEach(function (box) {
    var data = JSON.parse(document.getElementById(box.getAttribute("data-explorer")).textContent);
    explorers.push(Explorer(box, data));
  });
  window.optlabExplorer = explorers[0] || null;
  window.optlabExplorers = explorers;
  document.body.setAttribute("data-explorer", explorers.length ? "drawn" : "none");
})();
"""
