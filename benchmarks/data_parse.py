"""Benchmark: parse MNIST and CIFAR-10 from their compressed files and from the parsed cache,
beside plain ``numpy.frombuffer`` over the same bytes, all measured in this run.

    python benchmarks/data_parse.py [--data DIR] [--repeat 3]

MNIST is read from DIR/mnist (default: $OPTLAB_TEST_DATA or $OPTLAB_DATA_DIR) when its files are
there, else a full-size format-true copy is synthesised. CIFAR-10 is always synthesised at full
size (50 000 + 10 000 random images as the binary and the python archive), since the real files
are not on the development machines; the parsing work does not depend on the pixel values.
Everything is copied into a temporary folder so the cache never lands in DIR.

Columns: best-of-N wall time; ``x floor`` divides it by the floor for the same input: the time
to gunzip the same compressed bytes and ``numpy.frombuffer`` them (for files), or to read the
same ``.npy`` bytes and ``numpy.frombuffer`` them (for the cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))     # the format-true file writers

from datafiles import cifar_archives, cifar_like, idx_files  # noqa: E402

from optlab.data import cache  # noqa: E402
from optlab.data.download import locate  # noqa: E402
from optlab.data.images import read_arrays  # noqa: E402
from optlab.data.sources import SPECS, FileSpec  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def with_hashes(name: str, folder: Path):
    """SPECS[name] with each source file's hash taken from the files in ``folder`` (synthetic data)."""
    real = SPECS[name]
    sources = []
    for s in real.sources:
        if all((folder / f.name).is_file() for f in s.files):
            files = tuple(FileSpec(f.name, "sha256:" + hashlib.sha256((folder / f.name).read_bytes()).hexdigest(),
                                   f.size) for f in s.files)
            sources.append(dataclasses.replace(s, files=files))
    return dataclasses.replace(real, sources=tuple(sources))


def gunzip_frombuffer(paths: list[Path]) -> None:
    for p in paths:
        np.frombuffer(zlib.decompress(p.read_bytes(), 31), dtype=np.uint8)


def tar_frombuffer(path: Path) -> None:
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            if member.isfile():
                np.frombuffer(tar.extractfile(member).read(), dtype=np.uint8)


def npy_frombuffer(folder: Path) -> None:
    for p in folder.glob("*.npy"):
        np.frombuffer(p.read_bytes(), dtype=np.uint8)


def bench(label: str, spec, root: Path, floor_files, repeat: int) -> None:
    located = locate(spec, root, download=False)
    size = sum(p.stat().st_size for p in located.paths.values())
    parse = best(lambda: read_arrays(located, use_cache=False), repeat)
    floor = best(lambda: floor_files(located), repeat)
    arrays = read_arrays(located, use_cache=False)
    path = cache.cache_path(located)
    cache.save(path, arrays)
    cached = best(lambda: cache.load(path, spec.image_shape), repeat)
    cache_floor = best(lambda: npy_frombuffer(path), repeat)
    images = arrays["x_train"].nbytes + arrays["x_test"].nbytes
    print(f"{label:<36} {size / 1e6:8.1f} MB  parse {parse:6.3f} s  floor {floor:6.3f} s  x floor {parse / floor:5.2f}"
          f"   | cache {cached:6.3f} s  floor {cache_floor:6.3f} s  x floor {cached / cache_floor:5.2f}"
          f"   ({images / 1e6:.0f} MB of uint8 images)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path,
                    default=os.environ.get("OPTLAB_TEST_DATA") or os.environ.get("OPTLAB_DATA_DIR"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"numpy {np.__version__}, best of {args.repeat}; floor = gunzip/untar + numpy.frombuffer of the same bytes")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mnist = root / "mnist"
        mnist.mkdir()
        gz = SPECS["mnist"].sources[0].files
        real = args.data and all((Path(args.data) / "mnist" / f.name).is_file() for f in gz)
        if real:
            for f in gz:
                shutil.copy(Path(args.data) / "mnist" / f.name, mnist / f.name)
            spec = SPECS["mnist"]
        else:
            rng = np.random.default_rng(0)
            arrays = {"x_train": rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
                      "y_train": rng.integers(0, 10, 60000).astype(np.uint8),
                      "x_test": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
                      "y_test": rng.integers(0, 10, 10000).astype(np.uint8)}
            for name, data in idx_files(arrays).items():
                (mnist / name).write_bytes(data)
            spec = with_hashes("mnist", mnist)
        bench(f"MNIST ({'real' if real else 'synthetic'} .gz)", spec, root,
              lambda loc: gunzip_frombuffer(list(loc.paths.values())), args.repeat)

        cifar = root / "cifar10"
        cifar.mkdir()
        for name, data in cifar_archives(cifar_like(n_per_batch=10000, n_test=10000)).items():
            (cifar / name).write_bytes(data)
        spec = with_hashes("cifar10", cifar)
        binary, python = spec.sources[0], spec.sources[1]
        for label, source in (("CIFAR-10 binary .tar.gz", binary), ("CIFAR-10 python .tar.gz", python)):
            only = dataclasses.replace(spec, sources=(source,))
            bench(label + " (synthetic)", only, root, lambda loc: tar_frombuffer(next(iter(loc.paths.values()))),
                  args.repeat)


if __name__ == "__main__":
    main()
