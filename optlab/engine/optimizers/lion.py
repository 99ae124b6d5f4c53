"""Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms", Program 1): the sign of an interpolated momentum, so every coordinate moves by lr."""

from __future__ import annotations

from optlab.engine.formula import sign, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class Lion(Optimizer):
    """Lion as the ``lion-pytorch`` package (Chen et al. 2023, Program 1); its decoupled weight
    decay is the default chain's. The paper's advice: an lr 3-10x below AdamW's, a weight_decay
    3-10x above, so that lr * weight_decay stays alike.

        W -= lr * sign(beta1 * m + (1 - beta1) * g)
        m = beta2 * m + (1 - beta2) * g
    """

    name = "lion"
    year = 2023
    lr = CATALOGUE["lr"].but(1e-4, "Chen et al. 2023, Program 1; lion-pytorch")
    beta1 = CATALOGUE["beta1"].but(0.9, "Chen et al. 2023, Program 1")
    beta2 = CATALOGUE["beta2"].but(0.99, "Chen et al. 2023, Program 1")
    slots = ("m",)

    def step(self, W, g, m):
        W, g, m = terms(self, W, g, m)
        W.sub(self.lr * sign(self.beta1 * m + (1 - self.beta1) * g))
        m.set(self.beta2 * m + (1 - self.beta2) * g)
