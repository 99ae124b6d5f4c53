"""Tiny, format-true dataset files for the tests: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary
records and Python 2 pickles, their archives, and checksum tables that describe them.

Layouts follow the formats' own documentation (LeCun's MNIST page, the CIFAR-10 page); the
pickles are written opcode by opcode exactly as Python 2's cPickle (protocol 2) wrote the real
CIFAR-10 batches, with numpy arrays under ``numpy.core.multiarray._reconstruct``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

from optlab.data.sources import CIFAR_BIN_DIR, CIFAR_BIN_MEMBERS, CIFAR_PY_DIR, SPECS, DatasetSpec, FileSpec, Source

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of uint8 ``array``: magic 0x0000080<ndim>, big-endian dims, row-major data."""
    magic = (0x08 << 8) | array.ndim if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def mnist_like(n_train: int = 120, n_test: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Noisy 28x28 images with a bright horizontal bar at rows 2y+4 .. 2y+6 for label y, so a
    model can learn them from a hundred examples."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 80, (n, 28, 28))
        rows = 2 * y[:, None] + 4 + np.arange(3)[None, :]               # (n, 3)
        x[np.arange(n)[:, None], rows] += 150
        out[f"x_{split}"], out[f"y_{split}"] = x.astype(np.uint8), y
    return out


def idx_files(arrays: dict[str, np.ndarray], gz: bool = True) -> dict[str, bytes]:
    """The four MNIST file names -> bytes (gzipped or not)."""
    files = {"train-images-idx3-ubyte": idx_bytes(arrays["x_train"]),
             "train-labels-idx1-ubyte": idx_bytes(arrays["y_train"]),
             "t10k-images-idx3-ubyte": idx_bytes(arrays["x_test"]),
             "t10k-labels-idx1-ubyte": idx_bytes(arrays["y_test"])}
    if gz:
        return {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in files.items()}
    return files


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------
def cifar_like(n_per_batch: int = 20, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_train = 5 * n_per_batch
    return {"x_train": rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8),
            "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8),
            "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}


def cifar_records(x: np.ndarray, y: np.ndarray) -> bytes:
    """Binary batch: per image one label byte then 3072 pixel bytes (R plane, G plane, B plane)."""
    return np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], axis=1).tobytes()


def _batches(arrays: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    n = len(arrays["y_train"]) // 5
    out = [(f"data_batch_{i + 1}", arrays["x_train"][i * n:(i + 1) * n], arrays["y_train"][i * n:(i + 1) * n])
           for i in range(5)]
    return out + [("test_batch", arrays["x_test"], arrays["y_test"])]


def cifar_binary_members(arrays: dict) -> dict[str, bytes]:
    members = {f"{name}.bin": cifar_records(x, y) for name, x, y in _batches(arrays)}
    members["batches.meta.txt"] = ("\n".join(CIFAR_CLASSES) + "\n\n").encode()
    return members


# Python 2 pickle, protocol 2, opcode by opcode (pickletools names in comments)
def _str(b: bytes) -> bytes:            # a Python 2 str: SHORT_BINSTRING / BINSTRING
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:              # BININT1 / BININT2 / BININT
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _ndarray(a: np.ndarray) -> bytes:
    """numpy's (1.x, Python 2) reduce: _reconstruct(ndarray, (0,), 'b') then BUILD with the state
    (1, shape, dtype('uint8'), fortran=False, raw bytes)."""
    dtype = (b"cnumpy\ndtype\n" + _str(b"u1") + _int(0) + _int(1) + b"\x87R"          # GLOBAL, TUPLE3, REDUCE
             + b"(" + _int(3) + _str(b"|") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"tb")  # MARK .. TUPLE, BUILD
    shape = b"(" + b"".join(_int(d) for d in a.shape) + b"t"
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _int(0) + b"\x85" + _str(b"b")
            + b"\x87R" + b"(" + _int(1) + shape + dtype + b"\x89" + _str(a.tobytes()) + b"tb")


def py2_pickle(items: list[tuple[bytes, bytes]]) -> bytes:
    """A pickled dict {str key: pre-encoded value} as Python 2 wrote it."""
    return b"\x80\x02}(" + b"".join(_str(k) + v for k, v in items) + b"u."


def _list(values: list[bytes]) -> bytes:
    return b"](" + b"".join(values) + b"e"


def cifar_python_batch(x: np.ndarray, y: np.ndarray, label: bytes = b"training batch 1 of 5") -> bytes:
    filenames = _list([_str(f"img_{i}.png".encode()) for i in range(len(y))])
    return py2_pickle([(b"batch_label", _str(label)), (b"labels", _list([_int(int(v)) for v in y])),
                       (b"data", _ndarray(x.reshape(len(x), -1))), (b"filenames", filenames)])


def cifar_python_members(arrays: dict) -> dict[str, bytes]:
    members = {name: cifar_python_batch(x, y) for name, x, y in _batches(arrays)}
    members["batches.meta"] = py2_pickle([(b"num_cases_per_batch", _int(10000)),
                                          (b"label_names", _list([_str(c.encode()) for c in CIFAR_CLASSES])),
                                          (b"num_vis", _int(3072))])
    return members


def tar_gz(members: dict[str, bytes], folder: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# placing files and describing them in a checksum table
# ---------------------------------------------------------------------------------------------
def write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def spec_with(name: str, files: dict[str, bytes], base_url: str | None = None, kind: str | None = None) -> DatasetSpec:
    """SPECS[name] whose first source is exactly ``files`` (hashes of these bytes, served from
    ``base_url`` if given); the other sources of the real spec are kept after it."""
    real = SPECS[name]
    kind = kind or real.sources[0].kind
    specs = tuple(FileSpec(n, sha256(d), len(d), (base_url + n.rsplit("/", 1)[-1],) if base_url else ())
                  for n, d in files.items())
    return dataclasses.replace(real, sources=(Source(kind, specs, note="test files"),) + real.sources[1:])


def cifar_binary_dir(arrays: dict) -> dict[str, bytes]:
    members = cifar_binary_members(arrays)
    assert set(members) == set(CIFAR_BIN_MEMBERS)
    return {f"{CIFAR_BIN_DIR}/{n}": d for n, d in members.items()}


def cifar_archives(arrays: dict) -> dict[str, bytes]:
    return {"cifar-10-binary.tar.gz": tar_gz(cifar_binary_members(arrays), CIFAR_BIN_DIR),
            "cifar-10-python.tar.gz": tar_gz(cifar_python_members(arrays), CIFAR_PY_DIR)}
