"""Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms", Program 1): the sign of an interpolated momentum, so every coordinate moves by lr."""

from __future__ import annotations

from optlab.engine.formula import sign, terms
from optlab.engine.optimizers import Optimizer


class Lion(Optimizer):
    """Lion as the ``lion-pytorch`` package (Chen et al. 2023, Program 1). Decoupled weight decay
    is the base class's (``W -= lr * weight_decay * W`` before the rule); the paper suggests an lr
    3-10x below AdamW's and a weight_decay 3-10x above, keeping lr * weight_decay alike.

        c = beta1 * m + (1 - beta1) * g
        W -= lr * sign(c)
        m = beta2 * m + (1 - beta2) * g
    """

    hyper_names = ("lr", "beta1", "beta2", "weight_decay", "clip_norm")
    slots = ("m",)

    def __init__(self, lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, m):
        W, g, m = terms(self, W, g, m)
        W.sub(self.lr * sign(self.beta1 * m + (1 - self.beta1) * g))
        m.set(self.beta2 * m + (1 - self.beta2) * g)
