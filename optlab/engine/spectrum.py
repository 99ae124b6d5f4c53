"""The Hessian's spectrum from Hessian-vector products alone: pure numpy on an operator ``v -> H v``.

- :func:`lanczos`: k steps of the Lanczos iteration with full re-orthogonalisation (Golub & Van
  Loan, Matrix Computations, sec. 10.1): an orthonormal basis Q (k, n) of the Krylov space and the
  tridiagonal T = Q H Q^T (diagonal ``alpha``, off-diagonal ``beta``); the one Lanczos of optlab
  (optlab.engine.hessian.lanczos_top, the sharpness while training, stops it early on a converged
  top value).
- :func:`top_eigen`: the k largest Ritz values of T and their Ritz vectors, with the residual
  ||H u - theta u|| of each (PyHessian's ``eigenvalues`` uses power iteration with deflation
  instead; Lanczos needs fewer products for the same k and finds the largest *algebraic* ones).
- :func:`hutchinson`: tr(H) = E[z^T H z] for Rademacher z (Hutchinson 1989; Avron & Toledo 2011:
  the estimator of least variance, 2 (||H||_F^2 - sum_i H_ii^2)), with a confidence interval
  from the probes' spread.
- :func:`slq` and :func:`density`: the spectral density phi(t) = 1/n sum_i delta(t - lambda_i) by
  stochastic Lanczos quadrature (Golub & Meurant; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan &
  Xiao 2019; PyHessian's ``density``): each run starts Lanczos from a random unit vector v, and
  the eigenvalues theta_j of T with weights tau_j = (first component of T's j-th eigenvector)^2
  are a quadrature rule for v^T f(H) v; the density is the average over runs of
  sum_j tau_j N(t; theta_j, sigma^2). Each run's weights sum to 1, so the density integrates to 1,
  and its mean sum_j tau_j theta_j = v^T H v estimates tr(H) / n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Operator = Callable[[np.ndarray], np.ndarray]


@dataclass
class Lanczos:
    alpha: np.ndarray        # (k,) diagonal of T
    beta: np.ndarray         # (k - 1,) off-diagonal of T
    Q: np.ndarray            # (k, n) orthonormal Lanczos vectors, one per row

    def tridiagonal(self) -> np.ndarray:
        return np.diag(self.alpha) + np.diag(self.beta, 1) + np.diag(self.beta, -1)


def lanczos(op: Operator, n: int, steps: int, start: np.ndarray, tol: float | None = None) -> Lanczos:
    """``min(steps, n)`` Lanczos steps from ``start`` (any non-zero vector), fewer when the Krylov
    space is invariant (a vanishing new vector: T's eigenvalues are then exact eigenvalues of H),
    or, given ``tol``, when T's top eigenvalue moved by less than ``tol`` (relative) in a step."""
    k_max = max(1, min(steps, n))
    Q = np.zeros((k_max, n))
    alpha, beta = np.zeros(k_max), np.zeros(k_max)
    q = np.asarray(start, dtype=np.float64) / np.linalg.norm(start)
    k_used, previous = 0, np.inf
    for k in range(k_max):
        Q[k] = q
        r = np.asarray(op(q), dtype=np.float64)
        alpha[k] = float(q @ r)
        # full re-orthogonalisation, twice (Giraud et al. 2005): the three-term recurrence alone
        # loses orthogonality in floating point and repeats converged eigenvalues ("ghosts")
        for _ in range(2):
            r -= Q[: k + 1].T @ (Q[: k + 1] @ r)
        k_used = k + 1
        b = float(np.linalg.norm(r))
        if k + 1 == k_max or b <= 1e-12 * max(1.0, float(np.max(np.abs(alpha[:k_used])))):
            break
        if tol is not None:
            top = _top(alpha[:k_used], beta[: k_used - 1])
            if abs(top - previous) <= tol * max(1.0, abs(top)):
                break
            previous = top
        beta[k] = b
        q = r / b
    return Lanczos(alpha[:k_used], beta[: k_used - 1], Q[:k_used])


def _top(alpha: np.ndarray, beta: np.ndarray) -> float:
    """The largest eigenvalue of the tridiagonal matrix (diagonal ``alpha``, off-diagonal ``beta``)."""
    return float(np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))[-1])


