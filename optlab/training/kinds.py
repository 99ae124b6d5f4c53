"""The training side of each kind of run (optlab.config.kinds): its loop, the columns of its
metrics.csv, the disk it may fill, and what to say when asked to resume it. One entry per kind:
:mod:`optlab.training.run` looks the loop up here and tests no config field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from optlab.config.kinds import GRADIENT, SEARCH, SURFACE
from optlab.config.schema import Config
from optlab.record.rundir import METRIC_COLUMNS, SEARCH_COLUMNS, SURFACE_COLUMNS
from optlab.training.descend import descend
from optlab.training.gradient_loop import train_gradient
from optlab.training.search import run_search
from optlab.training.setup import Setup, estimate_bytes, total_steps

# loop(config, setup, rd, on_step, stop, ckpt, on_eval) -> summary (without "kind": optlab.training.run adds it)
LoopFn = Callable[..., dict]


@dataclass(frozen=True)
class Loop:
    train: LoopFn
    columns: list[str]                           # metrics.csv's header (and TensorBoard's scalars)
    disk_bytes: Callable[[Config, Setup | None], int]   # an upper bound on what the run writes
    no_checkpoint: str | None = None             # why --resume is refused (None: it keeps one), {strategy} filled in


def _search(config, setup, rd, on_step, stop, ckpt=None, on_eval=None) -> dict:
    return run_search(config, setup, rd, on_step, stop)


def _descend(config, setup, rd, on_step, stop, ckpt=None, on_eval=None) -> dict:
    return descend(config, rd, on_step, stop)


LOOPS: dict[str, Loop] = {
    GRADIENT.name: Loop(train_gradient, METRIC_COLUMNS,
                        lambda c, s: estimate_bytes(s, total_steps(c, len(s.data.train))[0])),
    SEARCH.name: Loop(_search, SEARCH_COLUMNS, lambda c, s: estimate_bytes(s, c.search.trials),
                      "a {strategy} search keeps no checkpoint; run it again (same config and seed: the same trials)"),
    SURFACE.name: Loop(_descend, SURFACE_COLUMNS, lambda c, s: 2_000_000,
                       "a surface path keeps no checkpoint; run it again (it has no randomness: the same path)"),
}


def loop_of(config: Config) -> Loop:
    return LOOPS[config.kind.name]
