"""Layers: each ``forward`` caches what its ``backward`` needs, right beside it (micrograd style).

A layer holds its parameters in ``params`` and their gradients in ``grads`` under local names
(``W``, ``b``); the model prefixes them (``fc1.W``). ``backward(dout)`` fills ``grads`` in place and
returns the gradient with respect to the layer's input. Everything is vectorised over the batch.
Shapes: x is (batch, features).

Exact Hessian-vector products (Pearlmutter 1994, the R-operator R{f} = d/dr f(w + r v) at r = 0):
``forward_r(rx, v)`` pushes the directional derivative of the input (``rx``, None for zero) and
the layer's own parameter direction ``v`` (dict like ``params``) through the last ``forward``;
``backward_r(dout, rdout, out, need_dx)`` pushes d loss / d out and its R{} back through it, writes
R{grads} (the layer's rows of H v) into ``out`` and returns ``(dx, R{dx})``. A layer without them
(``has_rop`` False) makes optlab.engine.hvp fall back to finite differences of the gradient.

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
    # True where forward_r / backward_r give exact Hessian-vector products (module docstring).
    has_rop = False

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

    def forward_r(self, rx: np.ndarray | None, v: dict[str, np.ndarray]) -> np.ndarray | None:
        """R{out} of the last forward pass for input direction ``rx`` and parameter direction ``v``."""
        raise NotImplementedError(f"{type(self).__name__} has no R-operator")

    def backward_r(self, dout: np.ndarray, rdout: np.ndarray | None, out: dict[str, np.ndarray],
                   need_dx: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(dx, R{dx}); writes R{d loss / d param} into ``out[key]`` for each parameter."""
        raise NotImplementedError(f"{type(self).__name__} has no R-operator")


