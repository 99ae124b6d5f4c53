"""The watch on one validation number that early stopping and the plateau schedule share.

:class:`Watch` follows one metric of the evaluations (``val_acc``: higher is better, ``val_loss``:
lower is better) and counts the evaluations since its last new best; a new best must beat the old
one by more than ``min_delta``. It lives in the engine because a schedule (engine) needs it.
"""

from __future__ import annotations

import math
from typing import Any

HIGHER_IS_BETTER = {"val_acc": True, "val_loss": False}


class Watch:
    """The best value of ``metric`` so far and the evaluations since it was set."""

    def __init__(self, metric: str, min_delta: float = 0.0) -> None:
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
        self.metric, self.min_delta = metric, min_delta
        self.best: float | None = None
        self.best_step: int | None = None
        self.wait = 0                      # evaluations since the best

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if HIGHER_IS_BETTER[self.metric]:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def observe(self, step: int, row: dict) -> bool | None:
        """Take one evaluation's row; True if it set a new best, False if not, None if the row has
        no finite value of the metric (a NaN from an empty split: nothing to judge)."""
        value = row.get(self.metric, math.nan)
        if value is None or not math.isfinite(value):
            return None
        if self.improved(value):
            self.best, self.best_step, self.wait = float(value), step, 0
            return True
        self.wait += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self.wait = state["best"], state["best_step"], int(state["wait"])
