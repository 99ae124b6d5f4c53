"""optlab's layers and optimizers without the speed work of issue #8, kept as the reference that
tests/test_performance.py holds the optimized code to: same run, same numbers.

Verbatim copies of optlab/engine/layers.py (up to the activations) and optlab/engine/optimizers.py as they are
on main at d8a0e54 (before this branch's changes: the first layer's input gradient computed,
temporaries in every layer and rule, a Python loop over named tensors in Optimizer.update), and a
plain loop that applies them the way the training loop does. Data, losses, penalties,
initialisation and mini-batch order are optlab's own and shared with the run under test.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from optlab.engine.hyper import check


class Layer:
    """Base class: a layer without parameters."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    # State that is not learned by gradient (batch norm's running statistics): saved in
    # checkpoints with the parameters, never touched by an optimizer.
    buffers: dict[str, np.ndarray]
    # True where the function has kinks (non-differentiable points), for gradient checking.
    has_kinks = False

    def __init__(self) -> None:
        self.params, self.grads, self.buffers = {}, {}, {}

    def kink_state(self) -> np.ndarray | None:
        """Which smooth piece the last forward pass was on, or None for a smooth layer.

        Gradient checking compares this signature after f(x+h) and f(x-h): if it differs, the two
        evaluations straddle a kink and their difference quotient is not a derivative. Layers
        return an array they already keep for ``backward``, so training pays nothing for it.
        """
        return None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Linear(Layer):
    """Affine map ``out = x @ W + b`` with W (fan_in, fan_out) and b (fan_out,)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x                                            # (batch, fan_in)
        return x @ self.params["W"] + self.params["b"]        # (batch, fan_out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        np.matmul(self.x.T, dout, out=self.grads["W"])        # (fan_in, fan_out)
        np.sum(dout, axis=0, out=self.grads["b"])             # (fan_out,)
        return dout @ self.params["W"].T                      # (batch, fan_in)


class LinearBiasTrick(Layer):
    """Affine map with the bias trick (CS231n, "Linear classification"): ``out = [x, 1] @ W``.

    W is (fan_in + 1, fan_out) and its last row is the bias, so a linear classifier is one matrix
    and the bias is searched, updated and penalised with the weights (as in CS231n's linear SVM).
    Computed as ``x @ W[:-1] + W[-1]``: the column of ones is never appended, which would copy
    every batch (a full CIFAR-10 training set is 50 000 x 3 072).
    """

    def __init__(self, W: np.ndarray) -> None:
        super().__init__()
        self.params = {"W": W}
        self.grads = {"W": np.zeros_like(W)}
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x                                            # (batch, fan_in)
        W = self.params["W"]
        return x @ W[:-1] + W[-1]                             # (batch, fan_out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W, dW = self.params["W"], self.grads["W"]
        np.matmul(self.x.T, dout, out=dW[:-1])                # (fan_in, fan_out): the weights
        np.sum(dout, axis=0, out=dW[-1])                      # (fan_out,): the bias row
        return dout @ W[:-1].T                                # (batch, fan_in)


class ReLU(Layer):
    """``max(0, x)``; the subgradient at 0 is taken as 0."""

    has_kinks = True
    mask: np.ndarray | None = None   # (batch, features) x > 0 of the last forward pass

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.mask = x > 0
        return np.where(self.mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, dout, 0).astype(dout.dtype, copy=False)

    def kink_state(self) -> np.ndarray | None:
        return self.mask   # a pre-activation changing sign flips its entry


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (docs/conventions.md): exp only of -|x|, never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, derivative ``out * (1 - out)``."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1 - self.out)


class Tanh(Layer):
    """``tanh(x)``, derivative ``1 - out**2``."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.out * self.out)


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


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

    def __init__(self, **hyper: float | None) -> None:
        for name, value in hyper.items():
            setattr(self, name, check(name, value))
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.grad_norm = math.nan     # global gradient norm before clipping (computed only to clip)
        self.clipped = False          # whether the last update was clipped

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
        for name, W in params.items():
            if name not in self.state:
                self.state[name] = {slot: np.zeros_like(W) for slot in self.slots}
            if name in decayed:
                W -= self.lr * self.weight_decay * W
            self.step(W, grads[name], **self.state[name])

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
        for key, value in saved.items():
            if key != "t":
                slot, name = key.split("/", 1)
                self.state.setdefault(name, {})[slot] = np.array(value)


class SGD(Optimizer):
    """Stochastic gradient descent.

        W -= lr * g
    """

    hyper_names = ("lr", "weight_decay", "clip_norm")

    def __init__(self, lr: float = 0.01,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g):
        W -= self.lr * g


class Momentum(Optimizer):
    """Momentum in the velocity form of the seeds (docs/conventions.md).

        v = momentum * v - lr * g
        W += v
    """

    hyper_names = ("lr", "momentum", "weight_decay", "clip_norm")
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, momentum=momentum, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, v):
        v[...] = self.momentum * v - self.lr * g
        W += v


