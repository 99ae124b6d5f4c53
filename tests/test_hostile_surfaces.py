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
    return CliRunner().invoke(app, ["landscape", str(path), "--resolution", "3", "--points", "3", "-q", *more])


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
    assert f"cannot reach a Dask scheduler at {address}" in str(err.value)


def test_the_documented_timeouts_are_the_codes():
    from conftest import REPO

    from optlab.studies.dask_pool import CONNECT_TIMEOUT_S, WORKER_WAIT_S

    text = " ".join((REPO / "docs" / "reliability.md").read_text().split())
    assert f"`CONNECT_TIMEOUT_S` = {CONNECT_TIMEOUT_S:g} seconds" in text
    assert f"`WORKER_WAIT_S` = {WORKER_WAIT_S:g} s" in text


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


# ------------------------------------------------------------------------------------------------
# recipes copy, links and the CSP of report.html, optlab report of a live run, memory under ulimit -v
# ------------------------------------------------------------------------------------------------
def test_recipes_copy_never_follows_a_link_and_treats_a_trailing_slash_as_a_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "outside.yaml"
    (tmp_path / "dangling.yaml").symlink_to(outside)
    for extra in ([], ["--force"]):
        r = CliRunner().invoke(app, ["recipes", "copy", "quickstart", "dangling.yaml", *extra])
        assert r.exit_code == 2 and "is a symbolic link" in words(r), r.output
        assert not outside.exists()
    r = CliRunner().invoke(app, ["recipes", "copy", "quickstart", "newdir/"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "newdir" / "quickstart.yaml").is_file()
    os.mkfifo(tmp_path / "fifo.yaml")
    start = time.monotonic()
    r = CliRunner().invoke(app, ["recipes", "copy", "quickstart", "fifo.yaml", "--force"])
    assert r.exit_code == 2 and "not a regular file" in words(r) and time.monotonic() - start < 10, r.output


def test_file_links_are_relative_paths_and_the_csp_allows_only_the_pages_own_scripts(fresh):
    import base64
    import hashlib
    import re

    (fresh / "javascript:alert(1)").write_text("planted")
    r = CliRunner().invoke(app, ["report", str(fresh), "--html"])
    assert r.exit_code == 0, r.output
    page = (fresh / "report.html").read_text()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert "javascript%3Aalert%281%29" in hrefs and not any(":" in h.split("/")[0] for h in hrefs)
    assert all((fresh / __import__("urllib.parse").parse.unquote(h)).exists() for h in hrefs if not h.startswith("#"))
    csp = re.search(r'Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts, "the chart script is on the page"
    for body in scripts:    # each inline script is allowed by its own hash, as a browser checks it
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_report_of_a_running_run_reads_its_live_status_and_a_directory_with_eq_is_a_path(fresh, tmp_path):
    meta = json.loads((fresh / "meta.json").read_text())
    (fresh / "meta.json").write_text(json.dumps({**meta, "status": "running", "pid": os.getpid()}))
    (fresh / "summary.json").unlink()
    with WriterLock(fresh):
        r = CliRunner().invoke(app, ["report", str(fresh)])
    assert r.exit_code == 0, r.output
    assert "status: running" in r.output and "steps: 9" in r.output
    odd = fresh.rename(tmp_path / "lr=0.1")
    r = CliRunner().invoke(app, ["report", str(odd)])
    assert r.exit_code == 0 and "status: running" in r.output, r.output


def test_memory_refusal_counts_an_address_space_limit(tmp_path):
    import resource
    import subprocess
    import sys

    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    cap = 4 * 10**9

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = subprocess.run([sys.executable, "-m", "optlab.cli", "train", str(config), "model.hidden=[30000,30000]",
                          "--runs-dir", str(tmp_path / "runs")], preexec_fn=limit, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "COLUMNS": "300"})
    assert out.returncode == 2, out.stderr
    text = " ".join(out.stderr.split())
    assert "needs about 29.2 GB" in text and "address-space limit (ulimit -v / RLIMIT_AS: 4.0 GB)" in text
    assert "MemoryError" not in text and not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
