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

from optlab.record.html_page import json_script, section
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


def _landscape(path: Path) -> dict | None:
    """``optlab landscape``'s PCA path (landscape/path.npz): the loss on the plane, the snapshots'
    projections and their steps; None when the run has none."""
    try:
        with np.load(path / "landscape" / "path.npz") as npz:
            loss, xy, steps = npz["loss"], npz["path"], npz["steps"]
            alphas, betas = npz["alphas"], npz["betas"]
    except (OSError, KeyError, ValueError):
        return None
    return {"window": [_num(alphas[0]), _num(alphas[-1]), _num(betas[0]), _num(betas[-1])],
            "loss": [[_num(v) for v in row] for row in loss], "path": [[float(a), float(b)] for a, b in xy],
            "steps": [int(s) for s in steps]}


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
    landscape = _landscape(path)
    marks = evals | ({s for s in ratios["steps"]} if ratios else set()) | {r["step"] for r in acts}
    marks |= {r["step"] for r in boundary["records"]} if boundary else set()
    marks |= set(landscape["steps"]) if landscape else set()
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
            "ratios": ratios, "activations": acts, "boundary": boundary, "landscape": landscape,
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
    if data["landscape"]:
        parts.append('<figure class="scrub-landscape"><svg viewBox="0 0 320 320" role="img" aria-label="the '
                     'optimizer\'s path on the plane of its top two PCA directions"></svg><figcaption></figcaption>'
                     '</figure>')
    if data["activations"]:
        parts.append('<figure class="scrub-acts"><div class="scrub-hists"></div><figcaption></figcaption></figure>')
    parts.append("</div></div>")
    return section("Time", "".join(parts), "time")