class Nesterov(Optimizer):
    """Nesterov momentum, Bengio et al. 2012 form as in CS231n (docs/conventions.md); mu = momentum.

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
        mu = self.momentum
        v_prev = v.copy()
        v[...] = mu * v - self.lr * g
        W += -mu * v_prev + (1 + mu) * v


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011).

        h += g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "eps", "weight_decay", "clip_norm")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, h):
        h += g * g
        W -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012).

        h = decay * h + (1 - decay) * g * g
        W -= lr * g / (sqrt(h) + eps)
    """

    hyper_names = ("lr", "decay", "eps", "weight_decay", "clip_norm")
    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:
        super().__init__(lr=lr, decay=decay, eps=eps, weight_decay=weight_decay, clip_norm=clip_norm)

    def step(self, W, g, h):
        h[...] = self.decay * h + (1 - self.decay) * g * g
        W -= self.lr * g / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    """Adam, Kingma & Ba 2015, Algorithm 1 (eps outside the square root; t counts updates from 1).

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
        m[...] = self.beta1 * m + (1 - self.beta1) * g
        v[...] = self.beta2 * v + (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** self.t)
        v_hat = v / (1 - self.beta2 ** self.t)
        W -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}


def mirror(model) -> list[tuple[str, Layer]]:
    """These reference layers with copies of ``model``'s current parameters."""
    out = []
    for name, layer in model.layers:
        kind = type(layer).__name__
        if kind == "Linear":
            out.append((name, Linear(layer.params["W"].copy(), layer.params["b"].copy())))
        elif kind == "LinearBiasTrick":
            out.append((name, LinearBiasTrick(layer.params["W"].copy())))
        elif kind.lower() in ACTIVATIONS:
            out.append((name, ACTIVATIONS[kind.lower()]()))
        else:
            raise NotImplementedError(f"no reference for {kind} layers")
    return out


def replay(config, steps: int) -> tuple[dict[str, np.ndarray], list[float]]:
    """``steps`` training steps of ``config`` the pre-#8 way: (final parameters by name, losses).
    A constant learning rate (no schedule)."""
    from optlab.training.run import Setup
    from optlab.training.sampling import BatchSampler

    setup = Setup.from_config(config)
    layers = mirror(setup.model)
    params = {f"{lname}.{key}": value for lname, layer in layers for key, value in layer.params.items()}
    grads = {f"{lname}.{key}": value for lname, layer in layers for key, value in layer.grads.items()}
    weights = [name for name in params if name.endswith(".W")]
    optimizer = OPTIMIZERS[config.optimizer.name](**config.optimizer.model_dump(exclude={"name", "schedule"}))
    n = len(setup.data.train)
    sampler = BatchSampler(n, min(config.train.batch_size, n), config.train.sampling, setup.streams.get("batches"))
    losses = []
    for _ in range(steps):
        _, idx = next(sampler)
        x = setup.data.features(setup.data.train.x[idx], setup.dtype)
        for _, layer in layers:
            x = layer.forward(x, True)
        loss, dout = setup.loss_fn(x, setup.data.train.y[idx])
        for _, layer in reversed(layers):
            dout = layer.backward(dout)
        if setup.penalty.active:
            loss += setup.penalty.loss(params, weights)
            setup.penalty.add_grad(params, grads, weights)
        losses.append(loss)
        optimizer.update(params, grads, weights)
    return params, losses
