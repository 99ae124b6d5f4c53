"""Files and folders optlab writes get the modes the umask gives, as ``open()`` and ``mkdir()`` would:
under umask 022 a lab's shared runs/ folder is readable by colleagues (no 0600 report.html, figure,
config.yaml or JSON from an atomic write's temporary file), and a stricter umask is kept too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.data import cache
from optlab.data.files import honour_umask, temp_dir, temp_file, umask
from optlab.record.transfer import land_run, pack_run

RUNNER = CliRunner()


@pytest.fixture(params=[0o022, 0o027])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Every file's and folder's permission bits under ``root`` (the writer's .lock aside: filelock's)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]
            if p.name != ".lock"}


def assert_umask_modes(root: Path, mask: int) -> None:
    found = modes(root)
    want_file, want_dir = 0o666 & ~mask, 0o777 & ~mask
    wrong = {name: oct(m) for name, m in found.items()
             if m != (want_dir if (root / name).is_dir() and name != "." else want_file)
             and not (name == "." and m == want_dir)}
    assert not wrong, f"expected files {oct(want_file)}, folders {oct(want_dir)}: {wrong}"


def test_a_run_and_its_report_figures_and_json_follow_the_umask(tiny_config, tmp_path, mask):
    runs = tmp_path / "runs"
    out = RUNNER.invoke(app, ["train", str(tiny_config), "--runs-dir", str(runs), "-q", "--format", "svg"])
    assert out.exit_code == 0, out.output
    run = next(p for p in runs.iterdir() if p.is_dir())
    names = {p.name for p in run.rglob("*")}
    assert {"report.html", "config.yaml", "meta.json", "summary.json", "loss.svg"} <= names
    assert_umask_modes(run, mask)


def test_the_temporary_files_and_folders_follow_the_umask(tmp_path, mask):
    assert umask() == mask
    fd, path = temp_file(tmp_path, ".x.")
    os.close(fd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(temp_dir(tmp_path, ".d.").stat().st_mode) == 0o777 & ~mask
    other = tmp_path / "pooch-wrote-this"
    other.write_bytes(b"x")
    other.chmod(0o600)                       # what tempfile.NamedTemporaryFile + move leaves
    honour_umask(other)
    assert stat.S_IMODE(other.stat().st_mode) == 0o666 & ~mask


def test_a_run_landed_from_another_machine_and_the_data_cache_follow_the_umask(tiny_config, tmp_path, mask):
    runs = tmp_path / "runs"
    assert RUNNER.invoke(app, ["train", str(tiny_config), "--runs-dir", str(runs), "-q"]).exit_code == 0
    run = next(p for p in runs.iterdir() if p.is_dir())
    land_run(tmp_path / "landed" / "trial", pack_run(run))
    assert_umask_modes(tmp_path / "landed" / "trial", mask)

    arrays = {k: np.zeros((2, 1, 2, 2) if k.startswith("x") else (2,), np.uint8) for k in cache.ARRAYS}
    arrays["class_names"] = ["a", "b"]
    target = tmp_path / "data" / ".optlab-cache" / "x-key"
    assert cache.save(target, arrays)
    assert_umask_modes(target, mask)
