"""Optimizers: one class per rule, one file per class, found by the registry.

- :mod:`.base`: the interface (:class:`Optimizer`): hyper-parameters, slots, ``step`` as the formula;
- :mod:`.wrappers`: clipping and decoupled weight decay, applied once around any rule;
- :mod:`.registry`: name -> class, for built-in rules, a user's file and installed packages;
- one module per rule (sgd, momentum, nesterov, adagrad, rmsprop, adam, ...).

A user's rule imports what it needs from here: ``from optlab.engine.optimizers import Optimizer,
Hyper, Range, terms, sqrt``.
"""

from __future__ import annotations

from optlab.engine.formula import sign, sqrt, terms
from optlab.engine.hyper import CATALOGUE, Hyper, Range
from optlab.engine.optimizers.base import Optimizer
from optlab.engine.optimizers.registry import PluginError, build_optimizer, builtin, known, lookup, register
from optlab.engine.optimizers.wrappers import ClipByGlobalNorm, DecoupledWeightDecay, Transform, global_norm

OPTIMIZERS = builtin()     # name -> class of the rules optlab ships, oldest first

SGD, Momentum, Nesterov = OPTIMIZERS["sgd"], OPTIMIZERS["momentum"], OPTIMIZERS["nesterov"]
AdaGrad, RMSprop, Adam = OPTIMIZERS["adagrad"], OPTIMIZERS["rmsprop"], OPTIMIZERS["adam"]

__all__ = ["CATALOGUE", "ClipByGlobalNorm", "DecoupledWeightDecay", "Hyper", "OPTIMIZERS", "Optimizer", "PluginError",
           "Range", "Transform", "build_optimizer", "builtin", "global_norm", "known", "lookup", "register", "sign", "sqrt",
           "terms", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
