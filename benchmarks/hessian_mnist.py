"""The Hessian of the MNIST MLP over training (docs/hessian.md): trains configs/mnist_mlp.yaml
as 784-128-10 (``model.hidden=[128]``, SGD lr 0.1, 2 000 steps, a weight snapshot every 250), then
runs ``optlab hessian`` on it twice, as a user would:

1. at every snapshot, whole network (``--snapshots --no-layers --top-k 12 --probes 10 --slq-runs 2
   --slq-steps 60``): the outliers' growth and the bulk -> docs/gallery/hessian_training.png;
2. at the final weights, whole network and per layer (the defaults: top 20, 30 probes, 3 x 80 SLQ)
   -> docs/gallery/hessian_density.png and hessian_top_k.png.

Prints the numbers docs/hessian.md quotes, as the page's markdown lines; tests/test_hessian_cli.py
(slow, OPTLAB_TEST_DATA) re-runs :func:`reproduce` and checks each quoted number.

    OPTLAB_DATA_DIR=<folder with mnist/> python benchmarks/hessian_mnist.py [--figures]

About 3 minutes on one core.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ["model.hidden=[128]", "optimizer.lr=0.1", "train.iterations=2000", "diagnostics.snapshot_every=250",
         "name=mnist_128"]


def reproduce(runs_dir: Path | None = None, figures: Path | None = None) -> dict:
    """The quoted numbers (see :func:`lines`); with ``figures``, the three figures copied there."""
    from optlab.config.loading import load_config
    from optlab.studies.hessian import Options, hessian
    from optlab.training.run import run

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(runs_dir or tmp)
        rd = run(load_config(REPO / "configs" / "mnist_mlp.yaml", WORDS), root, render=False).run_dir
        over = hessian(rd, Options(snapshots=True, layers=False, top_k=12, probes=10, slq_runs=2, slq_steps=60,
                                   max_snapshots=9))
        if figures is not None:
            shutil.copy(rd / "hessian" / "training.png", figures / "hessian_training.png")
        final = hessian(rd, Options())
        if figures is not None:
            for name in ("density", "top_k"):
                shutil.copy(rd / "hessian" / f"{name}.png", figures / f"hessian_{name}.png")
    first = [r for r in over["points"] if r["step"] == 0][0]
    last = [r for r in over["points"] if r["step"] == 2000][0]
    blocks = {r["block"]: r for r in final["points"]}
    net = blocks["network"]
    return {"classes": final["classes"], "outliers": net["outliers"], "gap": net["outlier_gap"],
            "lambda_max": net["lambda_max"], "lambda_min": net["lambda_min"], "trace": net["trace"],
            "trace_half_width": net["trace_high"] - net["trace"], "trace_slq": net["trace_slq"],
            "negative_percent": 100 * net["negative_fraction"],
            "fc1_lambda_max": blocks["fc1"]["lambda_max"], "fc2_lambda_max": blocks["fc2"]["lambda_max"],
            "fc1_trace": blocks["fc1"]["trace"], "fc2_trace": blocks["fc2"]["trace"],
            "start_lambda_max": first["lambda_max"], "start_outliers": first["outliers"],
            "end_lambda_max": last["lambda_max"],
            "products": final["plan"]["products"], "seconds": final["seconds"]}


def lines(n: dict) -> list[str]:
    """The markdown lines of docs/hessian.md's results, each number as the page prints it."""
    return [
        f"- outliers above the bulk: **{n['outliers']}** (the widest gap in the top 20 is a factor "
        f"{n['gap']:.2f}), C − 1 = {n['classes'] - 1}",
        f"- λ_max {n['lambda_max']:.3f}, lowest Ritz value {n['lambda_min']:.4f}; "
        f"{n['negative_percent']:.1f} % of the spectrum below zero",
        f"- trace {n['trace']:.1f} ± {n['trace_half_width']:.1f} (Hutchinson, 30 probes, 95 %); "
        f"SLQ {n['trace_slq']:.1f}",
        f"- per layer: fc1 λ_max {n['fc1_lambda_max']:.3f}, trace {n['fc1_trace']:.1f}; "
        f"fc2 λ_max {n['fc2_lambda_max']:.3f}, trace {n['fc2_trace']:.1f}",
        f"- over training: λ_max {n['start_lambda_max']:.3f} at step 0 ({n['start_outliers']} outliers), "
        f"{n['end_lambda_max']:.3f} at step 2000",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", action="store_true", help="copy the figures into docs/gallery/")
    args = parser.parse_args()
    numbers = reproduce(figures=REPO / "docs" / "gallery" if args.figures else None)
    print("\n".join(lines(numbers)))
    print(f"({numbers['products']:,} products at the final weights, {numbers['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
