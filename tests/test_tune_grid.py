"""`optlab sweep --sampler grid` runs every point of its grid once and completes: one worker and
two, in waves and with --async (Optuna's GridSampler stops its study when the grid is used up,
which outside ``study.optimize`` raised and left the sweep "running")."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")

from optlab.cli import app  # noqa: E402


@pytest.fixture(autouse=True)
def no_trial_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


@pytest.mark.parametrize("options", [["-j", "1"], ["-j", "2"], ["-j", "2", "--async"]])
def test_a_grid_sweep_runs_every_point_once_and_completes(tmp_path, options):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 2"))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["sweep", str(config), "--sampler", "grid", "optimizer.lr=0.01,0.1",
                                      "train.batch_size=10,30", "--runs-dir", str(runs), "-q", *options])
    assert result.exit_code == 0, result.output
    path = next(runs.glob("*-sweep"))
    manifest = json.loads((path / "sweep.json").read_text())
    assert manifest["status"] == "completed"
    assert [e["status"] for e in manifest["trials"]] == ["completed"] * 4
    points = sorted((e["values"]["optimizer.lr"], e["values"]["train.batch_size"]) for e in manifest["trials"])
    assert points == [(0.01, 10), (0.01, 30), (0.1, 10), (0.1, 30)]
    assert (path / "results.md").is_file() and (path / "report.html").is_file()
    assert "best 4 of 4 trials" in result.stdout
