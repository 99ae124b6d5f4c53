"""Checkpoints and --resume: a stopped run, resumed, ends bit-identical to one never stopped.

"Bit-identical" is tested on the files: every metrics.csv cell but the wall-clock column compared
as text (floats are written by repr, so equal text is equal bits), summary.json but for the wall
time, and the final checkpoint's parameters and optimizer state compared with array_equal.
Plots are not rendered here (render_run is replaced by a no-op): they are not under test and
cost most of a tiny run's time. The techniques of #7 resume the same way: dropout's masks come
from the run's "dropout" stream (optlab.engine.rng.Streams), batch norm's running statistics are model
buffers, and the schedule's and early stopping's state are parts of the checkpoint.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

import optlab
from optlab.cli import app
from optlab.config.loading import load_config
from optlab.record.rundir import WALL_CLOCK_COLUMNS
from optlab.training import checkpoint
from optlab.training.checkpoint import CheckpointError
from optlab.training.interrupt import StopRequest
from optlab.training.run import resume, run

OPTIMIZERS = {
    "sgd": "{name: sgd, lr: 0.1}",
    "momentum": "{name: momentum, lr: 0.05, momentum: 0.9}",
    "nesterov": "{name: nesterov, lr: 0.05, momentum: 0.9}",
    "adagrad": "{name: adagrad, lr: 0.1}",
    "rmsprop": "{name: rmsprop, lr: 0.01}",
    "adam": "{name: adam, lr: 0.01}",
    "nadam": "{name: nadam, lr: 0.01}",
    "radam": "{name: radam, lr: 0.01}",
    "lion": "{name: lion, lr: 0.003, weight_decay: 0.1}",
    "sgd_schedulefree": "{name: sgd_schedulefree, lr: 0.5, warmup_steps: 3}",
    "adamw_schedulefree": "{name: adamw_schedulefree, lr: 0.01, weight_decay: 0.01}",
    "muon": "{name: muon, lr: 0.02}",
}


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


def make_config(tmp_path: Path, optimizer: str = "adam", *overrides: str):
    path = tmp_path / f"{optimizer}.yaml"
    path.write_text(TINY_CONFIG.replace("optimizer: {name: adam, lr: 0.01}", f"optimizer: {OPTIMIZERS[optimizer]}"))
    return load_config(path, overrides)


def stop_at(step: int) -> tuple[StopRequest, callable]:
    """A StopRequest that fires during step ``step``, as a Ctrl-C would."""
    stop = StopRequest()

    def on_step(s: int, total: int, loss: float) -> None:
        if s == step:
            stop.request(signal.SIGINT)
    return stop, on_step


def metrics_text(run_dir: Path) -> list[str]:
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in WALL_CLOCK_COLUMNS]
    return [",".join(line.split(",")[i] for i in keep) for line in lines]


def summary_of(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_time_s")
    return summary


def assert_identical_runs(a: Path, b: Path) -> None:
    assert metrics_text(a) == metrics_text(b)
    assert summary_of(a) == summary_of(b)
    ca, cb = checkpoint.load(a / "checkpoint.npz"), checkpoint.load(b / "checkpoint.npz")
    assert ca.step == cb.step
    assert np.array_equal(ca.params, cb.params)
    assert ca.optimizer.keys() == cb.optimizer.keys()
    for key in ca.optimizer:
        assert np.array_equal(ca.optimizer[key], cb.optimizer[key]), key
    assert ca.info["streams"] == cb.info["streams"]
    assert np.array_equal(ca.buffers, cb.buffers)
    assert ca.extra.keys() == cb.extra.keys()
    for part in ca.extra:
        assert ca.extra[part].keys() == cb.extra[part].keys()
        for key, value in ca.extra[part].items():
            assert np.array_equal(value, cb.extra[part][key]) if isinstance(value, np.ndarray) \
                else value == cb.extra[part][key], (part, key)
    for name in ("diagnostics.csv", "activations.json"):
        assert (a / name).is_file() == (b / name).is_file()
        if (a / name).is_file():
            assert (a / name).read_text() == (b / name).read_text(), name


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, optimizer):
    config = make_config(tmp_path, optimizer)
    full = run(config, tmp_path / "runs")
    stop, on_step = stop_at(5)          # 3 batches per epoch: step 5 is in the middle of epoch 2
    part = run(config, tmp_path / "runs", stop=stop, on_step=on_step)
    assert part.status == "interrupted" and part.summary["steps"] == 5
    meta = json.loads((part.run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["signal"] == "SIGINT" and meta["checkpoint_step"] == 5
    assert checkpoint.load(part.run_dir / "checkpoint.npz").step == 5
    assert metrics_text(part.run_dir) == metrics_text(full.run_dir)[:7], "header, step 0 .. step 5"

    done = resume(part.run_dir, config)
    assert done.status == "completed" and done.run_dir == part.run_dir
    assert_identical_runs(full.run_dir, done.run_dir)
    meta = json.loads((done.run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["resumed"][0]["at_step"] == 5
    assert meta["resumed"][0]["previous_status"] == "interrupted"


TECHNIQUES = {
    # dropout masks, batch norm's running statistics, a plateau schedule that acts before and after
    # the interruption, clipping and weight decay, histograms on both sides of it
    "dropout, batch norm, plateau": ("model.drop_prob=0.3", "model.batch_norm=true", "train.eval_every=1",
                                     "optimizer.schedule={name: plateau, patience: 1}", "optimizer.clip_norm=0.5",
                                     "optimizer.weight_decay=0.01", "diagnostics.histograms=[0,3,8]"),
    # a step schedule with warmup, and early stopping whose best copy is checkpointed mid-run
    "dropout, step schedule, early stopping": ("model.drop_prob=0.5", "train.eval_every=1",
                                               "optimizer.schedule={name: step, every: 3, factor: 0.5, warmup: 2}",
                                               "train.early_stopping={metric: val_loss, patience: 20}"),
}


@pytest.mark.parametrize("techniques", list(TECHNIQUES))
def test_training_techniques_resume_identically(tmp_path, techniques):
    config = make_config(tmp_path, "momentum", *TECHNIQUES[techniques])
    full = run(config, tmp_path / "runs")
    assert full.summary["steps"] == 12
    stop, on_step = stop_at(5)
    part = run(config, tmp_path / "runs", stop=stop, on_step=on_step)
    ckpt = checkpoint.load(part.run_dir / "checkpoint.npz")
    assert ckpt.step == 5 and "dropout" in ckpt.info["streams"] and "schedule" in ckpt.extra
    done = resume(part.run_dir, config)
    assert_identical_runs(full.run_dir, done.run_dir)
    if "plateau" in techniques:   # it acted on both sides of the interruption
        reductions = full.summary["lr_reductions"]
        assert ckpt.buffers.size == 2 * 16 and min(reductions) <= 5 < max(reductions)
        assert ckpt.extra["schedule"]["reductions"] == [r for r in reductions if r <= 5]


def test_a_run_early_stopping_ended_is_not_resumed(tmp_path):
    config = make_config(tmp_path, "adam", "train.eval_every=1", "train.early_stopping.patience=1")
    done = run(config, tmp_path / "runs")
    assert done.summary["early_stopping"]["stopped_at"] is not None
    longer = make_config(tmp_path, "adam", "train.eval_every=1", "train.early_stopping.patience=1",
                         "train.epochs=null", "train.iterations=40")
    with pytest.raises(CheckpointError, match="early stopping ended the run at step"):
        resume(done.run_dir, longer)


def test_extending_a_cosine_schedule_that_spans_the_run_is_refused(tmp_path):
    short = make_config(tmp_path, "sgd", "optimizer.schedule=cosine", "train.epochs=null", "train.iterations=6")
    longer = make_config(tmp_path, "sgd", "optimizer.schedule=cosine", "train.epochs=null", "train.iterations=12")
    with pytest.raises(CheckpointError, match="the cosine schedule spans the run's 6 steps"):
        resume(run(short, tmp_path / "runs").run_dir, longer)
    # with a period, the rates do not depend on the length: extending equals running longer at once
    short, longer = (make_config(tmp_path, "sgd", "optimizer.schedule={name: cosine, period: 10}",
                                 "train.epochs=null", f"train.iterations={n}") for n in (6, 12))
    assert_identical_runs(run(longer, tmp_path / "runs").run_dir,
                          resume(run(short, tmp_path / "runs").run_dir, longer).run_dir)


def test_sampling_with_replacement_resumes_identically(tmp_path):
    config = make_config(tmp_path, "momentum", "train.sampling=replacement")
    full = run(config, tmp_path / "runs")
    stop, on_step = stop_at(4)
    part = run(config, tmp_path / "runs", stop=stop, on_step=on_step)
    assert_identical_runs(full.run_dir, resume(part.run_dir, config).run_dir)


def test_interrupted_twice(tmp_path):
    config = make_config(tmp_path, "nesterov")
    full = run(config, tmp_path / "runs")
    stop, on_step = stop_at(2)
    part = run(config, tmp_path / "runs", stop=stop, on_step=on_step)
    stop, on_step = stop_at(9)
    again = resume(part.run_dir, config, stop=stop, on_step=on_step)
    assert again.status == "interrupted" and again.summary["steps"] == 9
    assert_identical_runs(full.run_dir, resume(part.run_dir, config).run_dir)


def test_a_crash_resumes_from_the_last_periodic_checkpoint(tmp_path):
    """Rows written after the checkpoint are dropped and written again by the resumed run."""
    config = make_config(tmp_path, "rmsprop", "train.checkpoint_every=4", "diagnostics.boundary_every=2")
    full = run(config, tmp_path / "runs")

    def crash(step: int, total: int, loss: float) -> None:
        if step == 7:
            raise RuntimeError("simulated crash")
    with pytest.raises(RuntimeError):
        run(config, tmp_path / "runs", on_step=crash)
    crashed = max((tmp_path / "runs").iterdir())
    meta = json.loads((crashed / "meta.json").read_text())
    assert meta["status"] == "failed" and "simulated crash" in meta["error"] and meta["checkpoint_step"] == 4
    assert len(metrics_text(crashed)) == 1 + 8, "steps 0..7 were written before the crash"
    assert_identical_runs(full.run_dir, resume(crashed, config).run_dir)
    # the decision-boundary snapshots after the checkpoint are dropped and taken again, too
    assert (crashed / "boundary.json").read_text() == (full.run_dir / "boundary.json").read_text()


def test_a_finished_run_is_extended_with_more_steps(tmp_path):
    long = make_config(tmp_path, "adagrad", "train.epochs=null", "train.iterations=12")
    short = make_config(tmp_path, "adagrad", "train.epochs=null", "train.iterations=6")
    full = run(long, tmp_path / "runs")
    first = run(short, tmp_path / "runs")
    assert first.status == "completed"
    # eval_every is 3, so step 6 is evaluated in both runs and the files can be equal throughout
    extended = resume(first.run_dir, long)
    assert_identical_runs(full.run_dir, extended.run_dir)
    assert "iterations: 12" in (extended.run_dir / "config.yaml").read_text()


def test_checkpoint_file_holds_the_issue_s_list(tmp_path):
    result = run(make_config(tmp_path, "adam"), tmp_path / "runs")
    with np.load(result.run_dir / "checkpoint.npz", allow_pickle=False) as npz:
        names = set(npz.files)
        info = json.loads(str(npz["info"]))
    assert {"params", "buffers", "sampler_order", "optimizer/t", "optimizer/m/fc1.W", "optimizer/v/fc2.b"} <= names
    assert set(info["streams"]) >= {"batches"} and info["streams"]["batches"]["bit_generator"] == "PCG64"
    assert info["step"] == 12 and info["optlab"] == optlab.__version__ and info["numpy"] == np.__version__
    assert set(info["loop"]) == {"step", "last_loss", "initial_loss", "elapsed", "accuracy",
                                 "loss_evals", "loss_eval_examples",   # the budget counter (issue #6)
                                 "clipped_steps", "initial_check"}     # clipping, initial-loss check (#7)
    assert info["loop"]["loss_evals"] == 12
    assert info["config"]["optimizer"]["name"] == "adam"


# ------------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def interrupted(tmp_path):
    config = make_config(tmp_path, "adam")
    stop, on_step = stop_at(3)
    return config, run(config, tmp_path / "runs", stop=stop, on_step=on_step).run_dir


def test_a_different_config_is_refused_naming_each_difference(tmp_path, interrupted):
    _, run_dir = interrupted
    other = make_config(tmp_path, "adam", "optimizer.lr=0.02", "model.hidden=[8]")
    with pytest.raises(CheckpointError) as info:
        resume(run_dir, other)
    text = str(info.value)
    assert "optimizer.lr: 0.01 in the checkpoint, 0.02 now" in text
    assert "model.hidden: [16] in the checkpoint, [8] now" in text
    assert "epochs" not in text, "the length may change on resume"


def test_another_optlab_version_is_refused(interrupted, monkeypatch):
    config, run_dir = interrupted
    monkeypatch.setattr(optlab, "__version__", "9.9.9")
    with pytest.raises(CheckpointError, match=r"written by optlab 0\.1\.0, this is optlab 9\.9\.9"):
        resume(run_dir, config)


def test_asking_for_no_more_steps_is_refused(tmp_path):
    config = make_config(tmp_path, "sgd")
    done = run(config, tmp_path / "runs")
    with pytest.raises(CheckpointError, match="checkpoint is at step 12 and the config asks for 12 steps"):
        resume(done.run_dir, config)


def test_a_diverged_run_is_refused(tmp_path):
    config = make_config(tmp_path, "sgd", "optimizer.lr=1e30")
    diverged = run(config, tmp_path / "runs")
    assert diverged.status == "diverged"
    with pytest.raises(CheckpointError, match="a diverged run cannot be resumed; start a new run with a smaller"):
        resume(diverged.run_dir, config)


def test_a_run_that_is_still_running_is_refused(interrupted):
    config, run_dir = interrupted
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "running"}))  # our own, live, pid
    with pytest.raises(CheckpointError, match="still running"):
        resume(run_dir, config)


def test_no_checkpoint_is_refused(interrupted):
    config, run_dir = interrupted
    (run_dir / "checkpoint.npz").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint.npz"):
        resume(run_dir, config)


def test_a_corrupt_checkpoint_is_refused(interrupted):
    config, run_dir = interrupted
    (run_dir / "checkpoint.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        resume(run_dir, config)


# ------------------------------------------------------------------------------------------------
# the command line
# ------------------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_resume_extends_a_run_given_in_epochs(tmp_path, interrupted):
    """train.iterations=N on a config given in epochs replaces the epochs (no 'not both' error)."""
    _, run_dir = interrupted
    result = runner.invoke(app, ["train", "--resume", str(run_dir), "train.iterations=20", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 20
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "completed"


def test_cli_resume_refusals_exit_2(tmp_path, interrupted):
    _, run_dir = interrupted
    refused = runner.invoke(app, ["train", "--resume", str(run_dir), "optimizer.lr=0.5", "--quiet"])
    assert refused.exit_code == 2 and "optimizer.lr: 0.01 in the checkpoint, 0.5 now" in refused.output
    assert "Traceback" not in refused.output
    nowhere = runner.invoke(app, ["train", "--resume", str(tmp_path), "--quiet"])
    assert nowhere.exit_code == 2 and "not a run directory" in nowhere.output
