"""Trials taken from an iterator (optlab.studies.executor.stream_trials), what ``optlab sweep
--async`` runs on: a backend takes the next trial only when a slot is free and after the caller
has handled the outcome that freed it, so a short trial's slot is refilled while a long one still
runs; and the asynchronous Optuna sweep built on it (optlab.studies.tune_drive)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import load_config
from optlab.studies.executor import ExecutorSpec, NullProgress, Trial, TrialControl, open_executor, stream_trials

CONFIG = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 20, eval_every: 5") + \
    "diagnostics: {update_ratios: false, histograms: []}\n"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_a_free_slot_takes_the_next_trial_while_a_long_one_runs(tmp_path, kind):
    if kind == "dask":
        pytest.importorskip("distributed", reason="dask[distributed] is the optlab[dask] extra")
    path = _config(tmp_path)
    long_one = Trial(0, 0, load_config(path, ["train.iterations=1000000"]), "trials/long")
    short = [Trial(i, 0, load_config(path, []), f"trials/short{i}") for i in (1, 2)]
    log: list[str] = []
    control = TrialControl()

    def source():
        for t in [long_one, *short]:
            log.append(f"take {t.index}")
            yield t

    with open_executor(ExecutorSpec(kind, 2)) as ex:
        for outcome in stream_trials(source(), tmp_path, executor=ex, progress=NullProgress(), command=["test"],
                                     control=control):
            log.append(f"end {outcome.index} {outcome.status}")
            if outcome.index == 2:          # both short trials ran beside the long one: stop it
                control.stop(0)
    assert log == ["take 0", "take 1", "end 1 completed", "take 2", "end 2 completed", "end 0 stopped"], log
    assert (tmp_path / "trials/long/checkpoint.npz").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_iterator_is_not_read_past_a_stop(tmp_path, workers):
    """Ctrl-C (here: as the first outcome arrives) takes no further trial from the iterator: a
    tuner must not ask the study for trials that will never run."""
    from optlab.training.interrupt import Stopped

    path = _config(tmp_path)
    taken: list[int] = []

    def source():
        for i in range(5):
            taken.append(i)
            yield Trial(i, 0, load_config(path, []), f"trials/t{i}")

    with pytest.raises(Stopped):
        for i, _ in enumerate(stream_trials(source(), tmp_path, workers=workers, progress=NullProgress(),
                                            command=["test"])):
            if i == 0:                        # once: a second Ctrl-C would abort at once
                os.kill(os.getpid(), signal.SIGINT)
    assert taken == list(range(workers))      # what filled the slots at the start, no more


def test_an_asynchronous_sweep_asks_and_tells_every_trial(tmp_path):
    optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    path = _config(tmp_path)
    runs = ["--runs-dir", str(tmp_path / "runs"), "-q"]
    plain = CliRunner().invoke(app, ["sweep", str(path), "optimizer.lr=log:1e-3:1e-1", "--trials", "4", "--async", *runs])
    assert plain.exit_code == 2 and "--async orders the asks of an Optuna sweep" in plain.output   # a random sweep
    assert not (tmp_path / "runs").exists()
    missing = CliRunner().invoke(app, ["sweep", "--resume", str(tmp_path / "nope"), "--async"])
    assert missing.exit_code == 2 and "not a sweep (no sweep.json)" in missing.output    # what is wrong first
    r = CliRunner().invoke(app, ["sweep", str(path), "optimizer.lr=log:1e-3:1e-1", "--trials", "4", "--sampler", "tpe",
                                 "--async", "-j", "2", *runs])
    assert r.exit_code == 0, r.output
    [study_dir] = (tmp_path / "runs").iterdir()
    manifest = json.loads((study_dir / "sweep.json").read_text())
    assert manifest["asynchronous"] is True and [e["status"] for e in manifest["trials"]] == ["completed"] * 4
    study = optuna.load_study(study_name=manifest["study_name"], storage=f"sqlite:///{study_dir / 'study.db'}")
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 4
    assert [e["number"] for e in manifest["trials"]] == [0, 1, 2, 3]
    assert "4 trials, asked asynchronously" in (study_dir / "results.md").read_text()


def test_an_evaluation_arriving_after_its_trial_was_told_is_not_reported():
    """A trial's last rows may still sit with the reader thread when its outcome is in; once the
    driver has told the study, Optuna refuses reports to it, so the pruner must not send them."""
    optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    from optlab.studies.optuna_parts import Pruning
    from optlab.studies.executor import Event

    study = optuna.create_study(direction="maximize")
    pruning = Pruning(lambda index: None)
    trial = study.ask()
    pruning.watch(0, trial)
    pruning.on_event(Event(0, 2, 10, {"val_acc": 0.5}))
    pruning.unwatch(0)
    study.tell(trial, 0.5)
    pruning.on_event(Event(0, 4, 10, {"val_acc": 0.6}))     # late: dropped, not an UpdateFinishedTrialError
    assert study.trials[0].intermediate_values == {2: 0.5}


def test_an_error_in_the_event_callback_ends_the_study_after_its_trials_not_in_a_hang(tmp_path):
    """The pool's reader thread keeps draining the workers' rows when the callback raises (a dead
    reader would leave them blocked on a full pipe); the error is raised once the trials end."""
    path = _config(tmp_path)
    trials = [Trial(i, 0, load_config(path, []), f"trials/t{i}") for i in range(2)]

    def on_event(event) -> None:
        if event.row is not None and event.step > 0:
            raise ValueError("a bug in the callback")

    with pytest.raises(ValueError, match="a bug in the callback"):
        list(stream_trials(trials, tmp_path, workers=2, progress=NullProgress(), command=["test"], on_event=on_event))
    assert all(json.loads((tmp_path / f"trials/t{i}/meta.json").read_text())["status"] == "completed" for i in (0, 1))
