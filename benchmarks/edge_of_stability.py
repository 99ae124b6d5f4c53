"""Progressive sharpening and the edge of stability (Cohen et al. 2021) with the shipped recipe.

Run: ``python benchmarks/edge_of_stability.py [--lrs 0.2,0.25,0.3] [--runs-dir DIR]``. Trains
configs/edge_of_stability.yaml (full-batch gradient descent, tanh MLP, square loss) once per
learning rate and prints, from each run's sharpness.csv:

- lambda_max at step 0 and the threshold 2/lr;
- the first step where lambda_max reached 90 % of 2/lr (the end of progressive sharpening);
- over the last half of training: the mean, min and max of lambda_max / (2/lr).

The claim docs/landscape.md quotes (and tests/test_edge_of_stability.py checks, marked slow):
after sharpening, lambda_max stays within +-15 % of 2/lr over the last half at every rate.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "edge_of_stability.yaml"
LRS = (0.2, 0.25, 0.3)
BAND = 0.15


def sharpness_table(run_dir: Path) -> list[dict[str, float]]:
    with open(Path(run_dir) / "sharpness.csv", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items() if k != "rule"} for row in csv.DictReader(fh)]


def summarize(rows: list[dict[str, float]], steps: int) -> dict[str, float]:
    threshold = rows[-1]["threshold"]
    reached = next((r["step"] for r in rows if r["lambda_max"] >= 0.9 * threshold), None)
    late = [r["lambda_max"] / r["threshold"] for r in rows if r["step"] >= steps / 2]
    return {"initial": rows[0]["lambda_max"], "threshold": threshold, "reached_step": reached,
            "mean": sum(late) / len(late), "min": min(late), "max": max(late)}


def reproduce(lrs=LRS, runs_dir: Path | None = None) -> dict[float, dict[str, float]]:
    """Train the recipe at each rate; {lr: summary}."""
    from optlab.config.loading import load_config
    from optlab.training.run import run

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(runs_dir or tmp)
        for lr in lrs:
            cfg = load_config(RECIPE, [f"optimizer.lr={lr}", f"name=eos-lr{lr}"])
            result = run(cfg, root)
            out[lr] = summarize(sharpness_table(result.run_dir), cfg.train.iterations)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", default=",".join(map(str, LRS)))
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    results = reproduce([float(v) for v in args.lrs.split(",")], args.runs_dir)
    print(f"{'lr':>6} {'2/lr':>7} {'λ_max(0)':>9} {'≥0.9·2/lr at':>13} "
          f"{'last half: mean':>16} {'min':>6} {'max':>6}   (λ_max / (2/lr))")
    for lr, s in results.items():
        reached = "-" if s["reached_step"] is None else str(int(s["reached_step"]))
        print(f"{lr:>6g} {s['threshold']:>7.3f} {s['initial']:>9.3f} {reached:>13} "
              f"{s['mean']:>16.3f} {s['min']:>6.3f} {s['max']:>6.3f}")
    ok = all(1 - BAND <= s["min"] and s["max"] <= 1 + BAND for s in results.values())
    print(f"within ±{BAND:.0%} of 2/lr over the last half at every rate: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
