"""Exact Hessian-vector products (optlab.engine.hvp, the R-operator) on small float64 networks:
the full Hessian built column by column from them against centred differences of the gradient,
its symmetry, and the spectrum (top-k, trace) against numpy.linalg.eigh of that matrix."""

from __future__ import annotations

import numpy as np
import pytest

from optlab.engine.hessian import hvp as fd_hvp
from optlab.engine.hvp import ExactHVP, missing_rop
from optlab.engine.losses import LOSSES
from optlab.engine.models import build_model
from optlab.engine.regularizers import Penalty
from optlab.engine.spectrum import hutchinson, top_eigen
from optlab.training.curvature import hessian_vector_operator, objective_gradient

CASES = [  # (label, model config, loss, penalty)
    ("sigmoid + cross_entropy + L2", dict(hidden=[4], activation="sigmoid"), "cross_entropy", Penalty(l2=0.1)),
    ("tanh, two layers + quadratic", dict(hidden=[3, 3], activation="tanh"), "quadratic", Penalty()),
    ("tanh, batch norm + cross_entropy", dict(hidden=[4], activation="tanh", batch_norm=True), "cross_entropy",
     Penalty(l2=0.01)),
    ("sigmoid out + binary_cross_entropy", dict(hidden=[4], activation="tanh", output="sigmoid"),
     "binary_cross_entropy", Penalty()),
]


def _setup(spec: dict, loss: str):
    from optlab.config.schema import InitConfig, MLPModel

    rng = np.random.default_rng(0)
    cfg = MLPModel(name="mlp", init=InitConfig(name="he", bias_std=0.3), **spec)
    model = build_model(cfg, 3, 3, rng, np.float64)
    if "batch_norm" in spec:   # gamma and beta away from 1 and 0, so their second derivatives show
        for name in model.params:
            if name.startswith("bn"):
                model.params[name][...] = rng.uniform(0.5, 1.5, model.params[name].shape)
    x, y = rng.standard_normal((7, 3)), rng.integers(0, 3, 7)
    return model, LOSSES[loss](), x, y


@pytest.mark.parametrize("label, spec, loss, penalty", CASES, ids=[c[0] for c in CASES])
def test_full_hessian_from_exact_hvps_equals_centred_differences(label, spec, loss, penalty):
    model, loss_fn, x, y = _setup(spec, loss)
    w = model.flat_params.copy()
    n = w.size
    assert 20 <= n <= 80 and not missing_rop(model, loss_fn)
    op = ExactHVP(model, loss_fn, penalty, x, y)
    H = np.stack([op(e) for e in np.eye(n)], axis=1)
    grad = objective_gradient(model, loss_fn, penalty, x, y)
    H_fd = np.stack([fd_hvp(grad, w, e, h=1e-5) for e in np.eye(n)], axis=1)
    assert np.max(np.abs(H - H_fd)) <= 1e-6 * max(1.0, np.max(np.abs(H)))
    assert np.max(np.abs(H - H.T)) <= 1e-10 * max(1.0, np.max(np.abs(H)))
    assert np.array_equal(model.flat_params, w)
    exact = np.linalg.eigvalsh((H + H.T) / 2)
    values, _, _ = top_eigen(op, n, 5, np.random.default_rng(1), steps=n)
    assert np.allclose(values, exact[::-1][:5], rtol=0, atol=1e-8 * max(1.0, abs(exact).max()))
    trace = hutchinson(op, n, probes=n, rng=np.random.default_rng(2))
    assert abs(trace.estimate - exact.sum()) <= 1e-8 * max(1.0, abs(exact).max())


def test_hinge_and_relu_have_exact_rops_and_sharpness_uses_them():
    from optlab.config.schema import InitConfig, MLPModel

    rng = np.random.default_rng(3)
    model = build_model(MLPModel(name="mlp", hidden=[5], init=InitConfig(name="he", bias_std=0.1)), 3, 3, rng,
                        np.float64)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    op, method = hessian_vector_operator(model, LOSSES["hinge"](), Penalty(l2=0.2), x, y)
    assert method == "exact"
    v = rng.standard_normal(model.n_params())
    grad = objective_gradient(model, LOSSES["hinge"](), Penalty(l2=0.2), x, y)
    # piecewise linear apart from L2: H v = l2 V_W, which the centred difference also sees away from kinks
    assert np.allclose(op(v), fd_hvp(grad, model.flat_params.copy(), v, h=1e-7), atol=1e-6)


def test_a_layer_without_an_r_operator_falls_back_to_finite_differences():
    from optlab.engine.layers import Layer
    from optlab.engine.models import Model

    class Square(Layer):   # no forward_r / backward_r
        def forward(self, x, train=True):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    rng = np.random.default_rng(0)
    from optlab.engine.layers import Linear
    model = Model([("fc1", Linear(rng.standard_normal((3, 2)), np.zeros(2))), ("sq", Square())])
    op, method = hessian_vector_operator(model, LOSSES["quadratic"](), Penalty(), rng.standard_normal((4, 3)),
                                         np.zeros(4, dtype=int))
    assert method.startswith("finite differences") and "Square sq" in method
    assert op(np.ones(model.n_params())).shape == (model.n_params(),)
