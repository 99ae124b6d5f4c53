"""report.html, the plot controls, figure formats and TensorBoard, on tiny runs: what each page
holds, that user text is escaped, that plots.* settings reach the figures, that --format writes
vector files, that the event file holds metrics.csv's scalars, and that bad input exits 2."""

from __future__ import annotations

import html
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config
from optlab.config.schema import PlotsConfig
from optlab.record.html_page import json_script, table
from optlab.record.plot_options import plot_options, x_values
from optlab.record.reports import render_directory
from optlab.record.rundir import read_metrics
from optlab.training.run import SetupError, run

RUNNER = CliRunner(env={"COLUMNS": "200"})
EVIL = "<script>alert(1)</script>"
EVIL_COMMENT = f"# Question: is {EVIL} <img src=x onerror=alert(2)> shown as text?\n"
CONFIG = """\
name: page
seed: 2
data: {name: spiral, classes: 3, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [16], activation: relu}
loss: cross_entropy
optimizer: {name: adam, lr: 0.01}
train: {batch_size: 30, epochs: 6, eval_every: 3, dtype: float64}
diagnostics: {update_ratios: false, histograms: []}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One finished run, its config opening with a hostile comment and its command hostile too."""
    tmp = tmp_path_factory.mktemp("page")
    config = tmp / "page.yaml"
    config.write_text(EVIL_COMMENT + CONFIG)
    result = run(load_config(config, ["logging.tensorboard=true"]), tmp / "runs",
                 command=["optlab", "train", str(config), f"name-{EVIL}"])
    assert result.status == "completed"
    return result.run_dir


def page_of(path: Path) -> str:
    return (path / "report.html").read_text(encoding="utf-8")


def test_run_page_holds_results_figures_config_and_no_live_user_markup(run_dir):
    text = page_of(run_dir)
    assert text.startswith("<!DOCTYPE html>")
    for piece in ("final accuracy", "validation", "Resolved config", "optimizer:", "initial loss", "Figures"):
        assert piece in text
    assert text.count("<figure>") == 2                   # loss, accuracy: the PNG files themselves, drawn once
    assert text.count('<img src="data:image/png;base64,') == 2
    assert "is " + html.escape(EVIL) in text             # the question, as text
    assert "name-" + html.escape(EVIL) in text           # the command line, as text
    assert EVIL not in text and "<img src=x" not in text
    # offline: no address outside the page; only the SVG namespaces and relative links
    scanned = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)   # base64 holds '//' too
    outside = {u for u in re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", scanned)
               if not u.startswith(("http://www.w3.org/", "//www.w3.org/", "http://purl.org/", "//purl.org/",
                                    "http://creativecommons.org/", "//creativecommons.org/",
                                    "http://matplotlib.org", "//matplotlib.org", "https://matplotlib.org"))}
    assert not {u for u in outside if "matplotlib" not in u}, outside
    assert not re.search(r"<(link|img|iframe|script|object|embed)\b[^>]*\b(src|href)=(?![\"']data:image/png;)",
                         text)   # nothing loaded: the only sources are the figures' own bytes


def test_embedded_data_and_tables_cannot_close_the_script():
    out = json_script({"name": "</script><script>alert(1)</script>"}, "chart-data")
    assert out.count("</script>") == 1 and "<script>alert" not in out
    assert EVIL not in table(["a"], [[EVIL]])


