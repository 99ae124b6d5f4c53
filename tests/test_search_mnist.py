"""The three hiker configs on genuine MNIST (``data.name=mnist``), shortened: they build, run and
spend the budget they say. Skipped, with the reason, when OPTLAB_TEST_DATA is unset (as
tests/test_real_data.py); the full runs and their numbers are in docs/search.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO

from optlab.config.loading import load_config
from optlab.training.run import run

SOURCE = os.environ.get("OPTLAB_TEST_DATA")
pytestmark = pytest.mark.skipif(
    not SOURCE, reason="real-data test: set OPTLAB_TEST_DATA to a directory holding mnist/ with the original "
                       "IDX files (.ci/run uses ../shared/data)")


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory, monkeypatch):
    """A data directory whose mnist/ links to the real files (the parsed cache is written here)."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    for f in (Path(SOURCE) / "mnist").iterdir():
        if f.is_file():
            (root / "mnist" / f.name).symlink_to(f.resolve())
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(root))


@pytest.mark.parametrize("name, evals", [("random", 40), ("local", 41), ("gradient", 40)])
def test_hiker_config_runs_on_mnist(name, evals, tmp_path):
    config = load_config(REPO / "configs" / f"hiker_{name}.yaml",
                         ["data.name=mnist", "data.train_size=3000", "data.val_size=500", "search.trials=40",
                          "train.iterations=40", "train.eval_every=20"])
    result = run(config, tmp_path / "runs")
    s = result.summary
    assert result.status == "completed" and s["strategy"] == name and s["loss_evals"] == evals
    assert s["examples_per_eval"] == (200 if name == "gradient" else 3000)
    assert 0.0 <= s["accuracy"]["test"]["final"] <= 1.0


@pytest.mark.slow
def test_the_numerical_gradient_paragraph_of_docs_search(tmp_path):
    """docs/search.md, "The numerical gradient": 20 steps of the MNIST SVM by centred differences
    cost 1 + 2 x 7 850 loss evaluations a step, and follow backpropagation's losses to the quoted
    relative difference (benchmarks/numerical_gradient.py; about 2 minutes)."""
    from conftest import load_benchmark

    r = load_benchmark("numerical_gradient").reproduce(tmp_path)
    assert r["numerical"]["loss_evals"] == 20 * (1 + 2 * 7850) and r["analytic"]["loss_evals"] == 20
    doc = " ".join((REPO / "docs" / "search.md").read_text().split())
    evals = f"{r['numerical']['loss_evals']:,}".replace(",", " ")
    assert f"costs {evals} loss evaluations (1 + 2 × 7 850 per step)" in doc
    quoted = f"{r['relative_difference']:.1e}".replace("e-0", "e-")
    assert f"the two runs' losses agree to {quoted} relative over the 20 steps" in doc, quoted
