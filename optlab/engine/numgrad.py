"""The numerical gradient of a scalar function of named parameter arrays, and the relative error.

``numerical_gradient(f, params)`` estimates d f / d p for every element p of the arrays in
``params`` by finite differences (docs/conventions.md, "numerical gradient"):

- centred  ``(f(p + h) - f(p - h)) / 2h``  error O(h^2), the default;
- forward  ``(f(p + h) - f(p)) / h``       error O(h), there to show why centred is better
  (CS231n, "Gradient checks": use the centered formula).

The arrays are perturbed *in place*, one element at a time, and each element is restored to its
saved value (an assignment, not ``p + h - h``, so the parameters come back bit for bit). Nothing
is copied per element: ``f`` reads the very arrays it is given, which is what lets a model's named
views (``fc1.W``) be checked, and lets a search strategy use this for numerical gradient descent.

The step actually taken is ``(p + h) - (p - h)`` as stored, not ``2h``: the two differ by rounding
(Numerical Recipes, 3rd ed., section 5.7), and dividing by the stored step removes that error.

Optionally ``signature()`` returns, after each evaluation of ``f``, a dict of arrays saying which
smooth piece of a piecewise function the evaluation was on (ReLU masks, active hinge margins,
sign(W) of an L1 penalty); an element whose two evaluations have different signatures straddled a
kink, and :func:`probe` reports it so a gradient check can set it apart instead of failing it.
:func:`probe` also reports each estimate's float64 resolution (see :class:`Probe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Mapping

import numpy as np

Method = Literal["centred", "forward"]
METHODS: tuple[str, ...] = ("centred", "forward")
DEFAULT_H = 1e-5   # docs/conventions.md: h = 1e-5, in float64

# signature() -> {component name: array}; compared with np.array_equal after each evaluation
Signature = Callable[[], Mapping[str, np.ndarray]]


class StepTooSmall(ValueError):
    """h does not change a parameter: it is below the spacing of floats at the parameter's value."""


def relative_error(analytic: np.ndarray, numerical: np.ndarray) -> np.ndarray:
    """``abs(a - n) / max(abs(a), abs(n), 1e-12)`` elementwise (docs/conventions.md, "relative error")."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), 1e-12)


def _crossed(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The components whose kink signature differs between two evaluations."""
    return tuple(k for k in before if not np.array_equal(before[k], after.get(k)))


@dataclass
class Probe:
    """What :func:`probe` measured, per tensor name (arrays aligned with the elements probed).

    ``resolution`` is ``eps * (|f_up| + |f_down|) / step``: how far the difference quotient moves
    if each of its two evaluations of f is off by one unit in the last place, i.e. the finest
    gradient difference finite differences can resolve at that element in float64.
    ``kinks[name][i]`` names the components whose signature changed across element i's two
    evaluations; it is empty where they lay on one smooth piece.
    """

    grads: dict[str, np.ndarray]
    resolution: dict[str, np.ndarray]
    kinks: dict[str, list[tuple[str, ...]]]


def probe(
    f: Callable[[], float],
    params: Mapping[str, np.ndarray],
    names: list[str] | None = None,
    *,
    h: float = DEFAULT_H,
    method: Method = "centred",
    indices: Mapping[str, np.ndarray] | None = None,
    signature: Signature | None = None,
) -> Probe:
    """Numerical gradient of ``f``, with its resolution and the kinks each element straddled.

    ``indices[name]`` (flat indices into ``params[name]``) restricts a tensor to those elements;
    its estimate is then a 1-D array aligned with them, otherwise an array of the tensor's shape.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite number, got {h!r}")
    names = list(params) if names is None else list(names)
    indices = indices or {}
    base_value = base_sig = None
    if method == "forward":               # f(p) is shared by every element
        base_value = float(f())
        base_sig = dict(signature()) if signature else None

    out = Probe({}, {}, {})
    for name in names:
        arr = params[name]
        flat = indices.get(name)
        flat = np.arange(arr.size) if flat is None else np.asarray(flat, dtype=np.intp)
        f_up, f_down, step = (np.empty(len(flat)) for _ in range(3))
        crossed: list[tuple[str, ...]] = []
        for i, pos in enumerate(zip(*np.unravel_index(flat, arr.shape))):
            saved = arr[pos]                   # a NumPy scalar: a copy, not a view
            try:
                arr[pos] = saved + h
                up = arr[pos]
                f_up[i] = f()
                sig_up = dict(signature()) if signature else None
                if method == "centred":
                    arr[pos] = saved - h
                    down = arr[pos]
                    f_down[i] = f()
                    sig_down = dict(signature()) if signature else None
                else:
                    down, f_down[i], sig_down = saved, base_value, base_sig
            finally:
                arr[pos] = saved
            step[i] = up - down
            if step[i] == 0:
                raise StepTooSmall(f"h={h:g} does not change {name}{list(map(int, pos))} = {saved}: "
                                   "it is below the spacing of floating-point numbers there; use a larger h")
            crossed.append(_crossed(sig_down, sig_up) if signature else ())
        grad = (f_up - f_down) / step          # vectorised over the tensor's elements
        res = np.finfo(np.float64).eps * (np.abs(f_up) + np.abs(f_down)) / step
        shape = (len(flat),) if name in indices else arr.shape
        out.grads[name], out.resolution[name] = grad.reshape(shape), res.reshape(shape)
        out.kinks[name] = crossed
    return out


def numerical_gradient(
    f: Callable[[], float],
    params: Mapping[str, np.ndarray],
    names: list[str] | None = None,
    *,
    h: float = DEFAULT_H,
    method: Method = "centred",
    indices: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Finite-difference estimate of d f / d params[name] for each name (default: all).

    ``f()`` takes no arguments: it must read the arrays in ``params``, which are perturbed in place
    and restored exactly. Without ``indices`` each estimate has its tensor's shape, so it can be
    used as a gradient, e.g. ``params[k] -= lr * g[k]`` for numerical gradient descent.
    Costs 2 evaluations of ``f`` per element (centred) or 1 plus one shared (forward).
    """
    return probe(f, params, names, h=h, method=method, indices=indices).grads
