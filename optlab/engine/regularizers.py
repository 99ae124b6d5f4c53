"""Weight penalties added to the mean data loss (docs/conventions.md):

- L2:          0.5 * l2 * sum(W**2),   gradient l2 * W
- L1:          l1 * sum(|W|),          subgradient l1 * sign(W), sign(0) = 0
- elastic net: both terms.
Only weight matrices are penalised, never biases. Hessian-vector product (``add_hvp``): l2 * V_W;
L1 adds nothing (|W| is piecewise linear: its second derivative is zero wherever it exists).
"""

from __future__ import annotations

import numpy as np


class Penalty:
    """L1 and/or L2 penalty over the named weight matrices."""

    def __init__(self, l2: float = 0.0, l1: float = 0.0) -> None:
        self.l2, self.l1 = l2, l1

    @property
    def active(self) -> bool:
        return self.l2 > 0 or self.l1 > 0

    @property
    def has_kinks(self) -> bool:
        return self.l1 > 0

    def kink_state(self, params: dict[str, np.ndarray], names: list[str]) -> np.ndarray | None:
        """sign(W) of every penalised weight when L1 is on (its kink is at W = 0), else None.

        Computed on demand (only gradient checking asks), so training pays nothing for it.
        """
        if not self.l1:
            return None
        return np.concatenate([np.sign(params[name]).ravel() for name in names]) if names else np.zeros(0)

    def loss(self, params: dict[str, np.ndarray], names: list[str]) -> float:
        total = 0.0
        for name in names:
            W = params[name]
            if self.l2:
                total += 0.5 * self.l2 * float(np.sum(W * W))
            if self.l1:
                total += self.l1 * float(np.sum(np.abs(W)))
        return total

    def add_grad(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], names: list[str]) -> None:
        """grads[name] += d penalty / d W, in place."""
        for name in names:
            if self.l2:
                grads[name] += self.l2 * params[name]
            if self.l1:
                grads[name] += self.l1 * np.sign(params[name])

    def add_hvp(self, v: dict[str, np.ndarray], hv: dict[str, np.ndarray], names: list[str]) -> None:
        """hv[name] += (Hessian of the penalty) v[name], in place."""
        if self.l2:
            for name in names:
                hv[name] += self.l2 * v[name]
