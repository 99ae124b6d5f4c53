"""What AdaGrad and RMSprop share: the step lr * g / (sqrt(h) + eps), hence their stability threshold
and preconditioner (not a rule itself: modules starting with _ hold code rules share)."""

from __future__ import annotations

import numpy as np

from optlab.engine.optimizers.base import Optimizer


class SqrtHScaled(Optimizer):
    """A rule whose update is lr P^(-1) g with P = diag(sqrt(h) + eps), h its slot."""

    @classmethod
    def stability(cls, lr, hyper):
        return 2.0 / lr, True, "2/η"       # on the sharpness preconditioned by P (Cohen et al. 2022)

    @classmethod
    def preconditioner(cls, state, hyper, t):
        return np.sqrt(state["h"]) + hyper["eps"] if t and state else None
