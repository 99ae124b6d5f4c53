"""Directions in weight space along which a loss landscape is sliced, as flat vectors laid out
like a model's ``flat_params``.

- :func:`filter_normalized`: a Gaussian direction rescaled filter by filter (Li et al. 2018,
  "Visualizing the Loss Landscape of Neural Nets", sec. 4): for every weight matrix each
  *filter* of the direction gets the norm of the same filter of the weights, so a step of 1
  along it changes every unit by its own size, and the scale invariance of ReLU units no longer
  makes sharp and flat minima look alike. A filter of a dense layer is one output unit's
  incoming weights: a row of PyTorch's (out, in) weight matrix, which is a *column* of optlab's
  (in, out) ``W`` (``out = x @ W``). The bias row of a bias-trick matrix is its bias. Biases and
  batch-norm parameters (1-D tensors) get direction 0 by default, as Li et al.'s
  ``ignore='biasbn'``; with ``include_biases`` they get the weights' own values (Li et al.'s
  choice for them when not ignored).
- :func:`random_direction`: plain N(0, 1) entries (CS231n's ``W1`` in "Visualizing the loss
  function"), optionally scaled to the weights' norm as a whole.
- :func:`pca_directions`: the top principal directions of a trajectory of weight vectors taken
  relative to its last point (Li et al. sec. 7), by the SVD of the small snapshot matrix.
- :func:`project`: coordinates of weight vectors in the plane (center, d1, d2), by least squares,
  so non-orthogonal directions are handled exactly.
"""

from __future__ import annotations

import numpy as np

from optlab.engine.layers import BatchNorm, LinearBiasTrick
from optlab.engine.models import Model


def _filters(model: Model) -> dict[str, tuple[slice | None, str]]:
    """Per parameter name: (rows holding filters' weights, kind) with kind 'weight' or 'bias'."""
    out: dict[str, tuple[slice | None, str]] = {}
    for lname, layer in model.layers:
        for key in layer.params:
            name = f"{lname}.{key}"
            if isinstance(layer, BatchNorm) or layer.params[key].ndim == 1:
                out[name] = (None, "bias")
            elif isinstance(layer, LinearBiasTrick):
                out[name] = (slice(0, -1), "weight")    # last row: the bias
            else:
                out[name] = (slice(None), "weight")
    return out


def filter_normalized(model: Model, weights: np.ndarray, rng: np.random.Generator,
                      include_biases: bool = False) -> np.ndarray:
    """A filter-normalised random direction (module docstring) at the flat weights ``weights``."""
    d = rng.standard_normal(weights.size)
    views = model.params
    for name, (rows, kind) in _filters(model).items():
        span, shape = views.spans[name], views[name].shape
        w, v = weights[span].reshape(shape), d[span].reshape(shape)
        if kind == "bias":
            v[...] = w if include_biases else 0.0
            continue
        part_w, part_v = w[rows], v[rows]                       # (fan_in, fan_out)
        # one filter = one column (an output unit's incoming weights): scale it to the weights'
        norm_w = np.linalg.norm(part_w, axis=0)                 # (fan_out,)
        norm_v = np.linalg.norm(part_v, axis=0)
        v[rows] = part_v * (norm_w / np.where(norm_v > 0, norm_v, 1.0))
        if rows != slice(None):                                 # the bias row of a bias-trick W
            v[-1] = w[-1] if include_biases else 0.0
    return d.astype(weights.dtype)


def random_direction(n: int, rng: np.random.Generator, like: np.ndarray | None = None) -> np.ndarray:
    """N(0, 1) entries; with ``like``, rescaled to ``like``'s norm (whole-vector normalisation)."""
    d = rng.standard_normal(n)
    if like is not None:
        d *= np.linalg.norm(like) / np.linalg.norm(d)
    return d if like is None else d.astype(like.dtype)


def pca_directions(points: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(k unit directions (k, n), share of the variance each explains) of the trajectory
    ``points`` (snapshots, n_params), taken relative to its last point, as Li et al. do.

    By the eigen-decomposition of the (snapshots x snapshots) Gram matrix, so memory is the
    snapshots' own, not n_params^2. Signs are fixed so the first snapshot has coordinates >= 0.
    """
    M = np.asarray(points, dtype=np.float64) - np.asarray(points[-1], dtype=np.float64)   # (s, n)
    gram = M @ M.T                                               # (s, s)
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:k]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    dirs = (vectors.T @ M) / np.sqrt(np.where(values > 0, values, 1.0))[:, None]   # (k, n), unit rows
    for i in range(len(dirs)):
        if dirs[i] @ M[0] < 0:
            dirs[i] = -dirs[i]
    total = float(np.trace(gram))
    return dirs, values / total if total > 0 else values


def project(points: np.ndarray, center: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """(alpha, beta) per point (s, 2): the least-squares coordinates of ``points - center`` on
    ``d1`` and ``d2``; exact for points in the plane."""
    D = np.stack([d1, d2]).astype(np.float64)                    # (2, n)
    M = np.asarray(points, dtype=np.float64) - np.asarray(center, dtype=np.float64)
    coef, *_ = np.linalg.lstsq(D.T, M.T, rcond=None)              # (2, s)
    return coef.T
