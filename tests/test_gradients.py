"""Every layer, loss, regulariser and model: analytic gradients against centred differences in
float64 (relative error <= 1e-7 where the function is smooth; docs/conventions.md)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_grad, rel_error

from optlab.config.schema import LinearModel, MLPModel, NeuronModel
from optlab.engine.layers import Linear, ReLU, Sigmoid, Tanh, sigmoid
from optlab.engine.losses import BinaryCrossEntropy, CrossEntropy, Hinge, Quadratic
from optlab.engine.models import build_model
from optlab.engine.regularizers import Penalty


def layer_objective(layer, x, proj):
    """A scalar of the layer's output: sum(out * proj), so d/d out = proj."""
    return lambda: float(np.sum(layer.forward(x) * proj))


@pytest.mark.parametrize("make", [Sigmoid, Tanh, ReLU], ids=["sigmoid", "tanh", "relu"])
def test_activation_input_gradient(make):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink at 0
    proj = rng.standard_normal((5, 7))
    layer = make()
    layer.forward(x)
    dx = layer.backward(proj)
    assert rel_error(dx, numerical_grad(layer_objective(layer, x, proj), x)) < 1e-7


def test_linear_gradients():
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    proj = rng.standard_normal((6, 3))
    layer = Linear(W, b)
    layer.forward(x)
    dx = layer.backward(proj)
    f = layer_objective(layer, x, proj)
    assert rel_error(dx, numerical_grad(f, x)) < 1e-7
    assert rel_error(layer.grads["W"], numerical_grad(f, layer.params["W"])) < 1e-7
    assert rel_error(layer.grads["b"], numerical_grad(f, layer.params["b"])) < 1e-7


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        out = sigmoid(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0])
    assert sigmoid(np.float32(-100.0) * np.ones(2, np.float32)).dtype == np.float32


LOSSES = {
    "hinge": (Hinge(margin=1.0), "scores"),
    "cross_entropy": (CrossEntropy(), "scores"),
    "quadratic": (Quadratic(), "scores"),
    "binary_cross_entropy": (BinaryCrossEntropy(), "probs"),
}


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("units", [4, 1])
def test_loss_gradient(name, units):
    loss, kind = LOSSES[name]
    if units == 1 and name in ("hinge", "cross_entropy"):
        pytest.skip("needs one score per class")
    rng = np.random.default_rng(2)
    out = rng.standard_normal((8, units))
    if kind == "probs":
        out = sigmoid(out)
    y = rng.integers(0, max(units, 2), size=8)
    value, grad = loss(out, y)
    num = numerical_grad(lambda: loss(out, y)[0], out)
    assert rel_error(grad, num) < 1e-7
    assert np.isfinite(value)


def test_hinge_loss_by_hand():
    # CS231n's example: scores (3.2, 5.1, -1.7) for class 0 with margin 1 -> max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9
    loss, grad = Hinge(1.0)(np.array([[3.2, 5.1, -1.7]]), np.array([0]))
    assert loss == pytest.approx(2.9)
    np.testing.assert_allclose(grad, [[-1.0, 1.0, 0.0]])


def test_cross_entropy_by_hand_and_stable():
    loss, _ = CrossEntropy()(np.array([[0.0, 0.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(np.log(3))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        big, grad = CrossEntropy()(np.array([[1000.0, 0.0]]), np.array([1]))
    assert big == pytest.approx(1000.0) and np.isfinite(grad).all()


@pytest.mark.parametrize("l1,l2", [(0.0, 0.3), (0.2, 0.0), (0.2, 0.3)], ids=["l2", "l1", "elastic"])
def test_penalty_gradient_and_value(l1, l2):
    rng = np.random.default_rng(3)
    params = {"fc1.W": rng.standard_normal((4, 3)), "fc1.b": rng.standard_normal(3)}
    params["fc1.W"][np.abs(params["fc1.W"]) < 1e-3] = 0.5  # away from L1's kink
    names = ["fc1.W"]
    pen = Penalty(l2=l2, l1=l1)
    W = params["fc1.W"]
    assert pen.loss(params, names) == pytest.approx(l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum())
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    pen.add_grad(params, grads, names)
    assert rel_error(grads["fc1.W"], numerical_grad(lambda: pen.loss(params, names), W)) < 1e-7
    assert not grads["fc1.b"].any(), "biases are never penalised"


def _model_cases():
    yield "linear", LinearModel(name="linear"), CrossEntropy(), 3
    for act in ("relu", "sigmoid", "tanh"):
        yield f"mlp-{act}", MLPModel(name="mlp", hidden=[5, 4], activation=act, init={"name": "xavier"}), CrossEntropy(), 3
    yield "mlp-sigmoid-out-bce", MLPModel(name="mlp", hidden=[5], output="sigmoid"), BinaryCrossEntropy(), 3
    yield "mlp-hinge", MLPModel(name="mlp", hidden=[5], activation="tanh"), Hinge(), 3
    yield "neuron-quadratic", NeuronModel(name="neuron", w=2.0, b=2.0), Quadratic(), 2


@pytest.mark.parametrize("case", list(_model_cases()), ids=lambda c: c[0])
def test_model_parameter_gradients(case):
    _, cfg, loss, classes = case
    rng = np.random.default_rng(4)
    n_in = 1 if cfg.name == "neuron" else 6
    model = build_model(cfg, n_in, classes, rng, np.float64)
    x = rng.standard_normal((7, n_in))
    y = rng.integers(0, classes if cfg.name != "neuron" else 2, size=7)
    if cfg.name == "mlp":
        # small random biases so no ReLU sits exactly at its kink
        for name in model.params:
            if name.endswith(".b"):
                model.params[name][...] = 0.1 * rng.standard_normal(model.params[name].shape)
    _, dout = loss(model.forward(x), y)
    model.backward(dout)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    f = lambda: loss(model.forward(x), y)[0]  # noqa: E731
    # Smooth models meet 1e-7. Piecewise-linear ones (ReLU, hinge) have no kink crossed here but
    # larger truncation error on their small elements, so they get 1e-6: still far below CS231n's
    # 1e-4 allowance for kinked functions.
    tol = 1e-6 if (model.has_kinks or loss.has_kinks) else 1e-7
    for name, value in model.params.items():
        assert rel_error(analytic[name], numerical_grad(f, value)) < tol, name


def test_model_params_are_views_of_one_buffer():
    model = build_model(MLPModel(name="mlp", hidden=[3]), 2, 2, np.random.default_rng(0), np.float32)
    assert model.flat_params.dtype == np.float32 and model.n_params() == 2 * 3 + 3 + 3 * 2 + 2
    model.flat_params[:] = 7
    assert all((p == 7).all() for p in model.params.values())
    assert model.weight_names == ["fc1.W", "fc2.W"]
