"""The figures read cleanly: every label inside the figure (a y-label ran off the hiker's loss.png),
tick labels apart (the slice's ran together), no legend over the points of a scatter, the slice's
title clear of its colorbar, λ_max visible under a far threshold (a log axis), SVG text in fonts
no wider than the one it was laid out in, and `optlab report` redrawing every format a directory
holds (no directory of mixed renderings)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.record import figure_set
from optlab.record.landscape_report import sharpness_figure, slice_figure
from optlab.record.style import styled

RUNNER = CliRunner()


def drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)         # what savefig(png) draws with
    canvas.draw()
    return canvas.get_renderer()


def shown_ticks(axis) -> list:
    low, high = sorted(axis.get_view_interval())
    span = high - low
    return [t.label1 for t in axis.get_major_ticks()
            if low - 1e-9 * span <= t.get_loc() <= high + 1e-9 * span and t.label1.get_visible() and t.label1.get_text()]


def assert_readable(fig, name: str) -> None:
    from matplotlib.text import Text

    renderer = drawn(fig)
    box = fig.bbox
    ticks = {id(t) for ax in fig.axes for a in (ax.xaxis, ax.yaxis) for t in a.get_ticklabels()}
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in ticks]
    texts += [t for ax in fig.axes for a in (ax.xaxis, ax.yaxis) for t in shown_ticks(a)]
    for text in texts:
        ext = text.get_window_extent(renderer)
        assert ext.x0 >= -1 and ext.y0 >= -1 and ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1, \
            f"{name}: {text.get_text()!r} runs off the figure"
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            shown = sorted((t.get_window_extent(renderer) for t in shown_ticks(axis)), key=lambda b: (b.x0, b.y0))
            for a, b in zip(shown, shown[1:]):
                assert not a.overlaps(b), f"{name}: tick labels {a} and {b} run together"


def test_sharpness_far_under_its_threshold_is_drawn_on_a_log_axis_with_the_legend_outside():
    table = {"step": np.arange(0, 500, 100), "lambda_max": np.array([2.0, 1.5, 1.2, 1.0, 1.0]),
             "preconditioned": np.full(5, np.nan), "threshold": np.full(5, 3800.0), "rule_text": "38/η"}
    with styled():
        fig = sharpness_figure(table, "adam: sharpness")
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_legend() is None and fig.legends
    assert_readable(fig, "sharpness")


def test_log_axes_label_their_ticks_as_text_not_mathtext_source(tmp_path):
    from optlab.record.rundir import RunDir

    table = {"step": np.arange(0, 500, 100), "lambda_max": np.array([2.0, 1.5, 1.2, 1.0, 1.0]),
             "preconditioned": np.full(5, np.nan), "threshold": np.full(5, 3800.0), "rule_text": "38/η"}
    with styled():
        fig = sharpness_figure(table, "adam: sharpness")
        RunDir(tmp_path).write_figure("sharpness.png", fig)      # as every figure file is saved
    labels = [t.get_text() for t in shown_ticks(fig.axes[0].yaxis)]
    assert labels and "10³" in labels, labels                  # with text.parse_math off: not "$\\mathdefault{10^{3}}$"
    assert not any("$" in text or "\\" in text for text in labels), labels
    from optlab.record.figure_set import svg_text

    svg = svg_text(fig)                                          # the page's copy
    assert "mathdefault" not in svg and "10³" in svg


def test_the_slice_title_sits_above_axes_and_colorbar_and_its_ticks_stay_apart():
    grid = np.linspace(-1, 1, 9)
    data = {"alphas": grid, "betas": grid, "loss": np.add.outer(grid ** 2, grid ** 2) + 0.1}
    with styled():
        fig = slice_figure(data, "2026-12-06_163940_quickstart: filter-normalised slice")
    assert fig.get_suptitle() and not fig.axes[0].get_title()
    assert_readable(fig, "slice")


def test_svg_text_names_no_font_wider_than_the_one_it_was_laid_out_in():
    with styled():
        fig = sharpness_figure({"step": np.arange(3), "lambda_max": np.ones(3), "preconditioned": np.ones(3),
                                "threshold": np.full(3, 2.0)}, "t")
        svg = figure_set.svg_text(fig)
    assert "font-family: 'DejaVu Sans', 'Arial'" in svg and "Verdana" not in svg


@pytest.fixture
def captured(monkeypatch):
    figs = []
    original = figure_set.FigureSet.add

    def add(self, stem, fig, caption=""):
        figs.append((stem, fig))
        original(self, stem, fig, caption)
    monkeypatch.setattr(figure_set.FigureSet, "add", add)
    return figs


def test_study_figures_keep_labels_inside_and_the_scatter_legend_off_the_points(tiny_config, tmp_path, captured):
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "-q", "-j", "1"]
    assert RUNNER.invoke(app, ["sweep", str(tiny_config), "--grid", "optimizer.lr=0.001,0.01", *args]).exit_code == 0
    assert RUNNER.invoke(app, ["compare", "sgd", "adam", "--config", str(tiny_config), "--no-trial-figures",
                               *args]).exit_code == 0
    captured.clear()
    for study in sorted(runs.iterdir()):      # the search-and-gradient label is the long one
        assert RUNNER.invoke(app, ["report", str(study), "plots.x=examples"]).exit_code == 0
    names = {stem for stem, _ in captured}
    assert {"scatter", "loss", "accuracy"} <= names
    for stem, fig in captured:
        if stem not in ("loss", "accuracy", "scatter", "best"):
            continue                      # the study's own figures (a trial's diagnostics: tests of their own)
        assert_readable(fig, stem)
        if stem == "scatter":
            assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
            renderer = drawn(fig)          # the legend below the panels' texts, not over them
            legend = fig.legends[0].get_window_extent(renderer)
            assert fig.get_layout_engine() is None
            assert not any(legend.overlaps(ax.get_tightbbox(renderer)) for ax in fig.axes)


def test_report_redraws_every_format_the_directory_holds(tiny_config, tmp_path):
    runs = tmp_path / "runs"
    assert RUNNER.invoke(app, ["train", str(tiny_config), "--runs-dir", str(runs), "-q"]).exit_code == 0
    run = next(runs.iterdir())
    assert RUNNER.invoke(app, ["report", str(run), "--format", "svg"]).exit_code == 0
    assert RUNNER.invoke(app, ["report", str(run), "plots.x=epochs"]).exit_code == 0
    assert "epoch" in (run / "loss.svg").read_text()          # not the step-axis drawing of before
    png, svg = (run / "loss.png").stat().st_mtime_ns, (run / "loss.svg").stat().st_mtime_ns
    assert abs(png - svg) < 5e9


def _best_entries(n: int, steps: int = 40):
    """``n`` completed trials as the sweep's leaderboard holds them, three swept values each (the
    titles as long as a three-parameter grid makes them), curves rising to their final accuracy."""
    from pathlib import Path

    from optlab.record.compare_stats import TrialData
    from optlab.record.sweep_report import Entry

    rng = np.random.default_rng(0)
    step = np.arange(0, steps * 50, 50)
    entries = []
    for k in range(n):
        final = 0.99 - 0.02 * k
        acc = final * (1 - np.exp(-step / 300.0)) + 0.01 * rng.standard_normal(len(step))
        trial = TrialData(Path(f"trials/t{k:03d}"), "completed",
                          {"accuracy": {"val": {"final": final}}, "examples_per_eval": 6400},
                          {"step": step, "epoch": step / 50.0, "val_acc": acc, "train_acc": acc + 0.01},
                          {"train": {"batch_size": 6400}})
        entries.append(Entry(k, f"t{k:03d}", {"optimizer.name": ["momentum", "sgd"][k % 2],
                                              "optimizer.lr": 10 ** -(1 + k / 7),
                                              "optimizer.weight_decay": [0, 1e-4][k // 2 % 2]},
                             trial, (1, 1, final)))
    return {"params": [{"key": key} for key in ("optimizer.name", "optimizer.lr", "optimizer.weight_decay")]}, entries


@pytest.mark.parametrize("n, x", [(1, "epochs"), (4, "epochs"), (16, "epochs"), (20, "examples")])
def test_the_best_trials_grid_is_placed_without_a_layout_engine_its_texts_inside_and_panels_apart(n, x):
    from optlab.config.schema import PlotsConfig
    from optlab.record.sweep_report import best_figure

    manifest, entries = _best_entries(n)
    with styled():
        fig = best_figure(manifest, entries, "2026-12-06_163940_quickstart: grid search", opts=PlotsConfig(x=x))
    assert fig.get_layout_engine() is None and len(fig.axes) == n     # no empty panels
    assert_readable(fig, f"best, {n} panels")       # draws it: every text inside, tick labels apart
    renderer = drawn(fig)
    # each panel with its title and tick labels: none overlapping another, or the figure's title
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    from matplotlib.text import Text

    (title,) = [t.get_window_extent(renderer) for t in fig.findobj(Text) if t.get_text() == fig.get_suptitle()]
    for i, a in enumerate(boxes):
        assert not a.overlaps(title), f"panel {i + 1} runs into the figure's title"
        for j, b in enumerate(boxes[i + 1:], start=i + 1):
            assert not a.overlaps(b), f"panels {i + 1} and {j + 1} overlap"
    assert [ax.get_title().split("\n")[0] for ax in fig.axes][:2] == ["Best-1 (99.0 %)", "Best-2 (97.0 %)"][:n]
    if x == "examples":       # millions of examples: the axis's offset ("1e7"), checked inside above too
        assert all(ax.xaxis.get_offset_text().get_text() for ax in fig.axes)
