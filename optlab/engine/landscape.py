"""The loss at many points of a plane (or line) in weight space at once: the engine of loss-landscape
pictures (1-D interpolations, 2-D slices, the optimizer's path on its PCA plane).

Every picture evaluates weights of the form ``w(c) = center + c_1 d_1 + ... + c_m d_m`` for a grid
of coefficient rows c (K, m). :class:`PlaneLoss` evaluates K of them per forward pass instead of
one model evaluation per point:

- the first layer is affine in its weights, so its pre-activations on the fixed inputs X are
  ``X W(c) + b(c) = (X W_0 + b_0) + sum_j c_j (X D_j + e_j)``: the m + 1 products with X (the
  largest of the network: 5 000 x 784 x 100 for the MNIST MLP over 5 000 examples) are computed
  once for the whole grid, and each point then costs one (K, m) @ (m, n*h) product;
- the later layers run on a stack of K weight sets, one (n, h) @ (h, h') product per point into
  activation arrays kept from chunk to chunk, and the loss and penalty are taken per point.

Evaluation mode throughout (``train=False``): dropout passes its input through, batch norm uses
its running statistics, which may themselves vary along the plane (``buffer_directions``: the
1-D interpolation moves them from their initial to their final values). At c = 0 the first
layer's result is exactly ``X W_0 + b_0``, so the origin gives the model's own numbers.
"""

from __future__ import annotations

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
                 buffer_directions: np.ndarray | None = None, budget: int = DEFAULT_BUDGET) -> None:
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
        # per point: its weights, and about three live (n, width) activations
        self.bytes_per_point = self.dtype.itemsize * (self.center.size + 3 * self.n * max(widths))
        self.chunk = max(1, int(budget // self.bytes_per_point))
        self._buffers: dict[int, np.ndarray] = {}

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
        model, spans, bspans = self.model, self.model.params.spans, self.model.buffers.spans
        params = self.center + C @ self.D                                      # (K, P)
        buffers = self.bc + C @ self.Db                                        # (K, B)
        # every (K, n, width) activation goes into an array kept between chunks: a fresh one of
        # 40 MB per layer and chunk costs its page faults each time (docs/performance.md)
        h = np.matmul(C, self.U, out=self._buffer(0, K, self.U.shape[1])).reshape(K, self.n, -1)   # (K, n, h)
        h += self.base
        for i, (lname, layer) in enumerate(model.layers[1:], start=1):
            if isinstance(layer, (Linear, LinearBiasTrick)):
                W = self._layer_weights(i, params)                             # (K, fan_in + 1, fan_out)
                out = self._buffer(i, K, self.n * W.shape[-1]).reshape(K, self.n, -1)
                for k in range(K):   # one 2-D product per point: 25 % faster than numpy's stacked matmul
                    np.matmul(h[k], W[k, :-1, :], out=out[k])                  # (n, fan_out)
                h = out
                h += W[:, -1:, :]
            elif isinstance(layer, ReLU):
                np.maximum(h, 0, out=h)
            elif isinstance(layer, Sigmoid):
                h = sigmoid(h)
            elif isinstance(layer, Tanh):
                np.tanh(h, out=h)
            elif isinstance(layer, BatchNorm):                                # evaluation mode
                mean = buffers[:, bspans[f"{lname}.running_mean"]][:, None, :]
                var = buffers[:, bspans[f"{lname}.running_var"]][:, None, :]
                gamma = params[:, spans[f"{lname}.gamma"]][:, None, :]
                beta = params[:, spans[f"{lname}.beta"]][:, None, :]
                h = gamma * ((h - mean) * (1 / np.sqrt(var + layer.eps))) + beta
            # Dropout in evaluation mode: the identity
        reg = self._penalty(params)
        losses = np.array([self.loss_fn(h[k], self.y)[0] for k in range(K)]) + reg
        accs = np.array([accuracy(h[k], self.y) for k in range(K)])
        return losses, accs

    def _buffer(self, i: int, K: int, size: int) -> np.ndarray:
        """Layer i's output array for K points, (K, size), reused from chunk to chunk."""
        buf = self._buffers.get(i)
        if buf is None or buf.shape[0] < K or buf.shape[1] != size:
            buf = self._buffers[i] = np.empty((K, size), self.dtype)
        return buf[:K]

    def _penalty(self, params: np.ndarray) -> np.ndarray:
        """The penalty of each point's weights (K,), as optlab.engine.regularizers.Penalty.loss."""
        total = np.zeros(len(params))
        spans = self.model.params.spans
        for name in self.model.weight_names:
            seg = params[:, spans[name]]
            if self.penalty.l2:
                total += 0.5 * self.penalty.l2 * np.sum(seg * seg, axis=1, dtype=np.float64)
            if self.penalty.l1:
                total += self.penalty.l1 * np.sum(np.abs(seg), axis=1, dtype=np.float64)
        return total


def grid_coefficients(alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Coefficient rows (len(betas) * len(alphas), 2) of a grid, row-major: row i*len(alphas)+j is
    (alphas[j], betas[i]), so ``values.reshape(len(betas), len(alphas))`` is the grid Z[beta, alpha]
    that matplotlib's contour(alphas, betas, Z) expects."""
    A, B = np.meshgrid(alphas, betas)
    return np.stack([A.ravel(), B.ravel()], axis=1)
