"""Optimizers: the first two steps against hand-computed values, convergence on a quadratic bowl,
hyper-parameter validation, state save/restore, and one name per hyper-parameter everywhere."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from optlab.config.schema import UNIONS
from optlab.engine.optimizers import OPTIMIZERS, build_optimizer

# DLFS ch. 6's rules, worked by hand below; the newer ones (NAdam ... L-BFGS) are held to their
# reference implementations in tests/test_rules_reference.py and tests/test_rules.py
DLFS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
UPDATE_RULES = [name for name, cls in OPTIMIZERS.items() if cls.access != "vector"]   # L-BFGS needs a closure

EPS = 1e-8
G1, G2 = 0.5, -0.2  # the gradients seen at steps 1 and 2, starting from W = 1

# Each rule worked by hand from its formula (docs/conventions.md), written out as arithmetic.
_adam_w1 = 1 - 0.1 * (0.05 / 0.1) / (math.sqrt(0.00025 / 0.001) + EPS)            # m=0.05, v=0.00025
_adam_m2, _adam_v2 = 0.9 * 0.05 + 0.1 * G2, 0.999 * 0.00025 + 0.001 * G2 ** 2     # 0.025, 0.00028975
_rms_w1 = 1 - 0.1 * G1 / (math.sqrt(0.025) + EPS)                                  # h = 0.1 * 0.25
EXPECTED = {
    "sgd": ({"lr": 0.1}, 0.95, 0.97),
    "momentum": ({"lr": 0.1, "momentum": 0.9}, 0.95, 0.925),                       # v = -0.05, then -0.025
    "nesterov": ({"lr": 0.1, "momentum": 0.9}, 1 + 1.9 * -0.05, 0.905 + 0.9 * 0.05 + 1.9 * -0.025),
    "adagrad": ({"lr": 0.1, "eps": EPS}, 1 - 0.1 * 0.5 / (0.5 + EPS),
                1 - 0.1 * 0.5 / (0.5 + EPS) + 0.1 * 0.2 / (math.sqrt(0.29) + EPS)),
    "rmsprop": ({"lr": 0.1, "decay": 0.9, "eps": EPS}, _rms_w1,
                _rms_w1 + 0.1 * 0.2 / (math.sqrt(0.9 * 0.025 + 0.1 * 0.04) + EPS)),
    "adam": ({"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": EPS}, _adam_w1,
             _adam_w1 - 0.1 * (_adam_m2 / (1 - 0.9 ** 2)) / (math.sqrt(_adam_v2 / (1 - 0.999 ** 2)) + EPS)),
}


def test_expected_values_are_the_familiar_ones():
    # sanity of the hand computations themselves: Adam's first step is lr * sign(g) (Kingma & Ba, 2.1)
    assert EXPECTED["adam"][1] == pytest.approx(0.9, abs=1e-7)
    assert EXPECTED["nesterov"][1:] == pytest.approx((0.905, 0.9025))


@pytest.mark.parametrize("name", DLFS)
def test_first_two_steps_by_hand(name):
    hyper, w1, w2 = EXPECTED[name]
    opt = OPTIMIZERS[name](**hyper)
    W = np.array([1.0])
    opt.update({"w": W}, {"w": np.array([G1])})
    assert W[0] == pytest.approx(w1, rel=1e-12)
    opt.update({"w": W}, {"w": np.array([G2])})
    assert W[0] == pytest.approx(w2, rel=1e-12)


@pytest.mark.parametrize("name", DLFS)
def test_converges_on_an_ill_conditioned_quadratic(name):
    # f(W) = 0.5 * sum(a * (W - c)^2), minimum at c; curvatures a from 1 to 10
    a, c = np.array([1.0, 3.0, 10.0]), np.array([2.0, -1.0, 0.5])
    lr = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05}[name]
    opt = OPTIMIZERS[name](lr=lr)
    W = np.zeros(3)
    for _ in range(3000):
        opt.update({"W": W}, {"W": a * (W - c)})
    assert np.abs(W - c).max() < 1e-2, W


@pytest.mark.parametrize("name,bad,word", [
    ("sgd", {"lr": -0.1}, "0 < lr"), ("sgd", {"lr": 0.0}, "0 < lr"),
    ("momentum", {"momentum": 1.0}, "0 <= momentum < 1"), ("adam", {"beta2": 1.5}, "beta2"),
    ("adam", {"eps": 0.0}, "eps"), ("rmsprop", {"decay": -0.1}, "decay"), ("sgd", {"lr": float("nan")}, "lr"),
])
def test_bad_hyper_parameters_name_the_allowed_range(name, bad, word):
    with pytest.raises(ValueError, match=word):
        OPTIMIZERS[name](**bad)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_name_and_default_everywhere(name):
    """Constructor signature == config keys == the class's declared hyper-parameters, values
    included; the one config key that is not a constructor argument is the schedule, which the
    training loop applies."""
    defaults = OPTIMIZERS[name].defaults()
    assert set(defaults) >= {"lr", *(k for link in OPTIMIZERS[name].transforms for k in link.hypers)}
    sig = {k: p.default for k, p in inspect.signature(OPTIMIZERS[name]).parameters.items()}
    assert sig == defaults
    schema = UNIONS["optimizer"][name]
    assert {k: f.default for k, f in schema.model_fields.items() if k not in ("name", "schedule")} == defaults
    assert OPTIMIZERS[name].hyper_names == tuple(defaults)
    assert build_optimizer(name, **schema(name=name).hyper).hyper == defaults


@pytest.mark.parametrize("name", UPDATE_RULES)
def test_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(0)
    grads = [{"a": rng.standard_normal(4), "b": rng.standard_normal((2, 2))} for _ in range(6)]
    p1 = {"a": np.ones(4), "b": np.ones((2, 2))}
    opt = OPTIMIZERS[name]()
    for g in grads[:3]:
        opt.update(p1, g)
    saved = opt.state_dict()
    p2 = {k: v.copy() for k, v in p1.items()}
    resumed = OPTIMIZERS[name]()
    resumed.load_state_dict(saved)
    for g in grads[3:]:
        opt.update(p1, g)
        resumed.update(p2, g)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


@pytest.mark.parametrize("name", UPDATE_RULES)
def test_float32_stays_float32(name):
    opt = OPTIMIZERS[name]()
    W = np.ones(3, np.float32)
    opt.update({"W": W}, {"W": np.full(3, 0.5, np.float32)})
    assert W.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if "/" in k)   # the slots
