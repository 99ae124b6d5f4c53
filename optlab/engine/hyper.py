"""Hyper-parameters: what one is (:class:`Hyper`: default, allowed range, meaning, source) and the
catalogue of the names optimizers share.

The same name is used everywhere (conventions: "one name everywhere"): the optimizer's
constructor argument, the config key under ``optimizer:``, the CLI override
``optimizer.<name>=...`` and the table column. An optimizer declares its hyper-parameters as class
attributes (optlab.engine.optimizers.base); the config schema turns each range into a pydantic
constraint, and the optimizer checks its arguments against the same range when it is built, so a
library user and a config user get the same message. A name in :data:`CATALOGUE` has one range and
one meaning; each optimizer gives it its own default and source (``CATALOGUE["lr"].but(0.001)``).

:func:`settings` gives the plain values the engine is built from (a component's mapping, never a
config object) attribute access. Pure Python (no numpy).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace


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


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter of an optimizer: ``lr = Hyper(0.01, Range(0, low_open=True), "step size",
    "Robbins & Monro 1951")`` as a class attribute of the optimizer.

    ``kind`` is float or int (an L-BFGS history length); ``optional``: None is allowed and means the
    technique is off (``clip_norm``)."""

    default: float | int | None
    range: Range
    meaning: str
    source: str = ""
    kind: type = float
    optional: bool = False

    def but(self, default: float | int | None, source: str | None = None) -> Hyper:
        """This hyper-parameter with another default (and where that default comes from)."""
        return dataclasses.replace(self, default=default, source=self.source if source is None else source)

    def check(self, name: str, value: object) -> float | int | None:
        """``value`` as this hyper-parameter's kind, or ValueError naming the allowed range."""
        if value is None and self.optional:
            return None
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not self.range.contains(number):
            raise ValueError(f"{name}={number:g} is out of range: expected {self.range.describe(name)}")
        if self.kind is int:
            if not number.is_integer():
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            return int(number)
        return number


# The names optimizers share, each with one range and one meaning; the defaults here are DLFS
# ch. 6's (SGD 0.01, Momentum 0.9, RMSprop's decay 0.99) and Kingma & Ba's (betas, eps 1e-8).
CATALOGUE: dict[str, Hyper] = {
    "lr": Hyper(0.01, Range(0.0, low_open=True), "learning rate (step size)"),
    "momentum": Hyper(0.9, Range(0.0, 1.0), "velocity decay mu of Momentum / Nesterov"),
    "beta1": Hyper(0.9, Range(0.0, 1.0), "Adam's decay rate of the first-moment estimate"),
    "beta2": Hyper(0.999, Range(0.0, 1.0), "Adam's decay rate of the second-moment estimate"),
    "eps": Hyper(1e-8, Range(0.0, low_open=True),
                 "added outside the square root of the denominator (Kingma & Ba, Alg. 1)"),
    "decay": Hyper(0.99, Range(0.0, 1.0), "RMSprop's decay rate of the squared-gradient average"),
    "weight_decay": Hyper(0.0, Range(0.0), "decoupled weight decay (AdamW): W -= lr * weight_decay * W before "
                          "each step, weight matrices only; not the L2 penalty (regularization.l2), which adaptive "
                          "optimizers rescale", "Loshchilov & Hutter 2019"),
    "clip_norm": Hyper(None, Range(0.0, low_open=True), "clip the gradient to this global norm (over all tensors) "
                       "before each step; null: no clipping", "Pascanu et al. 2013", optional=True),
}
RANGES: dict[str, Range] = {name: h.range for name, h in CATALOGUE.items()}


def settings(spec: object) -> object:
    """A component's settings as attributes (``spec.hidden``), from the plain mapping the engine is
    given (``{"name": "mlp", "hidden": [100], "batch_norm": {"momentum": 0.9, ...}}``), nested
    mappings too; anything else (already attributes) is returned as it is."""
    if isinstance(spec, Mapping):
        return SimpleNamespace(**{key: settings(value) for key, value in spec.items()})
    return spec


def check(name: str, value: object) -> float | int | None:
    """``value`` checked against the catalogue's range for ``name`` (ValueError if outside)."""
    return CATALOGUE[name].check(name, value)
