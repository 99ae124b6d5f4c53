"""RAdam: Adam with its adaptive step rectified while the second-moment estimate is still
unreliable (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond", Alg. 2)."""

from __future__ import annotations

import math

from optlab.engine.formula import sqrt, terms
from optlab.engine.optimizers import Optimizer


class RAdam(Optimizer):
    """RAdam as ``torch.optim.RAdam``; rho is the length of the approximated simple moving average.

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        if rho_t > 5:  r_t = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
                       W -= lr * m_hat * r_t * sqrt(1 - beta2 ** t) / (sqrt(v) + eps)
        else:          W -= lr * m_hat                        (momentum SGD while v is unreliable)
    """

    hyper_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "clip_norm")
    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

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
