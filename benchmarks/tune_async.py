"""Benchmark: an Optuna sweep with pruning asked in waves (the default) against ``--async``, on the
same workers.

On the recipe dlfs_hyperparameter_search (real MNIST; set OPTLAB_DATA_DIR), TPE + ASHA with
``--trials N`` on ``-j W`` local workers, once in waves (W trials asked together, the next wave
once all are told) and once asynchronously (a trial asked whenever a worker is free). Printed for
each: wall time, trained steps, pruned trials, best final validation accuracy, and the workers'
busy fraction (trained seconds over W × wall time). Waves leave a worker idle while a wave's
longest trial runs, which pruning makes common: the pruned trial's worker waits for the unpruned.

    OPTLAB_DATA_DIR=/data/sets python benchmarks/tune_async.py --trials 24 -j 2

Not a test: minutes of training, and wall times depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from optlab.record.rundir import RunDir, read_metrics

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "dlfs_hyperparameter_search.yaml"
SPACE = ["optimizer.lr=log:1e-6:1e-2", "regularization.l2=log:1e-8:1e-4"]


def measure(asynchronous: bool, trials: int, workers: int, seed: int, root: Path) -> dict:
    """One sweep; its wall time, steps, pruned trials, best accuracy and busy fraction."""
    from optlab.studies.tune import make_tune_plan, run_tune
    from optlab.studies.study import StudySession

    plan = make_tune_plan(CONFIG, SPACE, trials=trials, sampler="tpe", pruner="asha", seed=seed,
                          asynchronous=asynchronous)
    t0 = time.perf_counter()
    path = run_tune(plan, root, StudySession.local(workers, command=[], trial_reports=False)).path
    wall = time.perf_counter() - t0
    steps = busy = 0.0
    best, pruned = 0.0, 0
    for entry in RunDir(path).read_json("sweep.json")["trials"]:
        if not entry.get("dir"):
            continue
        metrics = read_metrics(path / entry["dir"] / "metrics.csv")
        steps += metrics["step"][-1]
        busy += RunDir(path / entry["dir"]).read_json("summary.json").get("wall_time_s") or 0.0
        pruned += entry["status"] == "pruned"
        if entry["status"] == "completed":
            best = max(best, RunDir(path / entry["dir"]).read_json("summary.json")["accuracy"]["val"]["final"])
    return {"wall": wall, "steps": int(steps), "pruned": pruned, "best": best, "busy": busy / (workers * wall)}


def main() -> None:
    import optlab.record.trial_reports as trial_reports

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    trial_reports.render_trial_reports = lambda *a, **k: 0   # the measure is the sweep, not its figures
    with tempfile.TemporaryDirectory() as tmp:
        for asynchronous in (False, True):
            r = measure(asynchronous, args.trials, args.workers, args.seed, Path(tmp) / str(asynchronous))
            print(f"{'--async' if asynchronous else 'waves  '}: {r['wall']:.1f} s wall, {r['steps']} steps, "
                  f"{r['pruned']} of {args.trials} pruned, best val acc {100 * r['best']:.1f} %, "
                  f"workers busy {100 * r['busy']:.0f} % of the time", flush=True)


if __name__ == "__main__":
    main()
