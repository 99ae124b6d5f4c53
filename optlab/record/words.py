"""How numbers are written in words, on the terminal and in reports: a count with its noun in the
right number (``1 trial``, ``3 trials``) and a plain number for a quantity people read
(``3000 epochs``, ``2.5 epochs``; never ``3e+03``)."""

from __future__ import annotations

import numpy as np


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "trial")`` -> ``1 trial``; ``count(3, "trial")`` -> ``3 trials``."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def plain(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, positional: 3000.0 -> ``3000``, 2.5 -> ``2.5``,
    0.0001234 -> ``0.000123``, 1234.5 -> ``1230``; a whole number keeps every digit."""
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x.is_integer():
        return str(int(x))
    return np.format_float_positional(x, precision=digits, unique=False, fractional=False, trim="-")
