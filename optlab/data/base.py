"""The dataset interface every dataset plugs into.

A :class:`Dataset` holds three :class:`Split` objects (train / validation / test), each with
stored inputs ``x`` (any dtype: real image sets keep uint8 to save memory) and integer labels
``y``. ``features(x_rows, dtype)`` turns stored rows into the float matrix a model consumes,
one batch at a time, so preprocessing (scaling, standardisation with training statistics,
flattening) never has to materialise a float copy of the whole set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Split:
    x: np.ndarray   # (n, ...) stored inputs
    y: np.ndarray   # (n,) integer labels

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray) -> Split:
        return Split(self.x[idx], self.y[idx])


def _flatten_cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return x.reshape(len(x), -1).astype(dtype, copy=False)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    n_classes: int
    class_names: list[str] = field(default_factory=list)
    # stored rows (batch, ...) -> model inputs (batch, features) in the given dtype
    transform: Callable[[np.ndarray, np.dtype], np.ndarray] = _flatten_cast
    # "test" when the validation split IS the test set (data.val_from: test, Nielsen's per-epoch
    # test accuracy): reports label it so, and its numbers must not be used for tuning
    val_source: str = "train"

    @property
    def n_features(self) -> int:
        return int(np.prod(self.train.x.shape[1:]))

    def features(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return self.transform(x, np.dtype(dtype))


def hold_out(train: Split, val_size: int, rng: np.random.Generator) -> tuple[Split, Split]:
    """Move a random ``val_size`` examples out of ``train`` into a validation split."""
    if val_size >= len(train):
        raise ValueError(f"val_size={val_size} leaves no training data (the training set has {len(train)} examples)")
    order = rng.permutation(len(train))
    return train.take(np.sort(order[val_size:])), train.take(np.sort(order[:val_size]))
