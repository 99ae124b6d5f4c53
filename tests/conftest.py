"""Shared test helpers: a tiny config, a numerical gradient, a temporary runs directory, and a
run's numbers without its wall-clock times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = """\
name: tiny
seed: 1
data: {name: spiral, classes: 3, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [16], activation: relu}
loss: cross_entropy
regularization: {l2: 1.0e-3}
optimizer: {name: adam, lr: 0.01}
train: {batch_size: 30, epochs: 4, eval_every: 3, dtype: float64}
"""


def found_in_sources(find, allowed: set[str]) -> dict[str, list]:
    """``find(text)`` of each module of optlab/ outside ``allowed`` (paths from the repository's
    root), for the modules where it finds something: the tests that keep a concept in one place."""
    found = {}
    for path in sorted((REPO / "optlab").rglob("*.py")):
        name = path.relative_to(REPO).as_posix()
        if name not in allowed and (hits := find(path.read_text(encoding="utf-8"))):
            found[name] = hits
    return found


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(autouse=True, scope="session")
def user_cache(tmp_path_factory):
    """The per-user parsed-data cache (optlab.data.cache, for read-only dataset folders such as
    $OPTLAB_TEST_DATA) in a folder of this test session, not the user's own cache."""
    folder = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("optlab.data.cache.user_cache_root", lambda: folder)
        yield folder


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def numerical_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences of scalar f() w.r.t. every element of x (perturbed in place)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def rel_error(a: np.ndarray, n: np.ndarray) -> float:
    """Max relative error, docs/conventions.md: |a - n| / max(|a|, |n|, 1e-12)."""
    return float(np.max(np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), 1e-12)))


def load_benchmark(name: str):
    """A module of benchmarks/ (outside the installed package), imported by path."""
    import importlib.util
    import sys

    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))   # a benchmark may import its siblings (compare_speed -> bench)
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_numbers(run_dir: Path) -> tuple:
    """A run directory's metrics and summary as text, without the wall-clock columns and time: what
    must be equal between two runs of one config and seed, wherever they ran."""
    from optlab.record.rundir import WALL_CLOCK_COLUMNS, read_metrics

    metrics = read_metrics(run_dir / "metrics.csv")
    for column in WALL_CLOCK_COLUMNS:
        metrics.pop(column)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_time_s")
    return json.dumps(metrics, sort_keys=True), json.dumps(summary, sort_keys=True)
