"""Synthetic datasets and the dataset interface: sizes, balance, seeding, hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from optlab.config.schema import BlobsData, SingleData, SpiralData
from optlab.data import load_dataset
from optlab.data.base import Split, hold_out
from optlab.training.sampling import BatchSampler


@pytest.mark.parametrize("cfg", [SpiralData(name="spiral", size=300, val_size=60, test_size=90, classes=3),
                                 BlobsData(name="blobs", size=300, val_size=60, test_size=90, classes=3, dims=4)])
def test_split_sizes_and_balance(cfg):
    data = load_dataset(cfg, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (240, 60, 90)
    assert data.n_classes == 3 and data.n_features == (2 if cfg.name == "spiral" else 4)
    counts = np.bincount(np.concatenate([data.train.y, data.val.y]), minlength=3)
    assert counts.tolist() == [100, 100, 100], "training draw is balanced over classes"
    x = data.features(data.train.x[:5], np.float32)
    assert x.dtype == np.float32 and x.shape == (5, data.n_features)


def test_same_seed_same_data_other_seed_other_data():
    cfg = SpiralData(name="spiral")
    a, b, c = load_dataset(cfg, 0), load_dataset(cfg, 0), load_dataset(cfg, 1)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.val.y, b.val.y)
    assert not np.array_equal(a.train.x, c.train.x)


def test_spiral_geometry():
    data = load_dataset(SpiralData(name="spiral", noise=0.0, size=300, val_size=0), 0)
    r = np.hypot(data.train.x[:, 0], data.train.x[:, 1])
    assert r.max() <= 1.0 and r.min() >= 0.0


def test_single_example_for_the_neuron():
    data = load_dataset(SingleData(name="single", x=1.0, y=0), 0)
    assert data.train.x.tolist() == [[1.0]] and data.train.y.tolist() == [0]
    assert len(data.val) == 0 and len(data.test) == 0


def test_hold_out_refuses_to_take_everything():
    split = Split(np.zeros((10, 2)), np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="leaves no training data"):
        hold_out(split, 10, np.random.default_rng(0))
    train, val = hold_out(split, 3, np.random.default_rng(0))
    assert (len(train), len(val)) == (7, 3)


def test_shuffled_batches_cover_each_epoch_once():
    gen = BatchSampler(10, 4, "shuffle", np.random.default_rng(0))
    epoch0 = [next(gen) for _ in range(3)]
    assert [e for e, _ in epoch0] == [0, 0, 0] and [len(i) for _, i in epoch0] == [4, 4, 2]
    assert sorted(np.concatenate([i for _, i in epoch0]).tolist()) == list(range(10))
    epoch1 = np.concatenate([next(gen)[1] for _ in range(3)])
    assert sorted(epoch1.tolist()) == list(range(10))
    assert epoch1.tolist() != np.concatenate([i for _, i in epoch0]).tolist(), "reshuffled each epoch"


def test_batches_with_replacement():
    gen = BatchSampler(10, 4, "replacement", np.random.default_rng(0))
    idx = np.concatenate([next(gen)[1] for _ in range(30)])
    assert len(idx) == 120 and len(np.unique(idx)) == 10
