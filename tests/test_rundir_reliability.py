"""The run directory under failure: an unusable runs directory is refused before any work, a
killed run is told apart from a live one, and metrics survive a kill mid-line."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import loads_config
from optlab.record.rundir import RunDir, RunDirError, atomic_write_bytes, read_metrics
from optlab.record.status import run_status
from optlab.training.run import run


def test_a_runs_dir_that_cannot_be_made_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunDirError, match=f"cannot write run directories under {blocker / 'runs'}"):
        run(loads_config(TINY_CONFIG), blocker / "runs")
    config = tmp_path / "c.yaml"
    config.write_text(TINY_CONFIG)
    result = CliRunner().invoke(app, ["train", str(config), "--runs-dir", str(blocker / "runs"), "--quiet"])
    assert result.exit_code == 2 and "cannot write run directories" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only directory")
def test_a_read_only_runs_dir_is_refused(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o500)
    with pytest.raises(RunDirError, match="Permission denied"):
        run(loads_config(TINY_CONFIG), runs)


def test_a_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr("optlab.record.rundir.shutil.disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(RunDirError, match=r"not enough free space .* the run needs about 2\.\d MB, 0\.0 MB are free"):
        run(loads_config(TINY_CONFIG), tmp_path / "runs")
    assert list((tmp_path / "runs").iterdir()) == [], "no run directory was created"


def write_meta(path: Path, **fields) -> Path:
    path.mkdir(exist_ok=True)
    (path / "meta.json").write_text(json.dumps(fields))
    return path


def test_run_status(tmp_path):
    now = datetime.now(timezone.utc)
    fresh, old = now.isoformat(), (now - timedelta(hours=1)).isoformat()
    here = platform.node()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    assert run_status(write_meta(tmp_path / "a", status="completed")) == "completed"
    assert run_status(write_meta(tmp_path / "b", status="running", pid=os.getpid(), host=here, heartbeat=fresh)) == "running"
    assert run_status(write_meta(tmp_path / "c", status="running", pid=dead_pid, host=here, heartbeat=fresh)) == "died"
    # another host: only the heartbeat can tell
    assert run_status(write_meta(tmp_path / "d", status="running", pid=1, host="elsewhere", heartbeat=fresh)) == "running"
    assert run_status(write_meta(tmp_path / "e", status="running", pid=1, host="elsewhere", heartbeat=old)) == "died"
    assert run_status(tmp_path / "d", now=now + timedelta(seconds=601)) == "died"


def test_a_live_run_keeps_its_heartbeat_and_pid(tmp_path, monkeypatch):
    monkeypatch.setattr("optlab.training.gradient_loop.HEARTBEAT_S", 0.0)   # beat after every step
    seen = []
    runs = tmp_path / "runs"

    def on_step(step, total, loss):
        (path,) = runs.iterdir()
        seen.append((run_status(path), json.loads((path / "meta.json").read_text())["heartbeat"]))
    run(loads_config(TINY_CONFIG), runs, on_step=on_step)
    assert {status for status, _ in seen} == {"running"} and all(beat for _, beat in seen)
    (path,) = runs.iterdir()
    meta = json.loads((path / "meta.json").read_text())
    assert meta["pid"] == os.getpid() and meta["status"] == "completed" and run_status(path) == "completed"


def test_metrics_cut_mid_line_read_and_truncate_cleanly(tmp_path):
    rd = RunDir(tmp_path)
    writer = rd.metrics(["step", "loss"])
    for step in range(5):
        writer.write({"step": step, "loss": 1.0 / (step + 1)})
    writer.close()
    with open(tmp_path / "metrics.csv", "a") as fh:
        fh.write("5,0.16")                                    # killed before the newline
    assert read_metrics(tmp_path / "metrics.csv")["step"] == [0, 1, 2, 3, 4]
    rd.truncate_metrics(2)
    assert (tmp_path / "metrics.csv").read_text() == "step,loss\n0,1.0\n1,0.5\n2,0.3333333333333333\n"
    writer = rd.metrics(["step", "loss"], append=True)
    writer.write({"step": 3, "loss": 0.25})
    writer.close()
    assert read_metrics(tmp_path / "metrics.csv")["loss"] == [1.0, 0.5, 1 / 3, 0.25]


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "meta.json"
    atomic_write_bytes(target, b"old")

    def interrupted(fd):
        raise KeyboardInterrupt   # as if a second Ctrl-C landed after the data, before the rename
    monkeypatch.setattr("optlab.record.rundir.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]
