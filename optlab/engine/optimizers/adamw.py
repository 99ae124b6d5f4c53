"""AdamW: Adam with decoupled weight decay on by default (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from optlab.engine.hyper import CATALOGUE
from optlab.engine.optimizers.adam import Adam
from optlab.engine.optimizers.wrappers import ClipByGlobalNorm, DecoupledWeightDecay


class _AdamWDecay(DecoupledWeightDecay):
    hypers = {"weight_decay": CATALOGUE["weight_decay"].but(0.01, "torch.optim.AdamW's default")}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019) as ``torch.optim.AdamW``: Adam after W -= lr * weight_decay * W
    on the weight matrices, weight_decay 0.01 by default (``adam`` with ``weight_decay: 0.01``).

        W -= lr * weight_decay * W
        <Adam>
    """

    name = "adamw"
    year = 2017
    transforms = (_AdamWDecay, ClipByGlobalNorm)
