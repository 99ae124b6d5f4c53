"""The numerical gradient against backpropagation on the hiker's MNIST SVM (docs/search.md, "The
numerical gradient"): the same 20 SGD steps from the same weights and batches, once with centred
differences (``search.gradient=numerical``, 1 + 2 x 7 850 loss evaluations a step) and once
analytically. Prints each run's loss evaluations and wall time, and how far apart their mini-batch
losses come over the 20 steps (the largest difference, relative to the analytic loss).

    OPTLAB_DATA_DIR=/data/sets python benchmarks/numerical_gradient.py

Not a test (about 2.5 minutes); tests/test_search_mnist.py checks the numbers the docs quote.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "configs" / "hiker_gradient.yaml"
WORDS = ["data.name=mnist", "train.dtype=float64", "train.iterations=20"]


def reproduce(runs_dir: Path | None = None) -> dict:
    """{"numerical": {...}, "analytic": {...}, "relative_difference": float}; each run's
    ``loss_evals``, ``seconds`` and ``losses`` (the mini-batch loss of every step); the largest
    relative difference between the two runs' losses at one step."""
    from optlab.config.loading import load_config
    from optlab.record.rundir import read_metrics
    from optlab.training.run import run

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(runs_dir or tmp)
        for gradient in ("numerical", "analytic"):
            config = load_config(RECIPE, [*WORDS, f"search.gradient={gradient}", f"name=hiker-{gradient}"])
            t0 = time.perf_counter()
            result = run(config, root, render=False)
            seconds = time.perf_counter() - t0
            losses = [v for v in read_metrics(result.run_dir / "metrics.csv")["loss"] if v == v]   # no NaN (step 0)
            out[gradient] = {"loss_evals": result.summary["loss_evals"], "seconds": seconds, "losses": losses}
    out["relative_difference"] = max(abs(n - a) / abs(a) for n, a in zip(out["numerical"]["losses"],
                                                                         out["analytic"]["losses"]))
    return out


def main() -> None:
    r = reproduce()
    for gradient in ("numerical", "analytic"):
        print(f"{gradient:>9}: {r[gradient]['loss_evals']} loss evaluations, {r[gradient]['seconds']:.1f} s")
    print(f"mini-batch loss after 20 steps: numerical {r['numerical']['losses'][-1]!r}, "
          f"analytic {r['analytic']['losses'][-1]!r}; the largest relative difference over the steps "
          f"{r['relative_difference']:.1e}")


if __name__ == "__main__":
    main()
