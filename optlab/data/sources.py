"""Where the real datasets come from: file names, sizes, checksums and download locations.

This module is the checksum table: every file optlab reads is verified against a hash here
before it is used (``optlab.data.download``). Hashes are written as pooch does,
``"sha256:<hex>"`` or ``"md5:<hex>"``; ``None`` means no checksum has been published for the file,
and such a file is used only when the config sets ``data.allow_unverified: true``.

Provenance of the checksums:

- MNIST ``*.gz``: SHA-256 as published by torchvision (``prototype/datasets/_builtin/mnist.py``) and
  in ``shared/data/README.md``; their MD5s match the ones torchvision's ``MNIST`` class checks.
  Uncompressed IDX files: no checksum is published; the SHA-256s below were computed from the
  decompressed, verified ``.gz`` files (their MD5s equal the ones in ``shared/data/README.md``).
- Fashion-MNIST ``*.gz``: SHA-256 as published by torchvision (same module); the MD5s published by
  Zalando Research (the dataset's README) and checked by torchvision are listed beside them.
  No checksum is published for the uncompressed files.
- CIFAR-10 python archive: SHA-256 as published by Keras (``keras/datasets/cifar10.py``,
  ``file_hash``); MD5 ``c58f30108f718f92721af3b95e74349a`` on the dataset's page.
- CIFAR-10 binary archive: the dataset's page publishes only the MD5
  ``c32a1d4ab5d03f1284b67883e8d87530``; the SHA-256 used here is the one MLDatasets.jl pins for
  the same file (and that independent records of the MD5-verified archive report). No checksum is
  published for the extracted ``*.bin`` files.

The data directory (:func:`data_root`) holds one folder per dataset, named as in configs
(``mnist/``, ``fashion_mnist/``, ``cifar10/``), with the files under their original names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "OPTLAB_DATA_DIR"


@dataclass(frozen=True)
class FileSpec:
    name: str                       # path inside the dataset's folder, as published
    hash: str | None                # "sha256:<hex>" / "md5:<hex>"; None: no published checksum
    size: int | None = None         # bytes, where known
    urls: tuple[str, ...] = ()      # where to download it, best first; () = not downloadable


@dataclass(frozen=True)
class Source:
    """One complete way a dataset can be present on disk, e.g. the four gzipped IDX files."""

    kind: str                       # parser key: idx | cifar-binary | cifar-binary-dir | cifar-python
    files: tuple[FileSpec, ...]
    note: str = ""                  # shown in listings and error messages

    @property
    def downloadable(self) -> bool:
        return all(f.urls for f in self.files)

    @property
    def verified(self) -> bool:
        return all(f.hash for f in self.files)


@dataclass(frozen=True)
class DatasetSpec:
    name: str                       # folder name and config name
    title: str
    sources: tuple[Source, ...]     # looked for in this order; the first downloadable one is fetched
    n_train: int
    n_test: int
    image_shape: tuple[int, int, int]   # (channels, height, width) as stored
    class_names: tuple[str, ...] = ()   # CIFAR-10 reads them from the archive's metadata instead
    homepage: str = ""
    citation: str = ""


def _mirrored(name: str, bases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(base + name for base in bases)


# MNIST's own host (yann.lecun.com) has answered 403 to downloads since 2023; torchvision and
# DLFS moved to the S3 mirror, TensorFlow's tutorials used the Google Cloud copy. The original
# is tried last.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",          # Zalando's (HTTP only)
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",        # the copy Keras loads
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
CIFAR_BASE = "https://www.cs.toronto.edu/~kriz/"

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    sources=(
        Source("idx", tuple(FileSpec(f"{n}.gz", h, s, _mirrored(f"{n}.gz", MNIST_MIRRORS)) for n, h, s in (
            (IDX_FILES[0], "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
            (IDX_FILES[1], "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
            (IDX_FILES[2], "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
            (IDX_FILES[3], "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
        )), note="gzipped IDX files"),
        Source("idx", tuple(FileSpec(n, h, s) for n, h, s in (
            (IDX_FILES[0], "sha256:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
            (IDX_FILES[1], "sha256:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
            (IDX_FILES[2], "sha256:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
            (IDX_FILES[3], "sha256:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
        )), note="uncompressed IDX files"),
    ),
    n_train=60_000, n_test=10_000, image_shape=(1, 28, 28),
    class_names=tuple(str(d) for d in range(10)),
    homepage="http://yann.lecun.com/exdb/mnist/",
    citation="Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning applied to "
             "document recognition, Proc. IEEE 86(11), 1998",
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST (Zalando article images)",
    sources=(
        Source("idx", tuple(FileSpec(f"{n}.gz", h, s, _mirrored(f"{n}.gz", FASHION_MIRRORS)) for n, h, s in (
            # published MD5s: 8d4fb7e6c68d591d4c3dfef9ec88bf0d, 25c81989df183df01b3e8a0aad5dffbe,
            # bef4ecab320f06d8554ea6380940ec79, bb300cfdad3c16e7a12a480ee83cd310
            (IDX_FILES[0], "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26_421_880),
            (IDX_FILES[1], "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29_515),
            (IDX_FILES[2], "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4_422_102),
            (IDX_FILES[3], "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5_148),
        )), note="gzipped IDX files"),
        Source("idx", tuple(FileSpec(n, None, s)
                            for n, s in zip(IDX_FILES, (47_040_016, 60_008, 7_840_016, 10_008), strict=True)),
               note="uncompressed IDX files (no published checksum)"),
    ),
    n_train=60_000, n_test=10_000, image_shape=(1, 28, 28),
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    citation="H. Xiao, K. Rasul and R. Vollgraf, Fashion-MNIST: a novel image dataset for benchmarking "
             "machine learning algorithms, arXiv:1708.07747, 2017 (MIT license)",
)

CIFAR_BIN_DIR = "cifar-10-batches-bin"
CIFAR_PY_DIR = "cifar-10-batches-py"
CIFAR_BIN_MEMBERS = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin", "batches.meta.txt")
CIFAR_PY_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR_BATCH_BYTES = 10_000 * 3073        # one label byte + 3072 pixel bytes per record

CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10 tiny images",
    sources=(
        Source("cifar-binary", (FileSpec(
            "cifar-10-binary.tar.gz", "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170_052_171, (CIFAR_BASE + "cifar-10-binary.tar.gz",)),), note="binary version"),
        Source("cifar-python", (FileSpec(
            "cifar-10-python.tar.gz", "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            170_498_071, (CIFAR_BASE + "cifar-10-python.tar.gz",)),), note="python version"),
        Source("cifar-binary-dir", tuple(
            FileSpec(f"{CIFAR_BIN_DIR}/{m}", None, CIFAR_BATCH_BYTES if m.endswith(".bin") else None)
            for m in CIFAR_BIN_MEMBERS), note="extracted binary version (no published checksum)"),
    ),
    n_train=50_000, n_test=10_000, image_shape=(3, 32, 32),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    citation="A. Krizhevsky, Learning multiple layers of features from tiny images, tech. report, 2009",
)

SPECS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST, CIFAR10)}


def default_root() -> Path:
    """The per-user cache directory (e.g. ``~/.cache/optlab/data`` on Linux)."""
    import pooch

    return Path(pooch.os_cache("optlab")) / "data"


def data_root(config_root: str | Path | None = None) -> Path:
    """The data directory: ``$OPTLAB_DATA_DIR``, else ``data.root`` from the config, else the
    per-user cache (the order of the issue: the environment names the machine's data, a config
    may name a default, the cache is the fallback)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    if config_root:
        return Path(config_root).expanduser()
    return default_root()
