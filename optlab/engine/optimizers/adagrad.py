"""AdaGrad: a per-coordinate rate that shrinks with the sum of squared gradients."""

from __future__ import annotations

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers._diagonal import SqrtHScaled


class AdaGrad(SqrtHScaled):
    """AdaGrad (Duchi et al. 2011; DLFS 6.1); eps outside the square root (docs/conventions.md, eps).

        h += g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    name = "adagrad"
    year = 2011
    lr = CATALOGUE["lr"].but(0.01, "DLFS ch. 6")
    eps = CATALOGUE["eps"].but(1e-8, "Kingma & Ba 2015")
    slots = ("h",)

    def step(self, W, g, h):
        W, g, h = terms(self, W, g, h)
        h.add(g * g)
        W.sub(self.lr * g / (sqrt(h) + self.eps))
