"""optlab's training step as it was before the speed work of issue #8 (commit 46eaeb8), kept as
the reference that tests/test_performance.py holds the optimized code to: same run, same numbers.

Verbatim copies of the layer and optimizer classes of that commit, and a plain loop that applies them the way the training loop did: forward through every layer,
backward through every layer (including the first layer's input gradient), then the optimizer's
Python loop over named tensors with the step bodies as they were. Data, losses, penalties,
initialisation and mini-batch order are optlab's own and shared with the run under test.
"""

from __future__ import annotations

import numpy as np

from optlab.hyper import check


class Layer:
    """Base class: a layer without parameters."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    # True where the function has kinks (non-differentiable points), for gradient checking.
    has_kinks = False

    def __init__(self) -> None:
        self.params, self.grads = {}, {}

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
    """Numerically stable logistic function (conventions.md): exp only of -|x|, never overflows."""
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


class Optimizer:
    """Base class: applies ``step`` to every named tensor and counts updates in ``t``."""

    slots: tuple[str, ...] = ()   # names of the per-tensor state arrays

    def __init__(self, **hyper: float) -> None:
        for name, value in hyper.items():
            setattr(self, name, check(name, value))
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    @property
    def hyper(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.hyper_names}

    hyper_names: tuple[str, ...] = ()

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for name, W in params.items():
            if name not in self.state:
                self.state[name] = {slot: np.zeros_like(W) for slot in self.slots}
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
        v[...] = self.momentum * v - self.lr * g
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
        v[...] = mu * v - self.lr * g
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

    hyper_names = ("lr", "beta1", "beta2", "eps")
    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)

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
        if "W" in layer.params:
            out.append((name, Linear(layer.params["W"].copy(), layer.params["b"].copy())))
        else:
            out.append((name, ACTIVATIONS[type(layer).__name__.lower()]()))
    return out


def replay(config, steps: int) -> tuple[dict[str, np.ndarray], list[float]]:
    """``steps`` training steps of ``config`` the pre-#8 way: (final parameters by name, losses)."""
    from optlab.experiment import Setup
    from optlab.sampling import BatchSampler

    setup = Setup.from_config(config)
    layers = mirror(setup.model)
    params = {f"{lname}.{key}": value for lname, layer in layers for key, value in layer.params.items()}
    grads = {f"{lname}.{key}": value for lname, layer in layers for key, value in layer.grads.items()}
    weights = [name for name in params if name.endswith(".W")]
    optimizer = OPTIMIZERS[config.optimizer.name](**config.optimizer.model_dump(exclude={"name"}))
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
        optimizer.update(params, grads)
    return params, losses
