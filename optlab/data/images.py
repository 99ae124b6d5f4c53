"""The real image datasets (MNIST, Fashion-MNIST, CIFAR-10) as :class:`~optlab.data.base.Dataset`.

A load: find and verify the files (:func:`optlab.data.download.locate`, downloading what is
missing), parse them or read the parsed cache (:mod:`optlab.data.cache`), choose the training
and validation examples, and fit the preprocessing on the training examples
(:mod:`optlab.data.preprocess`). Images stay uint8, (n, channels, height, width).

Splits (``data:`` options, optlab/schema.py ``ImageData``):

- ``val_size`` examples of the training file are held out for validation; ``train_size``
  (default: all the others) are used for training; the test file is the test set.
- ``subset: random`` draws both with the run's ``split`` stream (the same for every optimizer
  compared under one seed); ``subset: first`` takes the file's first ``train_size`` images for
  training and the ``val_size`` images after them for validation (Nielsen's 50 000 / 10 000
  split is ``train_size: 50000, val_size: 10000``; his overfitting runs use the first 1 000).
- ``val_from: test`` evaluates on the test set at every evaluation instead (Nielsen plots test
  accuracy per epoch). The run's summary then records ``val_source: test`` and tables label the
  row "validation (= test)": such numbers describe the test set and must not be used to choose
  hyper-parameters.
"""

from __future__ import annotations

import numpy as np

from optlab.data import cache, cifar
from optlab.data.base import Dataset, Split
from optlab.data.download import Located, locate
from optlab.data.errors import DataError, DataFormatError
from optlab.data.idx import read_idx
from optlab.data.preprocess import fit
from optlab.data.sources import SPECS, DatasetSpec, data_root


def _parse_idx(located: Located) -> dict:
    spec = located.spec
    by_stem = {name.removesuffix(".gz"): path for name, path in located.paths.items()}
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path, labels_path = by_stem[f"{prefix}-images-idx3-ubyte"], by_stem[f"{prefix}-labels-idx1-ubyte"]
        x, y = read_idx(images_path, 3), read_idx(labels_path, 1)
        if x.shape[1:] != spec.image_shape[1:]:
            raise DataFormatError(f"{images_path}: images are {x.shape[1]}x{x.shape[2]}, expected "
                                  f"{spec.image_shape[1]}x{spec.image_shape[2]}")
        if len(x) != len(y):
            raise DataFormatError(f"{images_path} holds {len(x)} images but {labels_path} holds {len(y)} labels")
        if len(y) and y.max() >= len(spec.class_names):
            raise DataFormatError(f"{labels_path}: label {y.max()} is outside 0..{len(spec.class_names) - 1}")
        out[f"x_{split}"], out[f"y_{split}"] = x.reshape(len(x), *spec.image_shape), y
    out["class_names"] = list(spec.class_names)
    return out


PARSERS = {
    "idx": _parse_idx,
    "cifar-binary": lambda loc: cifar.read_binary_archive(loc.paths["cifar-10-binary.tar.gz"]),
    "cifar-python": lambda loc: cifar.read_python_archive(loc.paths["cifar-10-python.tar.gz"]),
    "cifar-binary-dir": lambda loc: cifar.read_binary_dir(loc.folder),
}
assert set(PARSERS) >= {s.kind for spec in SPECS.values() for s in spec.sources}


def read_arrays(located: Located, use_cache: bool = True) -> dict:
    """x_train, y_train, x_test, y_test (uint8) and class_names of located, verified files."""
    if not use_cache:
        return PARSERS[located.source.kind](located)
    paths = cache.candidates(located)      # next to the sources, else the per-user cache
    for path in paths:
        cached = cache.load(path, located.spec.image_shape)
        if cached is not None:
            return cached
    arrays = PARSERS[located.source.kind](located)
    for path in paths:
        if cache.save(path, arrays):
            break
    return arrays


def choose(n: int, train_size: int | None, val_size: int, subset: str,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices) into a training file of n examples, both sorted."""
    train_size = n - val_size if train_size is None else train_size
    if train_size < 1 or train_size + val_size > n:
        raise DataError(f"train_size + val_size = {train_size} + {val_size} does not fit the {n} examples "
                        "of the training file")
    if subset == "first":
        return np.arange(train_size), np.arange(train_size, train_size + val_size)
    order = rng.permutation(n)
    return np.sort(order[val_size:val_size + train_size]), np.sort(order[:val_size])


def _take(split: Split, idx: np.ndarray) -> Split:
    """Rows ``idx`` (sorted, distinct) of a split: a view when they are one contiguous run (all of
    it, or ``subset: first``), so the training set costs no second copy of the images."""
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:
        return Split(split.x[idx[0]:idx[-1] + 1], split.y[idx[0]:idx[-1] + 1])
    return split.take(idx)


def load_images(spec: DatasetSpec, cfg, split_rng: np.random.Generator, *, console=None) -> Dataset:
    located = locate(spec, data_root(cfg.root), allow_unverified=cfg.allow_unverified, console=console)
    arrays = read_arrays(located)
    full = Split(arrays["x_train"], arrays["y_train"].astype(np.int64))
    test = Split(arrays["x_test"], arrays["y_test"].astype(np.int64))
    train_idx, val_idx = choose(len(full), cfg.train_size, cfg.resolved_val_size, cfg.subset, split_rng)
    train, val = _take(full, train_idx), _take(full, val_idx)
    if cfg.val_from == "test":
        val = test
    transform = fit(cfg.preprocess, train.x, cfg.flatten)
    return Dataset(spec.name, train, val, test, len(arrays["class_names"]), list(arrays["class_names"]),
                   transform=transform, val_source=cfg.val_from)


def mnist(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    return load_images(SPECS["mnist"], cfg, split_rng)


def fashion_mnist(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    return load_images(SPECS["fashion_mnist"], cfg, split_rng)


def cifar10(cfg, data_rng: np.random.Generator, split_rng: np.random.Generator) -> Dataset:
    return load_images(SPECS["cifar10"], cfg, split_rng)
