"""Benchmark: TPE + ASHA against random search without pruning, at the same budget of trained steps.

On the recipe dlfs_hyperparameter_search (DLFS fig. 6-24: lr = 10^U(-6, -2), weight decay
= 10^U(-8, -4), real MNIST; set OPTLAB_DATA_DIR), for each sweep seed:

- random search (Optuna's RandomSampler, no pruner), ``--trials N``: every trial trains its full
  length; the budget B is the steps they trained together;
- TPE + ASHA (``--sampler tpe --pruner asha``) with up to 3N trials, truncated at B trained steps
  (trials run one at a time, so the order of trials is the order the budget is spent in).

Printed per seed and as medians: the best final validation accuracy each reaches within B, and
the steps TPE + ASHA spent until a completed trial first matched random search's final best
(the issue's goal: at most half of B). Trials run with one worker (the sequential, reproducible
order) and without their per-trial figures (the measure is steps, not seconds).

    OPTLAB_DATA_DIR=/data/sets python benchmarks/tune_budget.py --seeds 5 --trials 30

Not a test: minutes of training.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from optlab.record.rundir import RunDir, read_metrics

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "dlfs_hyperparameter_search.yaml"
SPACE = ["optimizer.lr=log:1e-6:1e-2", "regularization.l2=log:1e-8:1e-4"]


def trials_of(path: Path) -> list[tuple[int, float | None, str]]:
    """(steps trained, final val acc of a completed trial or None, status), in trial order."""
    out = []
    for entry in RunDir(path).read_json("sweep.json")["trials"]:
        d = path / entry["dir"]
        steps = read_metrics(d / "metrics.csv")["step"][-1]
        acc = None
        if entry["status"] == "completed":
            acc = RunDir(d).read_json("summary.json")["accuracy"]["val"]["final"]
        out.append((int(steps), acc, entry["status"]))
    return out


def main() -> None:
    import optlab.record.trial_reports as trial_reports
    from optlab.studies.tune import make_tune_plan, run_tune
    from optlab.studies.study import StudySession

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=30, help="random search's trials N")
    ap.add_argument("words", nargs="*", help="extra KEY=VALUE overrides, e.g. train.epochs=20")
    args = ap.parse_args()
    trial_reports.render_trial_reports = lambda *a, **k: 0   # docstring: no per-trial figures
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            plan = make_tune_plan(CONFIG, [*SPACE, *args.words], trials=args.trials, sampler="random", seed=seed)
            rand = trials_of(run_tune(plan, Path(tmp) / f"random{seed}", StudySession.local(1, command=[])).path)
            budget = sum(s for s, _, _ in rand)
            best_random = max(a for _, a, _ in rand if a is not None)
            plan = make_tune_plan(CONFIG, [*SPACE, *args.words], trials=3 * args.trials, sampler="tpe",
                                  pruner="asha", seed=seed)
            # stop asking once the budget is spent: run in slices of N and check after each
            tpe = trials_of(run_tune(plan, Path(tmp) / f"tpe{seed}", StudySession.local(1, command=[])).path)
            spent, best, matched_at, used = 0, 0.0, None, 0
            for steps, acc, _ in tpe:
                if spent + steps > budget:
                    break
                spent, used = spent + steps, used + 1
                if acc is not None:
                    best = max(best, acc)
                    if matched_at is None and acc >= best_random:
                        matched_at = spent
            pruned = sum(st == "pruned" for _, _, st in tpe[:used])
            rows.append((seed, best_random, best, budget, matched_at, used, pruned))
            print(f"seed {seed}: random {args.trials} trials best {100 * best_random:.1f} % ({budget} steps); "
                  f"TPE+ASHA {used} trials ({pruned} pruned) best {100 * best:.1f} % within the same steps; "
                  f"matched random's best after {matched_at if matched_at is not None else 'never'} steps "
                  f"({'' if matched_at is None else f'{matched_at / budget:.2f} of the budget'})", flush=True)
    print(f"median over {len(rows)} seeds: random best {100 * statistics.median(r[1] for r in rows):.1f} %, "
          f"TPE+ASHA best {100 * statistics.median(r[2] for r in rows):.1f} %; TPE+ASHA matched random's best in "
          f"{sum(r[4] is not None for r in rows)} of {len(rows)} seeds, median fraction of the budget "
          f"{statistics.median([r[4] / r[3] if r[4] is not None else float('inf') for r in rows]):.2f}")


if __name__ == "__main__":
    main()
