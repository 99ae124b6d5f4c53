"""Learning-rate schedules: the rate each optimizer step uses, from ``optimizer.schedule``.

Step s = 1, 2, ... is the s-th update. Before it the training loop sets ``optimizer.lr`` to
``schedule.rate(s)`` and logs that rate in metrics.csv. With lr0 = ``optimizer.lr`` and t the
schedule's clock (below), the rules (registry :data:`RULES`, one factor each, rate = lr0 * factor):

- ``constant``      lr0
- ``step``          lr0 * factor ** floor(t / every)                         (CS231n "step decay")
- ``exponential``   lr0 * exp(-k t)                                          (CS231n)
- ``inverse_time``  lr0 / (1 + k t)                                          (CS231n "1/t decay")
- ``cosine``        lr0 * (m + (1 - m) (1 + cos(pi min(t, T) / T)) / 2), m = min_factor
                    (Loshchilov & Hutter 2017, without restarts); T = ``period``, by default
                    the run's steps after warmup, so the last step's rate is just above lr0 * m
- ``plateau``       lr0 * f, where f starts at 1 and becomes max(f * factor, min_factor) each time
                    ``patience`` evaluations in a row bring no new best of the validation metric:
                    Nielsen's rule (ch. 3) is factor 0.5 down to 1/128 of the initial rate

The clock t starts at 0 on the first step after warmup: t = s - 1 - warmup in ``unit: steps``, or
the whole epochs completed since warmup ended, floor((s - 1 - warmup) / steps_per_epoch), in
``unit: epochs`` (the rate changes at epoch boundaries, as an epoch-based scheduler would).

Warmup (Goyal et al. 2017): with ``warmup`` W > 0, steps s <= W use rate(W + 1) * s / W, a linear
ramp up to the rate the schedule starts at.

Only ``plateau`` has state (f and its watch on validation); ``state_dict`` saves it for checkpoints.
A ``cosine`` schedule with ``period: null`` depends on the run's length, so a run cannot be
extended with ``--resume`` without changing rates it has already used (optlab.training.run refuses).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from optlab.engine.hyper import settings
from optlab.engine.watch import Watch


def _constant(cfg: Any, t: int, T: int) -> float:
    return 1.0


def _step(cfg: Any, t: int, T: int) -> float:
    return cfg.factor ** (t // cfg.every)


def _exponential(cfg: Any, t: int, T: int) -> float:
    return math.exp(-cfg.k * t)


def _inverse_time(cfg: Any, t: int, T: int) -> float:
    return 1.0 / (1.0 + cfg.k * t)


def _cosine(cfg: Any, t: int, T: int) -> float:
    m = cfg.min_factor
    return m + (1 - m) * (1 + math.cos(math.pi * min(t, T) / T)) / 2


# name -> factor(cfg, t, T) multiplying lr0; plateau's factor is its state, not a function of t
RULES: dict[str, Callable[[Any, int, int], float]] = {
    "constant": _constant, "step": _step, "exponential": _exponential,
    "inverse_time": _inverse_time, "cosine": _cosine, "plateau": _constant,
}


class Schedule:
    """``rate(step)`` for every step; ``observe`` takes each evaluation (plateau acts on them)."""

    def __init__(self, cfg: Any, lr: float, total_steps: int, steps_per_epoch: int) -> None:
        """``cfg``: the schedule's settings, a plain mapping (``{"name": "step", "every": 30, ...}``)."""
        cfg = settings(cfg)
        self.cfg, self.lr0 = cfg, float(lr)
        self.warmup = cfg.warmup
        self.per_epoch = max(1, steps_per_epoch)
        self.unit = getattr(cfg, "unit", "steps")
        self.period = getattr(cfg, "period", None) or max(1, total_steps - self.warmup)
        self.rule = RULES[cfg.name]
        self.factor = 1.0                      # plateau's current multiplier
        self.watch = Watch(cfg.metric) if cfg.name == "plateau" else None
        self.reductions: list[int] = []        # steps at which plateau reduced the rate

    @property
    def depends_on_length(self) -> bool:
        """True when the rates depend on the run's total length (cosine without a period)."""
        return self.cfg.name == "cosine" and self.cfg.period is None

    def clock(self, step: int) -> int:
        """t of step ``step`` (>= warmup + 1): steps or whole epochs since warmup ended."""
        t = step - 1 - self.warmup
        return t if self.unit == "steps" else t // self.per_epoch

    def rate(self, step: int) -> float:
        """The learning rate of update ``step`` (1-based)."""
        if step <= self.warmup:
            return self.rate(self.warmup + 1) * step / self.warmup
        return self.lr0 * self.factor * self.rule(self.cfg, self.clock(step), self.period)

    def observe(self, step: int, row: dict) -> None:
        """An evaluation after ``step`` updates; plateau reduces its factor when validation stalls."""
        if self.watch is None or self.watch.observe(step, row) is not False:
            return
        if self.watch.wait >= self.cfg.patience:
            new = max(self.factor * self.cfg.factor, self.cfg.min_factor)
            if new < self.factor:
                self.factor = new
                self.reductions.append(step)
            self.watch.wait = 0           # patience starts again at the new rate

    def state_dict(self) -> dict[str, Any]:
        if self.watch is None:
            return {}
        return {"factor": self.factor, "reductions": list(self.reductions), **self.watch.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.watch is not None:
            self.factor, self.reductions = float(state["factor"]), list(state["reductions"])
            self.watch.load_state_dict(state)

