"""What Schedule-Free SGD and AdamW share (Defazio et al. 2024, "The Road Less Scheduled", Alg. 1;
the AlgoPerf 2024 self-tuning winner): no learning-rate schedule, an average instead.

Three sequences: z is the base optimizer's (SGD or Adam without its momentum), x the weighted
average of z, y the interpolation between them where gradients are taken:

    lr_t   = lr * min(1, t / warmup_steps)                      (linear warmup; none when 0)
    lr_max = max(lr_max, lr_t)
    c_t    = t ** r * lr_max ** weight_lr_power / (sum of the same over steps 1..t)
    z     -= lr_t * g(y)               SGD;  Adam: z -= lr_t * g / (sqrt(v / (1 - beta2 ** t)) + eps)
    x      = (1 - c_t) * x + c_t * z
    y      = beta * x + (1 - beta) * z          (beta: momentum for SGD, beta1 for AdamW)

The model's parameters hold y while training (the gradient is taken there) and x while evaluated:
validation and test accuracy, checkpoints' weights and the landscape use x, through
:meth:`Optimizer.evaluation` (``to_evaluation``, ``to_training``). Weight decay acts on z at y, as
the reference's (``z -= lr_t * weight_decay * y``; for SGD the same as its L2 term
``g += weight_decay * y``), so it replaces the default chain's decay. Checked against the
``schedulefree`` package's reference classes (tests/test_rules_reference.py).
"""

from __future__ import annotations

import numpy as np

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE, Hyper, Range
from optlab.engine.optimizers.base import Optimizer
from optlab.engine.optimizers.wrappers import ClipByGlobalNorm

SOURCE = "Defazio et al. 2024; the schedulefree package"


class ScheduleFree(Optimizer):
    """The weights c_t of the average, the three sequences, evaluation at x. A subclass names its
    interpolation constant (``beta_name``) and its z step."""

    transforms = (ClipByGlobalNorm,)
    scalars = ("lr_max", "weight_sum")
    beta_name = ""
    warmup_steps = Hyper(0, Range(0.0), "Schedule-Free: steps of linear warmup of the rate (0: none)", SOURCE, int)
    r = Hyper(0.0, Range(0.0), "Schedule-Free: the average weights step t by t ** r (0: uniform)", SOURCE)
    weight_lr_power = Hyper(2.0, Range(0.0), "Schedule-Free: the average weights step t by lr_max ** "
                            "weight_lr_power (matters during warmup)", SOURCE)
    weight_decay = CATALOGUE["weight_decay"].but(0.0, "Schedule-Free: z -= lr_t * weight_decay * y (at y, on z)")

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        self.lr_max, self.weight_sum = -1.0, 0.0

    def initial(self, slot: str, W: np.ndarray) -> np.ndarray:
        return W.copy() if slot in ("z", "x") else np.zeros_like(W)     # z_1 = x_1 = y_1

    def update(self, params, grads, weights=None, closure=None):
        t = self.t + 1                       # once per update, not per tensor
        self.lr_t = self.lr * (min(1.0, t / self.warmup_steps) if self.warmup_steps else 1.0)
        self.lr_max = max(self.lr_t, self.lr_max)
        weight = t ** self.r * self.lr_max ** self.weight_lr_power
        self.weight_sum += weight
        self.c = weight / self.weight_sum if self.weight_sum else 0.0
        if self.weight_decay:
            self.ensure_state(params, grads)
            for name in dict.fromkeys(params if weights is None else weights):
                z, y = terms(self, self.state[name]["z"], params[name])
                z.sub(self.lr_t * self.weight_decay * y)
        return super().update(params, grads, weights, closure)

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
        """y = beta x + (1 - beta) z into ``params``, with the step's own formula (so its bits)."""
        for name, W in params.items():
            if name in self.state:
                state = self.state[name]
                self._interpolate(*terms(self, W, state["z"], state["x"]))
