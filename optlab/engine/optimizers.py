"""Optimizers: one interface, ``update(params, grads, weights)``, changing ``params`` in place.

Each class states its rule in its docstring and its ``step`` reads as that rule, one line per
line; ``g`` is the gradient of one parameter tensor ``W``, and per-tensor state (``v``, ``h``,
``m``) starts at zero. Hyper-parameter names, defaults and ranges come from :mod:`optlab.engine.hyper`
and are checked when an optimizer is built. ``state_dict`` / ``load_state_dict`` save and restore
everything an optimizer remembers, for checkpoints.

Two techniques wrap every rule, in :meth:`Optimizer.update` (off by default):

- gradient clipping by global norm (Pascanu et al. 2013): with ``clip_norm`` c and
  ``n = sqrt(sum over all tensors of sum(g^2))``, every g becomes ``g * c / n`` when n > c, so the
  direction is kept and the norm is at most c;
- decoupled weight decay (Loshchilov & Hutter 2019, "AdamW"; docs/conventions.md): before the rule,
  ``W -= lr * weight_decay * W`` on the weight matrices only. This is not the L2 penalty
  (``regularization.l2``, a gradient term ``l2 * W``): an adaptive optimizer divides that term by
  its sqrt(v) like the rest of the gradient, so weights with large gradients are barely
  regularised, while decoupled decay shrinks every weight by the same fraction. For SGD the two
  are the same (weight_decay = l2); for Momentum they differ only in that the velocity carries
  the L2 term.

``lr`` is the current learning rate: a schedule (optlab.engine.schedules) sets it before each update,
and weight decay follows it (``lr * weight_decay``, as PyTorch's AdamW).

Every rule is elementwise, so it can be applied to all tensors at once: when ``params`` and
``grads`` are a model's views into its two contiguous buffers (optlab.engine.models.TensorViews),
``update`` runs ``step`` once on the whole buffers, with state buffers laid out the same way,
instead of once per tensor; the numbers are identical, and ``state`` still holds each tensor's
arrays by name (views into the state buffers), so checkpoints are unchanged. Weight decay is
applied tensor by tensor before that step (weights only), and clipping's norm is accumulated
tensor by tensor as before, so they too give the per-tensor loop's numbers.

Each ``step`` is its rule's formulas, written with :mod:`optlab.engine.formula`: ``m.set(beta1 *
m + (1 - beta1) * g)`` computes ``m = beta1 * m + (1 - beta1) * g`` in place, operator by operator
in Python's order (so the numbers are plain numpy's on the same formula, bit for bit), with its
intermediates in scratch arrays the optimizer keeps (:meth:`Optimizer.scratch`), never in a
fresh array the size of the parameters (why: docs/performance.md).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable

import numpy as np

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import check


def global_norm(arrays: Iterable[np.ndarray]) -> float:
    """sqrt of the sum of squares of every element of every array, accumulated in float64."""
    flat = (np.asarray(a, dtype=np.float64).ravel() for a in arrays)
    return math.sqrt(sum(float(np.dot(a, a)) for a in flat))


class Optimizer:
    """Base class: applies ``step`` to every named tensor and counts updates in ``t``.

    Around the rule, in this order (module docstring):

        g = g * min(1, clip_norm / ||g||)     ||g|| the global norm; if clip_norm is set
        W -= lr * weight_decay * W            tensors named in ``weights``; if weight_decay > 0
        <step: the optimizer's rule>
    """

    slots: tuple[str, ...] = ()   # names of the per-tensor state arrays
    scalars: tuple[str, ...] = ()  # scalar state besides ``t`` (NAdam's running product), checkpointed
    # True: ``step`` is elementwise, so it may run once on the model's whole buffers. False: it
    # needs each tensor as itself (Muon orthogonalises each weight matrix), and ``update`` calls
    # ``step(W, g, **state)`` tensor by tensor.
    elementwise: bool = True

    def __init__(self, **hyper: float | None) -> None:
        for name, value in hyper.items():
            setattr(self, name, check(name, value))
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.grad_norm = math.nan     # global gradient norm before clipping (computed only to clip)
        self.clipped = False          # whether the last update was clipped
        self._whole: tuple[dict, dict[str, np.ndarray]] | None = None   # (layout, state buffers)
        self._scratch: dict[tuple, list[np.ndarray]] = {}   # (shape, dtype) -> work arrays, never state

    def __setattr__(self, name: str, value) -> None:
        # Hyper-parameters stay Python floats (or None), whoever sets them (a schedule changes lr):
        # a numpy float64 would make every float32 update compute in float64 (NEP 50 promotion).
        if name in self.hyper_names and value is not None:
            value = float(value)
        super().__setattr__(name, value)

    @property
    def hyper(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.hyper_names}

    hyper_names: tuple[str, ...] = ()

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
               weights: Iterable[str] | None = None) -> None:
        """One step on every tensor of ``params``. ``grads`` may be rescaled in place (clipping).
        ``weights``: the tensors weight decay applies to (default: all; a model passes its weight
        matrices, so biases and batch norm's gamma and beta are not decayed)."""
        self.t += 1
        if self.clip_norm is not None:
            self.grad_norm = global_norm(grads[name] for name in params)
        self.clipped = self.clip_norm is not None and self.grad_norm > self.clip_norm
        if self.clipped:
            scale = self.clip_norm / self.grad_norm
            for name in params:
                grads[name] *= scale
        decayed = set(params if weights is None else weights) if self.weight_decay else set()
        W, g = _whole(params), _whole(grads)
        if self.elementwise and W is not None and g is not None and params.spans is grads.spans:
            state = self._whole_state(params)
            for name in decayed:                              # before the rule, as in the loop below
                self._decay(params[name], **self.state[name])
            self.step(W, g, **state)                          # every tensor at once, the same numbers
        else:
            for name, W in params.items():
                if name not in self.state:
                    self.state[name] = {slot: self.initial(slot, W) for slot in self.slots}
                if name in decayed:
                    self._decay(W, **self.state[name])
                self.step(W, grads[name], **self.state[name])

    def initial(self, slot: str, W: np.ndarray) -> np.ndarray:
        """The value state ``slot`` of tensor ``W`` starts at: zero, for every rule but Schedule-Free."""
        return np.zeros_like(W)

    def _decay(self, W: np.ndarray, **state: np.ndarray) -> None:
        W, = terms(self, W)
        W.sub(self.lr * self.weight_decay * W)

    def _whole_state(self, params) -> dict[str, np.ndarray]:
        """One buffer per slot laid out like ``params.flat``; ``state[name][slot]`` become views
        into it, keeping whatever they held (state restored from a checkpoint, or earlier steps)."""
        if self._whole is None or self._whole[0] is not params.spans:
            buffers = {slot: np.zeros_like(params.flat) for slot in self.slots}
            for name, span in params.spans.items():
                old = self.state.get(name, {})
                views = {slot: buffers[slot][span].reshape(params[name].shape) for slot in self.slots}
                for slot, view in views.items():
                    view[...] = old[slot] if slot in old else self.initial(slot, params[name])
                self.state[name] = views
            self._whole = (params.spans, buffers)
        return self._whole[1]

    def step(self, W: np.ndarray, g: np.ndarray, **state: np.ndarray) -> None:
        raise NotImplementedError

    @classmethod
    def state_vectors(cls, hyper: dict) -> int:
        """How many arrays the size of the parameters the rule keeps (memory and checkpoint estimates)."""
        return len(cls.slots)

    def scratch(self, like: np.ndarray, k: int) -> list[np.ndarray]:
        """``k`` work arrays shaped like ``like``, kept between steps (their contents are garbage):
        where :mod:`optlab.engine.formula` puts a rule's intermediate results."""
        return self.work(like.shape, like.dtype, k)

    def work(self, shape: tuple[int, ...], dtype, k: int, tag: str = "") -> list[np.ndarray]:
        """``k`` work arrays of ``shape`` and ``dtype`` kept between steps (contents garbage); a
        ``tag`` keeps a rule's own arrays apart from the formulas' scratch arrays."""
        key = (tuple(shape), np.dtype(dtype), tag)
        have = self._scratch.setdefault(key, [])
        while len(have) < k:
            have.append(np.empty(shape, dtype))
        return have[:k]

    @contextmanager
    def evaluation(self, params: dict[str, np.ndarray]):
        """Inside, ``params`` hold the weights to evaluate, checkpoint and project (the landscape);
        after, the training weights again. The same for every rule but Schedule-Free, which trains
        at y and evaluates at its average x (optlab.engine.rules.schedulefree)."""
        self.to_evaluation(params)
        try:
            yield params
        finally:
            self.to_training(params)

    def to_evaluation(self, params: dict[str, np.ndarray]) -> None:
        """Put the evaluation weights into ``params`` (nothing to do but for Schedule-Free)."""

    def to_training(self, params: dict[str, np.ndarray]) -> None:
        """Put the training weights into ``params``, from the evaluation weights and the state."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (``"v/fc1.W"``) plus the step count ``t`` and the ``scalars``;
        fits ``np.savez``."""
        out = {"t": np.array(self.t), **{name: np.array(getattr(self, name)) for name in self.scalars}}
        for name, slots in self.state.items():
            for slot, value in slots.items():
                out[f"{slot}/{name}"] = value.copy()
        return out

    def load_state_dict(self, saved: dict[str, np.ndarray]) -> None:
        self.t = int(saved["t"])
        for name in self.scalars:
            setattr(self, name, float(saved[name]))
        self.state = {}
        self._whole = None
        for key, value in saved.items():
            if key != "t" and key not in self.scalars:
                slot, name = key.split("/", 1)
                self.state.setdefault(name, {})[slot] = np.array(value)


class SGD(Optimizer):
    """Stochastic gradient descent (CS231n "Optimization"; Nielsen ch. 1; DLFS 6.1).

        W -= lr * g
    """

    hyper_names = ("lr", "weight_decay", "clip_norm")

    def __init__(self, lr: float = 0.01,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g):
        W, g = terms(self, W, g)
        W.sub(self.lr * g)


class Momentum(Optimizer):
    """Momentum in the velocity form of CS231n and DLFS 6.1 (docs/conventions.md, momentum).

        v = momentum * v - lr * g
        W += v
    """

    hyper_names = ("lr", "momentum", "weight_decay", "clip_norm")
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, momentum=momentum, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, v):
        W, g, v = terms(self, W, g, v)
        v.set(self.momentum * v - self.lr * g)
        W.add(v)


