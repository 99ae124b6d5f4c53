"""Dropout and batch norm: gradients (training mode, dropout with a frozen mask), what evaluation
mode does, the running statistics, and how the mlp places them (DLFS's order)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_grad, rel_error

from optlab.config.schema import MLPModel
from optlab.engine.layers import BatchNorm, Dropout
from optlab.engine.models import build_model


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------
# dropout
# ------------------------------------------------------------------------------------------------
def test_dropout_is_inverted_drops_about_drop_prob_and_is_off_in_evaluation():
    x = np.ones((400, 250))
    layer = Dropout(0.3, rng())
    out = layer.forward(x, train=True)
    kept = out != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01                      # 100 000 draws: std 0.0015
    assert np.allclose(out[kept], 1 / 0.7)                         # inverted: kept units scaled up
    assert abs(out.mean() - 1) < 0.02                              # so the expected output is x
    assert layer.forward(x, train=False) is x                      # evaluation: no mask, no scaling


def test_dropout_masks_come_from_the_generator_and_evaluation_draws_nothing():
    x = np.ones((5, 8))
    a, b = Dropout(0.5, rng(3)), Dropout(0.5, rng(3))
    assert np.array_equal(a.forward(x), b.forward(x))              # same stream, same mask
    state = a.rng.bit_generator.state
    a.forward(x, train=False)
    assert a.rng.bit_generator.state == state                      # evaluation leaves the stream alone
    assert not np.array_equal(a.forward(x), b.forward(x, train=False))


def test_dropout_gradient_with_a_frozen_mask():
    g = rng(1)
    x, proj = g.standard_normal((6, 7)), g.standard_normal((6, 7))
    layer = Dropout(0.4, g)
    layer.forward(x)
    layer.frozen = True
    f = lambda: float(np.sum(layer.forward(x) * proj))             # noqa: E731
    layer.forward(x)
    dx = layer.backward(proj)
    assert rel_error(dx, numerical_grad(f, x)) < 1e-9
    with pytest.raises(ValueError, match="frozen dropout mask has shape"):
        layer.forward(np.ones((2, 7)))


# ------------------------------------------------------------------------------------------------
# batch norm
# ------------------------------------------------------------------------------------------------
def bn_with(g: np.random.Generator, features: int = 4, **kw) -> BatchNorm:
    bn = BatchNorm(features, **kw)
    bn.params["gamma"][...] = g.standard_normal(features)
    bn.params["beta"][...] = g.standard_normal(features)
    return bn


def test_batch_norm_normalises_each_feature_over_the_batch():
    g = rng(2)
    bn = bn_with(g, 3)
    x = 5 + 3 * g.standard_normal((200, 3))
    out = bn.forward(x, train=True)
    x_hat = (out - bn.params["beta"]) / bn.params["gamma"]
    assert np.allclose(x_hat.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(x_hat.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5))


@pytest.mark.parametrize("tensor", ["gamma", "beta", "x"])
def test_batch_norm_gradient_in_training_mode(tensor):
    g = rng(4)
    bn = bn_with(g)
    x, proj = g.standard_normal((5, 4)), g.standard_normal((5, 4))
    arrays = {**bn.params, "x": x}
    f = lambda: float(np.sum(bn.forward(x, train=True) * proj))    # noqa: E731
    bn.forward(x, train=True)
    dx = bn.backward(proj)
    analytic = {**bn.grads, "x": dx}[tensor].copy()
    assert rel_error(analytic, numerical_grad(f, arrays[tensor])) < 1e-7


def test_batch_norm_running_statistics_follow_the_momentum_rule():
    g = rng(5)
    bn = BatchNorm(3, momentum=0.8)
    batches = [g.standard_normal((10, 3)) * s + s for s in (1.0, 2.0)]
    mean, var = np.zeros(3), np.ones(3)                            # the starting statistics
    for x in batches:
        bn.forward(x, train=True)
        mean = 0.8 * mean + 0.2 * x.mean(axis=0)
        var = 0.8 * var + 0.2 * x.var(axis=0)                     # biased, as DLFS
    assert np.allclose(bn.buffers["running_mean"], mean) and np.allclose(bn.buffers["running_var"], var)
    before = bn.buffers["running_mean"].copy()
    bn.forward(batches[0], train=False)
    assert np.array_equal(bn.buffers["running_mean"], before)     # evaluation updates nothing


def test_batch_norm_evaluation_uses_the_running_statistics_one_example_at_a_time():
    g = rng(6)
    bn = bn_with(g, 4)
    bn.buffers["running_mean"][...] = g.standard_normal(4)
    bn.buffers["running_var"][...] = g.uniform(0.5, 2, 4)
    x = g.standard_normal((7, 4))
    out = bn.forward(x, train=False)
    expected = bn.params["gamma"] * (x - bn.buffers["running_mean"]) / np.sqrt(bn.buffers["running_var"] + 1e-5) \
        + bn.params["beta"]
    assert np.allclose(out, expected)
    assert np.allclose(bn.forward(x[2:3], train=False), out[2:3])  # independent of the rest of the batch
    proj = g.standard_normal((7, 4))                              # and its backward is that affine map's
    f = lambda: float(np.sum(bn.forward(x, train=False) * proj))   # noqa: E731
    bn.forward(x, train=False)
    assert rel_error(bn.backward(proj), numerical_grad(f, x)) < 1e-8


# ------------------------------------------------------------------------------------------------
# the mlp
# ------------------------------------------------------------------------------------------------
def test_mlp_places_them_as_dlfs_and_keeps_running_statistics_as_buffers():
    cfg = MLPModel(name="mlp", hidden=[6, 5], batch_norm=True, drop_prob=0.5)
    model = build_model(cfg, 3, 2, rng(7), np.float32, dropout_rng=rng(8))
    assert [name for name, _ in model.layers] == ["fc1", "bn1", "act1", "drop1", "fc2", "bn2", "act2", "drop2", "fc3"]
    assert set(model.buffers) == {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"}
    assert model.flat_buffers.size == 2 * (6 + 5) and model.flat_buffers.dtype == np.float32
    assert "bn1.gamma" in model.params and model.weight_names == ["fc1.W", "fc2.W", "fc3.W"]
    assert np.shares_memory(model.buffers["bn2.running_var"], model.flat_buffers)
    model.forward(rng(9).standard_normal((4, 3)).astype(np.float32), train=True)
    assert not np.array_equal(model.buffers["bn1.running_mean"], 0)   # written through the view
    with pytest.raises(ValueError, match="dropout needs a Generator"):
        build_model(cfg, 3, 2, rng(7), np.float32)


def test_options_off_build_the_plain_mlp_and_draw_the_same_weights():
    plain = build_model(MLPModel(name="mlp", hidden=[6]), 3, 2, rng(7), np.float64)
    both = build_model(MLPModel(name="mlp", hidden=[6], batch_norm=True, drop_prob=0.2), 3, 2, rng(7), np.float64,
                       dropout_rng=rng(1))
    assert [n for n, _ in plain.layers] == ["fc1", "act1", "fc2"] and plain.flat_buffers.size == 0
    for name in plain.params:
        assert np.array_equal(plain.params[name], both.params[name])
