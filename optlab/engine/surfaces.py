"""Two-dimensional test functions: surfaces on which an optimizer's path can be seen.

A config names one as its model, ``model: {name: surface, function: bowl, start: [-7, 2]}``;
the training loop (:func:`optlab.training.run.run`) then descends it directly with the same
optimizer classes that train networks (:mod:`optlab.engine.optimizers`), one parameter tensor
``xy = [x, y]``, no data and no mini-batches. Registry :data:`OBJECTIVES`:

- ``bowl``        f = x^2 / 20 + y^2 — DLFS ch. 6's elongated bowl (start (-7, 2), 30 steps);
- ``rosenbrock``  f = (1 - x)^2 + 100 (y - x^2)^2 — curved valley, minimum (1, 1);
- ``beale``       f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2 —
                  flat plateaus and steep walls, minimum (3, 0.5);
- ``saddle``      f = x^2 - y^2 — a saddle point at the origin, unbounded below.

Every function and gradient is vectorised: ``x`` and ``y`` may be arrays of any (equal) shape,
which is how the contour plots evaluate a whole grid in one call. ``hessian(x, y)`` is the closed
form 2 x 2 Hessian at one point (what ``optlab hessian`` of a surface run reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Objective:
    """A 2-D test function with its gradient, where it is plotted and where its minimum is."""

    name: str
    formula: str
    value: Callable[[Array, Array], Array]
    grad: Callable[[Array, Array], tuple[Array, Array]]
    window: tuple[float, float, float, float]   # (x_min, x_max, y_min, y_max) of the plot
    minimum: tuple[float, float] | None         # None: unbounded below (the saddle)
    log_levels: bool                            # contour levels log-spaced (f >= 0 spanning decades)
    hessian: Callable[[float, float], Array] | None = None   # (x, y) -> the 2 x 2 Hessian


def _bowl(x, y):
    return x * x / 20.0 + y * y


def _bowl_grad(x, y):
    return x / 10.0, 2.0 * y


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _rosenbrock_grad(x, y):
    r = y - x * x
    return -2.0 * (1 - x) - 400.0 * x * r, 200.0 * r


def _rosenbrock_hessian(x, y):
    return np.array([[2.0 - 400.0 * (y - x * x) + 800.0 * x * x, -400.0 * x], [-400.0 * x, 200.0]])


_BEALE_C = (1.5, 2.25, 2.625)   # term k (k = 1, 2, 3): c_k - x + x y^k


def _beale(x, y):
    return sum((c - x + x * y ** k) ** 2 for k, c in enumerate(_BEALE_C, start=1))


def _beale_grad(x, y):
    gx = gy = 0.0
    for k, c in enumerate(_BEALE_C, start=1):
        t = c - x + x * y ** k
        gx = gx + 2.0 * t * (y ** k - 1)
        gy = gy + 2.0 * t * k * x * y ** (k - 1)
    return gx, gy


def _beale_hessian(x, y):
    """2 sum_k (grad t_k grad t_k^T + t_k hess t_k), t_k = c_k - x + x y^k."""
    H = np.zeros((2, 2))
    for k, c in enumerate(_BEALE_C, start=1):
        t = c - x + x * y ** k
        g = np.array([y ** k - 1, k * x * y ** (k - 1)])
        h = np.array([[0.0, k * y ** (k - 1)], [k * y ** (k - 1), k * (k - 1) * x * y ** (k - 2) if k > 1 else 0.0]])
        H += 2.0 * (np.outer(g, g) + t * h)
    return H


def _saddle(x, y):
    return x * x - y * y


def _saddle_grad(x, y):
    return 2.0 * x, -2.0 * y


OBJECTIVES: dict[str, Objective] = {
    "bowl": Objective("bowl", "x²/20 + y²", _bowl, _bowl_grad, (-10, 10, -5, 5), (0.0, 0.0), False,
                      lambda x, y: np.diag([0.1, 2.0])),
    "rosenbrock": Objective("rosenbrock", "(1 − x)² + 100 (y − x²)²", _rosenbrock, _rosenbrock_grad,
                            (-2, 2, -1, 3), (1.0, 1.0), True, _rosenbrock_hessian),
    "beale": Objective("beale", "Beale's function", _beale, _beale_grad, (-4.5, 4.5, -4.5, 4.5), (3.0, 0.5), True,
                       _beale_hessian),
    "saddle": Objective("saddle", "x² − y²", _saddle, _saddle_grad, (-2, 2, -2, 2), None, False,
                        lambda x, y: np.diag([2.0, -2.0])),
}


def view_window(objective: Objective, xs: Array, ys: Array, margin: float = 0.1,
                grow: float = 0.5) -> tuple[float, float, float, float]:
    """The objective's plot window, grown to hold the finite points of a path, by at most ``grow``
    times its size on each side.

    A path that leaves the usual window a little (an optimizer overshooting, or escaping the
    saddle) stays visible; a diverging one does not stretch the view to where the contours and the
    other paths vanish (Beale's window is the function's region, +-4.5: a path flying off to +-45
    would shrink a converging one to a dot). The plots cut such a path where it leaves the view.
    """
    x0, x1, y0, y1 = objective.window
    ok = np.isfinite(xs) & np.isfinite(ys)
    if ok.any():
        wx, wy = x1 - x0, y1 - y0
        px = np.clip(xs[ok], x0 - grow * wx, x1 + grow * wx)
        py = np.clip(ys[ok], y0 - grow * wy, y1 + grow * wy)
        x0, x1 = max(x0 - grow * wx, min(x0, px.min() - margin * wx)), min(x1 + grow * wx, max(x1, px.max() + margin * wx))
        y0, y1 = max(y0 - grow * wy, min(y0, py.min() - margin * wy)), min(y1 + grow * wy, max(y1, py.max() + margin * wy))
    return float(x0), float(x1), float(y0), float(y1)
