"""``optlab hessian RUN_DIR``: the spectrum of surfaces whose Hessian is known in closed form, of a
small float64 network against numpy.linalg.eigh of its full Hessian (built from exact products),
over snapshots, the files and figures, bad input; the MNIST MLP's outliers (slow, real data)."""

from __future__ import annotations

import csv
import os
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import loads_config
from optlab.engine.hvp import ExactHVP
from optlab.training.run import run

runner = CliRunner()

SURFACE = """
name: {name}
model: {{name: surface, function: {function}, start: {start}}}
optimizer: {optimizer}
train: {{iterations: {iterations}, dtype: float64}}
"""
NETWORK = """
name: net
seed: 2
data: {name: spiral, classes: 3, size: 150, val_size: 30, test_size: 30}
model: {name: mlp, hidden: [12, 8], activation: tanh}
loss: cross_entropy
regularization: {l2: 1.0e-3}
optimizer: {name: momentum, lr: 0.1}
train: {batch_size: 40, iterations: 12, eval_every: 3, dtype: float64, eval_train_size: 120}
diagnostics: {snapshot_every: 3, update_ratios: false, histograms: []}
"""


@pytest.fixture(scope="module", autouse=True)
def no_training_figures():
    """Training draws no figures here (the runs are inputs); `optlab hessian` draws its own files,
    and the report page gets placeholder SVGs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("optlab.training.run.run_report", SimpleNamespace(render_run=lambda *a, **k: None))
        mp.setattr("optlab.record.figure_set.svg_text", lambda fig: "<svg></svg>")
        yield


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def hessian(*args):
    result = runner.invoke(app, ["hessian", *map(str, args)])
    return result


def test_bowl_eigenvalues_2_and_0_1_trace_2_1(tmp_path, monkeypatch):
    cfg = loads_config(SURFACE.format(name="bowl", function="bowl", start="[-7.0, 2.0]",
                                      optimizer="{name: sgd, lr: 0.95}", iterations=30))
    rd = run(cfg, tmp_path / "runs").run_dir
    monkeypatch.chdir(tmp_path)          # from any directory
    result = hessian(rd.relative_to(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Hessian-vector products" in result.output and "network (2 params)" in result.output
    top = [float(r["eigenvalue"]) for r in rows(rd / "hessian" / "top_k.csv")]
    assert top == pytest.approx([2.0, 0.1], rel=1e-6)
    summary = rows(rd / "hessian" / "summary.csv")[0]
    assert float(summary["trace"]) == pytest.approx(2.1, rel=1e-6)
    assert float(summary["trace_slq"]) == pytest.approx(2.1, rel=1e-6)
    assert (rd / "hessian" / "density.png").is_file() and "hessian/density" in (rd / "report.html").read_text()


def test_rosenbrock_at_its_minimum(tmp_path):
    cfg = loads_config(SURFACE.format(name="rosen", function="rosenbrock", start="[-1.2, 1.0]",
                                      optimizer="{name: momentum, lr: 0.002, momentum: 0.9}", iterations=3000))
    rd = run(cfg, tmp_path).run_dir
    result = hessian(rd, "--snapshots", "--max-snapshots", "3")
    assert result.exit_code == 0, result.output
    table = rows(rd / "hessian" / "top_k.csv")
    last = max(int(r["step"]) for r in table)
    assert last == 3000 and len({r["step"] for r in table}) == 3
    top = [float(r["eigenvalue"]) for r in table if int(r["step"]) == last]
    H = np.array([[802.0, -400.0], [-400.0, 200.0]])
    assert top == pytest.approx(np.linalg.eigvalsh(H)[::-1], rel=1e-6)
    assert top == pytest.approx([1001.6006, 0.39936], rel=1e-5)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return run(loads_config(NETWORK), tmp_path_factory.mktemp("runs")).run_dir


def test_network_spectrum_equals_eigh_of_the_full_hessian(network):
    result = hessian(network, "--examples", "100", "--top-k", "5", "--steps", "60", "--probes", "400",
                     "--slq-runs", "2", "--slq-steps", "40")
    assert result.exit_code == 0, result.output
    assert "(exact)" in result.output
    # the same objective, built here: the run's float64 model at its final weights on the same examples
    from optlab.studies.landscape import load_run
    from optlab.training.setup import train_eval_split
    loaded = load_run(network, dtype="float64")
    setup, model = loaded.setup, loaded.setup.model
    model.flat_params[...] = loaded.final[0]
    split = train_eval_split(loaded.config, setup.data).take(slice(0, 100))
    op = ExactHVP(model, setup.loss_fn, setup.penalty, setup.data.features(split.x, np.float64), split.y)
    n = model.n_params()
    H = np.stack([op(e) for e in np.eye(n)], axis=1)
    exact = np.linalg.eigvalsh((H + H.T) / 2)
    table = rows(network / "hessian" / "top_k.csv")
    top = [float(r["eigenvalue"]) for r in table if r["block"] == "network"]
    assert np.allclose(top, exact[::-1][:5], rtol=0, atol=1e-8 * abs(exact).max())
    summary = {r["block"]: r for r in rows(network / "hessian" / "summary.csv")}
    assert set(summary) == {"network", "fc1", "fc2", "fc3"}
    trace = summary["network"]
    # n = 167 <= 400 probes: the trace from the unit vectors, exact
    assert float(trace["trace"]) == pytest.approx(exact.sum(), abs=1e-8 * abs(exact).max())
    assert float(trace["lambda_min"]) == pytest.approx(exact[0], rel=1e-6)
    span = slice(model.params.spans["fc2.W"].start, model.params.spans["fc2.b"].stop)
    block = np.linalg.eigvalsh(H[span, span])
    assert float(summary["fc2"]["lambda_max"]) == pytest.approx(block[-1], rel=1e-8)
    with np.load(network / "hessian" / "eigenvectors.npz") as npz:
        u = npz["eigenvectors"][0]
    assert np.linalg.norm(H @ u - exact[-1] * u) < 1e-6 * abs(exact).max()


def test_snapshots_give_the_training_figure(network):
    result = hessian(network, "--snapshots", "--no-layers", "--top-k", "3", "--probes", "4", "--slq-runs", "1",
                     "--slq-steps", "10", "--examples", "50")
    assert result.exit_code == 0, result.output
    steps = sorted({int(r["step"]) for r in rows(network / "hessian" / "summary.csv")})
    assert steps == [0, 3, 6, 9, 12]
    assert (network / "hessian" / "training.png").is_file()
    assert "hessian/training" in (network / "report.html").read_text()


def test_bad_input_is_exit_2(tmp_path):
    result = hessian(tmp_path)
    assert result.exit_code == 2 and "not a run directory" in result.output
    cfg = loads_config(NETWORK.replace("diagnostics: {snapshot_every: 3, ", "diagnostics: {"))
    rd = run(cfg, tmp_path / "runs").run_dir
    result = hessian(rd, "--snapshots")
    assert result.exit_code == 2 and "snapshot_every" in result.output


@pytest.mark.slow
def test_mnist_mlp_outliers_next_to_c_minus_1(tmp_path, monkeypatch):
    data = os.environ.get("OPTLAB_TEST_DATA")
    if not data:
        pytest.skip("OPTLAB_TEST_DATA is unset (a directory with the genuine MNIST files, mnist/)")
    from conftest import REPO, load_benchmark

    monkeypatch.setenv("OPTLAB_DATA_DIR", data)
    script = load_benchmark("hessian_mnist")
    numbers = script.reproduce(tmp_path)
    assert numbers["classes"] - 1 == 9 and numbers["outliers"] == 9
    page = (REPO / "docs" / "hessian.md").read_text(encoding="utf-8")
    for line in script.lines(numbers):    # every number docs/hessian.md quotes, as the script prints it
        assert line in page, f"docs/hessian.md does not quote: {line}"
