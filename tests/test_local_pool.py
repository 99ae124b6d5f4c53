"""One local pool per study (optlab.studies.local_pool): every wave of a sweep and both phases of a
comparison run on the same worker processes (each trial's meta.json says which process ran it),
with the numbers of -j 1; what a trial was asked (a stop, a verdict) does not reach the next trial
in its position or the next wave; a lost worker fails the trials of its wave as before and the next
wave gets a new pool, as does a wave after a worker lost while the pool sat idle."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, run_numbers

from optlab.config.loading import load_config
from optlab.record.rundir import RunDir, read_metrics
from optlab.studies import local_pool
from optlab.studies.executor import ExecutorSpec, NullProgress, Trial, TrialControl, open_executor, run_trials
from optlab.studies.study import StudySession
from optlab.training.interrupt import Stopped

CONFIG = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 12, eval_every: 4") + \
    "diagnostics: {update_ratios: false, histograms: []}\n"


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def pools(monkeypatch) -> list:
    """Every WorkerPool started, in order."""
    started = []
    real = local_pool.WorkerPool

    def counted(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(local_pool, "WorkerPool", counted)
    return started


def pids(dirs: list[Path]) -> set[int]:
    return {json.loads((d / "meta.json").read_text())["pid"] for d in dirs}


def wave(ex, root: Path, configs: list, name: str, **kw) -> list:
    """One ``run_trials`` call on the executor ``ex``: the trials ``name/t0``, ``name/t1``, ..."""
    trials = [Trial(i, 0, c, f"{name}/t{i}") for i, c in enumerate(configs)]
    return run_trials(trials, root, executor=ex, progress=NullProgress(), command=["test"], **kw)


def test_every_wave_of_a_sweep_runs_on_the_same_workers_with_the_serial_numbers(tiny, tmp_path, pools, monkeypatch):
    pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    from optlab.studies.tune import make_tune_plan, run_tune

    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1e-1"], trials=6, sampler="random", seed=2)
    runs = {j: run_tune(plan, tmp_path / f"j{j}", StudySession.local(j, command=[])) for j in (1, 2)}
    dirs = {j: [r.path / name for name in r.trial_dirs] for j, r in runs.items()}
    assert len(dirs[2]) == 6 and len(pools) == 1                      # three waves of two, one pool
    assert len(pids(dirs[2])) <= 2 and os.getpid() not in pids(dirs[2])   # a pool per wave: 3 at least
    assert pids(dirs[1]) == {os.getpid()}                             # -j 1: here, one by one
    for serial, pooled in zip(dirs[1], dirs[2]):
        assert run_numbers(serial) == run_numbers(pooled), pooled.name


def test_a_comparison_tunes_and_runs_its_final_trials_on_the_same_workers(tiny, tmp_path, pools):
    from optlab.studies.compare import make_plan, run_compare
    from optlab.studies.variants import build_variants

    base, varied, variants = build_variants(tiny, ["sgd", "adam"], None)
    plan = make_plan(variants, base, varied, source={"config": str(tiny), "overrides": []}, seeds=1,
                     tune="lr", grid="1e-3:1e-1:2")
    result = run_compare(plan, tmp_path / "runs", StudySession.local(2, command=[], trial_reports=False))
    manifest = json.loads((result.path / "compare.json").read_text())
    tuning = [result.path / t["dir"] for v in manifest["variants"] for t in v["tune_trials"]]
    final = [result.path / d for v in manifest["variants"] for d in v["trials"]]
    assert len(tuning) == 4 and len(final) == 2 and len(pools) == 1
    assert len(pids(tuning + final)) <= 2 and os.getpid() not in pids(tuning + final)


def test_pruning_verdicts_do_not_leak_into_the_next_wave(tiny, tmp_path, pools, monkeypatch):
    """Waves of two on one pool: each trial of the second wave takes a position whose last verdict
    (step 4) was for the first wave's trial; it still waits for its own and stops at that step."""
    optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    from optlab.studies import optuna_parts
    from optlab.studies.tune import make_tune_plan, run_tune

    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)
    monkeypatch.setattr(optuna_parts, "make_pruner", lambda *a: optuna.pruners.ThresholdPruner(lower=0.99))
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-4:1e-3", "train.iterations=30000"], trials=4,
                          sampler="random", pruner="median")
    result = run_tune(plan, tmp_path / "runs", StudySession.local(2, command=[]))
    assert len(pools) == 1
    for name in result.trial_dirs:
        meta = RunDir(result.path / name).read_json("meta.json")
        assert meta["status"] == "pruned" and meta["pruned_at"] == 4, name
        assert read_metrics(result.path / name / "metrics.csv")["step"][-1] == 4, name


