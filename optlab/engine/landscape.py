"""The loss at many points of a plane (or line) in weight space at once: the engine of loss-landscape
pictures (1-D interpolations, 2-D slices, the optimizer's path on its PCA plane).

Every picture evaluates weights of the form ``w(c) = center + c_1 d_1 + ... + c_m d_m`` for a grid
of coefficient rows c (K, m). :class:`PlaneLoss` evaluates K of them per forward pass instead of
one model evaluation per point:

- the first layer is affine in its weights, so its pre-activations on the fixed inputs X are
  ``X W(c) + b(c) = (X W_0 + b_0) + sum_j c_j (X D_j + e_j)``: the m + 1 products with X (the
  largest of the network: 5 000 x 784 x 100 for the MNIST MLP over 5 000 examples) are computed
  once for the whole grid, and each point then costs m scaled additions of (n, h) arrays;
- each point then goes through the later layers on its own weights, one (n, h) @ (h, h') product
  a layer, its activations in two (n, width) arrays that stay in the cache, then its loss and
  penalty. Points are independent, so ``threads`` threads take groups of them side by side; every
  point is computed the same way on any thread, so the numbers do not depend on the count.

Evaluation mode throughout (``train=False``): dropout passes its input through, batch norm uses
its running statistics, which may themselves vary along the plane (``buffer_directions``: the
1-D interpolation moves them from their initial to their final values). At c = 0 the first
layer's result is exactly ``X W_0 + b_0``, so the origin gives the model's own numbers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from optlab.engine.layers import BatchNorm, Dropout, Linear, LinearBiasTrick, ReLU, Sigmoid, Tanh, sigmoid
from optlab.engine.losses import Loss, accuracy
from optlab.engine.models import Model
from optlab.engine.regularizers import Penalty

DEFAULT_BUDGET = 256 * 2**20    # bytes of activations per batch of grid points


def _affine(layer, W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A (bias-trick) linear layer on x (..., n, fan_in) with W (..., rows, fan_out) and, for a plain
    Linear, W's bias passed as the last row too (see :meth:`PlaneLoss._layer_weights`)."""
    out = np.matmul(x, W[..., :-1, :])
    out += W[..., -1:, :]
    return out


