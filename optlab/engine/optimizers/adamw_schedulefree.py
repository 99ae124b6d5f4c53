"""Schedule-Free AdamW (Defazio et al. 2024); the shared part is optlab.engine.optimizers._schedulefree."""

from __future__ import annotations

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers._schedulefree import SOURCE, ScheduleFree


class AdamWScheduleFree(ScheduleFree):
    """Schedule-Free AdamW (Defazio et al. 2024, Alg. 1 with Adam's preconditioner): gradients at
    y, evaluation at x (the package's defaults: lr 0.0025, betas 0.9, 0.999, eps 1e-8).

        v = beta2 * v + (1 - beta2) * g * g
        z -= lr_t * g / (sqrt(v / (1 - beta2 ** t)) + eps)
        x = (1 - c_t) * x + c_t * z
        W = y = beta1 * x + (1 - beta1) * z
    """

    name = "adamw_schedulefree"
    year = 2024
    lr = CATALOGUE["lr"].but(0.0025, SOURCE)
    beta1 = CATALOGUE["beta1"].but(0.9, SOURCE)
    beta2 = CATALOGUE["beta2"].but(0.999, SOURCE)
    eps = CATALOGUE["eps"].but(1e-8, SOURCE)
    slots = ("z", "x", "v")
    beta_name = "beta1"

    def step(self, W, g, z, x, v):
        zt, gt, vt = terms(self, z, g, v)
        vt.set(self.beta2 * vt + (1 - self.beta2) * gt * gt)
        zt.sub(self.lr_t * gt / (sqrt(vt / (1 - self.beta2 ** self.t)) + self.eps))
        self._average(W, z, x)
