"""Benchmark: what a study costs beyond its trials' training, on the local pool and on Dask.

1. The DLFS comparison (4 optimizers x --seeds, the mnist_mlp recipe) on the local pool of
   --workers processes: wall time against the ideal, the sum of the trials' training times
   (summary.json ``wall_time_s``) divided by the workers. Overhead = wall / ideal - 1 (target
   <= 15 %). The deferred per-trial figures (optlab.record.trial_reports) are timed apart: the
   study's results are on screen before they are drawn.
2. The same comparison through a LocalCluster of --workers Dask workers (its start-up included)
   against the local pool (target: within 10 %); the script checks the metrics are identical.
3. Wall time of a sweep of a small recipe (--small, default the quickstart recipe, short) with
   5, 20 and 80 trials on the local pool: a least-squares line wall = a + b * trials, and b
   against the mean trial's training time / workers: the per-trial overhead.

    OPTLAB_DATA_DIR=/data/sets python benchmarks/study_overhead.py
    OPTLAB_DATA_DIR=/data/sets python benchmarks/study_overhead.py --seeds 2 --parts 1,2 train.iterations=500

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from bench import trial_numbers

from optlab.config.recipes import resolve
from optlab.studies.compare import make_plan, run_compare
from optlab.studies.study import StudySession
from optlab.studies.executor import ExecutorSpec
from optlab.studies.variants import build_variants

OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]


def training_seconds(study: Path) -> list[float]:
    return [json.loads(p.read_text())["wall_time_s"] for p in sorted(study.glob("trials/*/summary.json"))]


@contextmanager
def figure_time() -> Iterator[list[float]]:
    """Seconds spent drawing the trials' own figures (optlab.record.trial_reports) in the block."""
    import optlab.record.trial_reports as trial_reports

    original, spent = trial_reports.render_trial_reports, [0.0]

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    trial_reports.render_trial_reports = timed
    try:
        yield spent
    finally:
        trial_reports.render_trial_reports = original


def timed_compare(plan, root: Path, spec: ExecutorSpec) -> tuple[float, float, Path]:
    """(wall seconds, of which drawing the trials' own figures, study directory)."""
    with figure_time() as spent:
        t0 = time.perf_counter()
        result = run_compare(plan, root, StudySession(executor=spec, command=["benchmark"]))
        return time.perf_counter() - t0, spent[0], result.path


def part_comparisons(args, parts: set[str]) -> int:
    base, varied, variants = build_variants(resolve(args.config).path, OPTIMIZERS + args.overrides)
    plan = make_plan(variants, base, varied, seeds=args.seeds)
    n = len(plan.variants) * len(plan.seeds)
    print(f"{args.config} {' '.join(args.overrides)}: {n} trials, {args.workers} workers")
    ok = True
    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as tmp:
        wall, figures, local_dir = timed_compare(plan, Path(tmp), ExecutorSpec("local", args.workers))
        ideal = sum(training_seconds(local_dir)) / args.workers
        study = wall - figures
        print(f"(1) local pool: wall {wall:.1f} s (study {study:.1f} s + trials' own figures {figures:.1f} s); "
              f"training {ideal * args.workers:.1f} s / {args.workers} = {ideal:.1f} s; "
              f"overhead {study / ideal - 1:+.0%} to the study's results, {wall / ideal - 1:+.0%} with the figures")
        if "2" in parts:
            dwall, dfigures, dask_dir = timed_compare(plan, Path(tmp), ExecutorSpec("dask", args.workers))
            same = trial_numbers(local_dir) == trial_numbers(dask_dir)
            ok = ok and same
            print(f"(2) LocalCluster: wall {dwall:.1f} s (trials' figures {dfigures:.1f} s) vs local {wall:.1f} s: "
                  f"{dwall / wall - 1:+.0%}   identical metrics: {same}")
    return 0 if ok else 1


def part_scaling(args) -> None:
    from optlab.studies.sweep import make_plan as make_sweep_plan
    from optlab.studies.sweep import run_sweep

    sizes = [int(k) for k in args.sizes.split(",")]
    walls, per_trial = [], []
    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as tmp:
        for n in sizes:
            plan = make_sweep_plan(resolve(args.small).path, ["optimizer.lr=log:1e-3:1e-1", *args.small_overrides], trials=n)
            with figure_time() as spent:
                t0 = time.perf_counter()
                result = run_sweep(plan, Path(tmp), StudySession.local(args.workers, command=["benchmark"]))
                wall = time.perf_counter() - t0
            walls.append(wall - spent[0])   # to the sweep's results; the trials' figures apart
            per_trial.append(float(np.mean(training_seconds(result.path))))
            print(f"(3) {n:3d} trials: wall {wall:6.1f} s = sweep {walls[-1]:.1f} s + trials' own figures "
                  f"{spent[0]:.1f} s; mean training {per_trial[-1]:.2f} s per trial")
    b, a = np.polyfit(sizes, walls, 1)
    train = float(np.mean(per_trial)) / args.workers
    print(f"(3) sweep wall = {a:.1f} s + {b:.2f} s x trials; a trial's training / workers = {train:.2f} s: "
          f"{b - train:.2f} s overhead per trial ({b / train - 1:+.0%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="mnist_mlp")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--small", default="quickstart")
    parser.add_argument("--small-overrides", nargs="*", default=["train.epochs=10"])
    parser.add_argument("--sizes", default="5,20,80")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of --config, e.g. train.iterations=500")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    code = 0
    if parts & {"1", "2"}:
        code = part_comparisons(args, parts)
    if "3" in parts:
        part_scaling(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
