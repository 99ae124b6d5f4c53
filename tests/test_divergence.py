"""Divergence: a NaN/inf loss, or one above train.divergence_factor x the initial loss, stops the
run at that step with status `diverged`, the step and value in summary.json, the curves up to
that point plotted, a one-line explanation suggesting a smaller learning rate, and exit code 1.

SGD with lr=100 on the tiny spiral: the step-1 loss is 1.2 (initial training loss 1.35), step 2
is 114 and step 3 is 46650, all finite; lr=1e30 overflows to inf/NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import load_config
from optlab.record.rundir import read_metrics
from optlab.training.gradient_loop import divergence
from optlab.training.run import run

runner = CliRunner()


def config_file(tmp_path: Path, lr: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(TINY_CONFIG.replace("optimizer: {name: adam, lr: 0.01}", f"optimizer: {{name: sgd, lr: {lr}}}"))
    return path


@pytest.mark.parametrize("factor,step", [("10", 2), ("1000", 3)])
def test_loss_above_a_multiple_of_the_initial_loss(tmp_path, factor, step):
    path = config_file(tmp_path, "100")
    result = run(load_config(path, [f"train.divergence_factor={factor}"]), tmp_path / "runs")
    assert result.status == "diverged"
    d = result.summary["diverged_at"]
    assert d["step"] == step and d["rule"] == "factor" and d["factor"] == float(factor)
    assert math.isfinite(d["loss"]) and d["loss"] > float(factor) * d["initial_loss"]
    m = read_metrics(result.run_dir / "metrics.csv")
    assert m["step"] == list(range(step + 1)), "the curves up to and including the diverged step"
    assert m["loss"][-1] == d["loss"] and m["train_loss"][0] == d["initial_loss"]
    assert json.loads((result.run_dir / "meta.json").read_text())["status"] == "diverged"
    assert (result.run_dir / "loss.png").is_file()
    assert "rose above" in (result.run_dir / "results.md").read_text()


def test_without_a_factor_only_nan_or_inf_stops_the_run(tmp_path):
    path = config_file(tmp_path, "100")
    assert run(load_config(path, ["train.divergence_factor=null"]), tmp_path / "runs").status == "completed"
    blown = run(load_config(config_file(tmp_path, "1e30"), ["train.divergence_factor=null"]), tmp_path / "runs")
    assert blown.status == "diverged" and blown.summary["diverged_at"]["rule"] == "non-finite"
    assert not math.isfinite(read_metrics(blown.run_dir / "metrics.csv")["loss"][-1])


def test_cli_explains_in_one_line_and_exits_1(tmp_path):
    result = runner.invoke(app, ["train", str(config_file(tmp_path, "100")), "--runs-dir", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("diverged ")]
    assert lines == ["diverged at step 3: the loss 4.665e+04 rose above 1000 x the initial loss 1.345 "
                     "(train.divergence_factor); try a smaller optimizer.lr (it was 100)"]


@pytest.mark.parametrize("loss,initial,factor,why", [
    (math.nan, 1.0, 1000, "non-finite"), (math.inf, 1.0, None, "non-finite"), (-math.inf, 1.0, 10, "non-finite"),
    (11.0, 1.0, 10, "factor"), (10.0, 1.0, 10, None), (1e9, 1.0, None, None),
    (1.0, 0.0, 10, None),           # a zero initial loss cannot be multiplied into a threshold
    (5.0, math.nan, 10, None),      # nor can an unknown one (the NaN step-0 loss of an empty split)
])
def test_divergence_rule(loss, initial, factor, why):
    assert divergence(loss, initial, factor) == why
