"""`optlab sweep`: parsing specs, sampling (bounds, log spacing, determinism), grids, validation
before running, and the leaderboard of a real (tiny) sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError
from optlab.record.rundir import read_metrics
from optlab.record.sweep_report import leaderboard
from optlab.studies.sweep import make_plan, parse_param, run_sweep
from optlab.studies.study import StudySession


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path


def problems(info) -> str:
    return "\n".join(str(p) for p in info.value.problems)


# ------------------------------------------------------------------------------------------------
# specs and sampling
# ------------------------------------------------------------------------------------------------
def test_specs_parse_into_ranges_choices_and_fixed_overrides():
    lr = parse_param("optimizer.lr=log:1e-6:1e-2", grid=False)
    assert (lr.key, lr.kind, lr.low, lr.high, lr.log) == ("optimizer.lr", "log", 1e-6, 1e-2, True)
    hidden = parse_param("model.hidden=[50],[100, 100]", grid=False)
    assert hidden.kind == "choice" and hidden.choices == [[50], [100, 100]] and hidden.texts == ["[50]", "[100, 100]"]
    assert parse_param("train.epochs=3", grid=False) == ("train.epochs", "3")
    assert parse_param("optimizer.lr=0.001,0.01,0.1", grid=True).log              # two decades of numbers
    assert not parse_param("optimizer.name=sgd,adam", grid=True).log
    assert parse_param("model.hidden=int:2:4", grid=True).grid() == [2, 3, 4]


@pytest.mark.parametrize("word,grid,message", [
    ("optimizer.lr=log:0:1", False, "a log range needs 0 < LOW"),
    ("optimizer.lr=log:1e-2:1e-4", False, "needs LOW < HIGH"),
    ("optimizer.lr=log:1e-4:1e-2", True, "a grid needs the number of points: log:1e-4:1e-2:N"),
    ("optimizer.lr=log:1e-4:1e-2:5", False, "random search draws from the range: drop :5"),
    ("optimizer.lr=lin:a:b", False, "expected lin:LOW:HIGH with numbers"),
    ("batch=int:1.5:4", False, "int:LOW:HIGH takes two integers"),
    ("optimizer.name=sgd,,adam", False, "an empty choice"),
])
def test_malformed_specs_say_what_is_expected(word, grid, message):
    with pytest.raises(ConfigError, match=message):
        parse_param(word, grid)


def test_random_values_stay_in_bounds_log_uniformly_spread():
    rng = np.random.default_rng(0)
    p = parse_param("optimizer.lr=log:1e-6:1e-2", grid=False)
    x = np.array([p.draw(rng) for _ in range(4000)])
    assert x.min() >= 1e-6 and x.max() <= 1e-2
    counts, _ = np.histogram(np.log10(x), bins=4, range=(-6, -2))      # one decade per bin
    assert (np.abs(counts - 1000) < 120).all(), counts                 # 4000 draws: std ~27
    ints = [parse_param("k=int:2:4", grid=False).draw(rng) for _ in range(600)]
    assert set(ints) == {2, 3, 4} and all(isinstance(v, int) for v in ints)
    lin = np.array([parse_param("k=lin:-1:3", grid=False).draw(rng) for _ in range(2000)])
    assert lin.min() >= -1 and lin.max() <= 3 and abs(lin.mean() - 1) < 0.1


def test_grid_log_spacing_includes_both_ends():
    p = parse_param("optimizer.lr=log:1e-4:1e-1:4", grid=True)
    assert p.grid() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1], rel=1e-12)
    assert parse_param("x=lin:0:1:5", grid=True).grid() == pytest.approx([0, 0.25, 0.5, 0.75, 1])


def test_random_plan_is_seeded_and_fewer_trials_are_a_prefix(tiny):
    words = ["optimizer.lr=log:1e-4:1e-1", "regularization.l2=log:1e-8:1e-4", "optimizer.name=sgd,adam"]
    a = make_plan(tiny, words, trials=20)
    assert a.values == make_plan(tiny, words, trials=20).values
    assert make_plan(tiny, words, trials=5).values == a.values[:5]
    assert make_plan(tiny, words, trials=20, seed=7).values != a.values
    assert a.seed == 1                                                  # the config's seed by default
    for v, cfg in zip(a.values, a.configs):                            # the values reach the configs
        assert cfg.optimizer.lr == v["optimizer.lr"] and cfg.optimizer.name == v["optimizer.name"]
        assert cfg.regularization.l2 == v["regularization.l2"] and cfg.seed == 1
    assert len({v["optimizer.lr"] for v in a.values}) == 20


def test_grid_plan_is_the_cartesian_product_first_key_slowest(tiny):
    plan = make_plan(tiny, ["optimizer.name=sgd,adam", "optimizer.lr=log:1e-3:1e-1:3", "train.epochs=1"], grid=True)
    assert [(v["optimizer.name"], round(v["optimizer.lr"], 12)) for v in plan.values] == [
        ("sgd", 0.001), ("sgd", 0.01), ("sgd", 0.1), ("adam", 0.001), ("adam", 0.01), ("adam", 0.1)]
    assert all(c.train.epochs == 1 for c in plan.configs) and plan.fixed == ["train.epochs=1"]


def test_impossible_values_are_refused_before_anything_runs(tiny, tmp_path):
    with pytest.raises(ConfigError) as info:
        make_plan(tiny, ["optimizer.lr=lin:-1:1", "model.activation=relu,selu"], trials=3)
    text = problems(info)
    assert "sweep 'optimizer.lr=lin:-1:1'  optimizer.lr  must be greater than 0 (got -1.0) (at optimizer.lr=-1.0)" in text
    assert "model.activation" in text and "selu" in text
    with pytest.raises(ConfigError, match="give --trials N for a random search or --grid"):
        make_plan(tiny, ["optimizer.lr=log:1e-3:1e-1"])
    with pytest.raises(ConfigError, match="nothing to sweep"):
        make_plan(tiny, ["train.epochs=1"], trials=2)
    with pytest.raises(ConfigError, match="swept twice"):
        make_plan(tiny, ["optimizer.lr=log:1e-3:1e-1", "optimizer.lr=0.1,0.2"], trials=2)
    with pytest.raises(ConfigError, match="ranks trials by validation accuracy: give a val_size"):
        make_plan(tiny, ["optimizer.lr=log:1e-3:1e-1", "data.val_size=0"], trials=2)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------------
# a whole sweep and its leaderboard
# ------------------------------------------------------------------------------------------------
def test_a_sweep_writes_every_trial_and_ranks_them_by_validation_accuracy(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *a, **k: None)   # each trial's own plots: not under test
    plan = make_plan(tiny, ["optimizer.lr=log:1e-3:1e3", "optimizer={name: sgd}", "train.epochs=2"], trials=5, seed=3)
    result = run_sweep(plan, tmp_path / "runs", StudySession.local(1))
    d = result.path
    assert d.name.endswith("_tiny-sweep") and not result.failed
    assert {"sweep.json", "config.yaml", "results.md", "results.csv", "scatter.png", "best.png"} <= {
        p.name for p in d.iterdir()}
    manifest = json.loads((d / "sweep.json").read_text())
    assert manifest["status"] == "completed" and [t["dir"] for t in manifest["trials"]] == [
        f"trials/t00{i}" for i in range(5)]
    # each trial is a run directory whose config carries its value
    for t, v in zip(manifest["trials"], plan.values):
        assert (d / t["dir"] / "metrics.csv").is_file()
        assert read_metrics(d / t["dir"] / "metrics.csv")["lr"][1] == v["optimizer.lr"]

    _, entries = leaderboard(d)
    finished = [e for e in entries if e.trial.status == "completed"]
    accs = [e.acc("val") for e in finished]
    assert accs == sorted(accs, reverse=True), "best first"
    assert [e.trial.status for e in entries[len(finished):]] == ["diverged"] * (5 - len(finished))
    assert len(finished) < 5, "SGD at lr > 100 diverges: diverged trials rank last"
    rows = list(csv.DictReader((d / "results.csv").open()))
    assert [r["trial"] for r in rows] == [e.name for e in entries]
    assert float(rows[0]["final_val_acc"]) == accs[0] and float(rows[0]["optimizer.lr"]) == finished[0].values["optimizer.lr"]
    md = (d / "results.md").read_text()
    assert "random search, 5 trials, values drawn with seed 3" in md and "`log:1e-3:1e3` (log scale)" in md
    assert "test" not in rows[0] and "test acc" not in md


def test_cli_grid_sweep_and_report(tiny, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(tiny), "--grid", "optimizer.lr=0.01,0.1", "train.epochs=1",
                                 "--runs-dir", str(tmp_path / "runs"), "-j", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert "best 2 of 2 trials by validation accuracy" in result.stdout and path.is_dir()
    before = (path / "results.md").read_text()
    (path / "results.md").unlink()
    again = runner.invoke(app, ["report", str(path)])
    assert again.exit_code == 0, again.output
    assert (path / "results.md").read_text() == before
    bad = runner.invoke(app, ["sweep", str(tiny), "--trials", "2", "optimizer.lr=log:-1:1", "--quiet"])
    assert bad.exit_code == 2 and "a log range needs 0 < LOW" in bad.output and "Traceback" not in bad.output


def test_ctrl_c_stops_the_running_trial_starts_no_other_and_ranks_what_exists(tiny, tmp_path, monkeypatch):
    """Ctrl-C during a sweep (here on one worker, in this process): the running trial finishes its
    step, checkpoints and says interrupted, no later trial starts, sweep.json says interrupted and
    the leaderboard is written from the trial that exists; the interrupt goes on up (Stopped)."""
    import os
    import signal
    import threading

    from optlab.training.interrupt import Stopped

    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *a, **k: None)
    long_trial = tiny.with_name("long.yaml")
    long_trial.write_text(TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 1000000, eval_every: 7"))
    plan = make_plan(long_trial, ["optimizer.lr=log:1e-3:1e-1"], trials=3, seed=3)
    runs = tmp_path / "runs"

    def interrupt_once_training() -> None:
        for _ in range(600):
            if any(m.stat().st_size > 2000 for m in runs.glob("*/trials/*/metrics.csv")):
                os.kill(os.getpid(), signal.SIGINT)
                return
            threading.Event().wait(0.05)

    threading.Thread(target=interrupt_once_training, daemon=True).start()
    with pytest.raises(Stopped):
        run_sweep(plan, runs, StudySession.local(1))
    d = next(runs.glob("*-sweep"))
    assert json.loads((d / "sweep.json").read_text())["status"] == "interrupted"
    trials = sorted(p.name for p in (d / "trials").iterdir())
    assert trials == ["t000"], "no trial starts after the signal"
    meta = json.loads((d / "trials" / "t000" / "meta.json").read_text())
    assert meta["status"] == "interrupted" and (d / "trials" / "t000" / "checkpoint.npz").exists()
    assert (d / "results.md").exists()
