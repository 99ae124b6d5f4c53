"""``--resume`` of a comparison and a sweep (optlab.studies.resume): finished trials are kept,
an interrupted one continues from its checkpoint, a missing one starts, and the study ends with
the numbers and tables of a study never stopped; and the executor's per-trial stop and
evaluation events (the interface optlab.studies.executor documents)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
from pathlib import Path

from conftest import TINY_CONFIG, run_numbers

from optlab.config.loading import load_config
from optlab.record.rundir import read_metrics
from optlab.studies.compare import make_plan, resume_compare, run_compare
from optlab.studies.study import StudySession
from optlab.studies.executor import NullProgress, Trial, TrialControl, run_trials
from optlab.studies.sweep import make_plan as make_sweep_plan
from optlab.studies.sweep import resume_sweep, run_sweep
from optlab.studies.variants import build_variants
from optlab.training.interrupt import StopRequest
from optlab.training.run import run

# the update-ratio and activation figures are left out: each trial's report is drawn, twice per study
CONFIG = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 40, eval_every: 5") + \
    "diagnostics: {update_ratios: false, histograms: []}\n"


class StopAt(StopRequest):
    """Asks to stop once ``on_step`` has seen ``step`` (as Ctrl-C would, mid-trial)."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.at = step

    def on_step(self, step: int, total: int, loss: float) -> None:
        if step >= self.at and self.signum is None:
            self.request(signal.SIGINT)


def interrupt(trial: Path, step: int) -> None:
    """Replace ``trial`` with the same trial stopped after ``step`` (checkpoint, 'interrupted')."""
    config = load_config(trial / "config.yaml")
    shutil.rmtree(trial)
    stop = StopAt(step)
    result = run(config, trial.parent, dir_name=trial.name, stop=stop, on_step=stop.on_step, render=False)
    assert result.status == "interrupted"


def strip_times(text: str) -> list:
    return [r[:-2] for r in csv.reader(text.splitlines())]


