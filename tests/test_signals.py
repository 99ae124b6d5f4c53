"""Signals sent to a real ``optlab train`` process: SIGINT and SIGTERM stop it cleanly (then
--resume ends bit-identical to a run never stopped), a second SIGINT stops it at once without
corrupting a file, and SIGKILL leaves a run directory that says the run died.

The runs are tiny but long (many iterations), so the signal always lands mid-run; the tests poll
metrics.csv for progress instead of sleeping, and kill the process if anything goes wrong.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY_CONFIG
from test_resume import assert_identical_runs
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import load_config
from optlab.record.run_report import render_run
from optlab.record.rundir import read_metrics
from optlab.record.status import run_status
from optlab.training import checkpoint
from optlab.training.interrupt import Abort, graceful_stop
from optlab.training.run import run

LONG = 10**6   # steps: far more than a test waits for


def long_config(tmp_path: Path, train_extra: str = "") -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(TINY_CONFIG.replace("epochs: 4, eval_every: 3", f"iterations: {LONG}, eval_every: 7{train_extra}"))
    return path


def start(config: Path, runs: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optlab", "train", str(config), "--quiet", "--runs-dir", str(runs)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(proc: subprocess.Popen, runs: Path, rows: int, timeout: float = 60) -> Path:
    """The run directory, once its metrics.csv holds at least ``rows`` data rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"optlab exited early ({proc.returncode}): {proc.stderr.read()}")
        for metrics in runs.glob("*/metrics.csv"):
            if metrics.read_bytes().count(b"\n") > rows:
                return metrics.parent
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no progress")


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("optlab did not stop after the signal")
    return proc.returncode, err


@pytest.fixture
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


def test_sigint_checkpoints_then_resume_equals_an_uninterrupted_run(tmp_path, no_plots):
    runs = tmp_path / "runs"
    config = long_config(tmp_path)
    proc = start(config, runs)
    run_dir = wait_for_rows(proc, runs, 20)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    assert "Traceback" not in err and "--resume" in err
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["signal"] == "SIGINT"
    step = checkpoint.load(run_dir / "checkpoint.npz").step
    assert step >= 20 and meta["checkpoint_step"] == step
    assert read_metrics(run_dir / "metrics.csv")["step"] == list(range(step + 1)), "every finished step, no more"
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"

    total = step + 12
    resumed = CliRunner().invoke(app, ["train", "--resume", str(run_dir), f"train.iterations={total}", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    reference = run(load_config(config, [f"train.iterations={total}"]), tmp_path / "reference")
    assert_identical_runs(reference.run_dir, run_dir)


def test_sigterm_stops_cleanly_with_143(tmp_path):
    runs = tmp_path / "runs"
    proc = start(long_config(tmp_path), runs)
    run_dir = wait_for_rows(proc, runs, 5)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 143, err
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["signal"] == "SIGTERM"
    assert (run_dir / "checkpoint.npz").is_file() and (run_dir / "loss.png").is_file()


def test_a_second_sigint_exits_at_once_and_corrupts_nothing(tmp_path):
    runs = tmp_path / "runs"
    proc = start(long_config(tmp_path), runs)
    run_dir = wait_for_rows(proc, runs, 5)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130 and "Traceback" not in err
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"
    read_metrics(run_dir / "metrics.csv")
    if (run_dir / "checkpoint.npz").exists():           # depends on where the second signal landed
        checkpoint.load(run_dir / "checkpoint.npz")
    assert not list(run_dir.glob(".*.tmp")), "no temporary file left behind"


def test_sigkill_leaves_a_run_that_reads_as_died_and_resumes(tmp_path, no_plots):
    runs = tmp_path / "runs"
    config = long_config(tmp_path, ", checkpoint_every: 10")
    proc = start(config, runs)
    run_dir = wait_for_rows(proc, runs, 25)
    proc.kill()
    proc.communicate()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "running" and meta["heartbeat"] and meta["pid"] == proc.pid
    assert run_status(run_dir) == "died"
    steps = read_metrics(run_dir / "metrics.csv")["step"]
    assert steps == list(range(len(steps))) and len(steps) > 25, "readable up to the last completed step"
    step = checkpoint.load(run_dir / "checkpoint.npz").step
    assert step >= 20 and step % 10 == 0

    total = step + 8
    resumed = CliRunner().invoke(app, ["train", "--resume", str(run_dir), f"train.iterations={total}", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run_dir / "meta.json").read_text())["resumed"][0]["previous_status"] == "running"
    reference = run(load_config(config, [f"train.iterations={total}"]), tmp_path / "reference")
    assert_identical_runs(reference.run_dir, run_dir)


def test_a_killed_run_can_still_be_plotted(tmp_path):
    """What `optlab report` will do with it: curves from the rows that were written."""
    runs = tmp_path / "runs"
    proc = start(long_config(tmp_path), runs)
    run_dir = wait_for_rows(proc, runs, 10)
    proc.kill()
    proc.communicate()
    with open(run_dir / "metrics.csv", "a") as fh:
        fh.write("99999,1.5,0.3")                       # a row cut in the middle by the kill
    render_run(run_dir)
    assert (run_dir / "loss.png").stat().st_size > 0 and (run_dir / "accuracy.png").is_file()
    assert 99999 not in read_metrics(run_dir / "metrics.csv")["step"]


# ------------------------------------------------------------------------------------------------
# the handler itself, in this process
# ------------------------------------------------------------------------------------------------
def test_graceful_stop_records_the_first_signal_and_aborts_on_the_second():
    before = signal.getsignal(signal.SIGINT)
    with graceful_stop() as stop:
        assert stop.signum is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM and stop.name == "SIGTERM"
        with pytest.raises(Abort) as info:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)   # the handler runs between bytecodes; it will not get this far
        assert info.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before, "the previous handler is back"


def test_a_second_signal_waits_for_a_shielded_write():
    written = []
    with graceful_stop() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(Abort):
            with stop.shielded():
                os.kill(os.getpid(), signal.SIGINT)
                written.append("meta.json")   # still runs: the abort waits for the block's end
        assert written == ["meta.json"]
