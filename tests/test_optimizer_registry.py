"""The optimizer registry: every built-in rule passes the conformance suite, the per-tensor and
whole-vector access paths give the elementwise numbers, and what is derived from a rule (its
config section, its stability threshold) follows its declaration."""

from __future__ import annotations

import numpy as np
import pytest

from optlab.config.schema import UNIONS
from optlab.engine.hessian import stability_threshold
from optlab.engine.models import TensorViews
from optlab.engine.optimizers import OPTIMIZERS, Adam, Hyper, Range
from optlab.engine.optimizers.conformance import conformance


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_built_in_rule_passes_the_conformance_suite(name):
    assert [(c.name, c.message) for c in conformance(OPTIMIZERS[name]) if not c.ok] == []


def _buffers():
    rng = np.random.default_rng(0)
    out = []
    for values in (np.ones(11), rng.standard_normal(11)):
        t = TensorViews(values.copy())
        t.add_view("W", slice(0, 8), (4, 2))
        t.add_view("b", slice(8, 11), (3,))
        out.append(t)
    out[1].spans = out[0].spans
    return out


@pytest.mark.parametrize("access", ["tensor", "vector"])
def test_tensor_and_vector_access_give_the_elementwise_numbers(access):
    """A rule seen per tensor (Muon's way) or as one flat vector (L-BFGS's) is the same rule:
    Adam's numbers bit for bit, with state by tensor name for checkpoints."""
    Other = type(f"Adam{access}", (Adam,), {"access": access, "__module__": __name__})
    reference, other = Adam(weight_decay=0.1, clip_norm=0.5), Other(weight_decay=0.1, clip_norm=0.5)
    (p1, g1), (p2, g2) = _buffers(), _buffers()
    seen = []
    if access == "tensor":
        step = Other.step
        Other.step = lambda self, W, g, **s: (seen.append(W.shape), step(self, W, g, **s))[1]
    for _ in range(3):
        reference.update(p1, g1, ["W"])
        other.update(p2, g2, ["W"])
    np.testing.assert_array_equal(p1.flat, p2.flat)
    assert reference.state_dict().keys() == other.state_dict().keys()
    if access == "tensor":
        assert seen[:2] == [(4, 2), (3,)]
    plain = {"W": np.ones((4, 2)), "b": np.ones(3)}        # not one buffer: a flat copy, written back
    other = Other(weight_decay=0.1, clip_norm=0.5)
    for _ in range(3):
        other.update(plain, {"W": g1["W"].copy(), "b": g1["b"].copy()}, ["W"])
    np.testing.assert_array_equal(np.concatenate([plain["W"].ravel(), plain["b"]]), p1.flat)


def test_a_rule_declares_everything_the_rest_derives():
    class Halving(Adam):
        """Adam with another first-moment default.

            (as Adam)
        """
        name = "halving"
        beta1 = Hyper(0.5, Range(0.0, 1.0), "first-moment decay", "a test")
        __module__ = __name__

    assert Halving.defaults()["beta1"] == 0.5 and Halving().beta1 == 0.5
    assert stability_threshold("adam", 0.1, {"beta1": 0.5}) == Halving.stability(0.1, {"beta1": 0.5})
    adam = UNIONS["optimizer"]["adam"]
    assert adam.model_fields["beta1"].description == Adam.hypers["beta1"].meaning
    with pytest.raises(ValueError, match="0 <= beta1 < 1"):
        Halving(beta1=1.0)
    with pytest.raises(TypeError, match="no hyper-parameter momentum"):
        Halving(momentum=0.9)