class Nesterov(Optimizer):
    """Nesterov momentum, Bengio et al. 2012 form as in CS231n (docs/conventions.md, Nesterov); mu = momentum.

        v_prev = v
        v = mu * v - lr * g
        W += -mu * v_prev + (1 + mu) * v
    """

    hyper_names = ("lr", "momentum", "weight_decay", "clip_norm")
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, momentum=momentum, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, v):
        W, g, v = terms(self, W, g, v)
        mu = self.momentum
        v_prev = v.copy()
        v.set(mu * v - self.lr * g)
        W.add(-mu * v_prev + (1 + mu) * v)


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011; DLFS 6.1); eps outside the square root (docs/conventions.md, eps).

        h += g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "eps", "weight_decay", "clip_norm")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, h):
        W, g, h = terms(self, W, g, h)
        h.add(g * g)
        W.sub(self.lr * g / (sqrt(h) + self.eps))


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012, lecture 6e; CS231n); eps as AdaGrad's (docs/conventions.md, eps).

        h = decay * h + (1 - decay) * g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "decay", "eps", "weight_decay", "clip_norm")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, decay=decay, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, h):
        W, g, h = terms(self, W, g, h)
        h.set(self.decay * h + (1 - self.decay) * g * g)
        W.sub(self.lr * g / (sqrt(h) + self.eps))


