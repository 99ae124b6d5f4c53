"""Built-in synthetic datasets that need no network: spiral, blobs and a single example.

The training and test sets are independent draws from the same distribution; validation is held
out of the training draw. All randomness comes from the Generators passed in.
"""

from __future__ import annotations

import numpy as np

from optlab.data.base import Dataset, Split, hold_out


def _balanced_labels(n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """n labels, as equal per class as n allows, in random order."""
    return rng.permutation(np.arange(n) % classes)


def spiral_points(n: int, classes: int, noise: float, rng: np.random.Generator) -> Split:
    """CS231n's spiral: arm k at radius r ~ U(0, 1) has angle 4 (k + r) + noise * N(0, 1)."""
    y = _balanced_labels(n, classes, rng)
    r = rng.random(n)
    theta = 4.0 * (y + r) + noise * rng.standard_normal(n)
    x = np.column_stack([r * np.sin(theta), r * np.cos(theta)])
    return Split(x, y)


def blob_points(n: int, centres: np.ndarray, std: float, rng: np.random.Generator) -> Split:
    """Isotropic Gaussian clusters around ``centres`` (classes, dims)."""
    y = _balanced_labels(n, len(centres), rng)
    x = centres[y] + std * rng.standard_normal((n, centres.shape[1]))
    return Split(x, y)


def spiral(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    train = spiral_points(cfg.size, cfg.classes, cfg.noise, data_rng)
    test = spiral_points(cfg.test_size, cfg.classes, cfg.noise, data_rng)
    train, val = hold_out(train, cfg.val_size, split_rng)
    return Dataset("spiral", train, val, test, cfg.classes, [f"arm {k}" for k in range(cfg.classes)])


def blobs(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    centres = data_rng.uniform(-cfg.spread, cfg.spread, size=(cfg.classes, cfg.dims))
    train = blob_points(cfg.size, centres, cfg.std, data_rng)
    test = blob_points(cfg.test_size, centres, cfg.std, data_rng)
    train, val = hold_out(train, cfg.val_size, split_rng)
    return Dataset("blobs", train, val, test, cfg.classes, [f"blob {k}" for k in range(cfg.classes)])


def single(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    """One example; no validation or test split (there is nothing to generalise to)."""
    one = Split(np.array([[cfg.x]]), np.array([cfg.y]))
    empty = Split(np.zeros((0, 1)), np.zeros(0, dtype=np.int64))
    return Dataset("single", one, empty, empty, 2, ["0", "1"])
