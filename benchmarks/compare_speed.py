"""Benchmark: wall time of `optlab compare` with 4 optimizers, --workers 1 vs --workers 2.

Both runs happen here, one after the other, on the same machine and the same plan, so their
ratio is the speed-up of the worker pool (the goal is close to 2 on 2 free cores). Trials
compute the same numbers either way; the script checks that too.

The reference, measured in the same run: the speed-up of a pure-Python busy loop run twice in
one process vs once in each of two processes. It is what the machine gives two processes right
now (below 2 when other work holds a core), so compare speed-up / reference is the pool's
efficiency whatever the load.

    python benchmarks/compare_speed.py                                   # configs/mnist_mlp.yaml
    python benchmarks/compare_speed.py --config quickstart train.epochs=30

Not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import reference_speedup, trial_numbers

from optlab.config.loading import ConfigError
from optlab.config.recipes import resolve
from optlab.studies.compare import make_plan, run_compare
from optlab.studies.study import StudySession
from optlab.studies.variants import build_variants

OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="mnist_mlp")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides, e.g. train.iterations=500")
    args = parser.parse_args()
    try:
        base, varied, variants = build_variants(resolve(args.config).path, OPTIMIZERS + args.overrides)
        plan = make_plan(variants, base, varied, seeds=args.seeds)
    except ConfigError as exc:
        print(f"error:\n{exc}\n(try --config quickstart)", file=sys.stderr)
        return 2
    n = len(plan.variants) * len(plan.seeds)
    print(f"{args.config}: {n} trials ({', '.join(OPTIMIZERS)} x {len(plan.seeds)} seed(s))")
    times, dirs = {}, {}
    with tempfile.TemporaryDirectory(prefix="optlab-bench-") as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = run_compare(plan, Path(tmp), StudySession.local(workers, command=["benchmark"]))
            times[workers] = time.perf_counter() - t0
            dirs[workers] = result.path
            print(f"  --workers {workers}: {times[workers]:7.2f} s")
        same = trial_numbers(dirs[1]) == trial_numbers(dirs[2])
    reference = reference_speedup(2)
    speedup = times[1] / times[2]
    print(f"speed-up (workers 1 / workers 2): {speedup:.2f}x   identical metrics: {same}")
    print(f"reference (2 busy loops, 1 vs 2 processes): {reference:.2f}x   efficiency: {speedup / reference:.0%}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
