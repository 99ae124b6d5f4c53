"""Mini-batch sampling with a position that can be saved and restored mid-epoch.

docs/conventions.md ("mini-batches"): shuffled without replacement each epoch from the run's
``batches`` Generator; ``sampling: replacement`` draws each batch independently. The sampler is
an object rather than a Python generator so a checkpoint can record where it is — the epoch,
the current permutation and the offset into it — and a resumed run draws exactly the batches
an uninterrupted run would have drawn. The Generator's own state is saved with the run's other
streams (:class:`optlab.engine.rng.Streams`), not here.
"""

from __future__ import annotations

import math

import numpy as np


class BatchSampler:
    """Endless ``(epoch, indices)`` mini-batches over ``n`` examples."""

    def __init__(self, n: int, batch_size: int, sampling: str, rng: np.random.Generator) -> None:
        if sampling not in ("shuffle", "replacement"):
            raise ValueError(f"unknown sampling {sampling!r}")
        self.n, self.batch_size, self.sampling, self.rng = n, batch_size, sampling, rng
        self.per_epoch = math.ceil(n / batch_size)
        self.epoch = 0
        self.offset = 0                                  # batches already drawn in this epoch
        self.order: np.ndarray | None = None             # this epoch's permutation (shuffle only)

    def __iter__(self) -> BatchSampler:
        return self

    def __next__(self) -> tuple[int, np.ndarray]:
        if self.offset == self.per_epoch:                # the previous epoch is used up
            self.epoch, self.offset, self.order = self.epoch + 1, 0, None
        if self.sampling == "replacement":
            idx = self.rng.integers(0, self.n, size=self.batch_size)
        else:
            if self.order is None:                       # drawn lazily: exactly when a batch needs it
                self.order = self.rng.permutation(self.n)
            start = self.offset * self.batch_size
            idx = self.order[start: start + self.batch_size]
        self.offset += 1
        return self.epoch, idx

    def state_dict(self) -> dict:
        """Position within the epoch; ``order`` is an array (empty when not drawn yet)."""
        order = self.order if self.order is not None else np.zeros(0, dtype=np.int64)
        return {"epoch": self.epoch, "offset": self.offset, "order": order.copy()}

    def load_state_dict(self, state: dict) -> None:
        order = np.asarray(state["order"])
        if self.sampling == "shuffle" and len(order) not in (0, self.n):
            raise ValueError(f"saved permutation has {len(order)} entries; the training set has {self.n}")
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self.order = order.copy() if len(order) else None
