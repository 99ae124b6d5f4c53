"""``optlab gradcheck``: the table, --json, exit codes 0 / 1 / 2 (docs/conventions.md), named culprits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.engine.layers import Linear

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")


def invoke(*args: str):
    return CliRunner().invoke(app, ["gradcheck", *args])


@pytest.fixture
def wrong_linear(monkeypatch):
    """Linear's weight gradient scaled by 1.01: a subtle, realistic bug. It goes where the weight
    gradient is computed, backward_params, which backward calls too (a model's first layer calls
    only backward_params: its input gradient is not needed)."""
    right = Linear.backward_params

    def backward_params(self, dout):
        right(self, dout)
        self.grads["W"] *= 1.01
    monkeypatch.setattr(Linear, "backward_params", backward_params)


def test_builtins_pass_with_a_table():
    result = invoke()
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("layer Linear", "loss hinge", "penalty elastic net", "model mlp tanh + cross_entropy",
                 "model neuron + binary_cross_entropy", "max rel. error", "median", "PASS"):
        assert text in out
    assert "fail" not in out


def test_json_is_the_same_data_on_stdout():
    result = invoke("--json", "--method", "both")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["methods"] == ["centred", "forward"] and data["dtype"] == "float64"
    tensors = [t for p in data["parts"] for t in p["tensors"]]
    assert all(set(t["max_rel_error"]) == {"centred", "forward"} for t in tensors)
    tanh = next(p for p in data["parts"] if p["part"] == "layer Tanh")["tensors"][0]
    assert tanh["median_rel_error"]["forward"] > 100 * tanh["median_rel_error"]["centred"]


def test_a_wrong_backward_exits_1_and_names_the_culprit(wrong_linear):
    result = invoke()
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "layer Linear / W" in result.stdout
    data = json.loads(invoke("--json").stdout)
    linear = next(p for p in data["parts"] if p["part"] == "layer Linear")
    assert {t["tensor"]: t["verdict"] for t in linear["tensors"]} == {"W": "fail", "b": "pass", "x": "pass"}


def test_a_config_passes_and_a_wrong_backward_in_it_is_pinned_to_the_data_loss(wrong_linear, monkeypatch):
    result = invoke(QUICKSTART, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    failed = {(p["part"], t["tensor"]) for p in data["parts"] for t in p["tensors"] if t["verdict"] == "fail"}
    assert failed == {("data loss (mlp + cross_entropy)", "fc1.W"), ("data loss (mlp + cross_entropy)", "fc2.W"),
                      ("total (data loss + penalty)", "fc1.W"), ("total (data loss + penalty)", "fc2.W")}
    assert next(p for p in data["parts"] if p["part"].startswith("L2"))["passed"] is True

    monkeypatch.undo()
    ok = invoke(QUICKSTART, "--samples", "10", "--examples", "4")
    assert ok.exit_code == 0, ok.output
    assert "10 of 200" in ok.stdout


def test_overrides_apply_to_the_config():
    result = invoke(QUICKSTART, "regularization.l1=0.001", "model.hidden=[4]", "--json")
    assert result.exit_code == 0, result.output
    parts = [p["part"] for p in json.loads(result.stdout)["parts"]]
    assert "L1 penalty (l1=0.001)" in parts


@pytest.mark.parametrize("args, message", [
    (["--h", "0"], "--h"),
    (["--h", "-1e-5"], "--h"),
    (["--h", "1e-30"], "below the spacing"),
    (["--method", "central"], "--method"),
    (["--samples", "0"], "--samples"),
    (["missing.yaml"], "no such file"),
    ([QUICKSTART, "model.hidden=oops"], "model.hidden"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_config_that_does_not_fit_its_data_exits_2(tmp_path):
    path = tmp_path / "neuron.yaml"
    path.write_text("data: spiral\nmodel: neuron\nloss: quadratic\ntrain: {iterations: 1}\n")
    result = invoke(str(path))
    assert result.exit_code == 2
    assert "one input feature" in result.output and "Traceback" not in result.output


def test_a_failing_forward_difference_exits_1_where_centred_passes(tmp_path):
    path = tmp_path / "tanh.yaml"
    path.write_text("data: {name: blobs, size: 60, val_size: 10}\nmodel: {name: mlp, hidden: [5], activation: tanh}\n"
                    "loss: cross_entropy\ntrain: {epochs: 1}\n")
    assert invoke(str(path)).exit_code == 0
    assert invoke(str(path), "--method", "forward").exit_code == 1
    assert invoke(str(path), "--method", "both").exit_code == 0


def test_zero_init_puts_every_relu_at_its_kink_and_says_so():
    """W = 0, b = 0: every pre-activation is exactly 0, so fc1 cannot be judged, only reported."""
    args = (QUICKSTART, "model.init=zeros", "model.hidden=[4]", "regularization.l2=0")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "2 tensors not judged" in result.stdout
    part = json.loads(invoke(*args, "--json").stdout)["parts"][0]
    fc1 = {t["tensor"]: t for t in part["tensors"]}
    assert fc1["fc1.W"]["verdict"] == "kink" and fc1["fc1.W"]["kink_sources"] == ["ReLU act1"]
    assert fc1["fc2.W"]["verdict"] == "pass"