def test_a_stop_in_one_wave_stops_no_trial_of_the_next(tiny, tmp_path, pools):
    """Ctrl-C in the first wave: its trials checkpoint and Stopped is raised, as before; the same
    workers then run the next wave to the end (the study's signal and the trials' flags cleared)."""
    long = load_config(tiny, ["train.iterations=1000000"])
    short = load_config(tiny, [])
    with open_executor(ExecutorSpec("local", 2)) as ex:
        control = TrialControl()
        control.stop(0)      # position 0's flag is raised in the first wave
        asked = []

        def on_event(event):
            if not asked:    # once: a second Ctrl-C would abort at once
                asked.append(event)
                os.kill(os.getpid(), signal.SIGINT)

        with pytest.raises(Stopped):
            wave(ex, tmp_path, [long, long], "first", control=control, on_event=on_event)
        assert not (tmp_path / "first/t0").exists()     # stopped before it started
        assert RunDir(tmp_path / "first/t1").read_json("meta.json")["status"] == "interrupted"
        outcomes = wave(ex, tmp_path, [short, short], "second")
        assert [o.status for o in outcomes] == ["completed", "completed"]
    assert len(pools) == 1
    assert len(pids([tmp_path / "first/t1", tmp_path / "second/t0", tmp_path / "second/t1"])) <= 2


def test_a_lost_worker_fails_its_wave_and_the_next_wave_gets_a_new_pool(tiny, tmp_path, pools):
    long = load_config(tiny, ["train.iterations=1000000"])
    short = load_config(tiny, [])
    with open_executor(ExecutorSpec("local", 2)) as ex:
        def kill_a_worker(event):   # at an evaluation: the trial waits for its verdict, off the queue's lock
            meta = tmp_path / "first/t0/meta.json"
            if event.index == 0 and event.row is not None and meta.exists() and not killed:
                killed.append(json.loads(meta.read_text())["pid"])
                os.kill(killed[0], signal.SIGKILL)

        killed: list[int] = []
        started = time.monotonic()
        first = wave(ex, tmp_path, [long, long, short], "first", on_event=kill_a_worker)
        assert killed and time.monotonic() - started < 60
        assert [o.status for o in first] == ["failed"] * 3
        assert all("a worker process was killed" in o.error for o in first)
        second = wave(ex, tmp_path, [short, short], "second")
        assert [o.status for o in second] == ["completed", "completed"]
    assert len(pools) == 2 and not pools[0].usable
    assert killed[0] not in pids([tmp_path / f"second/t{i}" for i in (0, 1)])


def test_a_worker_lost_between_waves_costs_the_next_wave_nothing(tiny, tmp_path, pools):
    short = load_config(tiny, [])
    with open_executor(ExecutorSpec("local", 2)) as ex:
        assert [o.status for o in wave(ex, tmp_path, [short, short], "first")] == ["completed", "completed"]
        (idle,) = list(pids([tmp_path / "first/t0"]))
        os.kill(idle, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not pools[0].lost_a_worker() and time.monotonic() < deadline:   # the pool notices
            time.sleep(0.05)
        assert [o.status for o in wave(ex, tmp_path, [short, short], "second")] == ["completed", "completed"]
    assert len(pools) == 2
