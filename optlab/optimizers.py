"""Optimizers: one interface, ``update(params, grads)``, changing ``params`` in place.

Each class states its rule in its docstring and its ``step`` reads as that rule, one line per
line; ``g`` is the gradient of one parameter tensor ``W``, and per-tensor state (``v``, ``h``,
``m``) starts at zero. Hyper-parameter names, defaults and ranges come from :mod:`optlab.hyper`
and are checked when an optimizer is built. ``state_dict`` / ``load_state_dict`` save and restore
everything an optimizer remembers, for checkpoints.

Every rule is elementwise, so it can be applied to all tensors at once: when ``params`` and
``grads`` are a model's views into its two contiguous buffers (optlab.models.TensorViews),
``update`` runs ``step`` once on the whole buffers, with state buffers laid out the same way,
instead of once per tensor; the numbers are identical, and ``state`` still holds each tensor's
arrays by name (views into the state buffers), so checkpoints are unchanged.

A state line of a rule, ``m = beta1 * m + (1 - beta1) * g``, is written in place on the state
array, ``m *= beta1; m += (1 - beta1) * g`` (the same products and sum, so the same bits), and a
temporary the body made itself may take a result (``np.sqrt(v_hat, out=v_hat)``): on the MNIST
MLP's 110 000 parameters every whole-buffer temporary costs ~20 us of memory traffic, and these
took Adam's update from 0.61 to 0.53 ms in the training loop (docs/performance.md).
"""

from __future__ import annotations

import numpy as np

from optlab.hyper import check


class Optimizer:
    """Base class: applies ``step`` to every named tensor and counts updates in ``t``."""

    slots: tuple[str, ...] = ()   # names of the per-tensor state arrays

    def __init__(self, **hyper: float) -> None:
        for name, value in hyper.items():
            setattr(self, name, check(name, value))
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._whole: tuple[dict, dict[str, np.ndarray]] | None = None   # (layout, state buffers)

    def __setattr__(self, name: str, value) -> None:
        # Hyper-parameters stay Python floats, whoever sets them (a schedule changes lr): a numpy
        # float64 would make every float32 update compute in float64 (NEP 50 promotion).
        if name in self.hyper_names:
            value = float(value)
        super().__setattr__(name, value)

    @property
    def hyper(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.hyper_names}

    hyper_names: tuple[str, ...] = ()

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        W, g = _whole(params), _whole(grads)
        if W is not None and g is not None and params.spans is grads.spans:
            self.step(W, g, **self._whole_state(params))      # every tensor at once, the same numbers
        else:
            for name, W in params.items():
                if name not in self.state:
                    self.state[name] = {slot: np.zeros_like(W) for slot in self.slots}
                self.step(W, grads[name], **self.state[name])

    def _whole_state(self, params) -> dict[str, np.ndarray]:
        """One buffer per slot laid out like ``params.flat``; ``state[name][slot]`` become views
        into it, keeping whatever they held (state restored from a checkpoint, or earlier steps)."""
        if self._whole is None or self._whole[0] is not params.spans:
            buffers = {slot: np.zeros_like(params.flat) for slot in self.slots}
            for name, span in params.spans.items():
                old = self.state.get(name, {})
                views = {slot: buffers[slot][span].reshape(params[name].shape) for slot in self.slots}
                for slot, view in views.items():
                    if slot in old:
                        view[...] = old[slot]
                self.state[name] = views
            self._whole = (params.spans, buffers)
        return self._whole[1]

    def step(self, W: np.ndarray, g: np.ndarray, **state: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (``"v/fc1.W"``) plus the step count ``t``; fits ``np.savez``."""
        out = {"t": np.array(self.t)}
        for name, slots in self.state.items():
            for slot, value in slots.items():
                out[f"{slot}/{name}"] = value.copy()
        return out

    def load_state_dict(self, saved: dict[str, np.ndarray]) -> None:
        self.t = int(saved["t"])
        self.state = {}
        self._whole = None
        for key, value in saved.items():
            if key != "t":
                slot, name = key.split("/", 1)
                self.state.setdefault(name, {})[slot] = np.array(value)


class SGD(Optimizer):
    """Stochastic gradient descent.

        W -= lr * g
    """

    hyper_names = ("lr",)

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr=lr)

    def step(self, W, g):
        W -= self.lr * g


class Momentum(Optimizer):
    """Momentum in the velocity form of the seeds (conventions.md).

        v = momentum * v - lr * g
        W += v
    """

    hyper_names = ("lr", "momentum")
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr=lr, momentum=momentum)

    def step(self, W, g, v):
        v *= self.momentum; v -= self.lr * g                 # v = momentum * v - lr * g
        W += v


class Nesterov(Optimizer):
    """Nesterov momentum, Bengio et al. 2012 form as in CS231n (conventions.md); mu = momentum.

        v_prev = v
        v = mu * v - lr * g
        W += -mu * v_prev + (1 + mu) * v
    """

    hyper_names = ("lr", "momentum")
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr=lr, momentum=momentum)

    def step(self, W, g, v):
        mu = self.momentum
        v_prev = v.copy()
        v *= mu; v -= self.lr * g                            # v = mu * v - lr * g
        W += -mu * v_prev + (1 + mu) * v


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011).

        h += g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "eps")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-8) -> None:
        super().__init__(lr=lr, eps=eps)

    def step(self, W, g, h):
        h += g * g
        W -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012).

        h = decay * h + (1 - decay) * g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "decay", "eps")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(lr=lr, decay=decay, eps=eps)

    def step(self, W, g, h):
        h *= self.decay; h += (1 - self.decay) * g * g       # h = decay * h + (1 - decay) * g * g
        W -= self.lr * g / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    """Adam, Kingma & Ba 2015, Algorithm 1 (eps outside the square root; t counts updates from 1).

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        W -= lr * m_hat / (sqrt(v_hat) + eps)
    """

    hyper_names = ("lr", "beta1", "beta2", "eps")
    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    def step(self, W, g, m, v):
        m *= self.beta1; m += (1 - self.beta1) * g           # m = beta1 * m + (1 - beta1) * g
        v *= self.beta2; v += (1 - self.beta2) * g * g       # v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        W -= self.lr * m_hat / (np.sqrt(v_hat, out=v_hat) + self.eps)


def _whole(tensors: dict[str, np.ndarray]) -> np.ndarray | None:
    """The contiguous buffer behind ``tensors`` (a model's TensorViews), or None for a plain dict."""
    whole = getattr(tensors, "whole", None)
    return whole() if whole is not None else None


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam,
}


def build_optimizer(cfg) -> Optimizer:
    """The optimizer a config's ``optimizer:`` section names, with its hyper-parameters."""
    return OPTIMIZERS[cfg.name](**cfg.model_dump(exclude={"name"}))
