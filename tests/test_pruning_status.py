"""A pruned sweep says what happened: a trial condemned at its last evaluation ran every step and
is ``completed``, told to Optuna with its value and ranked like any other; a trial pruned earlier
is on the leaderboard with the step it stopped at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")

from optlab.record.rundir import RunDir, read_metrics  # noqa: E402
from optlab.record.sweep_report import leaderboard, table  # noqa: E402
from optlab.studies import optuna_parts  # noqa: E402
from optlab.studies.tune import make_tune_plan, run_tune  # noqa: E402
from optlab.studies.study import StudySession

CONFIG = """\
name: tiny
seed: 1
data: {name: spiral, classes: 3, size: 90, val_size: 30, test_size: 30}
model: {name: mlp, hidden: [8], activation: relu}
loss: cross_entropy
optimizer: {name: adam, lr: 0.01}
train: {batch_size: 30, iterations: 8, eval_every: 2, dtype: float64}
"""


class AtStep(optuna.pruners.BasePruner):
    """Condemns every trial at its evaluation of ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial) -> bool:
        return trial.last_step == self.step


@pytest.fixture(autouse=True)
def no_trial_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def sweep(tiny, tmp_path, monkeypatch, step: int, workers: int) -> tuple[Path, dict]:
    monkeypatch.setattr(optuna_parts, "make_pruner", lambda *a: AtStep(step))
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1e-1"], trials=2, sampler="random", pruner="median", seed=0)
    path = run_tune(plan, tmp_path / f"runs-{step}-{workers}", StudySession.local(workers, command=[])).path
    return path, json.loads((path / "sweep.json").read_text())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_trial_condemned_at_its_last_step_ran_every_step_and_is_completed(tiny, tmp_path, monkeypatch, workers):
    path, manifest = sweep(tiny, tmp_path, monkeypatch, step=8, workers=workers)
    study = optuna.load_study(study_name=manifest["study_name"], storage=f"sqlite:///{path / 'study.db'}")
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.COMPLETE] * 2
    for entry in manifest["trials"]:
        run = RunDir(path / entry["dir"])
        assert entry["status"] == run.read_json("meta.json")["status"] == run.read_json("summary.json")["status"] \
            == "completed"
        assert "note" not in run.read_json("summary.json")
        assert read_metrics(path / entry["dir"] / "metrics.csv")["step"][-1] == 8
    _, entries = leaderboard(path)
    assert [e.trial.status for e in entries] == ["completed"] * 2
    vals = [e.acc("val") for e in entries]
    assert vals == sorted(vals, reverse=True)          # ranked by their numbers, like any completed trial


def test_the_leaderboard_shows_the_step_a_pruned_trial_stopped_at(tiny, tmp_path, monkeypatch):
    path, manifest = sweep(tiny, tmp_path, monkeypatch, step=4, workers=2)
    assert [e["status"] for e in manifest["trials"]] == ["pruned"] * 2
    _, entries = leaderboard(path)
    headers, rows = table(manifest, entries)
    assert [r[headers.index("status")] for r in rows] == ["pruned at step 4"] * 2
    assert "pruned at step 4" in (path / "results.md").read_text()
    assert "pruned at step 4" in (path / "report.html").read_text()
