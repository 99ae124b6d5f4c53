"""Curvature of a loss from its gradient alone: Hessian-vector products and the top eigenvalue.

- :func:`hvp`: ``H v`` as the centred difference of the analytic gradient,
  ``(g(w + h v) - g(w - h v)) / (2 h)``. For a quadratic the difference is exact up to rounding
  (its gradient is affine); for a smooth loss the error is O(h^2). ``h`` is scaled to the
  machine precision of the gradient's dtype, eps^(1/3) (1 + ||w||) / ||v||, which balances the
  O(h^2) truncation error against the O(eps / h) rounding error of the difference (Nocedal &
  Wright, Numerical Optimization, sec. 8.1).
- :func:`lanczos_top`: the largest (algebraic) eigenvalue of a symmetric operator given only as
  ``v -> A v``, by the Lanczos iteration with full re-orthogonalisation (Golub & Van Loan,
  sec. 10.1): after k products the top Ritz value of the k x k tridiagonal matrix. It is exact
  after n products for an n x n operator and converges much faster than power iteration when the
  top eigenvalues are close; unlike power iteration it finds the largest eigenvalue, not the
  largest in magnitude, so a Hessian's negative curvature does not mislead it. This is what
  PyHessian and Cohen et al.'s edge-of-stability code (scipy's eigsh, also Lanczos) compute.
- :func:`power_top`: plain power iteration, kept for comparison and for the tests.

Everything here is a function of callables and arrays: the model, data and optimizer are the
caller's (optlab.training.curvature builds the gradient function of a run's model); the
stability thresholds are the optimizers' own (optlab.engine.optimizers).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from optlab.engine.optimizers.registry import lookup
from optlab.engine.spectrum import lanczos

Vector = np.ndarray
GradFn = Callable[[Vector], Vector]     # w (n,) -> gradient (n,), a fresh array
Operator = Callable[[Vector], Vector]   # v (n,) -> A v (n,)


def fd_step(w: Vector, v: Vector, dtype: np.dtype | None = None) -> float:
    """The finite-difference step h of :func:`hvp` for the direction v at w."""
    eps = np.finfo(dtype or w.dtype).eps
    norm_v = float(np.linalg.norm(v))
    return float(np.cbrt(eps) * (1.0 + float(np.linalg.norm(w))) / (norm_v if norm_v > 0 else 1.0))


def hvp(grad: GradFn, w: Vector, v: Vector, h: float | None = None) -> Vector:
    """``H(w) v`` by centred differences of ``grad`` (module docstring); float64 result."""
    if h is None:
        h = fd_step(w, v)
    v = v.astype(w.dtype, copy=False)
    plus = np.asarray(grad(w + h * v), dtype=np.float64)
    minus = np.asarray(grad(w - h * v), dtype=np.float64)
    return (plus - minus) / (2.0 * h)


def hessian_operator(grad: GradFn, w: Vector, h: float | None = None) -> Operator:
    """``v -> H(w) v`` for :func:`lanczos_top`."""
    return lambda v: hvp(grad, w, v, h)


def lanczos_top(op: Operator, n: int, rng: np.random.Generator, iterations: int = 20,
                tol: float = 1e-10) -> tuple[float, Vector]:
    """(largest eigenvalue, its unit eigenvector) of the symmetric n x n operator ``op``.

    At most ``min(iterations, n)`` products of optlab.engine.spectrum.lanczos; stops early when the
    new Lanczos vector vanishes (an invariant subspace: the Ritz values are then exact) or the top
    Ritz value moved by less than ``tol`` (relative) in the last step. The start vector is drawn
    from ``rng``.
    """
    run = lanczos(op, n, iterations, rng.standard_normal(n), tol=tol)
    values, vectors = np.linalg.eigh(run.tridiagonal())
    vec = run.Q.T @ vectors[:, -1]
    return float(values[-1]), vec / np.linalg.norm(vec)


def power_top(op: Operator, n: int, rng: np.random.Generator, iterations: int = 100,
              tol: float = 1e-10) -> tuple[float, Vector]:
    """(eigenvalue of largest magnitude, unit eigenvector) by power iteration, Rayleigh quotient
    as the estimate; stops when it moves by less than ``tol`` (relative)."""
    v = rng.standard_normal(n)
    v /= np.linalg.norm(v)
    estimate = np.inf
    for _ in range(iterations):
        w = np.asarray(op(v), dtype=np.float64)
        new = float(v @ w)
        norm = float(np.linalg.norm(w))
        if norm == 0:
            return 0.0, v
        v = w / norm
        if abs(new - estimate) <= tol * max(1.0, abs(new)):
            return new, v
        estimate = new
    return estimate, v


def preconditioned(op: Operator, p: Vector) -> Operator:
    """``v -> P^(-1/2) A P^(-1/2) v`` for a diagonal preconditioner P = diag(p) > 0: the same
    eigenvalues as P^(-1) A (Cohen et al. 2022, "preconditioned sharpness"), but symmetric, so
    Lanczos applies."""
    scale = 1.0 / np.sqrt(np.asarray(p, dtype=np.float64))
    return lambda v: scale * op(scale * v)


def stability_threshold(optimizer: str, lr: float, hyper: dict[str, float]) -> tuple[float, bool, str]:
    """(threshold, preconditioned?, formula): the sharpness above which the optimizer is unstable
    on a quadratic with that curvature, and whether it applies to the plain Hessian or to the
    preconditioned one (P^(-1) H). Each rule states its own (``Optimizer.stability``, e.g. SGD's
    2 / lr, Cohen et al. 2021); derivations: docs/landscape.md, "Sharpness"."""
    known = lookup(optimizer).stability(lr, hyper)
    if known is None:
        raise ValueError(f"no stability threshold known for optimizer {optimizer!r}")
    return known


def preconditioner(optimizer: str, state: dict[str, Vector], hyper: dict[str, float], t: int) -> Vector | None:
    """The diagonal P of an adaptive optimizer's update W -= lr P^(-1) (...) from its flat state
    (``state[slot]`` laid out like the parameters), or None for a plain one (sgd, momentum) and
    before the first update (``Optimizer.preconditioner``)."""
    return lookup(optimizer).preconditioner(state, hyper, t)
