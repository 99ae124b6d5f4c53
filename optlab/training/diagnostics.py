"""Diagnostics recorded while a model trains, beside its metrics (config section ``diagnostics``).

- **Update/weight ratio per layer** (CS231n, "Babysitting the learning process": the ratio of
  the update magnitudes to the value magnitudes "should be somewhere around 1e-3"; much lower,
  the learning rate may be too low, much higher, too high). For every weight matrix W,
  ``||W_after - W_before|| / ||W_before||`` (Frobenius norms) of one whole update — rule, weight
  decay and clipping included — every ``diagnostics.every`` steps, by default at each
  evaluation. Rows of ``diagnostics.csv``: step, one column per weight matrix.
- **Activation histograms** (DLFS ch. 6, the weight-initialisation figures): at the steps in
  ``diagnostics.histograms`` (default [0], the initial weights), the outputs of every hidden
  activation layer on a fixed set of ``histogram_examples`` training examples, binned in 30 bins:
  [0, 1] for sigmoid, [-1, 1] for tanh, (0, max] for ReLU (one max for all layers of a step) with
  the share of exact zeros (dead units) counted apart. The forward pass is the training one without its side effects: batch norm
  normalises with the batch's own statistics and its running statistics are put back afterwards,
  and dropout is off (a mask would draw from the run's stream), so recording never changes
  training. Kept in ``activations.json``.
- **Initial loss against chance** (CS231n, "Sanity checks": look for the correct loss at chance
  performance): the data loss at step 0 (the penalty left out) against what a model with equal
  scores for every class gets, ln C for softmax cross-entropy and (C - 1) * margin for the
  multiclass hinge; a warning in the summary when the two differ by more than a factor
  :data:`FAR_OFF` (large initial weights, a bug in the loss, or labels out of step with inputs).

The figures are drawn from these files by :mod:`optlab.record.diagnostics_plots`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optlab.engine.layers import Dropout, ReLU, Sigmoid, Tanh

FAR_OFF = 1.5          # warn when observed / expected initial loss is above this or below its inverse
HISTOGRAM_BINS = 30    # DLFS: plt.hist(a.flatten(), 30, range=(0, 1))


# ------------------------------------------------------------------------------------------------
# initial loss
# ------------------------------------------------------------------------------------------------
def chance_loss(loss_cfg: Any, n_classes: int) -> tuple[float, str] | None:
    """(expected data loss when every class gets the same score, its formula), or None where
    optlab knows no such value (quadratic, binary cross-entropy: they depend on the outputs)."""
    if loss_cfg.name == "cross_entropy":
        return math.log(n_classes), f"ln C = ln {n_classes}"
    if loss_cfg.name == "hinge":
        return (n_classes - 1) * loss_cfg.margin, f"(C - 1) * margin = {n_classes - 1} * {loss_cfg.margin:g}"
    return None


def initial_loss_check(loss_cfg: Any, n_classes: int, observed: float) -> dict | None:
    """The step-0 data loss beside its chance value, with a warning when far off; None if there
    is no chance value for this loss."""
    chance = chance_loss(loss_cfg, n_classes)
    if chance is None:
        return None
    expected, formula = chance
    ratio = observed / expected if expected > 0 else math.inf
    warning = None
    if not (1 / FAR_OFF <= ratio <= FAR_OFF):   # also catches NaN
        warning = (f"the initial loss {observed:.4g} is {ratio:.3g} x its value at chance, {formula} = "
                   f"{expected:.4g}: large initial weights (check model.init), or a bug in the loss or labels "
                   "(CS231n, 'Sanity checks')")
    return {"observed": observed, "expected": expected, "formula": formula, "warning": warning}


# ------------------------------------------------------------------------------------------------
# activation histograms
# ------------------------------------------------------------------------------------------------
def hidden_activations(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """The output of each hidden activation layer (``act1``, ...) for inputs x (batch, features),
    computed as in training but without side effects (module docstring)."""
    saved = model.flat_buffers.copy()
    out: dict[str, np.ndarray] = {}
    try:
        for name, layer in model.layers:
            x = layer.forward(x, train=not isinstance(layer, Dropout))
            if name.startswith("act"):
                out[name] = x
    finally:
        model.flat_buffers[...] = saved
    return out


def histogram(values: np.ndarray, layer: Any, high: float | None = None) -> dict[str, Any]:
    """Counts in HISTOGRAM_BINS bins over the activation's range, the share of exact zeros, the
    mean and std. For ReLU the bins cover (0, ``high``] (default: the largest value) and the zeros
    are left out of the counts."""
    v = np.asarray(values, dtype=np.float64).ravel()
    zeros = float(np.mean(v == 0)) if v.size else math.nan
    if isinstance(layer, Sigmoid):
        low, high = 0.0, 1.0
    elif isinstance(layer, Tanh):
        low, high = -1.0, 1.0
    else:
        if isinstance(layer, ReLU):
            v = v[v > 0]
        low, high = 0.0, high if high is not None else (float(v.max()) if v.size else 1.0)
    counts, edges = np.histogram(v, bins=HISTOGRAM_BINS, range=(low, high if high > low else low + 1.0))
    return {"kind": type(layer).__name__, "edges": edges.tolist(), "counts": counts.tolist(),
            "zero_fraction": zeros, "mean": float(np.mean(values)), "std": float(np.std(values))}


# ------------------------------------------------------------------------------------------------
# the recorder the training loop drives
# ------------------------------------------------------------------------------------------------
class Recorder:
    """Records a run's diagnostics into its run directory.

    ``probe``: the fixed training inputs (batch, features) of the histograms. ``resume_step``: the
    checkpoint's step when a run resumes: records after it are dropped, later ones appended.
    """

    def __init__(self, cfg: Any, model: Any, probe: np.ndarray, rd: Any, eval_every: int,
                 resume_step: int | None = None) -> None:
        self.cfg, self.model, self.probe, self.rd = cfg, model, probe, rd
        self.every = cfg.every or eval_every
        self.weights = model.weight_names
        self.writer = None
        if cfg.update_ratios and self.weights:
            append = resume_step is not None and (rd.path / "diagnostics.csv").is_file()
            self.writer = rd.metrics(["step", *self.weights], append=append, name="diagnostics.csv")
        self.activations: dict[str, Any] = {"records": []}
        if resume_step is not None and (rd.path / "activations.json").is_file():
            saved = rd.read_json("activations.json")
            saved["records"] = [r for r in saved["records"] if r["step"] <= resume_step]
            self.activations = saved
        self._before: dict[str, np.ndarray] | None = None

    def before_update(self, step: int) -> None:
        if self.writer is not None and step % self.every == 0:
            self._before = {name: self.model.params[name].copy() for name in self.weights}

    def after_update(self, step: int) -> None:
        if self._before is None:
            return
        row: dict[str, Any] = {"step": step}
        for name, before in self._before.items():
            change = np.linalg.norm(self.model.params[name] - before)
            size = np.linalg.norm(before)
            row[name] = float(change / size) if size > 0 else math.nan
        self.writer.write(row)
        self._before = None

    def histograms(self, step: int) -> None:
        """Record the activation histograms if ``step`` is one of ``diagnostics.histograms``."""
        if step not in self.cfg.histograms:
            return
        layers = dict(self.model.layers)
        acts = hidden_activations(self.model, self.probe)
        if not acts:
            return   # no hidden layers (a linear model, the neuron)
        # one range for every layer of a step (as DLFS's fixed (0, 1)), so a spread that shrinks
        # from layer to layer shows as such instead of being rescaled away
        high = max(float(a.max()) for a in acts.values())
        self.activations["records"].append(
            {"step": step, "layers": {name: histogram(a, layers[name], high) for name, a in acts.items()}})
        self.rd.write_json("activations.json", self.activations)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
