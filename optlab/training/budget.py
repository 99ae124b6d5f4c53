"""Loss evaluations: the one budget every search strategy spends, and the functions that spend it.

A *loss evaluation* is one forward pass of the model over the examples a strategy asks about (a
mini-batch, or the whole training set) giving the objective that training minimises: the mean
data loss plus the penalty. Random search spends one per weight draw, random local search one per
proposal, the gradient strategy one per mini-batch step with the analytic gradient and
``1 + 2 * n_params`` with centred differences (the loss, then f(p + h) and f(p - h) per element).
Counting the same unit for all three is what lets ``compare`` put them on one x-axis.

Forward passes made to *report* a run (train / validation / test accuracy) are not counted: they
measure the search, they are not part of it.

The whole-training-set loss of CS231n's random search is a (n, D) x (D, C) product per
evaluation: :class:`Examples` converts the stored rows (uint8 for image sets) to float features
once, in chunks of ``chunk_rows``, and keeps them while they fit in ``cache_bytes`` (CIFAR-10's
49 000 x 3 072 float32 is 0.6 GB); above that it converts chunk by chunk at every evaluation, so
memory stays bounded either way. Chunk losses are summed in float64.

Random and local search evaluate many candidates per pass over the data (optlab.training.blocks); each
candidate is still one loss evaluation.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from optlab.data import Dataset, Split
from optlab.engine.numgrad import numerical_gradient

CHUNK_ROWS = 10_000            # rows per forward pass over a large set (scores are chunk x classes)
CACHE_BYTES = 1 << 30          # keep converted features up to 1 GiB, else convert per evaluation


class Examples:
    """A fixed set of examples as float feature chunks ``(x (rows, features), y (rows,))``."""

    def __init__(self, data: Dataset, split: Split, dtype, chunk_rows: int = CHUNK_ROWS,
                 cache_bytes: int = CACHE_BYTES) -> None:
        self.data, self.split, self.dtype = data, split, np.dtype(dtype)
        self.spans = [slice(s, min(s + chunk_rows, len(split))) for s in range(0, len(split), chunk_rows)]
        self.cached = len(split) * data.n_features * self.dtype.itemsize <= cache_bytes
        self._chunks = [self._convert(s) for s in self.spans] if self.cached else None

    def __len__(self) -> int:
        return len(self.split)

    def _convert(self, span: slice) -> tuple[np.ndarray, np.ndarray]:
        return self.data.features(self.split.x[span], self.dtype), self.split.y[span]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self._chunks is not None:
            return iter(self._chunks)
        return (self._convert(s) for s in self.spans)


class LossCounter:
    """The objective of ``setup``'s model at its current parameters, counting every evaluation.

    ``evals``: loss evaluations so far; ``examples``: examples forwarded in them.
    """

    def __init__(self, setup) -> None:
        self.setup = setup
        self.evals = 0
        self.examples = 0

    def penalty(self) -> float:
        """The penalty at the model's current parameters (no data: not an evaluation)."""
        s = self.setup
        return s.penalty.loss(s.model.params, s.model.weight_names) if s.penalty.active else 0.0

    def batch(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss + penalty on one batch of features: one evaluation."""
        out = self.setup.model.forward(x, train=True)
        loss, _ = self.setup.loss_fn(out, y)
        self.evals += 1
        self.examples += len(y)
        return float(loss) + self.penalty()

    def full(self, examples: Examples) -> float:
        """Mean loss + penalty over a whole set, chunk by chunk: one evaluation."""
        total = 0.0
        for x, y in examples:
            out = self.setup.model.forward(x, train=True)
            loss, _ = self.setup.loss_fn(out, y)
            total += float(loss) * len(y)          # chunk mean -> chunk sum, accumulated in float64
        self.evals += 1
        self.examples += len(examples)
        return total / len(examples) + self.penalty()


class GradientStep:
    """``step(x, y)``: the objective on a batch, with its gradient left in ``model.grads``.

    ``analytic``: backpropagation (:meth:`Setup.objective`), one evaluation. ``numerical``:
    centred differences of the same objective over every parameter element (optlab.engine.numgrad,
    docs/conventions.md: h = 1e-5, float64), ``1 + 2 * n_params`` evaluations: slow by design.
    """

    def __init__(self, setup, method: str = "analytic") -> None:
        if method not in ("analytic", "numerical"):
            raise ValueError(f"gradient must be analytic or numerical, got {method!r}")
        if method == "numerical" and setup.model.dtype != np.float64:
            raise ValueError("the numerical gradient needs float64 parameters (train.dtype: float64): in float32 "
                             "the rounding of f swamps (f(p + h) - f(p - h)) / 2h")
        self.setup, self.method = setup, method
        self.counter = LossCounter(setup)

    @property
    def evals(self) -> int:
        return self.counter.evals

    def __call__(self, x: np.ndarray, y: np.ndarray) -> float:
        if self.method == "analytic":
            self.counter.evals += 1
            self.counter.examples += len(y)
            return self.setup.objective(x, y)
        model = self.setup.model
        loss = self.counter.batch(x, y)
        grads = numerical_gradient(lambda: self.counter.batch(x, y), model.params)
        for name, g in grads.items():
            model.grads[name][...] = g
        return loss
