"""Datasets: the registry from config name to loader, and the one entry point :func:`load_dataset`.

A loader takes the config's ``data:`` section and two Generators (``data`` for generating
examples, ``split`` for the validation hold-out and subsets) and returns a
:class:`~optlab.data.base.Dataset`. Synthetic sets are generated (``synthetic.py``); the real
image sets are read from verified files (``images.py``; files, checksums and downloads in
``sources.py`` and ``download.py``).
"""

from __future__ import annotations

from optlab.data import synthetic
from optlab.data.base import Dataset, Split
from optlab.data.errors import DataError
from optlab.engine.rng import stream


def _images(name: str):
    """The loader ``name`` of optlab.data.images, imported when a config asks for it: its readers,
    cache and downloads are not needed by a run on generated data."""
    def load(cfg, data_rng, split_rng) -> Dataset:
        from optlab.data import images

        return getattr(images, name)(cfg, data_rng, split_rng)
    return load


DATASETS = {
    "spiral": synthetic.spiral,
    "blobs": synthetic.blobs,
    "single": synthetic.single,
    "mnist": _images("mnist"),
    "fashion_mnist": _images("fashion_mnist"),
    "cifar10": _images("cifar10"),
}


def load_dataset(cfg, seed: int) -> Dataset:
    """The dataset a config's ``data:`` section names, with its splits drawn from ``seed``."""
    return DATASETS[cfg.name](cfg, stream(seed, "data"), stream(seed, "split"))


def ensure_files(cfg, console=None) -> None:
    """Make sure a config's dataset files are on disk and verified, downloading them (with a
    progress bar on ``console``) if needed; nothing to do for generated datasets.

    The CLI calls this before training starts, so a download shows its own progress bar and a
    missing dataset fails before any run directory is made.
    """
    from optlab.data.sources import SPECS, data_root

    if cfg is not None and cfg.name in SPECS:   # None: a surface model has no data
        from optlab.data.download import locate

        locate(SPECS[cfg.name], data_root(cfg.root), allow_unverified=cfg.allow_unverified, console=console)


__all__ = ["DATASETS", "DataError", "Dataset", "Split", "ensure_files", "load_dataset"]
