"""Nesterov momentum in the form of Bengio et al. 2012, as CS231n writes it."""

from __future__ import annotations

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class Nesterov(Optimizer):
    """Nesterov momentum, Bengio et al. 2012 form as in CS231n (docs/conventions.md, Nesterov); mu = momentum.

        v_prev = v
        v = mu * v - lr * g
        W += -mu * v_prev + (1 + mu) * v
    """

    name = "nesterov"
    year = 1983     # Nesterov
    lr = CATALOGUE["lr"].but(0.01, "DLFS ch. 6")
    momentum = CATALOGUE["momentum"].but(0.9, "DLFS ch. 6")
    slots = ("v",)

    def step(self, W, g, v):
        W, g, v = terms(self, W, g, v)
        mu = self.momentum
        v_prev = v.copy()
        v.set(mu * v - self.lr * g)
        W.add(-mu * v_prev + (1 + mu) * v)

    @classmethod
    def stability(cls, lr, hyper):
        mu = hyper["momentum"]    # the root of its recurrence at -1
        return (2.0 + 2.0 * mu) / ((1.0 + 2.0 * mu) * lr), False, "(2+2μ)/((1+2μ)η)"
