"""The image datasets end to end on tiny format-true files: every source format gives the same
arrays, splits and subsets follow the config and the seed, preprocessing uses training statistics
only, the parsed cache is used and invalidated, and a run on such data trains and is labelled."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from datafiles import (
    CIFAR_CLASSES,
    cifar_archives,
    cifar_binary_dir,
    cifar_like,
    idx_files,
    mnist_like,
    sha256,
    spec_with,
    write,
)

from optlab.config.loading import ConfigError, loads_config
from optlab.config.schema import CIFAR10Data, FashionMNISTData, MNISTData
from optlab.data import cache, images, load_dataset
from optlab.data.errors import DataError
from optlab.data.sources import SPECS, FileSpec
from optlab.training.run import run


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """120 train / 40 test MNIST-format images under tmp_path/mnist, described by SPECS."""
    arrays = mnist_like()
    files = idx_files(arrays)
    write(tmp_path / "mnist", files)
    monkeypatch.setitem(SPECS, "mnist", spec_with("mnist", files))
    return arrays


def mnist_cfg(tmp_path, **options) -> MNISTData:
    return MNISTData(name="mnist", root=str(tmp_path), **{"val_size": 20, **options})


def test_mnist_end_to_end(tmp_path, tiny_mnist):
    data = load_dataset(mnist_cfg(tmp_path), seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 20, 40)
    assert data.train.x.dtype == np.uint8 and data.train.x.shape == (100, 1, 28, 28), "kept as uint8 images"
    assert data.n_features == 784 and data.n_classes == 10 and data.class_names[:3] == ["0", "1", "2"]
    assert data.train.y.dtype == np.int64
    np.testing.assert_array_equal(data.test.x[:, 0], tiny_mnist["x_test"])
    x = data.features(data.train.x[:7], np.float32)
    assert x.shape == (7, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x, data.train.x[:7].reshape(7, -1) / 255, rtol=1e-6)
    assert data.features(data.train.x[:7], np.float64).dtype == np.float64


def test_fashion_mnist_gz_and_uncompressed(tmp_path, monkeypatch):
    arrays = mnist_like(seed=5)
    monkeypatch.setitem(SPECS, "fashion_mnist", spec_with("fashion_mnist", idx_files(arrays)))
    write(tmp_path / "fashion_mnist", idx_files(arrays))
    a = load_dataset(FashionMNISTData(name="fashion_mnist", root=str(tmp_path), val_size=0), 0)
    assert a.class_names[0] == "T-shirt/top" and a.class_names[9] == "Ankle boot"
    other = tmp_path / "raw"
    write(other / "fashion_mnist", idx_files(arrays, gz=False))     # no published checksum: opt in
    b = load_dataset(FashionMNISTData(name="fashion_mnist", root=str(other), val_size=0, allow_unverified=True), 0)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.y, b.test.y)


def _cifar_spec(archives: dict[str, bytes]):
    real = SPECS["cifar10"]
    binary, python, extracted = real.sources
    swap = lambda s: dataclasses.replace(s, files=tuple(        # noqa: E731
        FileSpec(f.name, sha256(archives[f.name]), len(archives[f.name])) for f in s.files))
    return dataclasses.replace(real, sources=(swap(binary), swap(python), extracted))


@pytest.mark.parametrize("form", ["cifar-10-binary.tar.gz", "cifar-10-python.tar.gz", "extracted"])
def test_cifar10_every_source_gives_the_same_arrays(tmp_path, monkeypatch, form):
    arrays = cifar_like()
    archives = cifar_archives(arrays)
    monkeypatch.setitem(SPECS, "cifar10", _cifar_spec(archives))
    write(tmp_path / "cifar10", cifar_binary_dir(arrays) if form == "extracted" else {form: archives[form]})
    cfg = CIFAR10Data(name="cifar10", root=str(tmp_path), val_size=0, preprocess="none",
                      allow_unverified=form == "extracted")
    data = load_dataset(cfg, 0)
    assert data.train.x.shape == (100, 3, 32, 32) and data.n_features == 3072
    np.testing.assert_array_equal(data.train.x, arrays["x_train"])
    np.testing.assert_array_equal(data.test.y, arrays["y_test"])
    assert data.class_names == CIFAR_CLASSES
    np.testing.assert_array_equal(data.features(data.train.x[:2], np.float64)[0, :1024],
                                  arrays["x_train"][0, 0].ravel(), "flattened plane by plane, red first")


def test_subset_first_is_nielsens_split(tmp_path, tiny_mnist):
    data = load_dataset(mnist_cfg(tmp_path, train_size=50, val_size=30, subset="first"), seed=3)
    np.testing.assert_array_equal(data.train.x[:, 0], tiny_mnist["x_train"][:50])
    np.testing.assert_array_equal(data.val.y, tiny_mnist["y_train"][50:80])


def test_subset_random_is_seeded_and_disjoint(tmp_path, tiny_mnist):
    cfg = mnist_cfg(tmp_path, train_size=60, val_size=30)
    a, b, c = (load_dataset(cfg, seed) for seed in (0, 0, 1))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.y, c.train.y)
    rows = {r.tobytes() for r in tiny_mnist["x_train"]}
    train, val = {r.tobytes() for r in a.train.x}, {r.tobytes() for r in a.val.x}
    assert train <= rows and val <= rows and not train & val
    assert len(a.train) == 60 and len(a.val) == 30


def test_val_from_test_evaluates_on_the_test_set(tmp_path, tiny_mnist):
    data = load_dataset(mnist_cfg(tmp_path, val_size=0, val_from="test"), 0)
    assert data.val is data.test and data.val_source == "test" and len(data.train) == 120


def test_sizes_that_do_not_fit(tmp_path, tiny_mnist):
    with pytest.raises(DataError, match="train_size \\+ val_size = 100 \\+ 50 does not fit the 120 examples"):
        load_dataset(mnist_cfg(tmp_path, train_size=100, val_size=50), 0)
    with pytest.raises(DataError, match="115 \\+ 5000 does not fit"):          # the default val_size
        load_dataset(MNISTData(name="mnist", root=str(tmp_path), train_size=115), 0)


@pytest.mark.parametrize("yaml_data, message", [
    ("{name: mnist, val_from: test, val_size: 100}", "with val_from: test the test set is the validation set"),
    ("{name: mnist, train_size: 58000}", "58000 \\+ 5000 must be at most the 60000 images"),
    ("{name: cifar10, val_size: 50000}", "must be at most the 50000 images"),
    ("{name: mnist, flatten: false}", "model mlp takes flat vectors; set data.flatten: true"),
    ("{name: mnist, preprocess: whiten}", "preprocess"),
])
def test_config_errors(yaml_data, message):
    text = f"data: {yaml_data}\nmodel: mlp\nloss: cross_entropy\ntrain: {{epochs: 1}}\n"
    with pytest.raises(ConfigError, match=message):
        loads_config(text, "c.yaml")


def test_preprocessing_uses_training_statistics_only(tmp_path, tiny_mnist):
    x_train = lambda d: d.train.x.astype(np.float64)        # noqa: E731
    std = load_dataset(mnist_cfg(tmp_path, preprocess="standardize"), 0)
    mean, sd = x_train(std).mean(), x_train(std).std()
    np.testing.assert_allclose(std.features(std.val.x, np.float64), (std.val.x.reshape(20, -1) - mean) / sd)
    z = std.features(std.train.x, np.float64)
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9, "standardized on the training split"
    assert abs(std.features(std.test.x, np.float64).mean()) > 1e-6, "test statistics were not used"
    ctr = load_dataset(mnist_cfg(tmp_path, preprocess="center"), 0)
    np.testing.assert_allclose(ctr.features(ctr.train.x, np.float64).mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(ctr.features(ctr.val.x[:1], np.float64),
                               ctr.val.x[:1].reshape(1, -1) - x_train(ctr).mean(axis=0).reshape(1, -1))
    raw = load_dataset(mnist_cfg(tmp_path, preprocess="none"), 0)
    np.testing.assert_array_equal(raw.features(raw.train.x[:3], np.float32), raw.train.x[:3].reshape(3, -1))


def test_standardize_is_per_channel_on_colour_images(tmp_path, monkeypatch):
    arrays = cifar_like()
    arrays["x_train"][:, 2] //= 4                      # a darker blue channel
    archives = cifar_archives(arrays)
    monkeypatch.setitem(SPECS, "cifar10", _cifar_spec(archives))
    write(tmp_path / "cifar10", {"cifar-10-binary.tar.gz": archives["cifar-10-binary.tar.gz"]})
    data = load_dataset(CIFAR10Data(name="cifar10", root=str(tmp_path), val_size=0, preprocess="standardize"), 0)
    z = data.features(data.train.x, np.float64).reshape(-1, 3, 1024)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-9)


def test_parsed_cache_is_used_and_invalidated(tmp_path, tiny_mnist, monkeypatch):
    cfg = mnist_cfg(tmp_path)
    first = load_dataset(cfg, 0)
    caches = list((tmp_path / "mnist" / cache.DIRNAME).iterdir())
    assert len(caches) == 1 and (caches[0] / "x_train.npy").is_file()

    def no_parsing(located):
        raise AssertionError("parsed again although the cache is valid")
    monkeypatch.setitem(images.PARSERS, "idx", no_parsing)
    second = load_dataset(cfg, 0)
    np.testing.assert_array_equal(first.train.x, second.train.x)

    # new source files (another version of the data): another key, re-parsed, the stale cache removed
    monkeypatch.undo()
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)
    arrays = mnist_like(seed=9)
    files = idx_files(arrays)
    write(tmp_path / "mnist", files)
    monkeypatch.setitem(SPECS, "mnist", spec_with("mnist", files))
    third = load_dataset(cfg, 0)
    np.testing.assert_array_equal(third.test.x[:, 0], arrays["x_test"])
    assert [p.name for p in (tmp_path / "mnist" / cache.DIRNAME).iterdir()] != [caches[0].name]
    assert len(list((tmp_path / "mnist" / cache.DIRNAME).iterdir())) == 1


def test_broken_or_unwritable_cache_is_ignored(tmp_path, tiny_mnist):
    cfg = mnist_cfg(tmp_path)
    load_dataset(cfg, 0)
    (folder,) = (tmp_path / "mnist" / cache.DIRNAME).iterdir()
    (folder / "x_train.npy").write_bytes(b"\x93NUMPY truncated")
    data = load_dataset(cfg, 0)
    assert data.train.x.shape == (100, 1, 28, 28), "rebuilt from the sources"
    assert (folder / "x_train.npy").stat().st_size > 1000
    # folders where no cache can be written still load
    other = tmp_path / "blocked"
    write(other / "mnist", idx_files(tiny_mnist))
    (other / "mnist" / cache.DIRNAME).write_text("a file, not a folder")
    assert len(load_dataset(mnist_cfg(other), 0).train) == 100
    ro = tmp_path / "ro"
    write(ro / "mnist", idx_files(tiny_mnist))
    (ro / "mnist").chmod(0o555)           # read-only, as a shared data directory (honoured even for root)
    try:
        assert len(load_dataset(mnist_cfg(ro), 0).train) == 100
        assert not (ro / "mnist" / cache.DIRNAME).exists()
    finally:
        (ro / "mnist").chmod(0o755)


def test_a_read_only_dataset_folder_is_cached_in_the_user_cache(tmp_path, tiny_mnist, monkeypatch, user_cache):
    """A shared, read-only data directory is not written; its parsed arrays go to the per-user
    cache (one entry per dataset folder), so the second load parses nothing."""
    ro = tmp_path / "ro"
    write(ro / "mnist", idx_files(tiny_mnist))
    (ro / "mnist").chmod(0o555)
    try:
        first = load_dataset(mnist_cfg(ro), 0)
        assert not (ro / "mnist" / cache.DIRNAME).exists()
        entries = [p for p in user_cache.iterdir() if p.name.startswith("mnist-")]
        located = [e for e in entries if (e / "x_train.npy").is_file()]
        assert located, "the parsed arrays went to the user cache"

        def no_parsing(located):
            raise AssertionError("parsed again although the user cache holds the arrays")
        parse = images.PARSERS["idx"]
        monkeypatch.setitem(images.PARSERS, "idx", no_parsing)
        second = load_dataset(mnist_cfg(ro), 0)
        monkeypatch.setitem(images.PARSERS, "idx", parse)
        np.testing.assert_array_equal(first.train.x, second.train.x)
        np.testing.assert_array_equal(first.test.y, second.test.y)
    finally:
        (ro / "mnist").chmod(0o755)
    # another read-only copy elsewhere gets its own entry; neither evicts the other
    other = tmp_path / "ro2"
    write(other / "mnist", idx_files(tiny_mnist))
    (other / "mnist").chmod(0o555)
    try:
        load_dataset(mnist_cfg(other), 0)
    finally:
        (other / "mnist").chmod(0o755)
    assert len([p for p in user_cache.iterdir() if p.name.startswith("mnist-") and p.is_dir()]) == len(entries) + 1


def test_run_on_image_data_learns_and_labels_test_as_validation(tmp_path, tiny_mnist):
    text = (f"name: tiny_mnist\ndata: {{name: mnist, root: '{tmp_path}', val_from: test, train_size: 120}}\n"
            "model: {name: mlp, hidden: [32]}\nloss: cross_entropy\noptimizer: {name: adam, lr: 0.01}\n"
            "train: {batch_size: 20, epochs: 15, dtype: float32}\n")
    result = run(loads_config(text), tmp_path / "runs")
    assert result.status == "completed"
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["val_source"] == "test"
    assert summary["accuracy"]["val"]["final"] == summary["accuracy"]["test"]["final"]
    assert summary["accuracy"]["val"]["final"] >= 0.9, "the bar's position encodes the label: learnable"
    assert "| validation (= test) |" in (result.run_dir / "results.md").read_text()


def test_a_tampered_cache_is_rebuilt_with_a_warning(tmp_path, tiny_mnist, capsys):
    """Issue #14: overwriting the cached labels must not make optlab train on them. The hash
    recorded at write time catches it; the arrays come from the (verified) sources again."""
    cfg = mnist_cfg(tmp_path)
    first = load_dataset(cfg, 0)
    (folder,) = (tmp_path / "mnist" / cache.DIRNAME).iterdir()
    assert set(json.loads((folder / "hashes.json").read_text())) == set(cache.ARRAYS)
    for name, tamper in (("y_train.npy", lambda y: (y + 1) % 10), ("x_test.npy", lambda x: x[::-1].copy())):
        original = np.load(folder / name)
        np.save(folder / name, tamper(original))        # a valid .npy of the right shape and dtype
        capsys.readouterr()
        again = load_dataset(cfg, 0)
        err = capsys.readouterr().err
        assert name in err and "rebuilding it from the verified source files" in err
        np.testing.assert_array_equal(again.train.y, first.train.y)
        np.testing.assert_array_equal(again.test.x, first.test.x)
        np.testing.assert_array_equal(np.load(folder / name), original)   # the cache was rewritten
    capsys.readouterr()
    load_dataset(cfg, 0)
    assert "warning" not in capsys.readouterr().err, "a cache that matches is used silently"