def test_plot_options_from_config_and_overrides(run_dir):
    opts = plot_options(run_dir, ["plots.x=epochs", "plots.y_limits.accuracy=[80, 90]", "plots.y_scale=log",
                                  "plots.smooth=1"])
    assert (opts.x, opts.y_limits.accuracy, opts.y_scale.loss, opts.y_scale.accuracy, opts.smooth) == \
        ("epochs", [80.0, 90.0], "log", "log", 1)
    for bad, says in (("plots.x=weeks", "override 'plots.x=weeks'"), ("optimizer.lr=1", "only plots.*"),
                      ("plots.y_limits=[80, 90]", "plots.y_limits.accuracy="),
                      ("plots.y_limits.accuracy=[90, 80]", "low < high")):
        with pytest.raises(ConfigError) as info:
            plot_options(run_dir, [bad])
        assert says in str(info.value.problems[0]), bad
    m = {k: np.asarray(v) for k, v in read_metrics(run_dir / "metrics.csv").items()}
    x, label = x_values(m, PlotsConfig(x="examples"), "step", 30.0)
    assert label == "training examples seen" and np.array_equal(x, m["step"] * 30)
    assert x_values(m, PlotsConfig(x="epochs"), "step")[1] == "epoch"
    assert "not recorded" in x_values({"step": m["step"]}, PlotsConfig(x="epochs"), "step")[1]


def test_figure_controls_reach_the_axes(run_dir):
    from optlab.record.figures import accuracy_figure, loss_figure

    m = {k: np.asarray(v) for k, v in read_metrics(run_dir / "metrics.csv").items()}
    opts = PlotsConfig(x="epochs", y_limits={"accuracy": [80, 90]}, y_scale={"loss": "log"}, smooth=1)
    ax = accuracy_figure(m, m["epoch"], "t", opts).axes[0]
    assert ax.get_ylim() == (80.0, 90.0)
    ax = loss_figure(m["epoch"], m["loss"], "t", opts, "epoch").axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 1 and ax.get_xlabel() == "epoch"   # smooth=1: raw only
    ax = accuracy_figure(m, m["step"], "t", PlotsConfig(splits=["val"])).axes[0]
    assert [line.get_label() for line in ax.lines] == ["validation"]


def test_report_redraws_in_vector_formats_and_html_only(run_dir):
    before = (run_dir / "loss.png").read_bytes()
    assert RUNNER.invoke(app, ["report", str(run_dir), "--format", "svg", "plots.x=epochs"]).exit_code == 0
    assert (run_dir / "loss.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert render_directory(run_dir, ["plots.format=pdf"]) == "run"
    assert (run_dir / "accuracy.pdf").read_bytes()[:5] == b"%PDF-"
    assert (run_dir / "loss.png").read_bytes() == before            # other formats left alone
    (run_dir / "report.html").unlink()
    result = RUNNER.invoke(app, ["report", str(run_dir), "--html"])
    assert result.exit_code == 0 and (run_dir / "report.html").is_file()
    for words in (["--format", "jpg"], ["plots.x=weeks"], ["optimizer.lr=1"]):
        result = RUNNER.invoke(app, ["report", str(run_dir), *words])
        assert result.exit_code == 2, words


def _events(path: Path):
    """Every Event record of a TensorBoard event file (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    data, i = path.read_bytes(), 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i: i + 8])
        yield event_pb2.Event.FromString(data[i + 12: i + 12 + n])
        i += 12 + n + 4


def test_tensorboard_event_file_holds_the_metrics_and_hyperparameters(run_dir):
    pytest.importorskip("tensorboardX")
    files = list(run_dir.glob("events.out.tfevents.*"))
    assert len(files) == 1
    scalars, plugins = {}, set()
    for event in _events(files[0]):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name:
                plugins.add(value.metadata.plugin_data.plugin_name)
            else:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    assert "hparams" in plugins
    m = read_metrics(run_dir / "metrics.csv")
    for column in ("loss", "val_acc", "train_loss", "lr", "epoch"):
        want = {int(s): v for s, v in zip(m["step"], m[column]) if not np.isnan(v)}
        assert set(scalars[column]) == set(want), column
        assert all(abs(scalars[column][s] - v) <= 1e-6 * max(1, abs(v)) for s, v in want.items()), column


def test_tensorboard_without_the_extra_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)     # import fails as if not installed
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    with pytest.raises(SetupError, match=r'pip install -e "\.\[tensorboard\]"'):
        run(load_config(config, ["logging.tensorboard=true"]), tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    result = RUNNER.invoke(app, ["train", str(config), "--tensorboard", "--runs-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 2 and ".[tensorboard]" in result.output
