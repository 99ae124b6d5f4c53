"""Benchmark: peak memory (and time per step) of training configs/cifar10_svm.yaml on full-size
CIFAR-10, to check that it stays well under 2 GB.

    python benchmarks/cifar_memory.py [--iterations 300] [--config cifar10_svm]

The real files are not on the development machines, so a format-true binary archive of the full
size (50 000 + 10 000 random images) is written to a temporary data directory first; the
training then runs in a fresh Python process, whose peak resident set size (ru_maxrss) is
printed beside the size of the uint8 images and of one float64 copy of the training set (what
converting the whole set up front would cost).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(data_dir: Path, config: Path, iterations: int) -> None:
    """In a fresh process: train the config on the synthetic archive, print peak RSS as JSON."""
    from optlab.config.loading import load_config
    from optlab.data.sources import SPECS, FileSpec
    from optlab.training.run import run

    archive = data_dir / "cifar10" / "cifar-10-binary.tar.gz"
    with open(archive, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    real = SPECS["cifar10"]
    binary = dataclasses.replace(real.sources[0], files=(FileSpec(archive.name, f"sha256:{digest}"),))
    SPECS["cifar10"] = dataclasses.replace(real, sources=(binary,))
    os.environ["OPTLAB_DATA_DIR"] = str(data_dir)
    cfg = load_config(config, [f"train.iterations={iterations}", f"train.eval_every={iterations}"])
    result = run(cfg, data_dir / "runs")
    print(json.dumps({"status": result.status, "wall_time_s": result.summary["wall_time_s"],
                      "steps": result.summary["steps"],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "cifar10_svm.yaml")
    ap.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.train:
        train(args.train, args.config, args.iterations)
        return
    sys.path.insert(0, str(REPO / "tests"))
    from datafiles import cifar_binary_members, cifar_like, tar_gz

    from optlab.data.sources import CIFAR_BIN_DIR

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cifar10"
        folder.mkdir()
        arrays = cifar_like(n_per_batch=10000, n_test=10000)
        (folder / "cifar-10-binary.tar.gz").write_bytes(tar_gz(cifar_binary_members(arrays), CIFAR_BIN_DIR))
        images = (arrays["x_train"].nbytes + arrays["x_test"].nbytes) / 1e6
        del arrays
        for attempt in ("first run (parses the archive, writes the cache)", "second run (reads the cache)"):
            out = subprocess.run([sys.executable, __file__, "--train", tmp, "--config", str(args.config),
                                  "--iterations", str(args.iterations)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{args.config.name}, {r['steps']} steps, {attempt}: status {r['status']}, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB, {1000 * r['wall_time_s'] / r['steps']:.1f} ms/step")
        print(f"uint8 images held: {images:.0f} MB; one float64 copy of the 50 000 training images would be "
              f"{50000 * 3072 * 8 / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
