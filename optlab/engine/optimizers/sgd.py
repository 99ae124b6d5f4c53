"""Stochastic gradient descent: the rule every other one is compared with."""

from __future__ import annotations

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent (CS231n "Optimization"; Nielsen ch. 1; DLFS 6.1).

        W -= lr * g
    """

    name = "sgd"
    year = 1951     # Robbins & Monro
    lr = CATALOGUE["lr"].but(0.01, "DLFS ch. 6")

    def step(self, W, g):
        W, g = terms(self, W, g)
        W.sub(self.lr * g)

    @classmethod
    def stability(cls, lr, hyper):
        return 2.0 / lr, False, "2/η"      # Cohen et al. 2021
