"""The parsed cache: a dataset's arrays saved next to its source files, for fast loading.

``<dataset folder>/.optlab-cache/<name>-<key>/`` holds ``x_train.npy``, ``y_train.npy``,
``x_test.npy``, ``y_test.npy`` (uint8) and ``class_names.json``, read back with
``allow_pickle=False``. The key hashes the parser format version, the kind of source and the
source files' fingerprints (their verified checksums, or size and mtime for files without one),
so any change of the sources (another version of the dataset, a replaced file) selects a new
cache, and older ones are deleted when it is written. Sources are still verified on every load;
the cache only saves the parsing (gunzip, tar, records): about 0.05 s instead of 0.5 s for MNIST.

Where the dataset folder is read-only (by its permission bits, even for root: a lab's shared
dataset directory), the cache goes to the per-user cache instead,
``<user cache>/optlab/parsed/<name>-<folder key>-<key>/`` (``~/.cache/optlab/parsed`` on Linux),
the folder key hashing the dataset folder's path so that two data directories never share or
evict each other's entries; without it every run and every compare trial parsed the files again.

Writing is best effort and atomic (a temporary folder, then one rename): where neither place can
be written there is simply no cache, and a cache that cannot be read back (truncated, wrong
shapes) is ignored and rebuilt.

The cache is not trusted blindly: ``hashes.json`` records the SHA-256 of every array (its dtype,
shape and bytes) when it is written, and :func:`load` checks them on every read. A cache that no
longer matches (an overwritten ``y_train.npy``, a flipped bit) is not used: a warning names the
file, and the arrays are parsed again from the source files, which are themselves verified
against their published checksums, and the cache is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from optlab.data.download import Located, writable
from optlab.data.files import temp_dir

FORMAT = 2          # bump when the parsed arrays change meaning (2: hashes.json)
DIRNAME = ".optlab-cache"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _key(located: Located) -> str:
    """What the parsed arrays depend on: the parser format, the dataset, the kind of source and
    the source files' fingerprints."""
    return _digest(FORMAT, located.spec.name, located.source.kind, list(located.fingerprint))


def cache_path(located: Located) -> Path:
    """The cache next to the source files."""
    return located.folder / DIRNAME / f"{located.spec.name}-{_key(located)}"


def user_cache_root() -> Path:
    """The per-user folder for caches of read-only dataset folders (``~/.cache/optlab/parsed``)."""
    import pooch

    return Path(pooch.os_cache("optlab")) / "parsed"


def fallback_path(located: Located) -> Path:
    """The cache in the per-user folder, for a dataset folder that cannot be written."""
    folder = _digest(str(Path(located.folder).resolve()))
    return user_cache_root() / f"{located.spec.name}-{folder}-{_key(located)}"


def candidates(located: Located) -> list[Path]:
    """Where a cache may be, in the order to read and to write: next to the sources, then the
    per-user folder."""
    return [cache_path(located), fallback_path(located)]


def array_hash(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


def load(path: Path, image_shape: tuple[int, ...]) -> dict | None:
    """The cached arrays, or None if there is no usable cache (a warning on stderr if there is one
    that does not match the hashes recorded when it was written)."""
    try:
        out = {k: np.load(path / f"{k}.npy", allow_pickle=False) for k in ARRAYS}
        names = json.loads((path / "class_names.json").read_text())
        recorded = json.loads((path / "hashes.json").read_text())
    except (OSError, ValueError, EOFError):
        return None
    changed = [f"{k}.npy" for k in ARRAYS if not isinstance(recorded, dict) or recorded.get(k) != array_hash(out[k])]
    if changed:
        print(f"warning: the parsed-data cache {path} has changed since it was written ({', '.join(changed)} "
              "does not match its recorded hash); rebuilding it from the verified source files", file=sys.stderr)
        return None
    ok = all(out[k].dtype == np.uint8 for k in ARRAYS) and all(
        out[f"x_{s}"].shape[1:] == tuple(image_shape) and out[f"y_{s}"].shape == out[f"x_{s}"].shape[:1]
        for s in ("train", "test")) and isinstance(names, list) and all(isinstance(n, str) for n in names)
    if not ok:
        return None
    out["class_names"] = names
    return out


def save(path: Path, arrays: dict) -> bool:
    """Write the cache atomically, remove stale ones beside it; False if it cannot be written."""
    tmp = None
    if not writable(path.parent):          # (its nearest existing folder: the user cache may be new)
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(path.parent, prefix=f".{path.name}.", suffix=".tmp")    # the umask applies: shared data
        for k in ARRAYS:
            np.save(tmp / f"{k}.npy", np.ascontiguousarray(arrays[k]), allow_pickle=False)
        (tmp / "class_names.json").write_text(json.dumps(list(arrays["class_names"])))
        (tmp / "hashes.json").write_text(json.dumps({k: array_hash(np.asarray(arrays[k])) for k in ARRAYS}))
        if path.exists():                  # a stale or broken cache under the same key
            shutil.rmtree(path)
        tmp.rename(path)
        tmp = None
        stem = path.name.rsplit("-", 1)[0]
        for old in path.parent.glob(f"{stem}-*"):
            if old != path and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
