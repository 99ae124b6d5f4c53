"""How a finished run directory ranks among others: the score that ``compare --tune`` picks a
learning rate by and that ``sweep`` sorts its leaderboard by.

It reads only the run's files, so the record layer can rank trials without the studies that ran them.
"""

from __future__ import annotations

import math
from pathlib import Path

from optlab.record.rundir import RunDir, read_metrics


def tune_score(run_dir: Path) -> tuple:
    """Larger is better: ``(1, 1, final val accuracy, -final val loss)`` for a run with validation
    data, ``(1, 0, -final training loss)`` without (a surface), ``(0,)`` if it did not complete."""
    path = Path(run_dir)
    try:
        summary = RunDir(path).read_json("summary.json")
        metrics = read_metrics(path / "metrics.csv")
    except (OSError, ValueError):
        return (0,)
    if summary.get("status") != "completed":
        return (0,)
    val = (summary.get("accuracy") or {}).get("val") or {}
    if val.get("final") is not None:
        losses = [v for v in metrics.get("val_loss", []) if math.isfinite(v)]
        return (1, 1, val["final"], -losses[-1] if losses else -math.inf)
    loss = summary.get("final_train_loss")
    return (1, 0, -loss if loss is not None and math.isfinite(loss) else -math.inf)
