"""Curvature from gradients (optlab.engine.hessian): Hessian-vector products and lambda_max against
exact values on quadratics and against a Hessian built element by element from loss values on a
tiny network; the stability thresholds against the optimizers' own iterations on a quadratic."""

from __future__ import annotations

import numpy as np
import pytest

from optlab.engine.hessian import hessian_operator, hvp, lanczos_top, power_top, preconditioned, stability_threshold
from optlab.engine.optimizers import OPTIMIZERS
from optlab.training.curvature import objective_gradient


def quadratic(n: int, eigenvalues: np.ndarray, seed: int = 0):
    """f(w) = 0.5 w'Aw + b'w with A = Q diag(eigenvalues) Q', its gradient and A."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    A = Q @ np.diag(eigenvalues) @ Q.T
    A = (A + A.T) / 2
    b = rng.standard_normal(n)
    return (lambda w: A @ w + b), A


@pytest.mark.parametrize("n", [5, 40])
def test_hvp_is_exact_on_a_quadratic(n):
    grad, A = quadratic(n, np.linspace(-2.0, 7.0, n))
    rng = np.random.default_rng(1)
    for _ in range(5):
        w, v = 10 * rng.standard_normal(n), rng.standard_normal(n)
        Hv = hvp(grad, w, v)
        assert np.max(np.abs(Hv - A @ v)) <= 1e-6 * np.max(np.abs(A @ v))


@pytest.mark.parametrize("spectrum", [np.linspace(0.1, 10.0, 30), np.r_[np.linspace(-50, 1, 29), 3.0],
                                      np.r_[np.ones(28), 9.99, 10.0]])
def test_lanczos_finds_the_largest_eigenvalue(spectrum):
    grad, A = quadratic(len(spectrum), spectrum)
    w = np.random.default_rng(2).standard_normal(len(spectrum))
    top, vec = lanczos_top(hessian_operator(grad, w), len(spectrum), np.random.default_rng(0), iterations=60)
    exact = spectrum.max()
    assert abs(top - exact) <= 1e-6 * abs(exact)
    assert np.linalg.norm(A @ vec - exact * vec) <= 1e-4 * abs(exact)   # its vector is an eigenvector


def test_power_iteration_agrees_on_a_positive_definite_quadratic():
    spectrum = np.r_[np.linspace(0.1, 5.0, 19), 10.0]
    grad, _ = quadratic(20, spectrum)
    top, _ = power_top(hessian_operator(grad, np.zeros(20)), 20, np.random.default_rng(0), iterations=2000,
                       tol=1e-14)
    assert abs(top - 10.0) <= 1e-6 * 10.0


def test_preconditioned_sharpness_is_that_of_p_inverse_h():
    spectrum = np.linspace(0.5, 4.0, 12)
    grad, A = quadratic(12, spectrum)
    p = np.random.default_rng(3).uniform(0.1, 2.0, 12)
    top, _ = lanczos_top(preconditioned(hessian_operator(grad, np.zeros(12)), p), 12, np.random.default_rng(0), 40)
    exact = np.max(np.linalg.eigvals(np.diag(1 / p) @ A).real)
    assert abs(top - exact) <= 1e-6 * exact


def _tiny_network():
    from optlab.config.loading import loads_config
    from optlab.training.setup import Setup

    cfg = loads_config("""
seed: 4
data: {name: blobs, classes: 3, dims: 3, size: 40, val_size: 0, test_size: 0}
model: {name: mlp, hidden: [4], activation: tanh}
loss: cross_entropy
regularization: {l2: 0.01}
train: {batch_size: 40, iterations: 1, dtype: float64}
""")
    return Setup.from_config(cfg)


def test_hvp_and_lambda_max_match_an_elementwise_finite_difference_hessian():
    setup = _tiny_network()
    model, data = setup.model, setup.data
    x, y = data.features(data.train.x, np.float64), data.train.y
    w0 = model.flat_params.copy()
    n = w0.size

    def f(w):
        model.flat_params[...] = w
        out = model.forward(x, train=False)
        return setup.loss_fn(out, y)[0] + setup.penalty.loss(model.params, model.weight_names)

    # H_ij from loss values only (four-point second difference), independent of backpropagation
    h, E = 1e-4, np.eye(n)
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (f(w0 + h * E[i] + h * E[j]) - f(w0 + h * E[i] - h * E[j])
                                 - f(w0 - h * E[i] + h * E[j]) + f(w0 - h * E[i] - h * E[j])) / (4 * h * h)
    model.flat_params[...] = w0
    grad = objective_gradient(model, setup.loss_fn, setup.penalty, x, y)
    v = np.random.default_rng(0).standard_normal(n)
    Hv = hvp(grad, w0, v)
    assert np.linalg.norm(Hv - H @ v) <= 1e-5 * np.linalg.norm(H @ v)
    top, _ = lanczos_top(hessian_operator(grad, w0), n, np.random.default_rng(1), iterations=n)
    exact = np.linalg.eigvalsh(H)[-1]
    assert abs(top - exact) <= 1e-5 * abs(exact)
    assert np.array_equal(model.flat_params, w0)                # measuring leaves the weights alone


def test_the_gradient_function_has_no_side_effects_on_batch_norm_or_dropout():
    from optlab.config.loading import loads_config
    from optlab.training.setup import Setup

    setup = Setup.from_config(loads_config("""
data: {name: spiral, size: 60, val_size: 0, test_size: 0}
model: {name: mlp, hidden: [8], activation: relu, batch_norm: true, drop_prob: 0.5}
loss: cross_entropy
train: {batch_size: 60, iterations: 1, dtype: float64}
"""))
    model, data = setup.model, setup.data
    x, y = data.features(data.train.x, np.float64), data.train.y
    before = (model.flat_params.copy(), model.flat_buffers.copy(), setup.streams.get("dropout").bit_generator.state)
    grad = objective_gradient(model, setup.loss_fn, setup.penalty, x, y)
    g1, g2 = grad(model.flat_params.copy()), grad(model.flat_params.copy())
    assert np.array_equal(g1, g2)                               # no dropout mask: a deterministic function
    assert np.array_equal(model.flat_params, before[0]) and np.array_equal(model.flat_buffers, before[1])
    assert setup.streams.get("dropout").bit_generator.state == before[2]


@pytest.mark.parametrize("name,hyper", [("sgd", {}), ("momentum", {"momentum": 0.9}),
                                        ("nesterov", {"momentum": 0.9})])
def test_thresholds_are_where_the_optimizer_becomes_unstable(name, hyper):
    """On f = 0.5 * lam * w^2, iterate the optimizer itself just below and just above the threshold."""
    lr = 0.1
    threshold, pre, _ = stability_threshold(name, lr, {"lr": lr, **hyper})
    assert not pre
    for factor, stable in ((0.97, True), (1.03, False)):
        lam = factor * threshold
        opt = OPTIMIZERS[name](lr=lr, **hyper)
        params = {"w": np.array([1.0])}
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(3000):
                opt.update(params, {"w": lam * params["w"]})
        assert bool(np.isfinite(params["w"][0]) and abs(params["w"][0]) < 1.0) == stable


def test_adam_threshold_is_38_over_lr_for_beta1_09():
    assert stability_threshold("adam", 0.01, {"beta1": 0.9})[:2] == pytest.approx((3800.0, True))

