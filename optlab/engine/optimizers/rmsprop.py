"""RMSprop: AdaGrad with a decaying average of squared gradients."""

from __future__ import annotations

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers._diagonal import SqrtHScaled


class RMSprop(SqrtHScaled):
    """RMSprop (Tieleman & Hinton 2012, lecture 6e; CS231n); eps as AdaGrad's (docs/conventions.md, eps).

        h = decay * h + (1 - decay) * g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    name = "rmsprop"
    year = 2012
    lr = CATALOGUE["lr"].but(0.01, "DLFS ch. 6")
    decay = CATALOGUE["decay"].but(0.99, "DLFS ch. 6")
    eps = CATALOGUE["eps"].but(1e-8, "Kingma & Ba 2015")
    slots = ("h",)

    def step(self, W, g, h):
        W, g, h = terms(self, W, g, h)
        h.set(self.decay * h + (1 - self.decay) * g * g)
        W.sub(self.lr * g / (sqrt(h) + self.eps))
