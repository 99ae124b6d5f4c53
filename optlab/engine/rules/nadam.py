"""NAdam: Adam with Nesterov momentum (Dozat 2016, "Incorporating Nesterov Momentum into Adam"),
with the momentum-decay schedule of Keras and PyTorch (``torch.optim.NAdam``)."""

from __future__ import annotations

from optlab.engine.formula import sqrt, terms
from optlab.engine.optimizers import Optimizer


class NAdam(Optimizer):
    """NAdam as ``torch.optim.NAdam`` (Dozat 2016, Alg. 2, with mu_t warmed up as Keras does);
    ``mu_product`` is the running product mu_1 ... mu_t.

        mu_t      = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next   = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2 ** t)) + eps
        W -= (lr * (1 - mu_t) / (1 - mu_product) * g + lr * mu_next / (1 - mu_product * mu_next) * m) / denom
    """

    hyper_names = ("lr", "beta1", "beta2", "eps", "momentum_decay", "weight_decay", "clip_norm")
    slots = ("m", "v")
    scalars = ("mu_product",)

    def __init__(self, lr: float = 0.002, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 momentum_decay: float = 0.004, weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, momentum_decay=momentum_decay,
                         weight_decay=weight_decay, clip_norm=clip_norm)
        self.mu_product = 1.0

    def update(self, params, grads, weights=None) -> None:
        # mu_product advances once per update, not once per tensor (step runs per tensor when the
        # model's parameters are not one buffer)
        t = self.t + 1
        self.mu = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        self.mu_next = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        self.mu_product *= self.mu
        super().update(params, grads, weights)

    def step(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        mu, mu_next, lr = self.mu, self.mu_next, self.lr
        m.set(self.beta1 * m + (1 - self.beta1) * g)
        v.set(self.beta2 * v + (1 - self.beta2) * g * g)
        denom = sqrt(v / (1 - self.beta2 ** self.t)) + self.eps
        # torch's two steps, (1 - mu_t) g and mu_next m, as one: the same rule up to rounding
        W.sub((lr * (1 - mu) / (1 - self.mu_product) * g + lr * mu_next / (1 - self.mu_product * mu_next) * m)
              / denom)
