"""Muon: momentum orthogonalised by a Newton-Schulz iteration, for weight matrices (Jordan et al.
2024, "Muon: An optimizer for hidden layers in neural networks"); every other tensor by AdamW.

Muon needs each matrix as a matrix (its update is a function of the whole matrix, not of each
element), so it declares ``access = "tensor"`` and the base class hands ``step`` one tensor at a
time, with its shape (optlab.engine.optimizers.base)."""

from __future__ import annotations

import math

import numpy as np

from optlab.engine.formula import sqrt, terms
from optlab.engine.hyper import CATALOGUE, Hyper, Range
from optlab.engine.optimizers.base import Optimizer

# The quintic's coefficients (a, b, c), chosen by Jordan to maximise the slope at zero; with 5
# steps the singular values end in about [0.7, 1.2] rather than at exactly 1, which does not hurt.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_EPS = 1e-7          # floor of the Frobenius norm the matrix is divided by (torch.optim.Muon's)


class Muon(Optimizer):
    """Muon (Jordan et al. 2024) on 2-D tensors, as ``torch.optim.Muon`` with Nesterov momentum;
    AdamW (``torch.optim.AdamW``) with its own ``adam_lr``, ``beta1``, ``beta2``, ``eps`` on the
    rest (biases, batch norm's gamma and beta), as Jordan's ``MuonWithAuxAdam``. A schedule scales
    both rates alike (``adam_lr * lr / lr_0``, lr_0 the configured lr).

    Matrix W (fan_in, fan_out):                 other tensors:
        m = momentum * m + (1 - momentum) * g       m = beta1 * m + (1 - beta1) * g
        u = (1 - momentum) * g + momentum * m       v = beta2 * v + (1 - beta2) * g * g
        O = NewtonSchulz5(u)                        W -= adam_lr / (1 - beta1 ** t) * m
        W -= lr * sqrt(max(1, fan_out / fan_in)) * O        / (sqrt(v) / sqrt(1 - beta2 ** t) + eps)

    NewtonSchulz5(G): X = G / ||G||_F (transposed to be wide), then 5 times
    ``A = X X^T; X = a X + (b A + c A A) X``, computed in W's dtype (torch: bfloat16).
    """

    name = "muon"
    year = 2024
    lr = CATALOGUE["lr"].but(0.02, "Jordan et al. 2024 (muon.py)")
    momentum = CATALOGUE["momentum"].but(0.95, "Jordan et al. 2024 (muon.py)")
    adam_lr = Hyper(3e-4, Range(0.0, low_open=True), "Muon: learning rate of the AdamW that updates the tensors "
                    "that are not matrices (biases)", "Jordan's MuonWithAuxAdam")
    beta1 = CATALOGUE["beta1"].but(0.9, "Jordan's MuonWithAuxAdam")
    beta2 = CATALOGUE["beta2"].but(0.95, "Jordan's MuonWithAuxAdam")
    eps = CATALOGUE["eps"].but(1e-10, "Jordan's MuonWithAuxAdam")
    slots = ("m", "v")
    access = "tensor"
    ns_steps = 5

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        self.lr_0 = self.lr

    def slots_for(self, name, W):
        return ("m",) if W.ndim == 2 else ("m", "v")

    def step(self, W, g, m, v=None):
        if W.ndim == 2:
            self._muon(W, g, m)
        else:
            self._adamw(W, g, m, v)

    def _muon(self, W, g, m):
        mu = self.momentum
        u, = self.work(W.shape, W.dtype, 1, "nesterov")
        u_, g_, m_ = terms(self, u, g, m)
        m_.set(mu * m_ + (1 - mu) * g_)
        u_.set((1 - mu) * g_ + mu * m_)
        O = self.newton_schulz(u)
        W_, O_ = terms(self, W, O)
        W_.sub(self.lr * math.sqrt(max(1.0, W.shape[1] / W.shape[0])) * O_)

    def newton_schulz(self, G: np.ndarray) -> np.ndarray:
        """NewtonSchulz5(G) (class docstring), in work arrays kept between steps; G's shape."""
        a, b, c = NS_COEFFICIENTS
        tall = G.shape[0] > G.shape[1]
        r, k = (G.shape[1], G.shape[0]) if tall else G.shape
        X, BX = self.work((r, k), G.dtype, 2, "ns")          # wide: r <= k
        A, B = self.work((r, r), G.dtype, 2, "ns gram")
        np.divide(G.T if tall else G, max(float(np.linalg.norm(G)), NS_EPS), out=X)
        for _ in range(self.ns_steps):
            np.matmul(X, X.T, out=A)                          # A = X X^T
            np.matmul(A, A, out=B)
            B *= c
            A *= b
            B += A                                            # B = b A + c A A
            np.matmul(B, X, out=BX)
            X *= a
            X += BX                                           # X = a X + B X
        return X.T if tall else X

    def _adamw(self, W, g, m, v):
        W, g, m, v = terms(self, W, g, m, v)
        t, beta1, beta2 = self.t, self.beta1, self.beta2
        lr = self.adam_lr * self.lr / self.lr_0
        m.set(beta1 * m + (1 - beta1) * g)
        v.set(beta2 * v + (1 - beta2) * g * g)
        W.sub(lr / (1 - beta1 ** t) * m / (sqrt(v) / sqrt(1 - beta2 ** t) + self.eps))
