"""The surface explorer: a page section where sliders re-run the optimizers on a 2-D surface.

``optlab explore SURFACE`` writes it as a page of its own (:func:`explorer_page`); the report.html
of every surface run and surface comparison carries one set to that run's settings
(:func:`explorer_section`). What it shows: the contours of f, each path from the start point,
one slider per hyper-parameter of each path's optimizer, the number of steps and the start
(dragged on the plot, or typed). The page's rules are the engine's (optlab.record.rules_js) and
its script is optlab.record.explorer_js.

For a quadratic surface (the bowl), the sliders carry Goh's marks ("Why Momentum Really Works",
Distill 2017), computed in the page from the Hessian's eigenvalues given here: the stability
limit of the learning rate and the momentum of critical damping.
"""

from __future__ import annotations

import math

import numpy as np

from optlab.config.kinds import run_kind
from optlab.engine.hyper import RANGES
from optlab.engine.surfaces import OBJECTIVES, Objective
from optlab.record.html_page import esc, json_script, page, section
from optlab.record.rules_js import elementwise
from optlab.record.style import color

MAX_STEPS = 1000
# Each slider's span (the number box beside it takes any value in the hyper-parameter's range).
SLIDERS = {"lr": (1e-4, 10.0, True), "eps": (1e-12, 1.0, True), "momentum": (0.0, 0.999, False),
           "beta1": (0.0, 0.999, False), "beta2": (0.0, 0.9999, False), "decay": (0.0, 0.9999, False)}
NOT_SLID = ("weight_decay", "clip_norm")   # the explorer's paths run without decay or clipping
# Where a surface's explorer starts when no recipe or run says (the recipes bowl, rosenbrock and saddle do).
STARTS = {"bowl": (-7.0, 2.0), "rosenbrock": (-1.2, 1.0), "beale": (1.0, 1.5), "saddle": (1.5, 0.001)}


def hessian_eigenvalues(objective: Objective) -> tuple[float, float] | None:
    """(lambda_min, lambda_max) of a quadratic surface's constant Hessian, or None when the
    surface is not quadratic (its Hessian differs between two points) or not convex."""
    def hessian(x: float, y: float) -> np.ndarray:
        # gradients of a quadratic are affine: unit differences give the Hessian's columns exactly
        g0 = np.array(objective.grad(np.float64(x), np.float64(y)))
        return np.column_stack([np.array(objective.grad(np.float64(x + 1), np.float64(y))) - g0,
                                np.array(objective.grad(np.float64(x), np.float64(y + 1))) - g0])
    h = hessian(0.0, 0.0)
    if not np.allclose(h, hessian(1.5, -0.5)):
        return None
    eig = np.linalg.eigvalsh((h + h.T) / 2)
    return (float(eig[0]), float(eig[-1])) if eig[0] > 0 else None


def defaults(name: str) -> dict:
    """The hyper-parameters of optimizer ``name`` at their defaults (as the engine builds it)."""
    return elementwise()[name]().hyper


def path_spec(label: str, name: str, hyper: dict, index: int, on: bool = True) -> dict:
    """One path of the explorer: its optimizer and every hyper-parameter the page varies."""
    base = defaults(name)
    values = {k: v for k, v in {**base, **hyper}.items() if k not in NOT_SLID and k in base}
    return {"label": label, "optimizer": name, "hyper": {k: float(v) for k, v in values.items()},
            "color": color(index), "on": on}


def explorer_data(surface: str, paths: list[dict], start, steps: int) -> dict:
    """The JSON the page's script reads."""
    objective = OBJECTIVES[surface]
    eig = hessian_eigenvalues(objective)
    sliders = {}
    for name, (lo, hi, log) in SLIDERS.items():
        r = RANGES[name]
        sliders[name] = {"min": lo, "max": hi, "log": log, "low": r.low, "high": r.high if math.isfinite(r.high) else 1e308,
                         "low_open": r.low_open, "high_open": r.high_open, "describe": f"expected {r.describe(name)}"}
    return {"surface": surface, "formula": objective.formula, "window": list(objective.window),
            "minimum": list(objective.minimum) if objective.minimum else None, "log_levels": objective.log_levels,
            "start": [float(v) for v in start], "steps": int(min(max(steps, 1), MAX_STEPS)), "max_steps": MAX_STEPS,
            "quadratic": {"lmin": eig[0], "lmax": eig[1]} if eig else None, "sliders": sliders, "paths": paths}


