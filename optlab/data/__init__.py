"""Datasets: the registry from config name to loader, and the one entry point :func:`load_dataset`.

A loader takes the config's ``data:`` section and two Generators (``data`` for generating
examples, ``split`` for the validation hold-out and subsets) and returns a
:class:`~optlab.data.base.Dataset`.
"""

from __future__ import annotations

from optlab.data import synthetic
from optlab.data.base import Dataset, Split
from optlab.rng import stream

DATASETS = {
    "spiral": synthetic.spiral,
    "blobs": synthetic.blobs,
    "single": synthetic.single,
}


def load_dataset(cfg, seed: int) -> Dataset:
    """The dataset a config's ``data:`` section names, with its splits drawn from ``seed``."""
    return DATASETS[cfg.name](cfg, stream(seed, "data"), stream(seed, "split"))


__all__ = ["DATASETS", "Dataset", "Split", "load_dataset"]
