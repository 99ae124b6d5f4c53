"""Loss landscapes (optlab.engine.directions, optlab.engine.landscape, optlab.studies.landscape,
``optlab landscape``) and what a run records for them (snapshots, sharpness.csv)."""

from __future__ import annotations

import csv
import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import loads_config
from optlab.engine.directions import filter_normalized, pca_directions, project
from optlab.engine.landscape import PlaneLoss, grid_coefficients
from optlab.record.run_report import render_run
from optlab.record.rundir import read_metrics
from optlab.record.snapshots import snapshot_steps
from optlab.training.run import resume, run
from optlab.training.setup import Setup, evaluate

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def no_run_figures():
    """The runs here are inputs: training draws no figures (a second each on a busy machine), and
    the report pages `optlab landscape` rewrites get placeholder SVGs; the figure files are real."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("optlab.training.run.run_report", SimpleNamespace(render_run=lambda *a, **k: None))
        mp.setattr("optlab.record.figure_set.svg_text", lambda fig: "<svg></svg>")
        yield

RUN = """
name: {name}
seed: 2
data: {{name: spiral, classes: 3, size: 150, val_size: 30, test_size: 30}}
model: {model}
loss: {loss}
regularization: {{l2: 1.0e-3}}
optimizer: {optimizer}
train: {{batch_size: 40, iterations: {iterations}, eval_every: 3, dtype: float64}}
diagnostics: {diagnostics}
"""
MLP = "{name: mlp, hidden: [12, 8], activation: tanh}"


QUIET = "update_ratios: false, histograms: []"   # figures these tests do not look at


def config(name="run", model=MLP, loss="cross_entropy", optimizer="{name: momentum, lr: 0.1}", iterations=12,
           diagnostics=f"{{snapshot_every: 3, sharpness_every: 4, {QUIET}}}"):
    return loads_config(RUN.format(name=name, model=model, loss=loss, optimizer=optimizer, iterations=iterations,
                                   diagnostics=diagnostics))


# ------------------------------------------------------------------------------------------------
# directions and the batched evaluation
# ------------------------------------------------------------------------------------------------
def test_filter_normalisation_gives_each_filter_the_norm_of_the_weights_filter():
    setup = Setup.from_config(config(model="{name: mlp, hidden: [12, 8], activation: relu, batch_norm: true}"))
    model = setup.model
    w = model.flat_params.copy() * np.random.default_rng(0).uniform(0.5, 3.0, model.flat_params.size)
    d = filter_normalized(model, w, np.random.default_rng(1))
    for name, span in model.params.spans.items():
        wv, dv = w[span].reshape(model.params[name].shape), d[span].reshape(model.params[name].shape)
        if name.endswith(".W"):   # one filter = one output unit = one column of optlab's (in, out) W
            np.testing.assert_allclose(np.linalg.norm(dv, axis=0), np.linalg.norm(wv, axis=0), rtol=1e-12)
        else:                     # biases, gamma, beta: excluded (Li et al.'s ignore='biasbn')
            assert not dv.any()
    d_all = filter_normalized(model, w, np.random.default_rng(1), include_biases=True)
    span = model.params.spans["fc1.b"]
    np.testing.assert_array_equal(d_all[span], w[span])


def test_filter_normalisation_of_a_bias_trick_matrix_leaves_its_bias_row_out():
    setup = Setup.from_config(config(model="{name: linear, bias: trick}", loss="hinge"))
    W = setup.model.params["fc1.W"]
    d = filter_normalized(setup.model, setup.model.flat_params, np.random.default_rng(0)).reshape(W.shape)
    np.testing.assert_allclose(np.linalg.norm(d[:-1], axis=0), np.linalg.norm(W[:-1], axis=0), rtol=1e-12)
    assert not d[-1].any()


@pytest.mark.parametrize("model,loss", [
    ("{name: mlp, hidden: [12, 8], activation: relu, batch_norm: true, drop_prob: 0.3}", "cross_entropy"),
    ("{name: mlp, hidden: [6], activation: sigmoid, output: sigmoid}", "quadratic"),
    ("{name: linear, bias: trick}", "hinge"),
])
def test_batched_plane_equals_one_evaluation_per_point(model, loss):
    setup = Setup.from_config(config(model=model, loss=loss))
    m, data = setup.model, setup.data
    rng = np.random.default_rng(0)
    center = m.flat_params.copy()
    m.flat_buffers[...] = rng.uniform(0.2, 1.5, m.flat_buffers.size)       # running statistics, not 0 / 1
    D, Db = 0.3 * rng.standard_normal((2, center.size)), 0.1 * rng.uniform(0, 1, (2, m.flat_buffers.size))
    x, y = data.features(data.train.x, np.float64), data.train.y
    plane = PlaneLoss(m, setup.loss_fn, setup.penalty, x, y, center, D, m.flat_buffers.copy(), Db, budget=50_000)
    assert plane.chunk < 7                                                 # several chunks
    C = np.vstack([[0.0, 0.0], rng.uniform(-1, 1, (6, 2))])
    losses, accs = plane(C)
    buffers = m.flat_buffers.copy()
    for c, loss_k, acc_k in zip(C, losses, accs):
        m.flat_params[...] = center + c @ D
        m.flat_buffers[...] = buffers + c @ Db
        want_loss, want_acc = evaluate(m, setup.loss_fn, setup.penalty, data, data.train, np.float64)
        assert loss_k == pytest.approx(want_loss, rel=1e-12) and acc_k == want_acc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_over_points_give_the_numbers_of_one_thread(dtype):
    """Each point goes through every layer on one thread, so the thread count changes no bit."""
    cfg = config(model="{name: mlp, hidden: [12, 8], activation: tanh, batch_norm: true}")
    cfg.train.dtype = np.dtype(dtype).name
    setup = Setup.from_config(cfg)
    m, data = setup.model, setup.data
    assert m.dtype == dtype
    rng = np.random.default_rng(1)
    center = m.flat_params.copy()
    D = (0.3 * rng.standard_normal((2, center.size))).astype(dtype)
    x, y = data.features(data.train.x, dtype), data.train.y
    C = rng.uniform(-1, 1, (23, 2))
    one = PlaneLoss(m, setup.loss_fn, setup.penalty, x, y, center, D, budget=50_000)(C)
    plane = PlaneLoss(m, setup.loss_fn, setup.penalty, x, y, center, D, budget=50_000, threads=3)
    three = plane(C)
    plane.close()
    assert plane.chunk < 23                                                # several chunks, each split three ways
    np.testing.assert_array_equal(one[0], three[0])
    np.testing.assert_array_equal(one[1], three[1])


def test_grid_rows_are_row_major_over_beta_then_alpha():
    C = grid_coefficients(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0]))
    assert C.tolist() == [[1, 10], [2, 10], [3, 10], [1, 20], [2, 20], [3, 20]]


def test_pca_of_a_path_in_a_plane_recovers_the_plane():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((50, 2)))[0].T                  # (2, 50)
    coords = np.cumsum(rng.standard_normal((20, 2)), axis=0)
    points = 3.0 + coords @ basis
    dirs, variance = pca_directions(points)
    xy = project(points, points[-1], dirs[0], dirs[1])
    np.testing.assert_allclose(points[-1] + xy @ dirs, points, atol=1e-10)  # the path lies in the plane
    assert variance.sum() == pytest.approx(1.0) and xy[-1] == pytest.approx([0, 0])


# ------------------------------------------------------------------------------------------------
# a run and its landscape
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return run(config(), root).run_dir


def test_a_run_keeps_snapshots_and_sharpness(trained):
    assert snapshot_steps(trained) == [0, 3, 6, 9, 12]
    with open(trained / "sharpness.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [0, 4, 8, 12]
    for r in rows:
        assert float(r["threshold"]) == pytest.approx((2 + 2 * 0.9) / 0.1) and r["rule"] == "(2+2μ)/η"
        assert float(r["lambda_max"]) > 0
    render_run(trained)
    assert (trained / "sharpness.png").is_file()


@pytest.mark.parametrize("name,rule", [("rmsprop", "preconditioned 2/η"), ("adam", "preconditioned (2+2β1)/((1-β1)η)")])
def test_adaptive_optimizers_record_the_preconditioned_sharpness(tmp_path, name, rule):
    rd = run(config(optimizer=f"{{name: {name}, lr: 0.01}}", iterations=4,
                    diagnostics=f"{{sharpness_every: 2, {QUIET}}}"), tmp_path).run_dir
    with open(rd / "sharpness.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rule"] for r in rows] == [rule] * 3
    assert math.isnan(float(rows[0]["preconditioned"]))           # no optimizer state before step 1
    assert all(float(r["preconditioned"]) > 0 for r in rows[1:])


def test_landscape_reproduces_the_recorded_losses(trained):
    result = runner.invoke(app, ["landscape", str(trained), "--grid", "9", "--points", "9", "--quiet"])
    assert result.exit_code == 0, result.output
    recorded = read_metrics(trained / "metrics.csv")["train_loss"]
    recorded = [v for v in recorded if not math.isnan(v)]
    table = read_metrics(trained / "landscape" / "interpolation.csv")
    at = dict(zip(table["alpha"], table["train_loss"]))
    assert at[0.0] == pytest.approx(recorded[0], rel=1e-12)               # the initial weights
    assert at[1.0] == pytest.approx(recorded[-1], rel=1e-12)              # the final weights
    assert min(table["alpha"]) == -0.5 and max(table["alpha"]) == 1.5
    with np.load(trained / "landscape" / "slice.npz") as npz:
        assert npz["loss"].shape == (9, 9) and npz["alphas"][4] == 0.0
        assert npz["loss"][4, 4] == pytest.approx(recorded[-1], rel=1e-12)
    with np.load(trained / "landscape" / "path.npz") as npz:
        assert npz["path"].shape == (5, 2) and npz["steps"].tolist() == [0, 3, 6, 9, 12]
        assert npz["path"][-1] == pytest.approx([0, 0], abs=1e-12)
    page = (trained / "report.html").read_text()
    for name in ("interpolation.png", "slice.png", "path.png"):
        assert (trained / "landscape" / name).is_file()
        assert f"landscape/{name}" in page                               # on the run's page, with the others
    scrub = json.loads(re.search(r'id="scrub-data">(.*?)</script>', page).group(1))   # and on its time slider
    assert scrub["landscape"]["steps"] == [0, 3, 6, 9, 12] and len(scrub["landscape"]["loss"]) == 9
    assert {0, 3, 6, 9, 12} <= set(scrub["steps"])


def test_the_path_starts_on_its_own_contour_level(tmp_path):
    """Three snapshots span their PCA plane exactly, so the projected start is the initial weights
    themselves, and the loss the contours show there (the same plane) is the recorded initial loss."""
    from optlab.studies.landscape import Options, landscape

    rd = run(config(diagnostics=f"{{snapshot_every: 6, {QUIET}}}"), tmp_path).run_dir
    assert snapshot_steps(rd) == [0, 6, 12]
    info = landscape(rd, Options(grid=5, pictures=("path",)))
    recorded = read_metrics(rd / "metrics.csv")["train_loss"][0]
    assert info["path"]["loss_at_projected_start"] == pytest.approx(recorded, rel=1e-9)
    assert sum(info["path"]["variance"]) == pytest.approx(1.0)


def test_report_redraws_the_landscape_from_its_files(trained):
    runner.invoke(app, ["landscape", str(trained), "--grid", "5", "--points", "5", "--quiet", "--only", "slice"])
    result = runner.invoke(app, ["report", str(trained), "plots.format=svg"])     # the run's plots settings apply
    assert result.exit_code == 0, result.output
    assert (trained / "landscape" / "slice.svg").read_text().lstrip().startswith("<?xml")
    assert 'landscape/slice.svg' in (trained / "report.html").read_text()


def test_interpolation_between_two_runs(trained, tmp_path):
    other = run(config(name="other", optimizer="{name: adam, lr: 0.01}", diagnostics=f"{{{QUIET}}}"), tmp_path).run_dir
    result = runner.invoke(app, ["landscape", str(trained), str(other), "--points", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    table = read_metrics(trained / "landscape" / f"pair_{other.name}.csv")
    at = dict(zip(table["alpha"], table["train_loss"]))
    assert at[0.0] == pytest.approx(read_metrics(trained / "metrics.csv")["train_loss"][-1], rel=1e-12)
    assert at[1.0] == pytest.approx(read_metrics(other / "metrics.csv")["train_loss"][-1], rel=1e-12)
    assert (trained / "landscape" / f"pair_{other.name}.png").is_file()


def test_a_linear_classifier_gets_cs231n_random_slices(tmp_path):
    rd = run(config(model="{name: linear, bias: trick}", loss="hinge", diagnostics=f"{{{QUIET}}}"), tmp_path).run_dir
    result = runner.invoke(app, ["landscape", str(rd), "--grid", "5", "--points", "7", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "no path.png" in result.output and "diagnostics.snapshot_every" in result.output
    table = read_metrics(rd / "landscape" / "random_1d.csv")
    assert {"direction_1", "direction_2", "direction_3"} <= set(table)
    assert (rd / "landscape" / "random_1d.png").is_file() and not (rd / "landscape" / "path.npz").exists()


# ------------------------------------------------------------------------------------------------
# resuming keeps what an uninterrupted run records
# ------------------------------------------------------------------------------------------------
def test_resumed_run_records_the_same_snapshots_and_sharpness(tmp_path):
    whole = run(config(iterations=10), tmp_path / "a").run_dir
    part = run(config(iterations=5), tmp_path / "b").run_dir            # its end-of-run snapshot is step 5
    assert 5 in snapshot_steps(part)
    resume(part, config(iterations=10))
    assert snapshot_steps(part) == snapshot_steps(whole) == [0, 3, 6, 9, 10]
    for step in snapshot_steps(whole):
        name = f"snapshots/{step:09d}.npz"
        with np.load(whole / name) as a, np.load(part / name) as b:
            np.testing.assert_array_equal(a["params"], b["params"])
    assert (whole / "sharpness.csv").read_text() == (part / "sharpness.csv").read_text()


# ------------------------------------------------------------------------------------------------
# bad input: exit 2 with what to do
# ------------------------------------------------------------------------------------------------
def test_path_without_snapshots_names_the_option(tmp_path):
    rd = run(config(diagnostics=f"{{{QUIET}}}"), tmp_path).run_dir
    result = runner.invoke(app, ["landscape", str(rd), "--only", "path"])
    assert result.exit_code == 2 and "diagnostics.snapshot_every" in result.output


def test_a_surface_run_is_sent_to_its_own_contour(tmp_path):
    cfg = loads_config("name: bowl\nmodel: {name: surface, function: bowl, start: [-7, 2]}\n"
                       "optimizer: {name: sgd, lr: 0.9}\ntrain: {iterations: 5, dtype: float64}\n")
    rd = run(cfg, tmp_path).run_dir
    result = runner.invoke(app, ["landscape", str(rd)])
    assert result.exit_code == 2 and "path.png" in result.output


def test_a_grid_too_large_is_refused_with_its_estimate(trained):
    result = runner.invoke(app, ["landscape", str(trained), "--grid", "200000", "--only", "slice"])
    assert result.exit_code == 2 and "GiB" in result.output and "--grid" in result.output


def test_runs_of_different_models_cannot_be_interpolated(trained, tmp_path):
    other = run(config(model="{name: mlp, hidden: [5], activation: tanh}", diagnostics=f"{{{QUIET}}}"),
                tmp_path).run_dir
    result = runner.invoke(app, ["landscape", str(trained), str(other)])
    assert result.exit_code == 2 and "model" in result.output


def test_not_a_run_directory(tmp_path):
    result = runner.invoke(app, ["landscape", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
