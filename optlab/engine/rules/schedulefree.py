"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled", Alg. 1; the
AlgoPerf 2024 self-tuning winner): no learning-rate schedule, an average instead.

Three sequences: z is the base optimizer's (SGD or Adam without its momentum), x the weighted
average of z, y the interpolation between them where gradients are taken:

    lr_t   = lr * min(1, t / warmup_steps)                      (linear warmup; none when 0)
    lr_max = max(lr_max, lr_t)
    c_t    = t ** r * lr_max ** weight_lr_power / (sum of the same over steps 1..t)
    z     -= lr_t * g(y)               SGD;  Adam: z -= lr_t * g / (sqrt(v / (1 - beta2 ** t)) + eps)
    x      = (1 - c_t) * x + c_t * z
    y      = beta * x + (1 - beta) * z          (beta: momentum for SGD, beta1 for AdamW)

The model's parameters hold y while training (the gradient is taken there) and x while being
evaluated: validation and test accuracy, checkpoints' weights and the landscape use x, through
:meth:`Optimizer.evaluation` (``to_evaluation``, ``to_training``). Decoupled weight decay acts on z at y, as the reference's
(``z -= lr_t * weight_decay * y``; for SGD the same as its L2 term ``g += weight_decay * y``).
Checked against the ``schedulefree`` package's ``SGDScheduleFreeReference`` and
``AdamWScheduleFreeReference`` (tests/test_rules_reference.py).
"""

from __future__ import annotations

import numpy as np

from optlab.engine.formula import sqrt, terms
from optlab.engine.optimizers import Optimizer


class ScheduleFree(Optimizer):
    """What both Schedule-Free rules share: the weights c_t of the average, the three sequences,
    evaluation at x. A subclass names its interpolation constant (``beta_name``) and its z step."""

    scalars = ("lr_max", "weight_sum")
    beta_name = ""

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        self.lr_max, self.weight_sum = -1.0, 0.0

    def initial(self, slot: str, W: np.ndarray) -> np.ndarray:
        # z_1 = x_1 = y_1: the sequences start at the initial weights
        return W.copy() if slot in ("z", "x") else np.zeros_like(W)

    def update(self, params, grads, weights=None) -> None:
        t = self.t + 1                       # once per update, not per tensor
        self.lr_t = self.lr * (min(1.0, t / self.warmup_steps) if self.warmup_steps else 1.0)
        self.lr_max = max(self.lr_t, self.lr_max)
        weight = t ** self.r * self.lr_max ** self.weight_lr_power
        self.weight_sum += weight
        self.c = weight / self.weight_sum if self.weight_sum else 0.0
        super().update(params, grads, weights)

    def _decay(self, W, z, **state) -> None:
        z, W = terms(self, z, W)
        z.sub(self.lr_t * self.weight_decay * W)

    def _average(self, W, z, x) -> None:
        """x = (1 - c) x + c z, then y = beta x + (1 - beta) z into W."""
        W, z, x = terms(self, W, z, x)
        x.set((1 - self.c) * x + self.c * z)
        self._interpolate(W, z, x)

    def _interpolate(self, W, z, x) -> None:
        beta = getattr(self, self.beta_name)
        W.set(beta * x + (1 - beta) * z)

    def to_evaluation(self, params) -> None:
        """x into ``params``; before the first step x = y = the initial weights."""
        for name, W in params.items():
            if name in self.state:
                np.copyto(W, self.state[name]["x"])

    def to_training(self, params) -> None:
        """y = beta x + (1 - beta) z into ``params``, with the step's own formula (so the step's bits)."""
        for name, W in params.items():
            if name in self.state:
                state = self.state[name]
                self._interpolate(*terms(self, W, state["z"], state["x"]))


class SGDScheduleFree(ScheduleFree):
    """Schedule-Free SGD (Defazio et al. 2024, Alg. 1; the package's defaults: lr 1.0, momentum 0.9).

        z -= lr_t * g
        x = (1 - c_t) * x + c_t * z
        W = y = momentum * x + (1 - momentum) * z
    """

    hyper_names = ("lr", "momentum", "warmup_steps", "r", "weight_lr_power", "weight_decay", "clip_norm")
    slots = ("z", "x")
    beta_name = "momentum"

    def __init__(self, lr: float = 1.0, momentum: float = 0.9, warmup_steps: float = 0.0, r: float = 0.0,
                 weight_lr_power: float = 2.0, weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, momentum=momentum, warmup_steps=warmup_steps, r=r,
                         weight_lr_power=weight_lr_power, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, z, x):
        zt, g = terms(self, z, g)
        zt.sub(self.lr_t * g)
        self._average(W, z, x)


class AdamWScheduleFree(ScheduleFree):
    """Schedule-Free AdamW (Defazio et al. 2024, Alg. 1 with Adam's preconditioner; the package's
    defaults: lr 0.0025, betas (0.9, 0.999), eps 1e-8).

        v = beta2 * v + (1 - beta2) * g * g
        z -= lr_t * g / (sqrt(v / (1 - beta2 ** t)) + eps)
        x = (1 - c_t) * x + c_t * z
        W = y = beta1 * x + (1 - beta1) * z
    """

    hyper_names = ("lr", "beta1", "beta2", "eps", "warmup_steps", "r", "weight_lr_power", "weight_decay",
                   "clip_norm")
    slots = ("z", "x", "v")
    beta_name = "beta1"

    def __init__(self, lr: float = 0.0025, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 warmup_steps: float = 0.0, r: float = 0.0, weight_lr_power: float = 2.0,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, warmup_steps=warmup_steps, r=r,
                         weight_lr_power=weight_lr_power, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, z, x, v):
        zt, g, vt = terms(self, z, g, v)
        vt.set(self.beta2 * vt + (1 - self.beta2) * g * g)
        zt.sub(self.lr_t * g / (sqrt(vt / (1 - self.beta2 ** self.t)) + self.eps))
        self._average(W, z, x)