def _radd(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """a + b where None stands for zero (an R{} that is identically zero, e.g. of the input data)."""
    return b if a is None else a if b is None else a + b


class _Elementwise(Layer):
    """An activation out = f(x) applied elementwise, from f'(x) and f''(x) as functions of the
    cached output: R{out} = f' R{x}; dx = f' dout; R{dx} = f' R{dout} + f'' R{x} dout."""

    has_rop = True
    rx: np.ndarray | None = None

    def slope(self) -> np.ndarray:
        raise NotImplementedError

    def curvature(self) -> np.ndarray | None:
        return None

    def forward_r(self, rx, v):
        self.rx = rx
        return None if rx is None else rx * self.slope()

    def backward_r(self, dout, rdout, out, need_dx=True):
        if not need_dx:
            return None, None
        slope, curv = self.slope(), self.curvature()
        r_dx = None if rdout is None else rdout * slope
        if curv is not None and self.rx is not None:
            r_dx = _radd(r_dx, curv * self.rx * dout)
        return dout * slope, r_dx


class Linear(Layer):
    """Affine map ``out = x @ W + b`` with W (fan_in, fan_out) and b (fan_out,).

    R-operator: R{out} = R{x} W + x V_W + V_b; R{dW} = R{x}^T dout + x^T R{dout};
    R{db} = sum R{dout}; R{dx} = R{dout} W^T + dout V_W^T."""

    has_rop = True

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

    def forward_r(self, rx, v):
        self.rx, self.v = rx, v
        r_out = self.x @ v["W"]                               # (batch, fan_out)
        r_out += v["b"]
        return _radd(r_out, None if rx is None else rx @ self.params["W"])

    def backward_r(self, dout, rdout, out, need_dx=True):
        W, rx = self.params["W"], self.rx
        out["W"][...] = 0 if rdout is None else self.x.T @ rdout
        if rx is not None:
            out["W"] += rx.T @ dout
        out["b"][...] = 0 if rdout is None else rdout.sum(axis=0)
        if not need_dx:
            return None, None
        r_dx = dout @ self.v["W"].T
        return dout @ W.T, r_dx if rdout is None else r_dx + rdout @ W.T


class LinearBiasTrick(Layer):
    """Affine map with the bias trick (CS231n, "Linear classification"): ``out = [x, 1] @ W``.

    W is (fan_in + 1, fan_out) and its last row is the bias, so a linear classifier is one matrix
    and the bias is searched, updated and penalised with the weights (as in CS231n's linear SVM).
    Computed as ``x @ W[:-1] + W[-1]``: the column of ones is never appended, which would copy
    every batch (a full CIFAR-10 training set is 50 000 x 3 072). R-operator: that of
    :class:`Linear` with V_b the last row of V_W.
    """

    has_rop = True

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

    def forward_r(self, rx, v):
        self.rx, self.v = rx, v
        r_out = self.x @ v["W"][:-1]
        r_out += v["W"][-1]
        return _radd(r_out, None if rx is None else rx @ self.params["W"][:-1])

    def backward_r(self, dout, rdout, out, need_dx=True):
        W, rx, rW = self.params["W"], self.rx, out["W"]
        rW[...] = 0
        if rdout is not None:
            rW[:-1] = self.x.T @ rdout
            rW[-1] = rdout.sum(axis=0)
        if rx is not None:
            rW[:-1] += rx.T @ dout
        if not need_dx:
            return None, None
        r_dx = dout @ self.v["W"][:-1].T
        return dout @ W[:-1].T, r_dx if rdout is None else r_dx + rdout @ W[:-1].T


class ReLU(_Elementwise):
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

    def slope(self) -> np.ndarray:
        return self.mask   # piecewise linear: no curvature term, except at the kink (measure zero)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (docs/conventions.md): exp only of -|x|, never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, derivative ``out * (1 - out)``, second ``out (1 - out)(1 - 2 out)``."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1 - self.out)

    def slope(self) -> np.ndarray:
        return self.out * (1 - self.out)

    def curvature(self) -> np.ndarray:
        return self.out * (1 - self.out) * (1 - 2 * self.out)


class Tanh(_Elementwise):
    """``tanh(x)``, derivative ``1 - out**2``, second ``-2 out (1 - out**2)``."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.out * self.out)

    def slope(self) -> np.ndarray:
        return 1 - self.out * self.out

    def curvature(self) -> np.ndarray:
        return -2 * self.out * (1 - self.out * self.out)


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


# -------------------------------------------------------------------------------------------------
# layers that behave differently in training and in evaluation (train=False)
# -------------------------------------------------------------------------------------------------
class Dropout(_Elementwise):
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

    def slope(self) -> np.ndarray | float:
        return 1.0 if self.mask is None else self.mask    # linear in x for a fixed mask


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

    # R-operator. Training mode: R{x_hat} = inv_std (R{x} - mean(R{x}) - x_hat mean(x_hat R{x})),
    # the same projection as the backward pass (the derivative of x -> x_hat is symmetric), and
    # R{inv_std} = -inv_std^2 mean(x_hat R{x}); evaluation mode: R{x_hat} = inv_std R{x}.
    has_rop = True

    def forward_r(self, rx, v):
        self.v, self.rx = v, rx
        self.r_xhat = None
        if rx is not None:
            self.r_xhat = (rx - rx.mean(axis=0) - self.x_hat * (self.x_hat * rx).mean(axis=0) if self.train
                           else rx) * self.inv_std
        return _radd(v["gamma"] * self.x_hat + v["beta"],
                     None if self.r_xhat is None else self.params["gamma"] * self.r_xhat)

    def backward_r(self, dout, rdout, out, need_dx=True):
        xh, rxh, inv_std, gamma = self.x_hat, self.r_xhat, self.inv_std, self.params["gamma"]
        out["gamma"][...] = 0 if rdout is None else (rdout * xh).sum(axis=0)
        out["beta"][...] = 0 if rdout is None else rdout.sum(axis=0)
        if rxh is not None:
            out["gamma"] += (dout * rxh).sum(axis=0)
        if not need_dx:
            return None, None
        dxh = dout * gamma                                                # (batch, features)
        r_dxh = dout * self.v["gamma"] if rdout is None else rdout * gamma + dout * self.v["gamma"]
        if not self.train:
            return dxh * inv_std, r_dxh * inv_std
        m2 = (dxh * xh).mean(axis=0)
        dx = inv_std * (dxh - dxh.mean(axis=0) - xh * m2)
        r_m2 = (r_dxh * xh).mean(axis=0)
        r_dx = r_dxh - r_dxh.mean(axis=0) - xh * r_m2
        if rxh is not None:   # through R{x_hat}, and R{inv_std} = -inv_std^2 mean(x_hat R{x})
            r_dx -= rxh * m2 + xh * (dxh * rxh).mean(axis=0) + (xh * self.rx).mean(axis=0) * dx
        return dx, inv_std * r_dx
