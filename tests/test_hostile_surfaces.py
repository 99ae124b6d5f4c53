"""Hostile input on the surfaces beyond a config (issue 23): `optlab landscape` on a damaged, diverged or
live run, Dask `--scheduler` addresses that are not a Dask scheduler, labels matplotlib would read
as TeX, `recipes copy` onto links and FIFOs, links on report.html, `optlab report` of a live run.
Each is exit 2 (or a clear exit 1) with no traceback, and nothing written outside the run."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import loads_config
from optlab.record.guard import WriterLock
from optlab.training.run import run

RUN = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 9, eval_every: 3") + \
    "diagnostics: {snapshot_every: 3, update_ratios: false, histograms: []}\n"


def words(r) -> str:
    return " ".join(r.output.split())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return run(loads_config(RUN), root, dir_name="run", render=False).run_dir


@pytest.fixture
def fresh(trained, tmp_path) -> Path:
    """A copy of the trained run to damage."""
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "run", symlinks=True))


def landscape(path: Path, *more: str):
    return CliRunner().invoke(app, ["landscape", str(path), "--grid", "3", "--points", "3", "-q", *more])


def test_a_planted_landscape_link_is_refused_and_nothing_is_written_through_it(fresh, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (fresh / "landscape").symlink_to(outside)
    r = landscape(fresh)
    assert r.exit_code == 2 and "is a symbolic link" in words(r), r.output
    assert list(outside.iterdir()) == []


def snapshot_file(fresh: Path) -> Path:
    return sorted((fresh / "snapshots").iterdir())[1]


def test_a_fifo_snapshot_is_refused_at_once(fresh):
    path = snapshot_file(fresh)
    path.unlink()
    os.mkfifo(path)
    start = time.monotonic()
    r = landscape(fresh, "--only", "path")
    assert r.exit_code == 2 and path.name in r.output and "not a regular file" in words(r), r.output
    assert time.monotonic() - start < 30 and "Traceback" not in r.output


@pytest.mark.parametrize("damage,message", [
    ("shape", "not this run's"),
    ("nan", "are not finite"),
    ("bomb", "more than the"),
])
def test_a_damaged_snapshot_is_named_and_exit_2(fresh, damage, message):
    path = snapshot_file(fresh)
    with np.load(path) as npz:
        params, buffers = npz["params"], npz["buffers"]
    if damage == "shape":
        np.savez(path, params=params[:-1], buffers=buffers)
    elif damage == "nan":
        np.savez(path, params=np.full_like(params, np.nan), buffers=buffers)
    else:   # 16 MB of zeros in a ~16 kB archive: refused before it is inflated
        np.savez_compressed(path, params=np.zeros(2_000_000), buffers=buffers)
    r = landscape(fresh, "--only", "path")
    assert r.exit_code == 2, r.output
    assert path.name in r.output and message in words(r) and "Traceback" not in r.output


def test_a_live_run_is_refused_naming_its_holder(fresh):
    with WriterLock(fresh):
        r = landscape(fresh)
    assert r.exit_code == 2 and "still training" in words(r) and f"pid {os.getpid()}" in words(r), r.output
    assert not (fresh / "landscape").exists()


def test_an_interrupted_run_is_labelled_with_its_checkpoints_step(fresh):
    meta = json.loads((fresh / "meta.json").read_text())
    (fresh / "meta.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    r = landscape(fresh, "--only", "interpolation")
    assert r.exit_code == 0, r.output
    assert "the run is interrupted: its final weights here are checkpoint.npz's, at step 9" in words(r)


def test_a_diverged_run_says_so_and_never_breaks_report(tmp_path):
    cfg = loads_config(RUN.replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 1.0e+8}"))
    path = run(cfg, tmp_path, dir_name="diverged", render=False).run_dir
    assert json.loads((path / "meta.json").read_text())["status"] == "diverged"
    r = landscape(path)
    assert r.exit_code == 2 and "the run diverged" in words(r) and "Traceback" not in r.output, r.output
    # a landscape/ left with NaN values (an older optlab, or a run cut short): report still works
    (path / "landscape").mkdir(exist_ok=True)
    (path / "landscape" / "interpolation.csv").write_text("alpha,train_loss,train_acc\n0.0,nan,nan\n1.0,nan,nan\n")
    np.savez(path / "landscape" / "slice.npz", alphas=np.zeros(3), betas=np.zeros(3), loss=np.full((3, 3), np.nan))
    r = CliRunner().invoke(app, ["report", str(path)])
    assert r.exit_code == 0, r.output
    assert "[bold red]" not in r.output
    assert "could not be drawn" in (path / "report.html").read_text()


# ------------------------------------------------------------------------------------------------
# Dask --scheduler addresses (listeners on 127.0.0.1 only, inside the test)
# ------------------------------------------------------------------------------------------------
pytest.importorskip("distributed")


@pytest.fixture
def silent():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("which", ["silent", "web"])
def test_a_listener_that_is_not_a_dask_scheduler_is_refused_within_the_timeout(which, request):
    from optlab.studies.dask_pool import identify
    from optlab.studies.executor import ExecutorError

    address = request.getfixturevalue(which)
    start = time.monotonic()
    with pytest.raises(ExecutorError) as err:
        identify(address, timeout=1.0)
    assert time.monotonic() - start < 8
    assert f"--scheduler {address}" in str(err.value) and "Dask scheduler" in str(err.value)


@pytest.mark.parametrize("address,message", [
    ("not a url", "not a scheduler address"),
    ("tls://127.0.0.1:8786", "tls:// needs TLS certificates"),
    ("bogus://127.0.0.1:8786", "not a scheduler address"),
])
def test_a_malformed_scheduler_address_is_exit_2_at_once(tmp_path, address, message):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    start = time.monotonic()
    r = CliRunner().invoke(app, ["compare", "sgd", "adam", "--config", str(config), "--executor", "dask",
                                 "--scheduler", address, "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 2 and message in words(r) and "Traceback" not in r.output, r.output
    assert time.monotonic() - start < 8
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# ------------------------------------------------------------------------------------------------
# figures: labels are plain text, a figure that fails is reported
# ------------------------------------------------------------------------------------------------
def test_a_tex_like_variant_label_is_drawn_as_text(tmp_path, monkeypatch):
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)
    config = tmp_path / "tiny.yaml"
    config.write_text(RUN.replace("snapshot_every: 3, ", "") + "compare:\n  variants:\n"
                      "    '$\\undefinedmacro$ rate': {optimizer: {name: sgd}}\n    plain: {optimizer: {name: adam}}\n")
    r = CliRunner().invoke(app, ["compare", "--config", str(config), "--runs-dir", str(tmp_path / "runs"), "-q", "-j",
                                 "1", "--no-trial-figures"])
    assert r.exit_code == 0, r.output
    study = next((tmp_path / "runs").iterdir())
    page = (study / "report.html").read_text()
    assert (study / "loss.png").is_file() and "could not be drawn" not in page
    assert "$\\undefinedmacro$ rate" in page


def test_a_figure_that_fails_to_draw_is_reported_and_the_others_kept(tmp_path):
    from matplotlib.figure import Figure

    from optlab.config.schema import PlotsConfig
    from optlab.record.figure_set import FigureSet
    from optlab.record.rundir import RunDir

    (tmp_path / "d").mkdir()
    figures = FigureSet(RunDir(tmp_path / "d"), PlotsConfig())
    bad = Figure()
    bad.text(0.5, 0.5, "$\\undefinedmacro$", parse_math=True)    # mathtext asked for explicitly: fails
    figures.add("bad", bad, "a failing figure")
    good = Figure()
    good.subplots().plot([1, 2])
    figures.add("good", good, "a good one")
    assert [f.split(":")[0] for f in figures.failed] == ["bad.png"]
    assert (tmp_path / "d" / "good.png").is_file() and not (tmp_path / "d" / "bad.png").exists()
    assert "bad.png could not be drawn" in figures.items[0][2]
