"""``python benchmarks/report_pages.py``: the size of report.html and what the page costs.

1. *size*: comparisons of 20 trials of configs/quickstart.yaml (1 080 steps each, an evaluation
   every 45), 5 optimizers x 4 seeds and 20 learning rates x 1 seed: the bytes of the
   comparison's report.html and of one trial's, against the 1 MB target (docs/reports.md).
2. *cost*: rendering one run's report (render_run) with report.html against the same figures
   written without a page (the ratio: what drawing every figure a second time, as SVG, costs),
   in interleaved rounds so that machine load hits both alike.

Prints a small table; the numbers in docs/reports.md come from it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def size(root: Path, many: bool = False) -> tuple[int, int]:
    """(bytes of the comparison's page, of one trial's): 5 optimizers x 4 seeds, or with ``many``
    20 learning rates of Adam x 1 seed (20 curves in every figure: the heavier page)."""
    from optlab.studies.compare import make_plan, run_compare
    from optlab.studies.study import StudySession
    from optlab.studies.variants import build_variants

    config = REPO / "configs" / "quickstart.yaml"
    if many:
        rates = ",".join(f"{r:.3g}" for r in [10 ** (-4 + 3 * k / 19) for k in range(20)])
        base, varied, variants = build_variants(config, [], f"optimizer.lr={rates}")
    else:
        base, varied, variants = build_variants(config, ["sgd", "momentum", "nesterov", "rmsprop", "adam"], None)
    plan = make_plan(variants, base, varied, seeds=1 if many else 4, source={"config": str(config), "overrides": []})
    result = run_compare(plan, root, StudySession.local(int(os.environ.get("WORKERS", "2"))))
    trial = next((result.path / "trials").iterdir())
    return (result.path / "report.html").stat().st_size, (trial / "report.html").stat().st_size


def cost(run_dir: Path, rounds: int = 5) -> tuple[float, float]:
    import optlab.record.run_report as run_report
    from optlab.record import figure_set

    def without_page(path):   # the same figures and files, no SVG copy and no page
        real = figure_set.FigureSet.__init__

        def init(self, rd, opts, files=True, page=True, items=None):
            real(self, rd, opts, files, False, items or [])
        figure_set.FigureSet.__init__ = init
        try:
            run_report.render_run(path)
        finally:
            figure_set.FigureSet.__init__ = real

    with_page, plain = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        run_report.render_run(run_dir)
        with_page.append(time.perf_counter() - t)
        t = time.perf_counter()
        without_page(run_dir)
        plain.append(time.perf_counter() - t)
    return statistics.median(with_page), statistics.median(plain)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page, trial = size(Path(tmp))
        print(f"comparison of 20 trials (5 optimizers x 4 seeds): report.html {page / 1e6:.3f} MB (target < 1 MB); "
              f"one trial's {trial / 1e3:.0f} kB")
        page, _ = size(Path(tmp) / "many", many=True)
        print(f"comparison of 20 trials (20 learning rates x 1 seed): report.html {page / 1e6:.3f} MB")
        run_dir = next(Path(tmp).glob("*/trials/adam-s0"))
        a, b = cost(run_dir)
        print(f"render_run of one trial: {a:.2f} s with report.html, {b:.2f} s without: x{a / b:.2f}")


if __name__ == "__main__":
    main()