class PlaneLoss:
    """Mean data loss + penalty, and accuracy, at ``center + C @ directions`` for rows of C.

    ``x`` (n, features) in the model's dtype and ``y`` (n,): the fixed examples. ``directions``
    (m, n_params); ``buffer_directions`` (m, n_buffers) or None (the buffers stay at
    ``buffer_center``, default the model's own).
    """

    def __init__(self, model: Model, loss_fn: Loss, penalty: Penalty, x: np.ndarray, y: np.ndarray,
                 center: np.ndarray, directions: np.ndarray, buffer_center: np.ndarray | None = None,
                 buffer_directions: np.ndarray | None = None, budget: int = DEFAULT_BUDGET,
                 threads: int = 1) -> None:
        self.model, self.loss_fn, self.penalty, self.y = model, loss_fn, penalty, y
        self.dtype = model.dtype
        self.center = np.asarray(center, dtype=self.dtype)
        self.D = np.atleast_2d(np.asarray(directions, dtype=self.dtype))          # (m, P)
        self.bc = model.flat_buffers.copy() if buffer_center is None else np.asarray(buffer_center, self.dtype)
        self.Db = (np.zeros((len(self.D), self.bc.size), self.dtype) if buffer_directions is None
                   else np.atleast_2d(np.asarray(buffer_directions, dtype=self.dtype)))
        first = model.layers[0][1]
        if not isinstance(first, (Linear, LinearBiasTrick)):
            raise ValueError("a landscape needs a model whose first layer is linear")
        for _, layer in model.layers[1:]:
            if not isinstance(layer, (Linear, LinearBiasTrick, ReLU, Sigmoid, Tanh, Dropout, BatchNorm)):
                raise ValueError(f"no batched evaluation for a {type(layer).__name__} layer")
        x = np.asarray(x, dtype=self.dtype)
        self.n = len(x)
        W0 = self._layer_weights(0, self.center)                                # (fan_in + 1, h)
        self.base = _affine(first, W0, x)                                      # (n, h) = X W_0 + b_0
        # (m, n*h): X D_j + e_j without the center, one row per direction
        self.U = np.stack([(_affine(first, self._layer_weights(0, d), x)) for d in self.D]).reshape(len(self.D), -1)
        widths = [self.base.shape[1]] + [layer.params["W"].shape[1] for _, layer in model.layers[1:]
                                         if isinstance(layer, (Linear, LinearBiasTrick))]
        # what a landscape's memory check counts per point of a chunk: its weights and three
        # (n, width) activations (a thread now holds its own two, but the bound stays safe)
        self.bytes_per_point = self.dtype.itemsize * (self.center.size + 3 * self.n * max(widths))
        self.chunk = max(1, int(budget // self.bytes_per_point))
        self.threads = max(1, int(threads))
        self._pool: ThreadPoolExecutor | None = None

    def _layer_weights(self, i: int, flat: np.ndarray) -> np.ndarray:
        """Layer i's weights from flat parameter vectors (..., P) as (..., rows, fan_out), the bias
        as the last row (a bias-trick W already is)."""
        lname, layer = self.model.layers[i]
        spans = self.model.params.spans
        W = flat[..., spans[f"{lname}.W"]].reshape(*flat.shape[:-1], *layer.params["W"].shape)
        if isinstance(layer, LinearBiasTrick):
            return W
        b = flat[..., spans[f"{lname}.b"]].reshape(*flat.shape[:-1], 1, -1)
        return np.concatenate([W, b], axis=-2)

    def __call__(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(loss (K,), accuracy (K,)) at the points with coefficient rows ``coeffs`` (K, m)."""
        coeffs = np.atleast_2d(np.asarray(coeffs, dtype=self.dtype))
        losses, accs = np.empty(len(coeffs)), np.empty(len(coeffs))
        for start in range(0, len(coeffs), self.chunk):
            part = coeffs[start:start + self.chunk]
            losses[start:start + len(part)], accs[start:start + len(part)] = self._chunk(part)
        return losses, accs

    def _chunk(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        K = len(C)
        losses, accs = np.empty(K), np.empty(K)
        # Points are independent: each thread takes a contiguous group of them, on one BLAS thread
        # each, so a point's numbers do not depend on the thread count.
        work = [(int(g[0]), int(g[-1]) + 1) for g in np.array_split(np.arange(K), min(self.threads, K)) if len(g)]
        if len(work) == 1:
            self._points(C, losses, accs, *work[0])
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="optlab-plane")
            for future in [self._pool.submit(self._points, C, losses, accs, lo, hi) for lo, hi in work]:
                future.result()
        return losses, accs

    def _points(self, C: np.ndarray, losses: np.ndarray, accs: np.ndarray, lo: int, hi: int) -> None:
        """Points lo..hi-1 of C through the whole network, one point at a time: a point's (n, width)
        activations stay in the cache from layer to layer, where a layer-by-layer pass over the whole
        chunk streams (K, n, width) arrays through memory (docs/performance.md)."""
        model, spans, bspans = self.model, self.model.params.spans, self.model.buffers.spans
        width = max([self.base.shape[1]] + [layer.params["W"].shape[1] for _, layer in model.layers[1:]
                                            if isinstance(layer, (Linear, LinearBiasTrick))])
        act = [np.empty(self.n * width, self.dtype) for _ in range(2)]       # two (n, width) buffers, in turn
        params, buffers = np.empty_like(self.center), np.empty_like(self.bc)
        scratch = np.empty(max(self.center.size, self.bc.size, self.base.size), self.dtype)
        U = self.U.reshape(len(self.D), self.n, -1)                            # (m, n, h)
        for k in range(lo, hi):
            c = C[k]
            _combine(self.center, c, self.D, params, scratch)                       # (P,) this point's weights
            _combine(self.bc, c, self.Db, buffers, scratch)
            h = _combine(self.base, c, U, act[0][:self.base.size].reshape(self.base.shape), scratch)   # (n, h)
            turn = 1
            for i, (lname, layer) in enumerate(model.layers[1:], start=1):
                if isinstance(layer, (Linear, LinearBiasTrick)):
                    W = self._layer_weights(i, params)                         # (fan_in + 1, fan_out)
                    out = act[turn][:self.n * W.shape[1]].reshape(self.n, -1)
                    np.matmul(h, W[:-1], out=out)                              # (n, fan_out)
                    out += W[-1]
                    h, turn = out, 1 - turn
                elif isinstance(layer, ReLU):
                    np.maximum(h, 0, out=h)
                elif isinstance(layer, Sigmoid):
                    h = sigmoid(h)
                elif isinstance(layer, Tanh):
                    np.tanh(h, out=h)
                elif isinstance(layer, BatchNorm):                            # evaluation mode
                    inv = 1 / np.sqrt(buffers[bspans[f"{lname}.running_var"]] + layer.eps)
                    h = params[spans[f"{lname}.gamma"]] * ((h - buffers[bspans[f"{lname}.running_mean"]]) * inv) \
                        + params[spans[f"{lname}.beta"]]
                # Dropout in evaluation mode: the identity
            losses[k] = self.loss_fn(h, self.y)[0] + self._penalty(params)
            accs[k] = accuracy(h, self.y)

    def close(self) -> None:
        """Stop the worker threads (made on first use with ``threads`` > 1)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _penalty(self, params: np.ndarray) -> float:
        """The penalty of one point's weights (P,), as optlab.engine.regularizers.Penalty.loss."""
        total = 0.0
        spans = self.model.params.spans
        for name in self.model.weight_names:
            seg = params[spans[name]]
            if self.penalty.l2:
                total += 0.5 * self.penalty.l2 * float(np.sum(seg * seg, dtype=np.float64))
            if self.penalty.l1:
                total += self.penalty.l1 * float(np.sum(np.abs(seg), dtype=np.float64))
        return total


def _combine(center: np.ndarray, c: np.ndarray, D: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``center + sum_j c[j] D[j]`` into ``out`` (center's shape; D (m, *center.shape)); ``scratch``
    at least center.size long."""
    np.copyto(out, center)
    term = scratch[:center.size].reshape(center.shape)
    for j in range(len(c)):
        out += np.multiply(D[j], c[j], out=term)
    return out


def grid_coefficients(alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Coefficient rows (len(betas) * len(alphas), 2) of a grid, row-major: row i*len(alphas)+j is
    (alphas[j], betas[i]), so ``values.reshape(len(betas), len(alphas))`` is the grid Z[beta, alpha]
    that matplotlib's contour(alphas, betas, Z) expects."""
    A, B = np.meshgrid(alphas, betas)
    return np.stack([A.ravel(), B.ravel()], axis=1)
