"""Signals sent to a real ``optlab compare`` process, with worker processes and without: the
first SIGINT (the terminal's Ctrl-C, to the whole process group) or SIGTERM (to the parent only)
lets every running trial finish its step, checkpoint and say ``interrupted``, starts no other
trial, and exits 130 / 143 with the comparison marked interrupted; a resumed trial then ends
bit-identical to one never stopped (optlab.studies.executor, optlab.training.interrupt).

The trials are tiny but long, so the signal always lands mid-trial; the tests poll for progress.
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
from test_signals import LONG, finish

VARIANTS = ["sgd", "momentum", "adagrad", "adam"]


def long_config(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(TINY_CONFIG.replace("epochs: 4, eval_every: 3", f"iterations: {LONG}, eval_every: 7"))
    return path


def start(config: Path, runs: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optlab", "compare", *VARIANTS, "-c", str(config), "-j", str(workers),
                             "--quiet", "--runs-dir", str(runs)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_trials(proc: subprocess.Popen, runs: Path, n: int, rows: int = 20, timeout: float = 90) -> Path:
    """The comparison's directory, once ``n`` trials have written ``rows`` metrics rows each."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"optlab exited early ({proc.returncode}): {proc.stderr.read()}")
        for compare_dir in runs.glob("*-compare"):
            going = [m for m in compare_dir.glob("trials/*/metrics.csv") if m.read_bytes().count(b"\n") > rows]
            if len(going) >= n:
                return compare_dir
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no progress")


def statuses(compare_dir: Path) -> dict[str, str]:
    return {d.name: json.loads((d / "meta.json").read_text())["status"] for d in (compare_dir / "trials").iterdir()}


@pytest.mark.parametrize("workers, signum, to_group, code", [
    (2, signal.SIGINT, True, 130),    # Ctrl-C in a terminal: parent and workers get it
    (2, signal.SIGTERM, False, 143),  # a scheduler stopping the parent
    (1, signal.SIGINT, True, 130),    # no workers: the trial runs in the parent
])
def test_a_signal_stops_every_running_trial_cleanly_and_starts_no_other(tmp_path, workers, signum, to_group, code):
    runs = tmp_path / "runs"
    proc = start(long_config(tmp_path), runs, workers)
    compare_dir = wait_for_trials(proc, runs, workers)
    (os.killpg if to_group else os.kill)(proc.pid, signum)
    returncode, err = finish(proc)
    assert returncode == code, err
    assert "interrupted" in err
    assert f"optlab compare --resume {compare_dir}" in " ".join(err.split()), "where it is and how to finish it"
    assert json.loads((compare_dir / "compare.json").read_text())["status"] == "interrupted"
    trials = statuses(compare_dir)
    assert len(trials) == workers, f"no trial may start after the signal: {trials}"
    assert set(trials.values()) == {"interrupted"}
    for name in trials:
        meta = json.loads((compare_dir / "trials" / name / "meta.json").read_text())
        assert meta["signal"] == signal.Signals(signum).name, "each trial records the signal the parent received"
    for name in trials:
        assert (compare_dir / "trials" / name / "checkpoint.npz").exists(), "an interrupted trial can be resumed"
    assert (compare_dir / "results.md").exists(), "the comparison still reports the trials it has"


def test_a_worker_trial_resumes_to_the_numbers_of_an_uninterrupted_run(tmp_path):
    """The checkpoint a worker writes when told to stop is an ordinary one: --resume continues
    the trial, and its numbers match the same trial never stopped."""
    from test_resume import assert_identical_runs
    from typer.testing import CliRunner

    from optlab.cli import app
    from optlab.config.loading import load_config
    from optlab.record.rundir import read_metrics
    from optlab.training import checkpoint
    from optlab.training.run import run

    runs = tmp_path / "runs"
    proc = start(long_config(tmp_path), runs, 2)
    compare_dir = wait_for_trials(proc, runs, 2)
    os.killpg(proc.pid, signal.SIGINT)
    returncode, err = finish(proc)
    assert returncode == 130, err
    trial = compare_dir / "trials" / "momentum-s1"      # the config's seed is 1
    step = checkpoint.load(trial / "checkpoint.npz").step
    assert read_metrics(trial / "metrics.csv")["step"] == list(range(step + 1)), "every finished step, no more"

    total = step + 12
    resumed = CliRunner().invoke(app, ["train", "--resume", str(trial), f"train.iterations={total}", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    reference = run(load_config(trial / "config.yaml", [f"train.iterations={total}"]), tmp_path / "reference")
    assert_identical_runs(reference.run_dir, trial)
