"""A sweep builds every trial from the config it began with (optlab.studies.source: source.yaml in
the sweep directory), on the first run, for an Optuna trial asked later and on --resume: a grid over
optimizer.name resumes (built from the resolved config.yaml, SGD would refuse Adam's beta1), and an edit of
the user's file after the start changes no trial of the sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.record.rundir import read_metrics


@pytest.fixture(autouse=True)
def no_trial_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


def invoke(*args: str):
    return CliRunner().invoke(app, [*args, "-j", "1", "-q"])


def new_sweep(config: Path, root: Path, *args: str) -> Path:
    """``optlab sweep CONFIG ARGS`` into ``root``, which it must finish; its directory."""
    r = invoke("sweep", str(config), *args, "--runs-dir", str(root))
    assert r.exit_code == 0, r.output
    [path] = root.iterdir()
    return path


def test_a_grid_over_the_optimizer_resumes_from_its_source_whatever_became_of_the_file(tiny_config, tmp_path):
    path = new_sweep(tiny_config, tmp_path / "runs", "--grid", "optimizer.name=sgd,adam")
    assert (path / "source.yaml").read_text() == TINY_CONFIG
    before = read_metrics(path / "trials/t000/metrics.csv")
    shutil.rmtree(path / "trials/t000")                  # the SGD trial, lost
    tiny_config.write_text(TINY_CONFIG.replace("hidden: [16]", "hidden: [32]"))    # and the user's file edited since
    r = invoke("sweep", "--resume", str(path))
    assert r.exit_code == 0, r.output
    after = read_metrics(path / "trials/t000/metrics.csv")
    assert after["loss"] == before["loss"] and after["val_acc"] == before["val_acc"]
    assert "hidden:\n  - 16\n" in (path / "trials/t000/config.yaml").read_text()


def test_an_optuna_sweep_asks_its_later_trials_of_the_config_it_began_with(tiny_config, tmp_path):
    pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    path = new_sweep(tiny_config, tmp_path / "runs", "optimizer.name=sgd,adam", "--sampler", "random", "--trials", "1")
    tiny_config.write_text(TINY_CONFIG.replace("hidden: [16]", "hidden: [32]"))
    r = invoke("sweep", str(tiny_config), "--resume", str(path), "--trials", "3")
    assert r.exit_code == 2 and "is not the config this sweep began with" in " ".join(r.output.split())
    r = invoke("sweep", "--resume", str(path), "--trials", "3")
    assert r.exit_code == 0, r.output
    manifest = json.loads((path / "sweep.json").read_text())
    trials = manifest["trials"]
    assert len(trials) == 3 and {t["values"]["optimizer.name"] for t in trials} <= {"sgd", "adam"}
    assert {"pid", "host"} <= set(manifest)              # a killed Optuna sweep reads as died, not running
    for t in trials:
        assert "hidden:\n  - 16\n" in (path / t["dir"] / "config.yaml").read_text()


def written_before_sources(path: Path) -> None:
    """The sweep as optlab wrote it before sweeps kept their source: no source.yaml, no source_dir."""
    (path / "source.yaml").unlink()
    manifest = json.loads((path / "sweep.json").read_text())
    del manifest["source_dir"]
    (path / "sweep.json").write_text(json.dumps(manifest))


def test_a_random_sweep_from_before_sources_resumes_from_its_config_yaml(tiny_config, tmp_path):
    path = new_sweep(tiny_config, tmp_path / "runs", "optimizer.lr=log:1e-3:1e-1", "--trials", "2")
    before = read_metrics(path / "trials/t001/metrics.csv")
    written_before_sources(path)
    shutil.rmtree(path / "trials/t001")
    tiny_config.unlink()                                  # not needed: config.yaml holds the base
    r = invoke("sweep", "--resume", str(path))
    assert r.exit_code == 0, r.output
    assert read_metrics(path / "trials/t001/metrics.csv")["loss"] == before["loss"]


def test_an_optuna_sweep_from_before_sources_resumes_from_its_config_file(tiny_config, tmp_path):
    pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    path = new_sweep(tiny_config, tmp_path / "runs", "optimizer.lr=log:1e-3:1e-1", "--sampler", "random",
                     "--trials", "1")
    written_before_sources(path)
    tiny_config.write_text(TINY_CONFIG.replace("hidden: [16]", "hidden: [32]"))    # as such sweeps did: the file now
    r = invoke("sweep", "--resume", str(path), "--trials", "2")
    assert r.exit_code == 0, r.output
    trials = json.loads((path / "sweep.json").read_text())["trials"]
    assert "hidden:\n  - 32\n" in (path / trials[1]["dir"] / "config.yaml").read_text()
    assert not (path / "source.yaml").exists()