def top_eigen(op: Operator, n: int, k: int, rng: np.random.Generator, steps: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values (k,), vectors (k, n), residuals (k,)): the k largest Ritz values, descending, after
    ``steps`` products (default 2k + 20, enough for the well-separated top of a spectrum), their unit
    Ritz vectors and the residual norms ||H u - theta u|| (a bound on each value's error). The
    residuals cost k more products."""
    steps = min(n, steps if steps is not None else 2 * k + 20)
    run = lanczos(op, n, steps, rng.standard_normal(n))
    theta, S = np.linalg.eigh(run.tridiagonal())
    order = np.argsort(theta)[::-1][: min(k, len(theta))]
    vectors = (run.Q.T @ S[:, order]).T
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    residuals = np.array([np.linalg.norm(np.asarray(op(u), dtype=np.float64) - t * u)
                          for t, u in zip(theta[order], vectors)])
    return theta[order], vectors, residuals


@dataclass
class Trace:
    estimate: float          # mean of the probes
    std_error: float         # their standard deviation / sqrt(probes)
    low: float               # the 95 % confidence interval, mean -+ 1.96 standard errors
    high: float
    samples: np.ndarray      # z^T H z of each probe


def hutchinson(op: Operator, n: int, probes: int, rng: np.random.Generator, exact_below: bool = True) -> Trace:
    """tr(H) from ``probes`` Rademacher probes z (entries +-1): the mean of z^T H z. The interval is
    the normal one (the probes are independent; their mean is near normal for tens of probes).
    With ``exact_below`` and n <= probes, the n unit vectors instead: sum_i e_i^T H e_i is the
    trace itself, for no more products (standard error 0)."""
    if exact_below and n <= probes:
        samples = np.array([float(np.asarray(op(e), dtype=np.float64)[i]) for i, e in enumerate(np.eye(n))])
        total = float(samples.sum())
        return Trace(total, 0.0, total, total, samples * n)
    samples = np.empty(probes)
    for i in range(probes):
        z = rng.integers(0, 2, n).astype(np.float64) * 2 - 1
        samples[i] = float(z @ np.asarray(op(z), dtype=np.float64))
    mean = float(samples.mean())
    se = float(samples.std(ddof=1) / math.sqrt(probes)) if probes > 1 else math.nan
    return Trace(mean, se, mean - 1.96 * se, mean + 1.96 * se, samples)


def slq(op: Operator, n: int, runs: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, weights), each (runs, steps) (shorter runs padded with weight 0): the Gauss quadrature
    of each run, from a Rademacher start vector (module docstring)."""
    steps = max(1, min(steps, n))
    nodes, weights = np.zeros((runs, steps)), np.zeros((runs, steps))
    for r in range(runs):
        start = rng.integers(0, 2, n).astype(np.float64) * 2 - 1
        theta, S = np.linalg.eigh(lanczos(op, n, steps, start).tridiagonal())
        nodes[r, : len(theta)], weights[r, : len(theta)] = theta, S[0] ** 2
    return nodes, weights


def default_sigma(nodes: np.ndarray) -> float:
    """PyHessian's broadening: sigma^2 = 1e-5 max(1, lambda_max - lambda_min)."""
    return math.sqrt(1e-5 * max(1.0, float(nodes.max() - nodes.min())))


def density_grid(nodes: np.ndarray, sigma: float, points: int = 10_000) -> np.ndarray:
    """From 1 % (and 5 sigma) below the smallest node to as far above the largest (PyHessian's range)."""
    lo, hi = float(nodes.min()), float(nodes.max())
    pad = max(0.01 * (hi - lo), 5 * sigma)
    return np.linspace(lo - pad, hi + pad, points)


def density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """phi(t) on ``grid``: the runs' Gaussian-broadened quadratures, averaged (module docstring)."""
    out = np.zeros_like(grid, dtype=np.float64)
    norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
    for theta, tau in zip(nodes, weights):
        keep = tau > 0
        out += (tau[keep, None] * np.exp(-0.5 * ((grid[None, :] - theta[keep, None]) / sigma) ** 2)).sum(axis=0)
    return out * norm / len(nodes)


def quadrature_mean(nodes: np.ndarray, weights: np.ndarray) -> float:
    """The density's mean, sum_j tau_j theta_j averaged over runs: the SLQ estimate of tr(H) / n."""
    return float((nodes * weights).sum(axis=1).mean())


def negative_mass(nodes: np.ndarray, weights: np.ndarray) -> float:
    """The fraction of the spectrum below zero, by the quadrature (before broadening)."""
    return float((weights * (nodes < 0)).sum(axis=1).mean())


def count_outliers(values: np.ndarray) -> tuple[int, float]:
    """(m, ratio): the top m of the descending ``values`` lie above the widest gap on a log scale,
    lambda_m / lambda_{m+1}, among the positive ones (Sagun et al. 2017, Papyan 2019: a bulk near
    zero and outliers, about one per class, above it)."""
    pos = np.asarray(values, dtype=np.float64)
    pos = pos[pos > 0]
    if len(pos) < 2:
        return len(pos), math.nan
    ratios = pos[:-1] / pos[1:]
    m = int(np.argmax(ratios))
    return m + 1, float(ratios[m])
