"""Many candidate weight vectors per pass over the data: how random and local search stay fast.

A whole-training-set loss is dominated by the first layer's product x W1: (n, D) x (D, H), with
H = 10 classes for CIFAR-10's linear SVM. A product that skinny runs far below the speed of
memory in BLAS (49 000 x 3 072 x 10 in float32 takes ~4x as long as reading x once on a 2-core
machine; ``benchmarks/search_speed.py``), while a block of 16 such products as one
(n, D) x (D, 16 H) product costs about as much as one.

Every optlab model starts with an affine layer, ``z1 = x W1 + b1`` (or ``[x, 1] W1`` with the bias
trick), and z1 is linear in (W1, b1). A random or local search candidate is ``base + delta``
(random: base 0, delta = scale * N(0, 1); local: base = the incumbent, delta = step * N(0, 1)), so

    z1(base + delta_j) = z1(base) + x delta_j.W1 + delta_j.b1

and the deltas do not depend on which candidates are accepted: a block of K deltas costs one
(n, D) x (D, K H) product, z1(base) is kept from the last accepted candidate, and the rest of the
network (any layers after the first) and the loss run per candidate. Each candidate is one loss
evaluation, exactly as if evaluated alone (optlab.training.budget); the values agree with a fresh forward
pass to rounding (z1(base) accumulates one rounding per accepted step; tests check 1e-13 relative
in float64).

Memory: z1 of the base and of the block's deltas for the whole set, n x (K + 2) x H floats; K is
capped so that this stays under ``BLOCK_BYTES``.
"""

from __future__ import annotations

import numpy as np

from optlab.engine.layers import Linear, LinearBiasTrick
from optlab.training.budget import Examples, LossCounter

BLOCK = 16                 # deltas per pass: 16 x 10 columns are enough for BLAS to run at full speed
BLOCK_BYTES = 1 << 28      # cap on the first-layer outputs kept for the whole set (256 MiB)


class BlockEvaluator:
    """Losses of ``base + deltas[j]`` over a whole set, ``len(deltas)`` of them per pass.

    ``set_base(base)`` (None: the zero vector), ``base_loss()``, then per block ``load(deltas)``
    and ``loss(j)`` for each j in order, with ``accept(j)`` making candidate j the new base.
    """

    def __init__(self, counter: LossCounter, examples: Examples) -> None:
        model = counter.setup.model
        (name, first), self.rest = model.layers[0], model.layers[1:]
        if not self.supports(model):
            raise TypeError(f"the first layer must be affine (Linear), not {type(first).__name__}")
        self.counter, self.examples, self.model = counter, examples, model
        self.labels = [examples.split.y[s] for s in examples.spans]
        self.trick = isinstance(first, LinearBiasTrick)
        # The first layer's W (and b) as slices of the flat parameter vector, in Model's order.
        offsets, at = {}, 0
        for key, value in model.params.items():
            offsets[key], at = slice(at, at + value.size), at + value.size
        self.w_span, self.w_shape = offsets[f"{name}.W"], first.params["W"].shape
        self.b_span = None if self.trick else offsets[f"{name}.b"]
        self.width = self.w_shape[1]                                     # H
        per_candidate = len(examples) * self.width * model.dtype.itemsize
        self.block = int(max(1, min(BLOCK, BLOCK_BYTES // per_candidate - 2)))
        self.base: np.ndarray | None = None
        self.z_base: list[np.ndarray] | None = None                      # per chunk, (rows, H)
        self.deltas: np.ndarray | None = None
        self.z_deltas: list[np.ndarray] = []                              # per chunk, (rows, K * H)
        self.z_last: tuple[int, list[np.ndarray]] | None = None          # (j, z1 per chunk) of loss(j)

    @staticmethod
    def supports(model) -> bool:
        return isinstance(model.layers[0][1], (Linear, LinearBiasTrick))

    def _first_layer(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W (D, K*H), b (K*H,)) of K flat vectors (K, n_params), columns grouped by vector."""
        k = len(vectors)
        W = vectors[:, self.w_span].reshape(k, *self.w_shape)                # (K, D[+1], H)
        if self.trick:
            W, b = W[:, :-1], W[:, -1]
        else:
            b = vectors[:, self.b_span]                                         # (K, H)
        W_all = np.ascontiguousarray(W.transpose(1, 0, 2).reshape(W.shape[1], k * self.width))
        return W_all, np.ascontiguousarray(b).reshape(k * self.width)

    def _project(self, vectors: np.ndarray) -> list[np.ndarray]:
        """x W + b of each chunk for K vectors: one pass over the data, (rows, K*H) per chunk."""
        W, b = self._first_layer(vectors)
        return [x @ W + b for x, _ in self.examples]

    def _loss_of(self, vector: np.ndarray, z_chunks: list[np.ndarray]) -> float:
        """Rest of the network + loss + penalty of ``vector`` from its first-layer outputs: one evaluation."""
        self.model.flat_params[...] = vector
        total = 0.0
        for z, y in zip(z_chunks, self.labels):
            for _, layer in self.rest:
                z = layer.forward(z, train=True)
            loss, _ = self.counter.setup.loss_fn(z, y)
            total += float(loss) * len(y)                  # chunk mean -> chunk sum, in float64
        self.counter.evals += 1
        self.counter.examples += len(self.examples)
        return total / len(self.examples) + self.counter.penalty()

    def set_base(self, base: np.ndarray | None) -> None:
        self.base = None if base is None else base.copy()
        self.z_base = None if base is None else self._project(base[None])

    def base_loss(self) -> float:
        return self._loss_of(self.base, self.z_base)

    def load(self, deltas: np.ndarray) -> None:
        """The next block of deltas (K, n_params), K <= ``self.block``."""
        self.deltas, self.z_deltas, self.z_last = deltas, self._project(deltas), None

    def loss(self, j: int) -> float:
        h = self.width
        z = [zd[:, j * h:(j + 1) * h] for zd in self.z_deltas]
        if self.base is None:
            candidate = self.deltas[j]
        else:
            candidate = self.base + self.deltas[j]
            z = [zb + zd for zb, zd in zip(self.z_base, z)]
        self.z_last = (j, z)
        return self._loss_of(candidate, z)

    def accept(self, j: int) -> np.ndarray:
        """Candidate j (just evaluated) becomes the base; returns it."""
        last, z = self.z_last
        assert last == j, "accept the candidate whose loss was computed last"
        self.base = self.deltas[j].copy() if self.base is None else self.base + self.deltas[j]
        self.z_base = z
        return self.base
