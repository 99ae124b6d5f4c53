"""Data losses: each maps (outputs, integer labels) to (mean loss, d loss / d outputs).

Definitions follow docs/conventions.md; all are means over the batch. Targets: a model with one output
unit takes the label itself (0 or 1) as its target; otherwise losses that compare vectors
(quadratic, binary cross-entropy) use one-hot targets. Shapes: out (batch, units), y (batch,).

``r_grad(r_out)``: R{d loss / d out} (Pearlmutter 1994) of the last call for the output direction
``r_out``, i.e. the Hessian of the loss in the outputs times r_out; the first factor of every
exact Hessian-vector product (optlab.engine.hvp). None stands for zero (the hinge: piecewise
linear, its second derivative is zero wherever it exists).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def targets(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One-hot targets (batch, classes), or the labels as a column for a single output unit."""
    if out.shape[1] == 1:
        return y.astype(out.dtype).reshape(-1, 1)
    t = np.zeros_like(out)
    t[np.arange(len(y)), y] = 1
    return t


class Loss:
    has_kinks = False
    has_rop = False     # True where r_grad is exact (module docstring)

    def __call__(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def kink_state(self) -> np.ndarray | None:
        """Which smooth piece the last call was on, or None for a smooth loss (see Layer.kink_state)."""
        return None

    def r_grad(self, r_out: np.ndarray | None) -> np.ndarray | None:
        raise NotImplementedError(f"{type(self).__name__} has no R-operator")


class Hinge(Loss):
    """Weston-Watkins multiclass SVM: mean over i of sum_{j != y_i} max(0, s_j - s_{y_i} + margin)."""

    has_kinks = True
    has_rop = True
    active: np.ndarray | None = None   # (batch, classes) margins > 0 of the last call

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = margin

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        n, rows = len(y), np.arange(len(y))
        margins = scores - scores[rows, y][:, None] + self.margin    # (batch, classes)
        margins[rows, y] = 0
        np.maximum(margins, 0, out=margins)
        self.active = margins > 0                                      # where the hinge is on
        active = self.active.astype(scores.dtype)
        active[rows, y] = -active.sum(axis=1)                          # the correct class pays for each
        return float(margins.sum() / n), active / n

    def kink_state(self) -> np.ndarray | None:
        return self.active   # the set of active margins: a change is a kink crossed

    def r_grad(self, r_out):
        return None          # piecewise linear in the scores


class CrossEntropy(Loss):
    """Softmax cross-entropy from logits: mean of logsumexp(s) - s_y, via the max shift.

    Its Hessian in the scores is (diag(p) - p p^T) / n per example, so R{grad} = p (r - p.r) / n."""

    has_rop = True

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        n, rows = len(y), np.arange(len(y))
        shifted = scores - scores.max(axis=1, keepdims=True)          # (batch, classes), max 0
        exp = np.exp(shifted)
        total = np.add.reduce(exp, axis=1, keepdims=True)              # (batch, 1)
        loss = np.add.reduce(np.log(total[:, 0]) - shifted[rows, y]) / n   # the mean, as np.mean computes it
        probs = np.divide(exp, total, out=exp)                         # softmax; exp is ours to overwrite
        self.probs = probs.copy()                                      # (batch, classes), for r_grad
        probs[rows, y] -= 1                                            # softmax - onehot
        probs /= n
        return float(loss), probs

    def r_grad(self, r_out):
        if r_out is None:
            return None
        p = self.probs
        return p * (r_out - np.add.reduce(p * r_out, axis=1, keepdims=True)) / len(p)


class Quadratic(Loss):
    """0.5 * ||a - y||^2 per example, mean over the batch; Hessian in a: I / n."""

    has_rop = True

    def __call__(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        self.n = len(y)
        diff = out - targets(out, y)
        return float(0.5 * np.sum(diff * diff) / len(y)), diff / len(y)

    def r_grad(self, r_out):
        return None if r_out is None else r_out / self.n


class BinaryCrossEntropy(Loss):
    """Nielsen's cross-entropy cost: -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], mean over the batch.

    Outputs are clipped to [eps, 1 - eps] (eps = machine epsilon of the dtype) so the log stays
    finite when a sigmoid saturates; the gradient is that of the clipped expression, and so is the
    second derivative ((1 - y)/(1 - a)^2 + y/a^2) / n inside the clip, 0 where it clips.
    """

    has_rop = True

    def __call__(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        eps = np.finfo(out.dtype).eps
        a = np.clip(out, eps, 1 - eps)
        t = targets(out, y)
        self.a, self.t, self.inside = a, t, (out > eps) & (out < 1 - eps)
        loss = -np.sum(t * np.log(a) + (1 - t) * np.log(1 - a)) / len(y)
        return float(loss), ((1 - t) / (1 - a) - t / a) / len(y)

    def r_grad(self, r_out):
        if r_out is None:
            return None
        a, t = self.a, self.t
        return np.where(self.inside, (1 - t) / (1 - a) ** 2 + t / a ** 2, 0) * r_out / len(a)


LOSSES = {"hinge": Hinge, "cross_entropy": CrossEntropy, "quadratic": Quadratic,
          "binary_cross_entropy": BinaryCrossEntropy}


def build_loss(name: str, **options: Any) -> Loss:
    """The loss called ``name`` with its options (``hinge``: ``delta``, ...)."""
    return LOSSES[name](**options)


def accuracy(out: np.ndarray, y: np.ndarray) -> float:
    """Fraction correct: argmax over classes, or output > 0.5 for a single output unit."""
    if len(y) == 0:
        return float("nan")
    pred = (out[:, 0] > 0.5).astype(y.dtype) if out.shape[1] == 1 else out.argmax(axis=1)
    return float(np.mean(pred == y))
