"""NAdam: Adam with Nesterov momentum (Dozat 2016), with the momentum-decay schedule of Keras and
PyTorch (``torch.optim.NAdam``)."""

from __future__ import annotations

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE, Hyper, Range
from optlab.engine.optimizers.base import Optimizer


class NAdam(Optimizer):
    """NAdam as ``torch.optim.NAdam`` (Dozat 2016, Alg. 2, mu_t warmed up as Keras does);
    ``mu_product`` is the running product mu_1 ... mu_t.

        mu_t    = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        W -= (lr (1 - mu_t) / (1 - mu_product) g + lr mu_next / (1 - mu_product mu_next) m) / (sqrt(v / (1 - beta2 ** t)) + eps)
    """

    name = "nadam"
    year = 2016
    lr = CATALOGUE["lr"].but(0.002, "Dozat 2016; torch.optim.NAdam")
    beta1 = CATALOGUE["beta1"].but(0.9, "torch.optim.NAdam")
    beta2 = CATALOGUE["beta2"].but(0.999, "Dozat 2016")
    eps = CATALOGUE["eps"].but(1e-8, "Dozat 2016")
    momentum_decay = Hyper(0.004, Range(0.0), "NAdam's schedule mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * "
                           "momentum_decay))", "Keras's schedule_decay; torch.optim.NAdam")
    slots = ("m", "v")
    scalars = ("mu_product",)

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        self.mu_product = 1.0

    def update(self, params, grads, weights=None, closure=None):
        t = self.t + 1          # mu_product advances once per update, not once per tensor
        self.mu = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        self.mu_next = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        self.mu_product *= self.mu
        return super().update(params, grads, weights, closure)

    def step(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        mu, mu_next, lr = self.mu, self.mu_next, self.lr
        m.set(self.beta1 * m + (1 - self.beta1) * g)
        v.set(self.beta2 * v + (1 - self.beta2) * g * g)
        denom = sqrt(v / (1 - self.beta2 ** self.t)) + self.eps
        # torch's two steps, (1 - mu_t) g and mu_next m, as one: the same rule up to rounding
        W.sub((lr * (1 - mu) / (1 - self.mu_product) * g + lr * mu_next / (1 - self.mu_product * mu_next) * m)
              / denom)