def explorer_html(data: dict, ident: str = "explorer") -> str:
    """The explorer's box and its data (the script, optlab.record.explorer_js, draws it)."""
    quad = data["quadratic"]
    note = (f" On this quadratic (Hessian eigenvalues {quad['lmin']:g} and {quad['lmax']:g}) the marks under the "
            "sliders are Goh's: the largest stable learning rate and the momentum of critical damping."
            if quad else "")
    if data.get("note"):
        note += " " + data["note"]
    intro = (f"<p>f = {esc(data['formula'])}. Move a slider, type a value or drag the start point (white circle): "
             "every path is re-run in the page with the engine's update rules (<code>optlab train</code> of the same "
             f"settings gives the same numbers). A diverging path stops where the engine's run would.{esc(note)}</p>")
    return (intro + json_script(data, f"{ident}-data")
            + f'<div class="explorer" id="{esc(ident)}-box" data-explorer="{esc(ident)}-data"></div>')


def explorer_section(data: dict, title: str = "Explorer") -> str:
    return section(title, explorer_html(data), "explorer")


def explore_defaults(surface: str) -> tuple[list[dict], tuple[float, float], int]:
    """Every optimizer on ``surface``: the rates of the surface's recipe where it has one
    (its ``compare.optimizers``), the engine's defaults otherwise; the recipe's start and steps."""
    import yaml

    from optlab.config.recipes import ConfigError, find

    start, steps, rates = STARTS[surface], 100, {}
    try:
        recipe = yaml.safe_load(find(surface).path.read_text(encoding="utf-8"))
    except (ConfigError, OSError, ValueError):
        recipe = None
    if recipe and recipe.get("model", {}).get("function") == surface:
        start = tuple(recipe["model"].get("start", start))
        steps = recipe.get("train", {}).get("iterations", steps)
        rates = {o["name"]: o for o in recipe.get("compare", {}).get("optimizers", [])}
    paths = [path_spec(name, name, {k: v for k, v in rates.get(name, {}).items() if k != "name"}, i)
             for i, name in enumerate(elementwise())]
    return paths, start, steps


def explorer_page(surface: str, paths: list[dict] | None = None, start=None, steps: int | None = None) -> str:
    """A page of its own: the explorer of ``surface`` (defaults: :func:`explore_defaults`)."""
    default_paths, default_start, default_steps = explore_defaults(surface)
    data = explorer_data(surface, paths or default_paths, start or default_start, steps or default_steps)
    body = [f"<header><h1>Surface explorer: {esc(surface)}</h1><p class=\"muted\">optlab explore</p></header>",
            explorer_section(data, "Paths")]
    return page(f"{surface} explorer — optlab", body, [], explorer=True)


def _differs(optimizer: dict) -> list[str]:
    """What a run did that the explorer's paths do not (they run a constant rate, no decay, no clipping)."""
    out = []
    schedule = optimizer.get("schedule") or {}
    if schedule.get("name", "constant") != "constant" or schedule.get("warmup"):
        out.append(f"the {schedule.get('name')} learning-rate schedule")
    if optimizer.get("weight_decay"):
        out.append("weight decay")
    if optimizer.get("clip_norm") is not None:
        out.append("gradient clipping")
    return out


def configs_explorer(labels: list[str], configs: list[dict]) -> dict | None:
    """The explorer of surface runs (a run's config.yaml, or each variant's first trial's): one
    path per config at its settings, from the first's start for its number of steps; None when
    they are not runs on one surface. The data carries ``note``: what the paths leave out."""
    surfaces = {(c.get("model") or {}).get("function") for c in configs if not run_kind(c).learns_from_data}
    if len(surfaces) != 1 or len(configs) != len(labels) or not configs:
        return None
    surface = surfaces.pop()
    if surface not in OBJECTIVES:
        return None
    paths, left_out = [], []
    for i, (label, c) in enumerate(zip(labels, configs)):
        opt = c.get("optimizer") or {}
        if opt.get("name") not in elementwise():
            return None
        paths.append(path_spec(label, opt["name"], {k: v for k, v in opt.items() if k in defaults(opt["name"])}, i))
        left_out += [d for d in _differs(opt) if d not in left_out]
    data = explorer_data(surface, paths, configs[0]["model"].get("start", STARTS[surface]),
                         (configs[0].get("train") or {}).get("iterations", 100))
    if left_out:
        data["note"] = f"The run used {', '.join(left_out)}; the explorer's paths do not (a constant rate, nothing else)."
    return data
