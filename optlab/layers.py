"""Layers: each ``forward`` caches what its ``backward`` needs, right beside it (micrograd style).

A layer holds its parameters in ``params`` and their gradients in ``grads`` under local names
(``W``, ``b``); the model prefixes them (``fc1.W``). ``backward(dout)`` fills ``grads`` in place and
returns the gradient with respect to the layer's input. Everything is vectorised over the batch.
Shapes: x is (batch, features).
"""

from __future__ import annotations

import numpy as np


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
        np.sum(dout, axis=0, out=self.grads["b"])             # (fan_out,)


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
        np.sum(dout, axis=0, out=dW[-1])                      # (fan_out,): the bias row


class ReLU(Layer):
    """``max(0, x)``; the subgradient at 0 is taken as 0.

    NaN passes through (``np.maximum`` propagates it), so a diverged pre-activation shows in the
    loss instead of being hidden as 0. Backward multiplies by the mask: a masked entry of the
    gradient becomes 0 times dout, a zero of either sign (the same number in every later sum).
    """

    has_kinks = True
    mask: np.ndarray | None = None   # (batch, features) x > 0 of the last forward pass

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)       # same dtype as x (0 is a Python int: no upcast)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask       # bool mask: the result keeps dout's dtype

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


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
