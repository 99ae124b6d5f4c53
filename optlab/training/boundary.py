"""Snapshots of a classifier's decision boundary on 2-D data (``diagnostics.boundary_every``).

At step 0, every ``boundary_every`` steps and at the last step, the model (evaluation mode: no
dropout mask drawn, batch norm's running statistics) classifies every point of a
``boundary_grid`` x ``boundary_grid`` grid over the training inputs (their box, grown by a tenth
on each side); the predicted classes, one character each (``0-9a-z``, row by row from the bottom,
x fastest), go to ``boundary.json`` with the step. The file also keeps up to :data:`MAX_POINTS`
training points (a fixed, evenly spaced subset) with their labels, so report.html's time slider
(optlab.record.scrubber) draws the regions at any recorded step with the points on top, like
TensorFlow Playground. Size: grid² bytes a snapshot, at most :data:`MAX_SNAPSHOTS` snapshots
(later ones replace every other earlier one), so a run's file stays below a megabyte.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from optlab.engine.layers import Dropout

DIGITS = string.digits + string.ascii_lowercase     # one character per class: at most 36 classes
MAX_POINTS = 600
MAX_SNAPSHOTS = 120


def grid_window(x: np.ndarray, margin: float = 0.1) -> list[float]:
    """[x_min, x_max, y_min, y_max] of the 2-D points ``x`` (n, 2), grown by ``margin`` of each span."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * margin + 1e-9
    return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]


def predict_classes(model: Any, inputs: np.ndarray) -> np.ndarray:
    """The class of highest score of each row of ``inputs``, without changing the model: evaluation
    mode and no dropout (optlab.training.diagnostics.hidden_activations does the same)."""
    saved = model.flat_buffers.copy()
    try:
        x = inputs
        for _, layer in model.layers:
            x = layer.forward(x, train=False) if not isinstance(layer, Dropout) else x
    finally:
        model.flat_buffers[...] = saved
    return np.argmax(x, axis=1) if x.ndim == 2 and x.shape[1] > 1 else (x.ravel() > 0).astype(int)


class BoundaryRecorder:
    """Records the snapshots into the run directory; ``resume_step``: drop those after it."""

    def __init__(self, cfg: Any, model: Any, data: Any, dtype: np.dtype, rd: Any, steps: int,
                 resume_step: int | None = None) -> None:
        self.every, self.model, self.rd, self.steps = cfg.boundary_every, model, rd, steps
        self.on = self.every is not None and data.train.x.shape[1] == 2 and data.n_classes <= len(DIGITS)
        if not self.on:
            return
        raw = np.asarray(data.train.x, dtype=np.float64)
        window = grid_window(raw)
        n = cfg.boundary_grid
        gx, gy = np.meshgrid(np.linspace(window[0], window[1], n), np.linspace(window[2], window[3], n))
        self.inputs = data.features(np.column_stack([gx.ravel(), gy.ravel()]), dtype)   # (n*n, 2), y rows from the bottom
        pick = np.unique(np.linspace(0, len(raw) - 1, min(MAX_POINTS, len(raw))).round().astype(int))
        self.file: dict[str, Any] = {
            "grid": n, "window": window, "classes": int(data.n_classes),
            "points": [[round(float(a), 4), round(float(b), 4), int(c)] for (a, b), c in zip(raw[pick], data.train.y[pick])],
            "records": []}
        if resume_step is not None and (rd.path / "boundary.json").is_file():
            saved = rd.read_json("boundary.json")
            self.file["records"] = [r for r in saved.get("records", []) if r["step"] <= resume_step]

    def record(self, step: int, last: bool = False) -> None:
        """A snapshot at ``step`` if it is 0, a multiple of ``boundary_every`` or ``last``."""
        if not self.on or not (step == 0 or step % self.every == 0 or last or step == self.steps):
            return
        records = self.file["records"]
        if records and records[-1]["step"] == step:
            return
        classes = predict_classes(self.model, self.inputs)
        records.append({"step": step, "classes": "".join(DIGITS[c] for c in classes)})
        if len(records) > MAX_SNAPSHOTS:          # keep the first and last, thin the rest
            records[:] = records[:1] + records[1:-1][1::2] + records[-1:]
        self.rd.write_json("boundary.json", self.file)
