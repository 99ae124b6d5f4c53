"""TensorBoard's copy of a run's metrics (``logging.tensorboard: true`` or ``--tensorboard``):
event files in the run directory, fed from the very rows written to metrics.csv.

Every metrics.csv column but the step becomes a scalar of the same name, at that step (empty
cells, such as accuracy between evaluations, are left out), so TensorBoard and metrics.csv cannot
disagree. The run's config, flattened to ``optimizer.lr``-style keys, is written as TensorBoard
hyper-parameters with the accuracy and loss columns as their metrics, for the HParams view.

A comparison or sweep keeps each trial's run directory under its own directory, so
``tensorboard --logdir STUDY_DIR`` shows every trial side by side, named by its directory.

tensorboardX is an optional extra (``pip install -e ".[tensorboard]"``); :func:`require` says
so before a run starts. Nothing below the record layer knows about any of this: the training
loop writes metrics rows, :class:`optlab.record.rundir.RunDir` hands them to the listeners.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

INSTALL = "pip install -e \".[tensorboard]\" (in optlab's clone)"
HPARAM_METRICS = ("val_acc", "train_acc", "val_loss", "train_loss", "loss")


class TensorBoardMissing(RuntimeError):
    """logging.tensorboard is on but tensorboardX is not installed."""


def require() -> None:
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise TensorBoardMissing(f"logging.tensorboard (--tensorboard) needs tensorboardX, an optional extra: "
                                 f"{INSTALL}") from None


def require_for(config) -> None:
    """TensorBoardMissing when ``config`` asks for event files (logging.tensorboard) and the extra
    is not installed: the one check that train, resume and a study's plan all make first."""
    if config.logging.tensorboard:
        require()


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` -> ``{"optimizer.lr": 0.1}``; lists as text, nulls left out
    (TensorBoard's hyper-parameters are numbers, text or booleans)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = str(value)
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


class TensorBoardLog:
    """Event files under ``path``; :meth:`write` takes a metrics row, :meth:`close` flushes.

    ``purge_from``: a resumed run's first step: events TensorBoard already has from there on were
    written after the checkpoint and are replaced by the resumed run's.
    """

    def __init__(self, path: Path, config: dict, columns: list[str], purge_from: int | None = None) -> None:
        require()
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams

        self._writer = SummaryWriter(logdir=str(path), purge_step=purge_from, flush_secs=30)
        metrics = {m: 0.0 for m in HPARAM_METRICS if m in columns}
        for summary in hparams(flatten(config), metrics):   # the experiment, session start and end
            self._writer._get_file_writer().add_summary(summary)

    def write(self, row: dict[str, Any]) -> None:
        step = row.get("step")
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        self._writer.close()
