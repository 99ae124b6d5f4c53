"""Layers: each ``forward`` caches what its ``backward`` needs, right beside it (micrograd style).

A layer holds its parameters in ``params`` and their gradients in ``grads`` under local names
(``W``, ``b``); the model prefixes them (``fc1.W``). ``backward(dout)`` fills ``grads`` in place and
returns the gradient with respect to the layer's input. Everything is vectorised over the batch.
Shapes: x is (batch, features).

``forward(x, train)``: ``train=False`` is evaluation, where :class:`Dropout` passes x through and
:class:`BatchNorm` uses its running statistics; the other layers ignore the flag.
"""

from __future__ import annotations

import numpy as np


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

    def backward_params(self, dout: np.ndarray) -> None:
        """Fill ``grads`` only, for a layer whose input gradient nothing needs (a model's first
        layer: see Model.backward). Layers that can then skip computing it override this."""
        self.backward(dout)


class Linear(Layer):
    """Affine map ``out = x @ W + b`` with W (fan_in, fan_out) and b (fan_out,)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x                                            # (batch, fan_in)
        out = x @ self.params["W"]                            # (batch, fan_out)
        out += self.params["b"]                               # in place: no second (batch, fan_out) array
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.backward_params(dout)
        return dout @ self.params["W"].T                      # (batch, fan_in)

    def backward_params(self, dout: np.ndarray) -> None:
        np.matmul(self.x.T, dout, out=self.grads["W"])        # (fan_in, fan_out)
        np.add.reduce(dout, axis=0, out=self.grads["b"])      # (fan_out,): np.sum without its Python layer


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
        out = x @ W[:-1]                                      # (batch, fan_out)
        out += W[-1]                                          # the bias row, in place
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.backward_params(dout)
        return dout @ self.params["W"][:-1].T                 # (batch, fan_in)

    def backward_params(self, dout: np.ndarray) -> None:
        dW = self.grads["W"]
        np.matmul(self.x.T, dout, out=dW[:-1])                # (fan_in, fan_out): the weights
        np.add.reduce(dout, axis=0, out=dW[-1])               # (fan_out,): the bias row


class ReLU(Layer):
    """``max(0, x)``, computed as ``x * mask`` with ``mask = (x > 0)`` as 0.0 / 1.0 in x's dtype;
    the subgradient at 0 is taken as 0.

    Forward and backward are then one product each by the same mask (the 0/1 mask in the data's
    dtype makes both plain float products: ~8 and ~3 us on a 128 x 100 float32 batch against ~11
    and ~5 us for ``np.maximum`` and a boolean mask; docs/performance.md). A negative input gives
    -0.0 instead of 0.0, the same number in every later sum. NaN passes through (NaN * 0 is NaN),
    so a diverged pre-activation shows in the loss instead of being hidden as 0; so does -inf.
    """

    has_kinks = True
    mask: np.ndarray | None = None   # (batch, features) 1.0 where x > 0 in the last forward pass, else 0.0

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.mask = (x > 0).astype(x.dtype)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask

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


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


# -------------------------------------------------------------------------------------------------
# layers that behave differently in training and in evaluation (train=False)
# -------------------------------------------------------------------------------------------------
class Dropout(Layer):
    """Inverted dropout (docs/conventions.md): each unit is dropped with probability ``drop_prob``.

    Training: ``out = x * mask`` with ``mask = (u >= drop_prob) / (1 - drop_prob)``, u ~ U[0, 1)
    drawn from the run's ``dropout`` Generator, so that the expected output equals x and nothing
    needs rescaling at evaluation, where ``out = x`` (Srivastava et al. 2014; CS231n's "inverted
    dropout"; DLFS scales at test time instead, and CS231n's ``p`` is the keep probability).

    ``frozen``: reuse the last mask instead of drawing a new one, so the layer is one fixed
    (linear) function of x, which is what a gradient check needs.
    """

    def __init__(self, drop_prob: float, rng: np.random.Generator) -> None:
        super().__init__()
        if not 0 <= drop_prob < 1:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob, self.rng = drop_prob, rng
        self.mask: np.ndarray | None = None   # (batch, features), 0 or 1 / (1 - drop_prob)
        self.frozen = False

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            self.mask = None
            return x
        if not (self.frozen and self.mask is not None):
            keep = self.rng.random(x.shape) >= self.drop_prob
            self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.drop_prob)
        elif self.mask.shape != x.shape:
            raise ValueError(f"frozen dropout mask has shape {self.mask.shape}, the input {x.shape}")
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.mask is None else dout * self.mask


class BatchNorm(Layer):
    """Batch normalisation per feature (Ioffe & Szegedy 2015), learnable ``gamma`` and ``beta``.

    Training, over the batch (shapes (batch, features); mu, var, gamma, beta (features,)):

        mu = mean(x);  var = mean((x - mu)^2)                   (biased, as the paper and DLFS)
        x_hat = (x - mu) / sqrt(var + eps);  out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu   (same for running_var)

    Evaluation uses the running statistics in place of mu and var, so an example's output does
    not depend on the rest of its batch. The running statistics start at mean 0 and variance 1
    (PyTorch's choice; DLFS and CS231n start the variance at 0, which makes every evaluation
    before the first step divide by sqrt(eps)). They are buffers, not parameters: saved with the
    model in checkpoints and restored with the best weights, never updated by an optimizer.
    """

    def __init__(self, features: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.params = {"gamma": np.ones(features), "beta": np.zeros(features)}
        self.grads = {"gamma": np.zeros(features), "beta": np.zeros(features)}
        self.buffers = {"running_mean": np.zeros(features), "running_var": np.ones(features)}
        self.x_hat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None   # (features,) 1 / sqrt(var + eps) of the last forward
        self.train = True

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.train = train
        if train:
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            m = self.momentum
            self.buffers["running_mean"][...] = m * self.buffers["running_mean"] + (1 - m) * mu
            self.buffers["running_var"][...] = m * self.buffers["running_var"] + (1 - m) * var
        else:
            mu, var = self.buffers["running_mean"], self.buffers["running_var"]
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mu) * self.inv_std                              # (batch, features)
        return self.params["gamma"] * self.x_hat + self.params["beta"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        np.sum(dout * self.x_hat, axis=0, out=self.grads["gamma"])
        np.sum(dout, axis=0, out=self.grads["beta"])
        dx_hat = dout * self.params["gamma"]                              # (batch, features)
        if not self.train:   # mu and var are constants: the layer is affine in x
            return dx_hat * self.inv_std
        # mu and var depend on every row: the derivative through them, simplified (CS231n
        # assignment 2, "batchnorm_backward_alt"): dx = inv_std * (dx_hat - mean(dx_hat)
        # - x_hat * mean(dx_hat * x_hat)), means over the batch.
        return self.inv_std * (dx_hat - dx_hat.mean(axis=0) - self.x_hat * (dx_hat * self.x_hat).mean(axis=0))
