"""What `optlab compare` and `optlab sweep` say and do around their trials: a missing dataset
found once before any trial; a stopped or dead study names its directory and the `--resume`
command; `--resume` of a complete study has nothing to do; a comparison recipe run by
`compare --config NAME` runs its own comparison; a recipe's "Command:" line is not the study's."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from datafiles import idx_files, mnist_like, spec_with
from test_download import closed_port
from typer.testing import CliRunner

from optlab.cli import app
from optlab.data.sources import SPECS
from optlab.training.interrupt import Stopped

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 3"))
    return path


@pytest.fixture
def no_trial_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


@pytest.mark.parametrize("command", [["compare", "sgd", "adam", "-c"], ["sweep", "--grid", "train.batch_size=10,20"]])
def test_a_missing_dataset_is_said_once_before_any_trial_and_leaves_no_study(tmp_path, monkeypatch, command):
    monkeypatch.setitem(SPECS, "mnist", spec_with("mnist", idx_files(mnist_like()),
                                                  base_url=f"http://127.0.0.1:{closed_port()}/mnist/"))
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "m.yaml"
    config.write_text("data: {name: mnist, val_size: 10}\nmodel: linear\nloss: cross_entropy\ntrain: {iterations: 2}\n")
    args = [*command, str(config)] if command[0] == "compare" else [command[0], str(config), *command[1:]]
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path / "runs"), "-q", "-j", "1"])
    assert result.exit_code == 1, result.output
    assert result.output.count("dataset 'mnist'") == 1 and "To place the files by hand" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists(), "nothing trained: no study directory"


@pytest.mark.parametrize("error, code, status", [(Stopped(signal.SIGINT), 130, "interrupted"),
                                                 (RuntimeError("a bug"), 1, "running")])
def test_a_stopped_or_dead_sweep_names_its_directory_and_the_resume_command(tiny, tmp_path, monkeypatch,
                                                                           error, code, status):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("optlab.studies.sweep.run_trials", fail)
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["sweep", str(tiny), "--grid", "optimizer.lr=0.1,0.2", "--runs-dir", str(runs), "-q"])
    assert result.exit_code == code, result.output
    path = next(runs.glob("*-sweep"))
    assert json.loads((path / "sweep.json").read_text())["status"] == status
    assert f"optlab sweep --resume {path}" in " ".join(result.output.split())


def test_resume_of_a_complete_study_has_nothing_to_do(tiny, tmp_path, monkeypatch, no_trial_plots):
    runs = tmp_path / "runs"
    for args in (["sweep", str(tiny), "--grid", "optimizer.lr=0.1,0.2"], ["compare", "sgd", "adam", "-c", str(tiny)]):
        first = runner.invoke(app, [*args, "--runs-dir", str(runs), "-q", "-j", "1", "--no-trial-figures"])
        assert first.exit_code == 0, first.output
    drawn = []
    monkeypatch.setattr("optlab.record.sweep_report.render_sweep", lambda *a, **k: drawn.append(a))
    monkeypatch.setattr("optlab.record.compare_report.render_compare", lambda *a, **k: drawn.append(a))
    for kind in ("sweep", "compare"):
        path = next(runs.glob(f"*-{kind}"))
        before = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}
        again = runner.invoke(app, [kind, "--resume", str(path), "-q"])
        assert again.exit_code == 0, again.output
        said = " ".join(again.output.split())
        assert f"nothing to do: {path} is complete (2 trials finished)" in said
        assert f"optlab report {path}" in said
        assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == before, "nothing rewritten"
    assert drawn == [], "the report is drawn again only when asked (optlab report)"


def test_a_comparison_recipe_runs_its_own_comparison_and_its_command_line_is_not_the_study_s(tmp_path, no_trial_plots):
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["compare", "--config", "nielsen_slowdown", "train.epochs=3", "--runs-dir", str(runs),
                                 "-q"])
    assert result.exit_code == 0, result.output
    path = next(runs.glob("*-compare"))
    manifest = json.loads((path / "compare.json").read_text())
    assert manifest["varied"] == "loss"
    assert [v["label"] for v in manifest["variants"]] == ["quadratic", "binary_cross_entropy"]
    assert "Command:" not in manifest["question"] and "Question:" in manifest["question"]
    page = (path / "report.html").read_text()
    assert "optlab compare --vary loss=quadratic,binary_cross_entropy --config nielsen_slowdown" not in page
