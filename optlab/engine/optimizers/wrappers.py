"""Techniques applied around any rule, once, in a chain (optax's ``chain`` is the model): each is
a :class:`Transform` that declares its own hyper-parameters and changes the gradients or the
parameters before the rule's ``step``. An optimizer lists its chain in ``transforms``; the default,
:data:`DEFAULT_CHAIN`, is decoupled weight decay and gradient clipping, both off by default (they
commute: one changes only the parameters, the other only the gradients):

- gradient clipping by global norm (Pascanu et al. 2013): with ``clip_norm`` c and
  ``n = sqrt(sum over all tensors of sum(g^2))``, every g becomes ``g * c / n`` when n > c, so the
  direction is kept and the norm is at most c;
- decoupled weight decay (Loshchilov & Hutter 2019, "AdamW"; docs/conventions.md): before the rule,
  ``W -= lr * weight_decay * W`` on the weight matrices only. This is not the L2 penalty
  (``regularization.l2``, a gradient term ``l2 * W``): an adaptive optimizer divides that term by
  its sqrt(v) like the rest of the gradient, so weights with large gradients are barely
  regularised, while decoupled decay shrinks every weight by the same fraction. For SGD the two
  are the same (weight_decay = l2); for Momentum they differ only in that the velocity carries
  the L2 term. It follows the current rate (``lr * weight_decay``, as PyTorch's AdamW).

A transform's hyper-parameter values live on the optimizer (``optimizer.weight_decay``), under the
same names as the rule's own, so the config has one flat ``optimizer:`` section.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from optlab.engine.formula import terms
from optlab.engine.hyper import CATALOGUE, Hyper


def global_norm(arrays: Iterable[np.ndarray]) -> float:
    """sqrt of the sum of squares of every element of every array, accumulated in float64."""
    flat = (np.asarray(a, dtype=np.float64).ravel() for a in arrays)
    return math.sqrt(sum(float(np.dot(a, a)) for a in flat))


class Transform:
    """One link of the chain: ``apply(optimizer, params, grads, weights)`` before the rule."""

    hypers: dict[str, Hyper] = {}

    @staticmethod
    def apply(opt, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], weights: Iterable[str] | None) -> None:
        raise NotImplementedError


class ClipByGlobalNorm(Transform):
    """g = g * min(1, clip_norm / ||g||), ||g|| the global norm over all tensors; sets
    ``optimizer.grad_norm`` (computed only to clip) and ``optimizer.clipped``."""

    hypers = {"clip_norm": CATALOGUE["clip_norm"]}

    @staticmethod
    def apply(opt, params, grads, weights) -> None:
        if opt.clip_norm is not None:
            opt.grad_norm = global_norm(grads[name] for name in params)
        opt.clipped = opt.clip_norm is not None and opt.grad_norm > opt.clip_norm
        if opt.clipped:
            scale = opt.clip_norm / opt.grad_norm
            for name in params:
                grads[name] *= scale


class DecoupledWeightDecay(Transform):
    """W -= lr * weight_decay * W on the tensors named in ``weights`` (default: all; a model passes
    its weight matrices, so biases and batch norm's gamma and beta are not decayed)."""

    hypers = {"weight_decay": CATALOGUE["weight_decay"]}

    @staticmethod
    def apply(opt, params, grads, weights) -> None:
        if not opt.weight_decay:
            return
        for name in dict.fromkeys(params if weights is None else weights):   # each once
            W, = terms(opt, params[name])
            W.sub(opt.lr * opt.weight_decay * W)


DEFAULT_CHAIN: tuple[type[Transform], ...] = (DecoupledWeightDecay, ClipByGlobalNorm)
