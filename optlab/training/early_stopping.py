"""Early stopping on validation, and the watch on a validation number it shares with the plateau
schedule.

:class:`Watch` follows one metric of the evaluations (``val_acc``: higher is better, ``val_loss``:
lower is better) and counts the evaluations since its last new best; a new best must beat the old
one by more than ``min_delta``.

:class:`EarlyStopping` (``train.early_stopping``) keeps a copy of the parameters and buffers (batch
norm's running statistics) from the evaluation with the best value, stops training once
``patience`` evaluations in a row bring no new best — Nielsen's "no-improvement-in-n" rule (ch. 3)
and Prechelt's (1998) stopping criterion on a held-out set — and then restores the best copy, so
the test accuracy and the final checkpoint are those of the best weights. The step-0 evaluation
counts, so a run that never improves on its initial weights ends with them.

Everything it remembers is in :meth:`EarlyStopping.state_dict` (the best copy as arrays), so a
resumed run stops at the same step with the same weights as one never interrupted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optlab.engine.watch import Watch


class EarlyStopping:
    """Stop after ``patience`` evaluations without a new best of ``metric``; restore the best weights."""

    def __init__(self, cfg: Any, model: Any) -> None:
        self.patience = cfg.patience
        self.watch = Watch(cfg.metric, cfg.min_delta)
        self.model = model
        self.best_params = model.flat_params.copy()
        self.best_buffers = model.flat_buffers.copy()
        self.stopped_at: int | None = None   # the step at which the rule stopped training

    def observe(self, step: int, row: dict) -> bool:
        """Take one evaluation of the current weights; True when training should stop now."""
        improved = self.watch.observe(step, row)
        if improved:
            self.best_params[...] = self.model.flat_params
            self.best_buffers[...] = self.model.flat_buffers
        if improved is False and self.watch.wait >= self.patience:
            self.stopped_at = step
            return True
        return False

    def restore(self) -> None:
        """Put the best weights (and buffers) back into the model."""
        self.model.flat_params[...] = self.best_params
        self.model.flat_buffers[...] = self.best_buffers

    def summary(self) -> dict[str, Any]:
        """What summary.json says: the metric, its best value, the step the weights came from."""
        return {"metric": self.watch.metric, "patience": self.patience, "best_value": self.watch.best,
                "best_step": self.watch.best_step, "stopped_at": self.stopped_at}

    def state_dict(self) -> dict[str, Any]:
        """JSON-friendly values and two arrays (the best copy), for a checkpoint."""
        return {**self.watch.state_dict(), "stopped_at": self.stopped_at,
                "best_params": self.best_params.copy(), "best_buffers": self.best_buffers.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.watch.load_state_dict(state)
        self.stopped_at = state["stopped_at"]
        self.best_params[...] = np.asarray(state["best_params"])
        self.best_buffers[...] = np.asarray(state["best_buffers"])
