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


def _flatten_cast(x: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    if out is None:
        return flat.astype(dtype, copy=False)
    out = out.reshape(flat.shape)
    np.copyto(out, flat, casting="unsafe")   # astype's cast
    return out


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    n_classes: int
    class_names: list[str] = field(default_factory=list)
    # stored rows (batch, ...) -> model inputs (batch, features) in the given dtype
    # (``out=``: an array of the result's size and dtype to write into instead of a new one)
    transform: Callable[..., np.ndarray] = _flatten_cast
    # "test" when the validation split IS the test set (data.val_from: test, Nielsen's per-epoch
    # test accuracy): reports label it so, and its numbers must not be used for tuning
    val_source: str = "train"

    @property
    def n_features(self) -> int:
        return int(np.prod(self.train.x.shape[1:]))

    def features(self, x: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
        """Model inputs (batch, features) for stored rows ``x``. ``out``: an array of that size and
        dtype to fill instead of allocating one; the training loop passes one kept buffer, so a
        step does not allocate (and the OS map in) a new 400 KB MNIST batch each time."""
        dtype = np.dtype(dtype)
        return self.transform(x, dtype) if out is None else self.transform(x, dtype, out=out)


def hold_out(train: Split, val_size: int, rng: np.random.Generator) -> tuple[Split, Split]:
    """Move a random ``val_size`` examples out of ``train`` into a validation split."""
    if val_size >= len(train):
        raise ValueError(f"val_size={val_size} leaves no training data (the training set has {len(train)} examples)")
    order = rng.permutation(len(train))
    return train.take(np.sort(order[val_size:])), train.take(np.sort(order[:val_size]))
