"""The numerical gradient (optlab.engine.numgrad) and the gradient check (optlab.gradcheck.check, gradcheck_parts).

Definitions under test are docs/conventions.md's: relative error abs(a - n) / max(|a|, |n|, 1e-12),
thresholds 1e-7 / 1e-4 (kinks only), h = 1e-5 centred, float64.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from optlab.config.loading import loads_config
from optlab.engine.layers import Linear, ReLU
from optlab.engine.losses import Hinge
from optlab.engine.numgrad import StepTooSmall, numerical_gradient, probe, relative_error
from optlab.engine.regularizers import Penalty
from optlab.gradcheck.check import PASS, GradcheckError, GradcheckInputError, check_part, gradcheck, run_checks, verdict
from optlab.gradcheck.parts import Part, builtin_parts, config_parts, layer_part, loss_part, penalty_part


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def tensor(report_part, name):
    return next(t for t in report_part.tensors if t.tensor == name)


# ---------------------------------------------------------------------------------------------
# numgrad
# ---------------------------------------------------------------------------------------------
def smooth_problem():
    """f = sum(exp(W) * C) + sum(sin(b)): gradient exp(W) * C and cos(b), known exactly."""
    g = rng(1)
    params = {"W": g.standard_normal((3, 4)), "b": g.standard_normal(5)}
    C = g.standard_normal((3, 4))

    def f():
        return float(np.sum(np.exp(params["W"]) * C) + np.sum(np.sin(params["b"])))
    exact = {"W": np.exp(params["W"]) * C, "b": np.cos(params["b"])}
    return f, params, exact


def test_numerical_gradient_matches_the_exact_gradient_with_the_tensor_shapes():
    f, params, exact = smooth_problem()
    num = numerical_gradient(f, params)
    for name in params:
        assert num[name].shape == params[name].shape
        assert relative_error(exact[name], num[name]).max() < 1e-8


def test_parameters_are_restored_bit_for_bit_in_the_same_arrays():
    f, params, _ = smooth_problem()
    before = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}
    numerical_gradient(f, params, h=0.1234567)       # a step whose +h -h does not round-trip
    for k in params:
        assert id(params[k]) == ids[k]
        assert np.array_equal(params[k], before[k])


def test_parameters_are_restored_when_f_raises():
    params = {"W": np.arange(6.0).reshape(2, 3)}
    calls = []

    def f():
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return float(np.sum(params["W"] ** 2))
    with pytest.raises(KeyboardInterrupt):
        numerical_gradient(f, params)
    assert np.array_equal(params["W"], np.arange(6.0).reshape(2, 3))


def test_indices_give_estimates_aligned_with_them():
    f, params, _ = smooth_problem()
    full = numerical_gradient(f, params)
    idx = np.array([0, 5, 11])
    part = numerical_gradient(f, params, ["W"], indices={"W": idx})
    assert list(part) == ["W"]
    assert np.array_equal(part["W"], full["W"].ravel()[idx])


def test_perturbing_named_views_of_a_flat_buffer_reaches_the_model():
    from optlab.engine.models import Model
    g = rng(2)
    model = Model([("fc1", Linear(g.standard_normal((3, 2)), g.standard_normal(2)))])
    x = g.standard_normal((4, 3))
    flat = model.flat_params.copy()
    num = numerical_gradient(lambda: float(np.sum(model.forward(x))), model.params)
    assert np.allclose(num["fc1.W"], np.repeat(x.sum(axis=0)[:, None], 2, axis=1), rtol=1e-8)
    assert np.allclose(num["fc1.b"], 4.0, rtol=1e-8)
    assert np.array_equal(model.flat_params, flat)


def test_forward_difference_costs_one_evaluation_per_element_plus_one():
    f, params, _ = smooth_problem()
    calls = []

    def counted():
        calls.append(1)
        return f()
    numerical_gradient(counted, params, method="centred")
    assert len(calls) == 2 * 17
    calls.clear()
    numerical_gradient(counted, params, method="forward")
    assert len(calls) == 17 + 1


def test_forward_difference_is_worse_than_centred_on_a_smooth_function():
    """Forward error is O(h) and centred O(h^2) (CS231n): compare them and how they scale with h."""
    f, params, exact = smooth_problem()

    def err(method, h):
        num = numerical_gradient(f, params, h=h, method=method)
        return np.median(np.concatenate([relative_error(exact[k], num[k]).ravel() for k in params]))

    assert err("forward", 1e-5) > 100 * err("centred", 1e-5)
    assert 5 < err("forward", 1e-4) / err("forward", 1e-5) < 20          # ~ 10x for 10x h: O(h)
    assert 50 < err("centred", 1e-3) / err("centred", 1e-4) < 200        # ~ 100x: O(h^2)


def test_an_h_below_float_spacing_is_refused():
    params = {"W": np.ones(3)}
    with pytest.raises(StepTooSmall, match="h=1e-30"):
        numerical_gradient(lambda: float(params["W"].sum()), params, h=1e-30)
    assert np.array_equal(params["W"], np.ones(3))


@pytest.mark.parametrize("kwargs", [{"method": "central"}, {"h": 0.0}, {"h": -1e-5}, {"h": float("nan")}])
def test_bad_method_or_h_is_a_value_error(kwargs):
    params = {"W": np.ones(2)}
    with pytest.raises(ValueError):
        numerical_gradient(lambda: 0.0, params, **kwargs)


def test_relative_error_follows_the_conventions():
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1.0, 1.01) == pytest.approx(0.01 / 1.01)
    assert relative_error(1.01, 1.0) == relative_error(1.0, 1.01)
    assert relative_error(1e-13, 0.0) == pytest.approx(0.1)          # the 1e-12 floor
    assert relative_error(-1.0, 1.0) == 2.0


def test_probe_reports_the_kinks_an_element_straddles():
    params = {"x": np.array([0.0, 1.0, -1.0])}

    def f():
        return float(np.sum(np.abs(params["x"])))
    p = probe(f, params, signature=lambda: {"abs": np.sign(params["x"])})
    assert p.kinks["x"] == [("abs",), (), ()]
    assert p.grads["x"][1:] == pytest.approx([1.0, -1.0])


# ---------------------------------------------------------------------------------------------
# verdicts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_error, has_kinks, expected", [
    (0.0, False, "pass"), (1e-7, False, "pass"), (2e-7, False, "fail"), (2e-7, True, "pass (kinks)"),
    (1e-4, True, "pass (kinks)"), (2e-4, True, "fail"), (1e-2, False, "fail"), (float("nan"), True, "fail"),
])
def test_verdict_uses_cs231n_thresholds(max_error, has_kinks, expected):
    assert verdict(max_error, has_kinks, judged=3) == expected


def test_verdict_with_nothing_left_to_judge():
    assert verdict(float("nan"), True, judged=0, kinks=2) == "kink"
    assert verdict(float("nan"), False, judged=0, kinks=0) == "pass"


def test_rounding_noise_is_set_apart_but_a_wrong_gradient_of_the_same_size_fails():
    """f = 1000 + 1e-6 w0 + w1: rounding 1000 to float64 moves the quotient for w0 by ~1e-8 (1 %)."""
    params = {"w": np.array([0.3, -0.7])}

    def f():
        return 1000.0 + 1e-6 * params["w"][0] + params["w"][1]

    def part(scale):
        return Part("tiny", params, f, lambda: {"w": np.array([1e-6 * scale, 1.0])}, dict, False)
    right = check_part(part(1.0), rng=rng()).tensors[0]
    assert (right.noise, right.verdict) == (1, "pass")
    assert right.max_error["centred"] <= PASS                    # w1 alone is judged
    wrong = check_part(part(1.5), rng=rng()).tensors[0]
    assert (wrong.noise, wrong.verdict) == (0, "fail")


# ---------------------------------------------------------------------------------------------
# the built-ins
# ---------------------------------------------------------------------------------------------
BUILTIN_NAMES = [p.name for p in builtin_parts(rng())]
COMPONENTS = [n for n in BUILTIN_NAMES if n.split()[0] in ("layer", "loss", "penalty")]


def test_the_builtin_suite_covers_every_component_and_model():
    from optlab.engine.layers import ACTIVATIONS
    from optlab.engine.losses import LOSSES
    names = set(BUILTIN_NAMES)
    assert {"layer Linear"} | {f"layer {cls.__name__}" for cls in ACTIVATIONS.values()} <= names
    assert {f"loss {name}" for name in LOSSES} <= names
    assert {"penalty L1", "penalty L2", "penalty elastic net"} <= names
    for act in ACTIVATIONS:
        for loss in ("hinge", "cross_entropy", "quadratic"):
            assert f"model mlp {act} + {loss}" in names
        assert f"model mlp {act}, sigmoid out + binary_cross_entropy" in names
    assert {"model linear + hinge", "model neuron + quadratic", "model neuron + binary_cross_entropy"} <= names


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_builtin_passes(seed):
    report = gradcheck(seed=seed)
    assert report.passed, report.failures()
    assert all(t.verdict == "pass" for p in report.parts for t in p.tensors)


@pytest.mark.parametrize("name", COMPONENTS)
def test_each_layer_loss_and_regulariser_is_within_1e_7_everywhere_smooth(name):
    """Strict: every element of every tensor, none set apart as a kink or as rounding."""
    part = next(p for p in builtin_parts(rng()) if p.name == name)
    result = check_part(part, rng=rng())
    for t in result.tensors:
        assert t.checked == t.size and t.kinks == 0 and t.noise == 0
        assert t.max_error["centred"] <= PASS, (name, t.tensor, t.max_error)


# ---------------------------------------------------------------------------------------------
# wrong backwards are caught and named
# ---------------------------------------------------------------------------------------------
class ScaledWeightGrad(Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] *= 1.01
        return dx


class MissingBiasGrad(Linear):
    def backward(self, dout):
        np.matmul(self.x.T, dout, out=self.grads["W"])
        return dout @ self.params["W"].T


class TransposedWeightGrad(Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"][...] = self.grads["W"].T.copy()
        return dx


class LeakyBackwardReLU(ReLU):
    def backward(self, dout):
        return dout                       # forgets the mask


def verdicts(result):
    return {t.tensor: t.verdict for t in result.tensors}


@pytest.mark.parametrize("cls, culprit", [(ScaledWeightGrad, "W"), (MissingBiasGrad, "b"),
                                          (TransposedWeightGrad, "W")])
def test_a_wrong_linear_backward_fails_exactly_the_wrong_tensor(cls, culprit):
    g = rng(3)
    layer = cls(g.standard_normal((4, 4)), g.standard_normal(4))   # square, so a transpose fits
    result = check_part(layer_part("bad Linear", layer, g.standard_normal((5, 4)), g), rng=g)
    assert {k for k, v in verdicts(result).items() if v == "fail"} == {culprit}
    assert tensor(result, culprit).max_error["centred"] > 1e-3


def test_a_relu_backward_without_its_mask_fails_on_the_input():
    g = rng(4)
    result = check_part(layer_part("bad ReLU", LeakyBackwardReLU(), g.standard_normal((5, 4)), g), rng=g)
    assert verdicts(result) == {"x": "fail"}


def test_a_wrong_penalty_fails_its_own_part_and_the_total_only(monkeypatch):
    def wrong_add_grad(self, params, grads, names):
        for name in names:
            grads[name] += self.l2 * params[name] + self.l1 * params[name]   # W instead of sign(W)
    monkeypatch.setattr(Penalty, "add_grad", wrong_add_grad)
    report = gradcheck(small_config(loss="hinge", l1=0.01, l2=0.01))
    failed = {part for part, _ in report.failures()}
    assert failed == {"L1 penalty (l1=0.01)", "total (data loss + penalty)"}


# ---------------------------------------------------------------------------------------------
# kinks and frozen randomness
# ---------------------------------------------------------------------------------------------
def test_a_hinge_at_a_margin_boundary_is_a_kink_not_a_failure():
    scores = np.array([[2.0, 1.0, -3.0], [0.5, -1.0, 0.2]])     # row 0: s_1 - s_0 + 1 = 0 exactly
    y = np.array([0, 2])
    result = check_part(loss_part("hinge", Hinge(), scores, y), rng=rng())
    t = tensor(result, "out")
    assert t.kinks == 2 and t.kink_sources == ["Hinge loss"]        # s_0 and s_1 of row 0
    assert t.verdict == "pass"

    blind = loss_part("hinge", Hinge(), scores, y)
    blind.signature = dict                                          # no kink detection
    assert tensor(check_part(blind, rng=rng()), "out").verdict == "fail"


def test_relu_and_l1_kinks_are_named():
    x = np.array([[0.0, 1.0], [-2.0, 0.5]])
    relu = tensor(check_part(layer_part("ReLU", ReLU(), x, rng()), rng=rng()), "x")
    assert (relu.kinks, relu.kink_sources, relu.verdict) == (1, ["ReLU"], "pass")
    params = {"fc1.W": np.array([[0.0, 0.3], [-0.2, 0.5]])}
    l1 = tensor(check_part(penalty_part("L1", Penalty(l1=0.1), params, ["fc1.W"]), rng=rng()), "fc1.W")
    assert (l1.kinks, l1.kink_sources, l1.verdict) == (1, ["L1 penalty"], "pass")


def test_every_element_at_a_kink_gives_the_kink_verdict_and_json_null():
    part = loss_part("hinge", Hinge(), np.array([[2.0, 1.0]]), np.array([0]))
    report = run_checks([part], "test", rng=rng())
    assert report.parts[0].tensors[0].verdict == "kink" and report.passed
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["parts"][0]["tensors"][0]["max_rel_error"]["centred"] is None


def test_a_whole_check_leaves_every_tensor_as_it_was():
    parts = builtin_parts(rng())
    before = [{k: v.copy() for k, v in p.tensors.items()} for p in parts]
    run_checks(parts, "test", methods=("centred", "forward"), rng=rng())
    for p, saved in zip(parts, before):
        assert all(np.array_equal(p.tensors[k], saved[k]) for k in saved), p.name


def test_an_objective_with_unfrozen_randomness_is_refused():
    g = rng(5)
    params = {"W": g.standard_normal(3)}
    part = Part("noisy", params, lambda: float(np.sum(params["W"]) + g.standard_normal()),
                lambda: {"W": np.ones(3)}, dict, False)
    with pytest.raises(GradcheckError, match="freeze every random draw"):
        check_part(part, rng=g)


def test_a_non_finite_objective_is_refused():
    params = {"W": np.ones(2)}
    part = Part("nan", params, lambda: float("nan"), lambda: {"W": np.ones(2)}, dict, False)
    with pytest.raises(GradcheckError, match="nan"):
        check_part(part, rng=rng())


# ---------------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------------
def small_config(data="spiral", model="{name: linear}", loss="cross_entropy", l1=0.0, l2=0.0, dtype="float32"):
    return loads_config(textwrap.dedent(f"""
        seed: 3
        data: {{name: {data}, size: 120, val_size: 20, test_size: 10}}
        model: {model}
        loss: {loss}
        regularization: {{l1: {l1}, l2: {l2}}}
        train: {{epochs: 1, dtype: {dtype}}}
    """))


def test_quickstart_passes_as_data_loss_penalty_and_total():
    from optlab.config.loading import load_config
    report = gradcheck(load_config("configs/quickstart.yaml"), subject="quickstart")
    assert report.passed, report.failures()
    assert [p.part for p in report.parts] == ["data loss (mlp + cross_entropy)", "L2 penalty (l2=0.0001)",
                                              "total (data loss + penalty)"]
    fc1 = tensor(report.parts[0], "fc1.W")
    assert (fc1.size, fc1.checked) == (200, 50)


@pytest.mark.parametrize("data, model, loss, l1, l2", [
    ("spiral", "{name: mlp, hidden: [6], activation: relu}", "hinge", 0.01, 0.0),
    ("blobs", "{name: mlp, hidden: [6, 4], activation: tanh}", "cross_entropy", 0.0, 0.01),
    ("blobs", "{name: linear}", "hinge", 0.01, 0.01),
    ("spiral", "{name: mlp, hidden: [5], activation: sigmoid, output: sigmoid}", "binary_cross_entropy", 0.0, 0.1),
])
def test_small_configs_pass_with_each_regulariser_separately_then_together(data, model, loss, l1, l2):
    report = gradcheck(small_config(data, model, loss, l1, l2), samples=20, examples=6)
    assert report.passed, report.failures()
    names = [p.part for p in report.parts]
    assert names[0].startswith("data loss")
    assert ("L1 penalty (l1=0.01)" in names) == (l1 > 0) and (any("L2" in n for n in names)) == (l2 > 0)
    assert names[-1] == "total (data loss + penalty)"


def test_a_config_is_checked_in_float64_on_the_requested_examples():
    cfg = small_config(dtype="float32")
    parts = config_parts(cfg, 5, rng())
    assert all(v.dtype == np.float64 for v in parts[0].tensors.values())
    assert cfg.train.dtype == "float32"                 # the caller's config is left alone
    single = loads_config("data: single\nmodel: neuron\nloss: quadratic\ntrain: {iterations: 1}")
    assert gradcheck(single, examples=50).passed       # capped at the one example there is


def test_sampling_is_seeded_and_reproducible():
    cfg = small_config(model="{name: mlp, hidden: [30]}")
    a = gradcheck(cfg, samples=7).to_dict()
    assert a == gradcheck(cfg, samples=7).to_dict()
    w = next(t for t in a["parts"][0]["tensors"] if t["tensor"] == "fc2.W")
    assert (w["size"], w["checked"]) == (90, 7)


def test_a_config_that_cannot_be_built_is_bad_input():
    cfg = loads_config("data: spiral\nmodel: neuron\nloss: quadratic\ntrain: {iterations: 1}")
    with pytest.raises(GradcheckInputError, match="one input feature"):
        gradcheck(cfg)


def test_forward_differences_fail_the_1e_7_threshold_that_centred_passes():
    cfg = small_config(model="{name: mlp, hidden: [6], activation: tanh}", l2=0.01)
    assert gradcheck(cfg, method="centred").passed
    both = gradcheck(cfg, method="both")
    assert both.passed                                   # centred decides the verdicts
    assert not gradcheck(cfg, method="forward").passed
    t = tensor(both.parts[0], "fc1.W")
    assert t.median_error["forward"] > 100 * t.median_error["centred"]
