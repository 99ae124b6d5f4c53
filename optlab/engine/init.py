"""Weight initialisers; each draws from an explicit Generator (docs/conventions.md).

Formulas (docs/conventions.md, "He init"):
- zeros:  W = 0
- normal: W ~ N(0, std^2)
- xavier: W ~ N(0, 2 / (fan_in + fan_out))     (Glorot & Bengio 2010; DLFS's "Xavier" is sqrt(1/n))
- he:     W ~ N(0, 2 / fan_in)                 (He et al. 2015)
"""

from __future__ import annotations

import numpy as np


def zeros(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.0) -> np.ndarray:
    return np.zeros((fan_in, fan_out))


def normal(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.01) -> np.ndarray:
    return std * rng.standard_normal((fan_in, fan_out))


def xavier(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.0) -> np.ndarray:
    return np.sqrt(2.0 / (fan_in + fan_out)) * rng.standard_normal((fan_in, fan_out))


def he(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.0) -> np.ndarray:
    return np.sqrt(2.0 / fan_in) * rng.standard_normal((fan_in, fan_out))


INITIALIZERS = {"zeros": zeros, "normal": normal, "xavier": xavier, "he": he}