def test_a_resumed_comparison_equals_one_never_stopped(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    base, varied, variants = build_variants(config, ["sgd", "adam"])
    plan = make_plan(variants, base, varied, seeds=2)
    whole = run_compare(plan, tmp_path / "a", StudySession.local(1))
    stopped = tmp_path / "b" / whole.path.name
    shutil.copytree(whole.path, stopped)
    shutil.rmtree(stopped / "trials" / "sgd-s2")                  # never started
    interrupt(stopped / "trials" / "adam-s1", 17)                 # stopped mid-trial
    (stopped / "trials" / "sgd-s1" / "loss.png").unlink()         # finished: kept as it is
    manifest = json.loads((stopped / "compare.json").read_text())
    (stopped / "compare.json").write_text(json.dumps({**manifest, "status": "interrupted"}))

    resumed = resume_compare(stopped, None, StudySession.local(1, command=["test"]))
    assert resumed.failed == []
    for name in ("sgd-s1", "sgd-s2", "adam-s1", "adam-s2"):
        assert run_numbers(whole.path / "trials" / name) == run_numbers(stopped / "trials" / name), name
        assert (stopped / "trials" / name / "loss.png").exists(), "every trial's report is drawn at the end"
    meta = json.loads((stopped / "trials" / "adam-s1" / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["resumed"][0]["at_step"] == 17
    after = json.loads((stopped / "compare.json").read_text())
    assert after["status"] == "completed" and after["resumed"][0]["previous_status"] == "interrupted"
    assert after["variants"] == manifest["variants"]
    assert strip_times((whole.path / "results.csv").read_text()) == strip_times((stopped / "results.csv").read_text())


def test_a_resumed_sweep_equals_one_never_stopped(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    plan = make_sweep_plan(config, ["optimizer.lr=log:1e-3:1e-1", "model.hidden=[8],[16]"], trials=3)
    whole = run_sweep(plan, tmp_path / "a", StudySession.local(2))
    stopped = tmp_path / "b" / whole.path.name
    shutil.copytree(whole.path, stopped)
    shutil.rmtree(stopped / "trials" / "t002")
    interrupt(stopped / "trials" / "t000", 9)
    resumed = resume_sweep(stopped, None, StudySession.local(2, command=["test"]))
    assert resumed.failed == []
    for name in ("t000", "t001", "t002"):
        assert run_numbers(whole.path / "trials" / name) == run_numbers(stopped / "trials" / name), name
    assert strip_times((whole.path / "results.csv").read_text()) == strip_times((stopped / "results.csv").read_text())


def test_events_carry_evaluation_rows_and_one_trial_can_be_stopped(tmp_path):
    """What a pruner needs: each evaluation's val_acc by step, and stopping one trial early
    (after its step, with a checkpoint) while the others finish. Trial 0 would train for ever."""
    path = _write(tmp_path, CONFIG)
    trials = [Trial(0, 0, load_config(path, ["train.iterations=1000000"]), "trials/t0"),
              Trial(1, 0, load_config(path, ["train.iterations=200"]), "trials/t1")]
    for workers in (1, 2):
        control, rows = TrialControl(), {0: [], 1: []}

        def on_event(event, control=control, rows=rows) -> None:
            if event.row is not None:
                rows[event.index].append((event.step, event.row["val_acc"]))
                if event.index == 0 and event.step >= 10:
                    control.stop(0)

        root = tmp_path / f"w{workers}"
        outcomes = run_trials(trials, root, workers=workers, progress=NullProgress(), command=["test"],
                              on_event=on_event, control=control)
        assert [o.status for o in outcomes] == ["stopped", "completed"]
        meta = json.loads((root / "trials/t0/meta.json").read_text())
        assert meta["status"] == "interrupted" and meta["signal"] == "stop_trial"
        assert (root / "trials/t0/checkpoint.npz").exists()
        steps = read_metrics(root / "trials/t0/metrics.csv")["step"]
        assert 10 <= steps[-1] < 1_000_000
        assert [s for s, _ in rows[1]] == list(range(0, 201, 5)), "every evaluation of the finished trial"
        assert all(0 <= acc <= 1 for _, acc in rows[1])


def links(study: Path) -> list[str]:
    """The trial links of a study's report.html, each checked to lead somewhere."""
    found = sorted(set(re.findall(r'href="(trials/[^"]*)"', (study / "report.html").read_text())))
    assert all((study / href).exists() for href in found), found
    return found


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_a_sweep_leaves_trial_figures_to_report_and_resumes_from_the_command_line(tmp_path):
    """A sweep draws its leaderboard, not each trial's figures (--trial-figures asks for them);
    optlab report draws one trial's; --resume of a finished sweep runs nothing and exits 0."""
    from typer.testing import CliRunner

    from optlab.cli import app

    config = _write(tmp_path, CONFIG)
    runner = CliRunner()
    out = runner.invoke(app, ["sweep", str(config), "--grid", "optimizer.lr=0.01,0.1", "--runs-dir", str(tmp_path),
                              "-j", "1", "--quiet"])
    assert out.exit_code == 0, out.output
    study = next(tmp_path.glob("*-sweep"))
    trial = study / "trials" / "t000"
    assert (study / "best.png").exists() and (trial / "metrics.csv").exists()
    assert not (trial / "loss.png").exists()
    assert links(study) == ["trials/t000/", "trials/t001/"]              # no page yet: its directory, never a dead link
    assert "Grid search, 2 combinations" in (study / "report.html").read_text()
    assert runner.invoke(app, ["report", str(trial)]).exit_code == 0
    assert (trial / "loss.png").exists()
    assert runner.invoke(app, ["report", str(study), "--html"]).exit_code == 0
    assert links(study) == ["trials/t000/report.html", "trials/t001/report.html"]
    before = run_numbers(trial)
    again = runner.invoke(app, ["sweep", "--resume", str(study), "--quiet"])
    assert again.exit_code == 0, again.output
    assert run_numbers(trial) == before
    assert "nothing to do" in again.output and "resumed" not in json.loads((study / "sweep.json").read_text())
