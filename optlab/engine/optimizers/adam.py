"""Adam: momentum on the gradient, RMSprop on its square, both bias-corrected."""

from __future__ import annotations

import numpy as np

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam, Kingma & Ba 2015, Algorithm 1: eps outside the square root, t counts updates from 1
    (docs/conventions.md, eps; DLFS uses the "efficient" form); with weight_decay, AdamW.

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        W -= lr * m_hat / (sqrt(v_hat) + eps)
    """

    name = "adam"
    year = 2014
    lr = CATALOGUE["lr"].but(0.001, "Kingma & Ba 2015, Alg. 1")
    beta1 = CATALOGUE["beta1"].but(0.9, "Kingma & Ba 2015, Alg. 1")
    beta2 = CATALOGUE["beta2"].but(0.999, "Kingma & Ba 2015, Alg. 1")
    eps = CATALOGUE["eps"].but(1e-8, "Kingma & Ba 2015, Alg. 1")
    slots = ("m", "v")

    def step(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        m.set(self.beta1 * m + (1 - self.beta1) * g)
        v.set(self.beta2 * v + (1 - self.beta2) * g * g)
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        W.sub(self.lr * m_hat / (sqrt(v_hat) + self.eps))

    @classmethod
    def stability(cls, lr, hyper):
        b1 = hyper["beta1"]     # 38/η for beta1 = 0.9, on the preconditioned sharpness (Cohen et al. 2022)
        return (2.0 + 2.0 * b1) / ((1.0 - b1) * lr), True, "(2+2β1)/((1-β1)η)"

    @classmethod
    def preconditioner(cls, state, hyper, t):
        """P = (1 - beta1^t) diag(sqrt(v_hat) + eps): the update is lr P^(-1) m."""
        if not t or not state:
            return None
        v_hat = state["v"] / (1.0 - hyper["beta2"] ** t)
        return (1.0 - hyper["beta1"] ** t) * (np.sqrt(v_hat) + hyper["eps"])
