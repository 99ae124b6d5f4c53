"""Hyper-parameter names, defaults and allowed ranges: the one table behind every optimizer.

The same name is used everywhere (conventions: "one name everywhere"): the optimizer's
constructor argument, the config key under ``optimizer:``, the CLI override
``optimizer.<name>=...`` and the table column. The config schema turns each range into a
pydantic constraint, and each optimizer checks its arguments against the same range when it is
built, so a library user and a config user get the same message.

Pure Python (no numpy): the config module imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """An interval of allowed values; ``low_open``/``high_open`` exclude the end point."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self, name: str) -> str:
        left = f"{self.low:g} {'<' if self.low_open else '<='} {name}"
        if math.isinf(self.high):
            return left
        return f"{left} {'<' if self.high_open else '<='} {self.high:g}"


RANGES: dict[str, Range] = {
    "lr": Range(0.0, low_open=True),
    "momentum": Range(0.0, 1.0),
    "beta1": Range(0.0, 1.0),
    "beta2": Range(0.0, 1.0),
    "eps": Range(0.0, low_open=True),
    "decay": Range(0.0, 1.0),
    "weight_decay": Range(0.0),
    "clip_norm": Range(0.0, low_open=True),
    "momentum_decay": Range(0.0),
    "warmup_steps": Range(0.0),
    "r": Range(0.0),
    "weight_lr_power": Range(0.0),
    "adam_lr": Range(0.0, low_open=True),
    "history_size": Range(1.0),
    "tolerance_grad": Range(0.0),
    "tolerance_change": Range(0.0),
}

# Hyper-parameters whose default is None: the technique is off unless a value is given.
OPTIONAL = frozenset({"clip_norm"})

DESCRIPTIONS: dict[str, str] = {
    "lr": "learning rate (step size)",
    "momentum": "velocity decay mu of Momentum / Nesterov",
    "beta1": "Adam's decay rate of the first-moment estimate",
    "beta2": "Adam's decay rate of the second-moment estimate",
    "eps": "added outside the square root of the denominator (Kingma & Ba, Alg. 1)",
    "decay": "RMSprop's decay rate of the squared-gradient average",
    "weight_decay": "decoupled weight decay (AdamW): W -= lr * weight_decay * W before each step, weight matrices "
                    "only; not the L2 penalty (regularization.l2), which adaptive optimizers rescale",
    "clip_norm": "clip the gradient to this global norm (over all tensors) before each step; null: no clipping",
    "momentum_decay": "NAdam's schedule of mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) (Keras, PyTorch)",
    "warmup_steps": "Schedule-Free: steps of linear warmup of the rate (0: none)",
    "r": "Schedule-Free: the average weights step t by t ** r (0: uniform)",
    "weight_lr_power": "Schedule-Free: the average weights step t by lr_max ** weight_lr_power (during warmup)",
    "adam_lr": "Muon: learning rate of the AdamW that updates the tensors that are not matrices (biases)",
    "history_size": "L-BFGS: number m of (s, y) pairs kept for the two-loop recursion",
    "tolerance_grad": "L-BFGS: stop when max |g| is at most this",
    "tolerance_change": "L-BFGS: stop when the loss or the step changes by less than this",
}

# Defaults: DLFS ch. 6 (SGD 0.01, Momentum 0.01/0.9, AdaGrad 0.01, Adam 0.001), RMSprop's decay
# 0.99 as in DLFS; eps 1e-8 as in Kingma & Ba (docs/conventions.md). Every optimizer also takes
# weight_decay (0: off) and clip_norm (None: off), applied by the base class around its rule.
_COMMON: dict[str, float | None] = {"weight_decay": 0.0, "clip_norm": None}
DEFAULTS: dict[str, dict[str, float | None]] = {
    "sgd": {"lr": 0.01, **_COMMON},
    "momentum": {"lr": 0.01, "momentum": 0.9, **_COMMON},
    "nesterov": {"lr": 0.01, "momentum": 0.9, **_COMMON},
    "adagrad": {"lr": 0.01, "eps": 1e-8, **_COMMON},
    "rmsprop": {"lr": 0.01, "decay": 0.99, "eps": 1e-8, **_COMMON},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, **_COMMON},
    # The newer rules' authors' defaults (docs/optimizers.md): AdamW torch.optim.AdamW's; NAdam torch.optim.NAdam's (Dozat
    # 2016's lr 0.002, Keras's momentum_decay 0.004); RAdam Liu et al. 2020's; Lion Chen et al.
    # 2023's (lr 1e-4, betas 0.9, 0.99); Schedule-Free the schedulefree package's; Muon Jordan's
    # muon.py (Muon lr 0.02, momentum 0.95; the AdamW of the other tensors lr 3e-4, betas 0.9,
    # 0.95, eps 1e-10); L-BFGS torch.optim.LBFGS's with N&W's m = 10 (p. 177: "between 3 and 20").
    "adamw": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "clip_norm": None},
    "nadam": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 0.004, **_COMMON},
    "radam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, **_COMMON},
    "lion": {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, **_COMMON},
    "sgd_schedulefree": {"lr": 1.0, "momentum": 0.9, "warmup_steps": 0.0, "r": 0.0, "weight_lr_power": 2.0,
                         **_COMMON},
    "adamw_schedulefree": {"lr": 0.0025, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "warmup_steps": 0.0,
                           "r": 0.0, "weight_lr_power": 2.0, **_COMMON},
    "muon": {"lr": 0.02, "momentum": 0.95, "adam_lr": 3e-4, "beta1": 0.9, "beta2": 0.95, "eps": 1e-10,
             **_COMMON},
    "lbfgs": {"lr": 1.0, "history_size": 10, "tolerance_grad": 1e-7, "tolerance_change": 1e-9},
}


def check(name: str, value: float | None) -> float | None:
    """Return ``value`` as a float, or raise ValueError naming the allowed range.

    None is allowed for the OPTIONAL hyper-parameters (the technique is off)."""
    if value is None and name in OPTIONAL:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not RANGES[name].contains(value):
        raise ValueError(f"{name}={value:g} is out of range: expected {RANGES[name].describe(name)}")
    return value