class Adam(Optimizer):
    """Adam, Kingma & Ba 2015, Algorithm 1: eps outside the square root, t counts updates from 1
    (docs/conventions.md, eps; DLFS uses the "efficient" form).

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        W -= lr * m_hat / (sqrt(v_hat) + eps)
    """

    hyper_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "clip_norm")
    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        m.set(self.beta1 * m + (1 - self.beta1) * g)
        v.set(self.beta2 * v + (1 - self.beta2) * g * g)
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        W.sub(self.lr * m_hat / (sqrt(v_hat) + self.eps))


def _whole(tensors: dict[str, np.ndarray]) -> np.ndarray | None:
    """The contiguous buffer behind ``tensors`` (a model's TensorViews), or None for a plain dict."""
    whole = getattr(tensors, "whole", None)
    return whole() if whole is not None else None


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam,
}


def newer_optimizers() -> dict[str, type[Optimizer]]:
    """The rules of optlab.engine.rules beside ``OPTIMIZERS`` (DLFS ch. 6); imported when asked
    for, since they import this module for the base class."""
    from optlab.engine.rules.adamw import AdamW
    from optlab.engine.rules.lbfgs import LBFGS
    from optlab.engine.rules.lion import Lion
    from optlab.engine.rules.muon import Muon
    from optlab.engine.rules.nadam import NAdam
    from optlab.engine.rules.radam import RAdam
    from optlab.engine.rules.schedulefree import AdamWScheduleFree, SGDScheduleFree

    return {"adamw": AdamW, "nadam": NAdam, "radam": RAdam, "lion": Lion, "sgd_schedulefree": SGDScheduleFree,
            "adamw_schedulefree": AdamWScheduleFree, "muon": Muon, "lbfgs": LBFGS}


def all_optimizers() -> dict[str, type[Optimizer]]:
    """Every optimizer by its config name: DLFS ch. 6's, then the newer rules."""
    return {**OPTIMIZERS, **newer_optimizers()}


def optimizer_class(name: str) -> type[Optimizer]:
    """The class behind an ``optimizer.name``."""
    return OPTIMIZERS[name] if name in OPTIMIZERS else newer_optimizers()[name]


def build_optimizer(cfg) -> Optimizer:
    """The optimizer a config's ``optimizer:`` section names, with its hyper-parameters (the
    schedule is the training loop's: optlab.engine.schedules)."""
    return optimizer_class(cfg.name)(**cfg.model_dump(exclude={"name", "schedule"}))
