"""Parse CIFAR-10: the binary version (records), the python version (pickles), and their archives.

Formats (https://www.cs.toronto.edu/~kriz/cifar.html):

- binary: ``data_batch_{1..5}.bin`` and ``test_batch.bin``, each 10 000 records of 3073 bytes,
  ``<1 x label><3072 x pixel>``, pixels as three 32 x 32 planes (red, green, blue) in row-major
  order; ``batches.meta.txt`` holds the class names, one per line.
- python: ``data_batch_{1..5}``, ``test_batch`` and ``batches.meta``, Python 2 pickles of dicts
  (``b"data"``: uint8 array (10000, 3072) in the same plane order, ``b"labels"``: list of ints;
  ``b"label_names"`` in the meta file).

Images are returned as uint8 (n, 3, 32, 32), the files' own layout (channels first), so no
transposition copy is made; a fully connected model sees the 3072 values plane after plane.

Archives are read member by member in one pass over the gzip stream, straight into memory: only
the members named above are read, nothing is extracted to disk, so a hostile member name (path
traversal, links) can do nothing. Pickles are read only from an archive that has passed its
checksum (the caller verifies it first), and only through :class:`RestrictedUnpickler`, which
allows exactly the globals the CIFAR-10 pickles contain.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from optlab.data.errors import DataFormatError
from optlab.data.sources import CIFAR_BATCH_BYTES, CIFAR_BIN_DIR, CIFAR_BIN_MEMBERS, CIFAR_PY_DIR, CIFAR_PY_MEMBERS

RECORD = 3073
SHAPE = (3, 32, 32)
N_CLASSES = 10


# ---------------------------------------------------------------------------------------------
# binary version
# ---------------------------------------------------------------------------------------------
def parse_records(data: bytes, where) -> tuple[np.ndarray, np.ndarray]:
    """A binary batch -> (images (n, 3, 32, 32) uint8, labels (n,) uint8), vectorised."""
    if len(data) == 0 or len(data) % RECORD:
        raise DataFormatError(f"{where}: {len(data)} bytes is not a whole number of {RECORD}-byte CIFAR-10 "
                              f"records (a complete batch is {CIFAR_BATCH_BYTES} bytes; truncated?)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)     # (n, 3073)
    labels = records[:, 0]
    _check_labels(labels, where)
    return records[:, 1:].reshape(-1, *SHAPE), labels


def parse_meta_txt(data: bytes, where) -> list[str]:
    try:
        names = [line.strip() for line in data.decode("ascii").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataFormatError(f"{where}: class-name file is not ASCII text") from None
    if len(names) != N_CLASSES:
        raise DataFormatError(f"{where}: expected {N_CLASSES} class names, found {len(names)}")
    return names


def _check_labels(labels: np.ndarray, where) -> None:
    if labels.size and labels.max() >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise DataFormatError(f"{where}: label {labels[bad]} at record {bad} is outside 0..{N_CLASSES - 1} "
                              "(not a CIFAR-10 batch, or a corrupt one)")


def _assemble(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batches into contiguous arrays (one copy, which also drops the record stride)."""
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches]).astype(np.uint8)


def load_binary(members: dict[str, bytes], where) -> dict:
    """Binary-version member bytes (by base name) -> arrays and class names."""
    train = [parse_records(members[f"data_batch_{i}.bin"], f"{where}: data_batch_{i}.bin") for i in range(1, 6)]
    test = [parse_records(members["test_batch.bin"], f"{where}: test_batch.bin")]
    x_train, y_train = _assemble(train)
    x_test, y_test = _assemble(test)
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                class_names=parse_meta_txt(members["batches.meta.txt"], f"{where}: batches.meta.txt"))


def read_binary_dir(folder: Path) -> dict:
    """The extracted binary version: ``folder/cifar-10-batches-bin/*``."""
    base = folder / CIFAR_BIN_DIR
    return load_binary({name: (base / name).read_bytes() for name in CIFAR_BIN_MEMBERS}, base)


# ---------------------------------------------------------------------------------------------
# archives
# ---------------------------------------------------------------------------------------------
def read_members(path: Path, folder: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The named regular-file members ``folder/<name>`` of a .tar.gz, in one streaming pass."""
    wanted = {f"{folder}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r|gz") as tar:        # "|": a stream, never seeks back
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None:
                    continue
                if not member.isfile():
                    raise DataFormatError(f"{path}: member {member.name} is not a regular file")
                found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable .tar.gz archive ({type(exc).__name__}: {exc})") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataFormatError(f"{path}: the archive lacks {', '.join(f'{folder}/{n}' for n in missing)}")
    return found


def read_binary_archive(path: Path) -> dict:
    return load_binary(read_members(path, CIFAR_BIN_DIR, CIFAR_BIN_MEMBERS), path)


def read_python_archive(path: Path) -> dict:
    """The python version, from its archive. The caller must have verified the archive's checksum."""
    members = read_members(path, CIFAR_PY_DIR, CIFAR_PY_MEMBERS)
    train = [parse_python_batch(members[f"data_batch_{i}"], f"{path}: data_batch_{i}") for i in range(1, 6)]
    x_train, y_train = _assemble(train)
    x_test, y_test = _assemble([parse_python_batch(members["test_batch"], f"{path}: test_batch")])
    meta = restricted_loads(members["batches.meta"], f"{path}: batches.meta")
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != N_CLASSES or not all(isinstance(n, bytes) for n in names):
        raise DataFormatError(f"{path}: batches.meta has no list of {N_CLASSES} label_names")
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                class_names=[n.decode("ascii") for n in names])


# ---------------------------------------------------------------------------------------------
# python version: pickles through an allow-list
# ---------------------------------------------------------------------------------------------
def _reconstruct():
    """numpy's array-unpickling helper, whatever module this numpy version keeps it in."""
    return np.ndarray.__reduce__(np.zeros(1))[0]


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what the CIFAR-10 pickles hold: dicts, lists, bytes, ints and numpy arrays.

    The only globals allowed are numpy's ``_reconstruct`` (under its numpy 1 and numpy 2 module
    names), ``numpy.ndarray`` and ``numpy.dtype``; any other global (``os.system``,
    ``builtins.eval``, ...) is refused, so a pickle cannot run code.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }

    def find_class(self, module: str, name: str):
        get = self.ALLOWED.get((module, name))
        if get is None:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}: "
                                         "not one of the types a CIFAR-10 pickle contains")
        return get()


def restricted_loads(data: bytes, where):
    try:
        # encoding="bytes": the files were written by Python 2; its str objects become bytes
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataFormatError(f"{where}: {exc}") from None
    except Exception as exc:     # a malformed pickle can fail in many ways; none of them is a bug here
        raise DataFormatError(f"{where}: not a valid pickle ({type(exc).__name__}: {exc})") from None


def parse_python_batch(data: bytes, where) -> tuple[np.ndarray, np.ndarray]:
    batch = restricted_loads(data, where)
    x = batch.get(b"data") if isinstance(batch, dict) else None
    y = batch.get(b"labels") if isinstance(batch, dict) else None
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataFormatError(f"{where}: expected b'data' to be a uint8 array (n, 3072)")
    if not isinstance(y, list) or len(y) != len(x):
        raise DataFormatError(f"{where}: expected b'labels' to be a list of {len(x)} ints")
    try:
        labels = np.asarray(y, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataFormatError(f"{where}: b'labels' holds something other than integers") from None
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise DataFormatError(f"{where}: labels outside 0..{N_CLASSES - 1}")
    return x.reshape(-1, *SHAPE), labels.astype(np.uint8)
