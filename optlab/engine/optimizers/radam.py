"""RAdam: Adam with its adaptive step rectified while the second-moment estimate is unreliable
(Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond", Alg. 2)."""

from __future__ import annotations

import math

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.base import Optimizer


class RAdam(Optimizer):
    """RAdam as ``torch.optim.RAdam``; rho is the length of the approximated simple moving average.

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2 ** t / (1 - beta2 ** t)
        rho_t > 5:  r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
                    W -= lr * m / (1 - beta1 ** t) * r_t * sqrt(1 - beta2 ** t) / (sqrt(v) + eps)
        else:       W -= lr * m / (1 - beta1 ** t)            (momentum SGD while v is unreliable)
    """

    name = "radam"
    year = 2019
    lr = CATALOGUE["lr"].but(0.001, "Liu et al. 2020")
    beta1 = CATALOGUE["beta1"].but(0.9, "Liu et al. 2020")
    beta2 = CATALOGUE["beta2"].but(0.999, "Liu et al. 2020")
    eps = CATALOGUE["eps"].but(1e-8, "Liu et al. 2020")
    slots = ("m", "v")

    def step(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        t, beta1, beta2 = self.t, self.beta1, self.beta2
        m.set(beta1 * m + (1 - beta1) * g)
        v.set(beta2 * v + (1 - beta2) * g * g)
        m_hat = m / (1 - beta1 ** t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        if rho_t > 5:
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            W.sub(m_hat * self.lr * (sqrt(1 - beta2 ** t) / (sqrt(v) + self.eps)) * r_t)
        else:
            W.sub(m_hat * self.lr)
