"""`optlab train` end to end: the run directory, determinism, exit codes, and the shipped quickstart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

import optlab
from optlab.cli import app
from optlab.record.rundir import METRIC_COLUMNS, WALL_CLOCK_COLUMNS, read_metrics

runner = CliRunner()
RUN_FILES = {"config.yaml", "meta.json", "metrics.csv", "summary.json", "loss.png", "accuracy.png", "results.md"}


def train(*args: str):
    return runner.invoke(app, ["train", *args, "--quiet"])


def run_dir_of(result) -> Path:
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_dir(), "the last line of the output is the run directory"
    return path


def test_train_writes_every_file(tiny_config, runs):
    result = train(str(tiny_config), "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    path = run_dir_of(result)
    assert path.parent == runs and path.name.endswith("_tiny")
    assert RUN_FILES <= {p.name for p in path.iterdir()}
    meta = json.loads((path / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["ended"] and meta["numpy"] and meta["python"]
    summary = json.loads((path / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["epochs"] == 4   # 90 examples / 30 per batch * 4 epochs
    assert set(summary["accuracy"]) == {"train", "val", "test"}
    for key in ("final", "peak", "peak_step"):
        assert key in summary["accuracy"]["val"]
    assert "| validation |" in (path / "results.md").read_text()
    assert "final accuracy" in result.stdout and "validation" in result.stdout
    m = read_metrics(path / "metrics.csv")
    assert list(m) == METRIC_COLUMNS
    assert m["step"] == list(range(13)), "step 0 (initial evaluation) then one row per step"
    assert [s for s, a in zip(m["step"], m["val_acc"]) if a == a] == [0, 3, 6, 9, 12]
    # the resolved config re-runs the experiment exactly
    again = train(str(path / "config.yaml"), "--runs-dir", str(runs))
    assert _deterministic(read_metrics(run_dir_of(again) / "metrics.csv")) == _deterministic(m)


def _deterministic(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in WALL_CLOCK_COLUMNS}


def test_same_seed_same_numbers_other_seed_other_numbers(tiny_config, runs):
    a, b = (run_dir_of(train(str(tiny_config), "--runs-dir", str(runs))) for _ in range(2))
    assert a != b, "two runs in the same second still get their own directory"
    ma, mb = (read_metrics(p / "metrics.csv") for p in (a, b))
    assert _deterministic(ma) == _deterministic(mb)
    c = run_dir_of(train(str(tiny_config), "seed=2", "--runs-dir", str(runs)))
    assert _deterministic(read_metrics(c / "metrics.csv"))["loss"] != _deterministic(ma)["loss"]


def test_overrides_reach_the_resolved_config(tiny_config, runs):
    path = run_dir_of(train(str(tiny_config), "optimizer.lr=0.02", "model.hidden=[8,4]", "--runs-dir", str(runs)))
    text = (path / "config.yaml").read_text()
    assert "lr: 0.02" in text and "- 8\n  - 4" in text


def test_runs_dir_from_environment(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTLAB_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert run_dir_of(train(str(tiny_config))).parent == tmp_path / "elsewhere"


def test_bad_config_exits_2_without_traceback_or_run_dir(tiny_config, runs):
    result = train(str(tiny_config), "optimizer.lr=-1", "optimizer.name=adamm", "--runs-dir", str(runs))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "optimizer.lr" not in result.output or "must be greater than 0" in result.output
    assert "unknown optimizer 'adamm'" in result.output
    assert not runs.exists(), "no run directory for a config that does not validate"
    missing = train(str(tiny_config.parent / "nope.yaml"), "--runs-dir", str(runs))
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_divergence_exits_1_and_says_so(tiny_config, runs):
    result = train(str(tiny_config), "optimizer=sgd", "optimizer.lr=1e30", "--runs-dir", str(runs))
    assert result.exit_code == 1, result.output
    path = run_dir_of(result)
    assert json.loads((path / "meta.json").read_text())["status"] == "diverged"
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"]["step"] >= 1
    assert "smaller optimizer.lr" in result.output
    assert (path / "loss.png").exists()


@pytest.mark.parametrize("config,threshold", [("quickstart.yaml", 0.95)])
def test_quickstart_learns_the_spiral(config, threshold, runs):
    result = train(str(REPO / "configs" / config), "--runs-dir", str(runs))
    summary = json.loads((run_dir_of(result) / "summary.json").read_text())
    assert summary["accuracy"]["val"]["final"] >= threshold
    # its page keeps the decision boundary at every evaluation for the time slider, and stays small
    boundary = json.loads((run_dir_of(result) / "boundary.json").read_text())
    assert [r["step"] for r in boundary["records"]] == list(range(0, 1081, 45))
    assert all(len(r["classes"]) == 48 * 48 for r in boundary["records"]) and len(boundary["points"]) == 450
    page = (run_dir_of(result) / "report.html").read_text()
    assert 'id="scrub-data"' in page and len(page.encode()) <= 2_000_000


def test_linear_classifier_cannot_separate_the_spiral(runs):
    result = train(str(REPO / "configs" / "spiral_linear.yaml"), "--runs-dir", str(runs))
    summary = json.loads((run_dir_of(result) / "summary.json").read_text())
    assert summary["accuracy"]["val"]["peak"] < 0.7


def test_learning_slowdown_quadratic_vs_cross_entropy(runs):
    """Nielsen ch. 3: from w = b = 2 the quadratic cost barely moves at first; cross-entropy does."""
    losses = {}
    for name in ("slowdown_quadratic", "slowdown_cross_entropy"):
        path = run_dir_of(train(str(REPO / "configs" / f"{name}.yaml"), "--runs-dir", str(runs)))
        losses[name] = read_metrics(path / "metrics.csv")["loss"][1:]
    quad, ce = losses["slowdown_quadratic"], losses["slowdown_cross_entropy"]
    assert (quad[0] - quad[100]) / quad[0] < 0.05, "quadratic: under 5 % progress in 100 epochs"
    assert (ce[0] - ce[100]) / ce[0] > 0.8, "cross-entropy: most of the way in 100 epochs"


def test_help_is_fast_because_heavy_modules_are_not_imported():
    code = ("import sys, optlab.cli; heavy = [m for m in ('numpy', 'matplotlib', 'pydantic') if m in sys.modules];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"



def test_a_run_imports_no_plotting_study_or_image_modules_before_its_report(tiny_config, runs):
    """A train process has imported what training needs when its first step is taken: matplotlib
    comes with the report, the study machinery (Dask, Optuna) and the image datasets' readers only
    when used."""
    unwanted = ("matplotlib", "dask", "distributed", "optuna", "optlab.studies", "optlab.data.images",
                "optlab.data.download")
    code = ("import sys, optlab.cli, optlab.cli.train, optlab.terminal\n"
            "from optlab.config.loading import load_config\nfrom optlab.training.run import run\n"
            "seen = []\n"
            f"def on_step(step, total, loss):\n    seen.append([m for m in {unwanted!r} if m in sys.modules])\n"
            f"run(load_config({str(tiny_config)!r}), {str(runs)!r}, on_step=on_step, render=False)\n"
            "print(seen[0], len(seen) > 1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True"


def test_the_console_script_exits_without_collecting_what_it_imported():
    """optlab.cli.main freezes the garbage collector's objects at the end (~0.15 s of a train
    command's exit, docs/performance.md), and the command's output is still whole."""
    code = ("import gc, sys; sys.argv = ['optlab', '--version']; from optlab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint(gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"optlab {optlab.__version__}", "True"]

def test_console_script_and_module_entry_point(tiny_config, runs):
    proc = subprocess.run([sys.executable, "-m", "optlab", "train", str(tiny_config), "--quiet",
                           "--runs-dir", str(runs)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]).is_dir()
    usage = subprocess.run([sys.executable, "-m", "optlab", "train"], capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("error: give the CONFIG to train")
