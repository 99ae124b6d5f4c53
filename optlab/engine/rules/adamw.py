"""AdamW: Adam with decoupled weight decay on by default (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from optlab.engine.optimizers import Adam


class AdamW(Adam):
    """Adam (Kingma & Ba, Alg. 1) after ``W -= lr * weight_decay * W`` on the weight matrices, as
    ``torch.optim.AdamW``, whose default weight_decay 0.01 this takes; ``adam`` with
    ``weight_decay: 0.01`` is the same rule under the name comparisons use."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)
