"""Run directories under attack (issue #14): damaged checkpoints and meta files, two writers,
planted links, leftovers of killed writes, late signals, surfaces, a full disk, values that
validate but cannot be built.

A refused ``--resume`` must exit 2 and leave the directory byte-for-byte as it was
(forked_cli.snapshot before and after), whatever was damaged.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG
from forked_cli import optlab, reap, snapshot, spawn
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import load_config, loads_config
from optlab.record import guard
from optlab.record.rundir import RunDir, read_metrics
from optlab.record.status import run_status
from optlab.training import memory
from optlab.training.interrupt import StopRequest, graceful_stop
from optlab.training.run import run
from optlab.training.setup import SetupError, build_setup

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One small finished run with a checkpoint (train.iterations 8, a checkpoint every 4)."""
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "c.yaml"
    path.write_text(TINY_CONFIG.replace("epochs: 4", "iterations: 8, checkpoint_every: 4"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)
        result = run(load_config(path), folder / "runs", dir_name="base")
    assert result.status == "completed"
    return result.run_dir


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def rewrite_checkpoint(run_dir: Path, change) -> None:
    """Rewrite checkpoint.npz with ``change(arrays)`` applied (a dict of name -> array)."""
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (run_dir / "checkpoint.npz").write_bytes(buf.getvalue())


def add_bomb(run_dir: Path) -> None:
    """A deflated member that inflates to 210 MB of zeros (~0.2 MB in the file): over the
    ~64 MB a checkpoint of the tiny config can hold, refused before it is inflated."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(run_dir / "checkpoint.npz", "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb.npy", "w", force_zip64=True) as fh:
            npy.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (25_000_000,)})
            chunk = bytes(8 << 20)
            for _ in range(25):
                fh.write(chunk)


def set_meta(run_dir: Path, **fields) -> None:
    meta = json.loads((run_dir / "meta.json").read_text())
    meta.update(fields)
    (run_dir / "meta.json").write_text(json.dumps(meta))


def plant_link(run_dir: Path, name: str, target: Path) -> None:
    """Replace a run file by a link to ``target`` (which need not exist)."""
    (run_dir / name).unlink(missing_ok=True)
    (run_dir / name).symlink_to(target)


def link_away(run_dir: Path, name: str) -> None:
    """Move a file out of the run and leave a link to it in its place."""
    target = run_dir.parent / f"{run_dir.name}-{name}"
    (run_dir / name).rename(target)
    (run_dir / name).symlink_to(target)


DAMAGE = {
    "no optimizer t": (lambda d: rewrite_checkpoint(d, lambda a: a.pop("optimizer/t")), "incomplete or damaged"),
    "no params": (lambda d: rewrite_checkpoint(d, lambda a: a.pop("params")), "unreadable checkpoint"),
    "params of another shape": (lambda d: rewrite_checkpoint(d, lambda a: a.update(params=a["params"][:-1])),
                                "checkpoint parameters are"),
    "info not JSON": (lambda d: rewrite_checkpoint(d, lambda a: a.update(info=np.array("{nope"))),
                      "unreadable checkpoint"),
    "info without a step": (lambda d: rewrite_checkpoint(d, lambda a: a.update(info=np.array(json.dumps(
        {k: v for k, v in json.loads(str(a["info"])).items() if k != "step"})))), "info.step"),
    "a member inflating to 210 MB": (add_bomb, "inflates to 209715328 bytes, more than"),
    "truncated checkpoint": (lambda d: (d / "checkpoint.npz").write_bytes((d / "checkpoint.npz").read_bytes()[:3000]),
                             "unreadable checkpoint"),
    "meta.json not JSON": (lambda d: (d / "meta.json").write_text('{"status": "completed", '),
                           "meta.json cannot be read"),
    "meta.json a list": (lambda d: (d / "meta.json").write_text("[1, 2]"), "not a JSON object"),
    "heartbeat not a time": (lambda d: set_meta(d, status="running", heartbeat="yesterday"), "heartbeat 'yesterday'"),
    "pid not a number": (lambda d: set_meta(d, status="running", pid="abc"), "pid 'abc'"),
    "metrics.csv missing": (lambda d: (d / "metrics.csv").unlink(), "no metrics.csv"),
    "metrics.csv garbage row": (lambda d: (d / "metrics.csv").open("a").write("abc" + "," * 9 + "\n"),
                                "has no step number"),
    "diagnostics.csv a dangling link": (lambda d: plant_link(d, "diagnostics.csv", d.parent / "outside" / "planted.csv"),
                                        "symbolic links"),
    "checkpoint.npz a link": (lambda d: link_away(d, "checkpoint.npz"), "symbolic links"),
}


def test_a_refused_resume_changes_nothing(finished_run, tmp_path):
    """Every damage: exit 2, its message, no traceback, the directory byte-for-byte unchanged
    (no lock file left either), nothing created where a planted link points."""
    (tmp_path / "outside").mkdir()
    cases = []
    for i, (name, (damage, fragment)) in enumerate(DAMAGE.items()):
        run_dir = copy_run(finished_run, tmp_path / f"run{i}")
        if i % 2:
            (run_dir / guard.LOCK_NAME).unlink()      # a run written before the lock existed
        damage(run_dir)
        cases.append((name, fragment, run_dir))
    before = snapshot(tmp_path)
    children = [spawn("train", "--resume", str(run_dir), "train.iterations=12", "-q", cwd=tmp_path)
                for _, _, run_dir in cases]           # all at once: they share nothing but `outside`
    for (name, fragment, _), child in zip(cases, children):
        code, output, _ = reap(child, timeout=120)
        assert code == 2, f"{name}: exit {code}\n{output}"
        assert "Traceback" not in output, f"{name}:\n{output}"
        assert fragment in output, f"{name}: {fragment!r} not in\n{output}"
    after = snapshot(tmp_path)
    changed = sorted({k.split("/")[0] for k in set(before) ^ set(after)} |
                     {k.split("/")[0] for k in before if k in after and before[k] != after[k]})
    assert not changed, f"changed: {changed}"
    assert not (tmp_path / "outside" / "planted.csv").exists()


def test_one_writer_per_run_directory(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path / "run")
    before = snapshot(run_dir)
    with RunDir(run_dir).lock() as lock:          # this process writes the run
        assert guard.is_locked(run_dir)
        code, output, _ = optlab("train", "--resume", str(run_dir), "train.iterations=12", "-q", cwd=tmp_path)
        assert code == 2 and f"pid {os.getpid()}" in output, output
        assert snapshot(run_dir) == before
        assert lock.path == run_dir / ".lock"
    # two resumes at the same moment: one continues the run, the other is refused; no row twice
    children = [spawn("train", "--resume", str(run_dir), "train.iterations=200", "-q", cwd=tmp_path,
                      env={"MPLBACKEND": "Agg"}) for _ in range(2)]
    results = sorted(reap(child, timeout=120)[:2] for child in children)
    assert [code for code, _ in results] == [0, 2], results
    # refused while the other holds the lock (named by pid once it has written its note, which
    # follows the lock by microseconds), or after it finished (the run already has 200 steps)
    assert "is being written by" in results[1][1] or "asks for 200 steps" in results[1][1], results[1][1]
    steps = read_metrics(run_dir / "metrics.csv")["step"]
    assert steps == sorted(set(steps)) and steps[-1] == 200


def test_the_run_directory_is_never_written_through_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.json").write_text("keep me")
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    (rd.path / "summary.json").symlink_to(outside / "victim.json")
    (rd.path / "diagnostics.csv").symlink_to(outside / "made.csv")            # dangling
    (rd.path / "metrics.csv").symlink_to(outside / "appended.csv")
    rd.write_json("summary.json", {"a": 1})                                   # replaces the link
    writer = rd.metrics(["step"], name="diagnostics.csv")                     # a fresh table: replaces it
    writer.write({"step": 0})
    writer.close()
    with pytest.raises(guard.LinkRefused):
        rd.metrics(["step"], append=True)                                     # appending: refused
    assert (outside / "victim.json").read_text() == "keep me"
    assert not (outside / "made.csv").exists() and not (outside / "appended.csv").exists()
    assert not (rd.path / "summary.json").is_symlink() and not (rd.path / "diagnostics.csv").is_symlink()
    (rd.path / "meta.json").symlink_to("/dev/zero")
    with pytest.raises(OSError):
        rd.read_json("meta.json")                                             # never read through a link


def test_leftover_temporary_files_are_removed_by_resume_and_report(finished_run, tmp_path):
    leftovers = [".checkpoint.npz.k3j2x_1a.tmp", ".meta.json.abcdefgh.tmp"]
    for name, args in (("resumed", ["train", "--resume", "{dir}", "train.iterations=12", "-q"]),
                       ("reported", ["report", "{dir}"])):
        run_dir = copy_run(finished_run, tmp_path / name)
        for leftover in leftovers:
            (run_dir / leftover).write_bytes(b"half a file")
        (run_dir / "keep.tmp").write_text("not ours")
        code, output, _ = optlab(*[a.format(dir=run_dir) for a in args], cwd=tmp_path, env={"MPLBACKEND": "Agg"})
        assert code == 0, output
        assert not any((run_dir / leftover).exists() for leftover in leftovers), name
        assert (run_dir / "keep.tmp").exists()


def test_a_stop_after_the_last_step_makes_the_run_interrupted(tiny_config, runs, monkeypatch):
    """During the last step (before the test pass) and during plotting: meta.json, summary.json,
    the exit status and the terminal all say interrupted."""
    stop = StopRequest()
    result = run(load_config(tiny_config), runs, stop=stop,
                 on_step=lambda s, total, loss: stop.request(signal.SIGTERM) if s == total else None)
    meta = json.loads((result.run_dir / "meta.json").read_text())
    assert result.status == meta["status"] == "interrupted" and meta["signal"] == "SIGTERM"
    assert "after the last step" in meta["note"]
    assert json.loads((result.run_dir / "summary.json").read_text())["status"] == "interrupted"

    sent = []

    def plot_then_signal(path, quiet=False):      # one signal lands while the plots are drawn
        if not sent:
            sent.append(path)
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr("optlab.record.run_report.render_run", plot_then_signal)
    out = runner.invoke(app, ["train", str(tiny_config), "--runs-dir", str(runs / "cli"), "-q"])
    (run_dir,) = (runs / "cli").iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert out.exit_code == 130, out.output
    assert "interrupted (SIGINT) after the last step" in out.output
    assert meta["status"] == "interrupted" and meta["signal"] == "SIGINT"


def test_a_surface_run_stops_on_the_first_signal(tmp_path, runs):
    config = loads_config("name: bowl\nmodel: {name: surface, function: bowl, start: [-7, 2]}\n"
                          "optimizer: {name: sgd, lr: 0.001}\ntrain: {iterations: 100000}\n")
    for sig in (signal.SIGINT, signal.SIGTERM):
        with graceful_stop() as stop:
            result = run(config, runs / sig.name, stop=stop,
                         on_step=lambda s, total, loss: os.kill(os.getpid(), sig) if s == 5 else None)
        meta = json.loads((result.run_dir / "meta.json").read_text())
        assert result.status == meta["status"] == "interrupted" and meta["signal"] == sig.name
        assert result.summary["steps"] == 5
        assert read_metrics(result.run_dir / "metrics.csv")["step"][-1] == 5


def test_a_full_disk_is_exit_1_naming_the_run_and_how_to_resume(tmp_path, runs, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(TINY_CONFIG.replace("epochs: 4", "iterations: 12, checkpoint_every: 2"))
    from optlab.record.rundir import MetricsWriter

    original = MetricsWriter.write

    def write(self, row):
        if row.get("step") == 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, row)
    monkeypatch.setattr(MetricsWriter, "write", write)
    out = runner.invoke(app, ["train", str(path), "--runs-dir", str(runs), "-q"])
    (run_dir,) = runs.iterdir()
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output and "OSError" not in out.output
    assert str(run_dir) in out.output and f"optlab train --resume {run_dir}" in out.output
    assert run_status(run_dir) == "failed"
    assert json.loads((run_dir / "meta.json").read_text())["error"].startswith("disk full")
    monkeypatch.setattr(MetricsWriter, "write", original)            # room again: it resumes
    out = runner.invoke(app, ["train", "--resume", str(run_dir), "-q"])
    assert out.exit_code == 0, out.output
    assert read_metrics(run_dir / "metrics.csv")["step"][-1] == 12


def test_studies_refuse_an_unwritable_runs_dir_and_all_failed_is_not_completed(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(TINY_CONFIG)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["compare", "sgd", "adam", "--config", str(config)], ["sweep", str(config), "seed=1,2", "--grid"]):
        out = runner.invoke(app, [*args, "--runs-dir", str(blocker / "runs"), "-q"])
        assert out.exit_code == 2 and "cannot write run directories" in out.output, out.output
    neuron = tmp_path / "neuron.yaml"       # validates, cannot be built: every trial fails
    neuron.write_text((Path(__file__).parent / "hostile" / "neuron_float32_overflow.yaml").read_text())
    out = runner.invoke(app, ["compare", "sgd", "momentum", "--config", str(neuron), "--runs-dir",
                              str(tmp_path / "runs"), "-q", "--workers", "1"])
    assert out.exit_code == 1, out.output
    assert "completed" not in out.output and "failed trials/sgd-s0" in out.output
    (study,) = (tmp_path / "runs").iterdir()
    assert json.loads((study / "compare.json").read_text())["status"] == "failed"


def test_memory_is_estimated_before_anything_is_allocated(tiny_config, monkeypatch):
    big = load_config(tiny_config, ["model.hidden=[30000, 30000]", "train.dtype=float32"])
    parts = memory.needed_bytes(big)
    assert 10e9 < sum(parts.values()) < 20e9        # 9e8 weights x 4 bytes x (params, grads, Adam's 2)
    monkeypatch.setattr(memory, "available_bytes", lambda: 3_000_000_000)
    with pytest.raises(SetupError, match=r"needs about 14\.\d GB .* has 3\.0 GB available"):
        build_setup(big)
    assert memory.check_memory(load_config(tiny_config)) is None


def test_available_memory_honours_a_cgroup_limit(tmp_path, monkeypatch):
    (tmp_path / "memory.max").write_text("1000000000\n")
    (tmp_path / "memory.current").write_text("400000000\n")
    real = Path
    monkeypatch.setattr(memory, "Path", lambda p: tmp_path if p == "/sys/fs/cgroup" else real(p))
    assert memory.available_bytes() <= 600_000_000
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.available_bytes() > 600_000_000 or memory.available_bytes() is not None


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """SIGKILL of `optlab compare`: each worker sees its parent gone within a few seconds and
    exits; the comparison and its trials then read as died."""
    import time

    from optlab.record.status import study_status

    config = tmp_path / "c.yaml"
    config.write_text(TINY_CONFIG)
    parent = subprocess.Popen([sys.executable, "-m", "optlab", "compare", "sgd", "adam", "--config", str(config),
                               "train.iterations=1000000", "--workers", "2", "--runs-dir", str(tmp_path / "runs"),
                               "-q"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MPLBACKEND": "Agg"})
    deadline = time.monotonic() + 90
    metas: list[Path] = []
    while time.monotonic() < deadline and len(metas) < 2:
        metas = list((tmp_path / "runs").glob("*/trials/*/meta.json"))
        time.sleep(0.2)
    assert len(metas) == 2, "the workers did not start their trials"
    pids = [json.loads(m.read_text())["pid"] for m in metas]
    parent.kill()
    parent.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 15 and any(run_status(m.parent) == "running" for m in metas):
        time.sleep(0.2)
    assert all(run_status(m.parent) == "died" for m in metas), pids
    assert time.monotonic() - killed < 15
    (study,) = (tmp_path / "runs").iterdir()
    assert study_status(json.loads((study / "compare.json").read_text())) == "died"
