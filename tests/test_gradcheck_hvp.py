"""optlab gradcheck checks Hessian-vector products too: each part's R-operator against the centred
difference of its gradient; a wrong second derivative fails, a missing R-operator is named."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from optlab.cli import app
from optlab.engine import layers
from optlab.gradcheck.check import gradcheck, verdict
from optlab.gradcheck.hvp_check import check_hvp
from optlab.gradcheck.parts import layer_part


def test_every_built_in_hessian_vector_product_passes():
    report = gradcheck()
    assert len(report.hvp) == len(report.parts) >= 40
    verdicts = {t.verdict for c in report.hvp for t in c.tensors}
    assert verdicts <= {"pass", "pass (kinks)", "kink"} and "pass" in verdicts
    assert report.passed


def test_a_wrong_second_derivative_fails(monkeypatch):
    monkeypatch.setattr(layers.Sigmoid, "curvature", lambda self: 1.01 * self.out * (1 - self.out) * (1 - 2 * self.out))
    rng = np.random.default_rng(0)
    check = check_hvp(layer_part("sigmoid", layers.Sigmoid(), rng.standard_normal((5, 4)), rng), rng, verdict)
    assert [t.verdict for t in check.tensors] == ["fail"]
    report = gradcheck()
    assert not report.passed and ("layer Sigmoid", "x") in report.hvp_failures()
    assert not report.failures()      # the gradients themselves are right


def test_a_part_without_an_r_operator_is_named_and_not_failed():
    class Square(layers.Layer):
        def forward(self, x, train=True):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    rng = np.random.default_rng(1)
    check = check_hvp(layer_part("square", Square(), rng.standard_normal((3, 2)), rng), rng, verdict)
    assert [t.verdict for t in check.tensors] == ["none"] and check.passed


def test_the_json_and_the_table_carry_the_hvp_check():
    result = CliRunner().invoke(app, ["gradcheck", "quickstart", "--samples", "5", "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["hvp"][0]["tensors"][0]["verdict"] == "pass"
    text = CliRunner().invoke(app, ["gradcheck", "quickstart", "--samples", "5"]).output
    assert "Hessian-vector products" in text and "PASS: Hessian-vector products of" in text
