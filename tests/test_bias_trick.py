"""The bias trick (CS231n): ``model: {name: linear, bias: trick}`` folds the bias into W's last row."""

from __future__ import annotations

import numpy as np
from conftest import numerical_grad, rel_error

from optlab.config.loading import loads_config
from optlab.config.schema import InitConfig, LinearModel
from optlab.engine.layers import LinearBiasTrick
from optlab.engine.losses import Hinge
from optlab.engine.models import build_model
from optlab.engine.optimizers import SGD
from optlab.training.run import Setup


def test_trick_layer_is_x_with_a_column_of_ones_times_W():
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((6, 4)), rng.standard_normal((5, 3))
    layer = LinearBiasTrick(W)
    out = layer.forward(x)
    np.testing.assert_allclose(out, np.hstack([x, np.ones((6, 1))]) @ W, rtol=1e-12)
    proj = rng.standard_normal((6, 3))
    dx = layer.backward(proj)
    f = lambda: float(np.sum(layer.forward(x) * proj))  # noqa: E731
    assert rel_error(layer.grads["W"], numerical_grad(f, layer.params["W"])) < 1e-7
    assert rel_error(dx, numerical_grad(f, x)) < 1e-7


def test_trick_and_separate_bias_start_as_the_same_function():
    init = InitConfig(name="normal", std=0.5, bias_std=0.3)
    x = np.random.default_rng(1).standard_normal((7, 4))
    sep = build_model(LinearModel(name="linear", init=init), 4, 3, np.random.default_rng(5), np.float64)
    trick = build_model(LinearModel(name="linear", init=init, bias="trick"), 4, 3, np.random.default_rng(5), np.float64)
    assert list(sep.params) == ["fc1.W", "fc1.b"]
    assert list(trick.params) == ["fc1.W"] and trick.params["fc1.W"].shape == (5, 3)
    assert trick.weight_names == ["fc1.W"], "the bias row is part of W, so a penalty covers it (CS231n)"
    np.testing.assert_array_equal(trick.params["fc1.W"][-1], sep.params["fc1.b"])
    np.testing.assert_allclose(trick.forward(x), sep.forward(x), rtol=1e-12)


def test_the_last_row_acts_as_a_bias():
    """1-D data whose two classes sit at x ~ 3 and x ~ 5: no line through 0 separates them,
    the trick's bias row must learn the threshold at 4."""
    rng = np.random.default_rng(2)
    y = np.arange(200) % 2
    x = (3.0 + 2.0 * y + 0.3 * rng.standard_normal(200))[:, None]
    cfg = LinearModel(name="linear", init=InitConfig(name="zeros"), bias="trick")
    model, loss, opt = build_model(cfg, 1, 2, rng, np.float64), Hinge(), SGD(lr=0.1)
    for _ in range(2000):
        _, dout = loss(model.forward(x), y)
        model.backward(dout)
        opt.update(model.params, model.grads)
    # Without a bias every x > 0 falls on one side of the boundary: 50 % at best here.
    assert np.mean(model.forward(x).argmax(axis=1) == y) > 0.95


def test_config_builds_a_trick_model_on_synthetic_data():
    cfg = loads_config("""
data: {name: blobs, classes: 4, dims: 5, size: 200, val_size: 50, test_size: 50}
model: {name: linear, bias: trick}
loss: hinge
train: {iterations: 1}
""")
    setup = Setup.from_config(cfg)
    assert setup.model.params["fc1.W"].shape == (6, 4)
    assert setup.model.n_params() == 24
