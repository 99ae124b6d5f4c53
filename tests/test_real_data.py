"""Genuine MNIST from the directory named by OPTLAB_TEST_DATA (it holds mnist/ with the original
IDX files): checksums, counts, shapes, label ranges, pixel statistics, and a short training run
that learns. Skipped, with the reason, when OPTLAB_TEST_DATA is unset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from optlab.config.loading import load_config, loads_config
from optlab.data import load_dataset
from optlab.data.download import locate, presence
from optlab.data.images import read_arrays
from optlab.data.preprocess import channel_moments
from optlab.data.sources import SPECS
from optlab.training.run import run

SOURCE = os.environ.get("OPTLAB_TEST_DATA")
pytestmark = pytest.mark.skipif(
    not SOURCE, reason="real-data test: set OPTLAB_TEST_DATA to a directory holding mnist/ with the original "
                       "IDX files (.ci/run uses ../shared/data)")

# Images per class in MNIST's training and test files (LeCun et al.; also torchvision's counts).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data directory whose mnist/ links to the real files, so the parsed cache is written here
    and never into OPTLAB_TEST_DATA."""
    assert (Path(SOURCE) / "mnist").is_dir(), f"OPTLAB_TEST_DATA={SOURCE} has no mnist/ folder"
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    for f in (Path(SOURCE) / "mnist").iterdir():
        if f.is_file():
            (root / "mnist" / f.name).symlink_to(f.resolve())
    return root


@pytest.fixture(autouse=True)
def _data_dir(root, monkeypatch):
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(root))


@pytest.fixture(scope="module")
def arrays(root):
    return read_arrays(locate(SPECS["mnist"], root, download=False))


def test_files_match_the_published_checksums(root):
    located = locate(SPECS["mnist"], root, download=False)
    assert located.verified and located.source.note == "gzipped IDX files"
    assert presence(SPECS["mnist"], root).state == "verified"


def test_counts_shapes_and_labels(arrays):
    assert arrays["x_train"].shape == (60_000, 1, 28, 28) and arrays["x_test"].shape == (10_000, 1, 28, 28)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.uint8
    assert np.bincount(arrays["y_train"], minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(arrays["y_test"], minlength=10).tolist() == TEST_COUNTS
    assert arrays["x_train"].min() == 0 and arrays["x_train"].max() == 255


def test_pixel_statistics_are_the_familiar_ones(arrays):
    mean, std = channel_moments(arrays["x_train"])
    assert abs(mean[0] / 255 - 0.1307) < 1e-4 and abs(std[0] / 255 - 0.3081) < 1e-4   # torchvision's Normalize


def test_nielsen_config_takes_the_first_1000_and_evaluates_on_test(arrays):
    data = load_dataset(load_config(REPO / "configs" / "nielsen_overfit.yaml").data, seed=0)
    np.testing.assert_array_equal(data.train.x, arrays["x_train"][:1000])
    assert data.val is data.test and len(data.test) == 10_000 and data.val_source == "test"


def test_short_mnist_run_learns(tmp_path):
    text = ("name: mnist_short\nseed: 0\n"
            "data: {name: mnist, train_size: 10000, val_size: 2000, preprocess: scale}\n"
            "model: {name: mlp, hidden: [64], init: he}\nloss: cross_entropy\n"
            "optimizer: {name: adam, lr: 0.002}\n"
            "train: {batch_size: 100, iterations: 300, eval_every: 300, eval_train_size: 2000, dtype: float32}\n")
    result = run(loads_config(text), tmp_path / "runs")
    acc = result.summary["accuracy"]
    assert result.status == "completed"
    assert acc["val"]["final"] > 0.9 and acc["test"]["final"] > 0.9, acc
