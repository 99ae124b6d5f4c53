"""Schedule-Free SGD (Defazio et al. 2024); the shared part is optlab.engine.optimizers._schedulefree."""

from __future__ import annotations

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers._schedulefree import SOURCE, ScheduleFree


class SGDScheduleFree(ScheduleFree):
    """Schedule-Free SGD (Defazio et al. 2024, Alg. 1): gradients at y, evaluation at x (the
    package's defaults: lr 1.0, momentum 0.9).

        z -= lr_t * g
        x = (1 - c_t) * x + c_t * z
        W = y = momentum * x + (1 - momentum) * z
    """

    name = "sgd_schedulefree"
    year = 2024
    lr = CATALOGUE["lr"].but(1.0, SOURCE)
    momentum = CATALOGUE["momentum"].but(0.9, SOURCE)
    slots = ("z", "x")
    beta_name = "momentum"

    def step(self, W, g, z, x):
        zt, gt = terms(self, z, g)
        zt.sub(self.lr_t * gt)
        self._average(W, z, x)
