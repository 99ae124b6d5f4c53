"""Momentum (heavy ball) in the velocity form of CS231n and DLFS."""

from __future__ import annotations

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class Momentum(Optimizer):
    """Momentum in the velocity form of CS231n and DLFS 6.1 (docs/conventions.md, momentum).

        v = momentum * v - lr * g
        W += v
    """

    name = "momentum"
    year = 1964     # Polyak
    lr = CATALOGUE["lr"].but(0.01, "DLFS ch. 6")
    momentum = CATALOGUE["momentum"].but(0.9, "DLFS ch. 6")
    slots = ("v",)

    def step(self, W, g, v):
        W, g, v = terms(self, W, g, v)
        v.set(self.momentum * v - self.lr * g)
        W.add(v)

    @classmethod
    def stability(cls, lr, hyper):
        mu = hyper["momentum"]
        return (2.0 + 2.0 * mu) / lr, False, "(2+2μ)/η"     # Cohen et al. 2021, appendix
